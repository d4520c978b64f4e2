"""How often the generated service's CPU regression gate is right.

Bakes a service, commits it on main, then runs the gate N times against a
branch with an injected CPU regression (the CPU workload does 12.5% more
hashing: about +10% CPU per request under the gate's load) and N times against
an unchanged branch. Prints how many regressions were caught, how many
unchanged runs failed (false alarms), the measured change, and the gate's wall
time. Needs Docker; runs for a while (N=10: about half an hour on 2 cores).

    .venv/bin/python bench/perf_gate_sensitivity.py --runs 10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.docker_support import base_image_for, engine_unavailable_reason  # noqa: E402

GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]
# uv from this environment (.venv/bin beside the running Python), else PATH.
UV = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv") or "uv"
LOOP = "    for _ in range(iterations):\n"
INJECTED = "    for _ in range(iterations + iterations // 8):  # injected regression\n"


def sh(command: list[str], cwd: Path) -> str:
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def gate(project: Path, base_image: str) -> tuple[str, float, float, int]:
    started = time.monotonic()
    subprocess.run(
        [UV, "run", "--locked", "python", "-m", "perf", "gate", "--baseline", "main", "--base-image", base_image],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    wall = time.monotonic() - started
    report = json.loads((project / "perf-report" / "report.json").read_text())
    return report["decision"], report["ratio"], wall, report["load"]["rounds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    arguments = parser.parse_args()
    reason = engine_unavailable_reason()
    if reason:
        sys.exit(f"bench: {reason}")
    base_image = base_image_for("3.13")
    environment_note = f"{os.cpu_count()} cores, base image {base_image}"
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as scratch:
        project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=scratch))
        sh([UV, "sync", "--locked", "--quiet"], project)
        sh([*GIT, "init", "-q", "-b", "main"], project)
        sh([*GIT, "add", "-A"], project)
        sh([*GIT, "commit", "-q", "-m", "generated"], project)
        workload = next((project / "src").glob("*/workload.py"))
        results: dict[str, list[tuple[str, float, float, int]]] = {"regression": [], "unchanged": []}
        for index in range(arguments.runs):
            for case in ("regression", "unchanged"):
                branch = f"{case}-{index}"
                sh([*GIT, "checkout", "-q", "-b", branch, "main"], project)
                if case == "regression":
                    workload.write_text(workload.read_text().replace(LOOP, INJECTED))
                    sh([*GIT, "commit", "-q", "-am", "more hashing"], project)
                outcome = gate(project, base_image)
                results[case].append(outcome)
                sh([*GIT, "checkout", "-q", "main"], project)
                change = (outcome[1] - 1) * 100
                print(
                    f"{case:<10} run {index + 1}: {outcome[0]:<12} change {change:+.1f}%  "
                    f"{outcome[3]} rounds  {outcome[2]:.0f}s",
                    flush=True,
                )

    print()
    print(f"Gate sensitivity, {arguments.runs} runs each ({environment_note}; the gate's defaults)")
    print("| case | fail | pass | inconclusive | median measured change | median rounds | median wall time |")
    print("|---|---|---|---|---|---|---|")
    for case, outcomes in results.items():
        decisions = [decision for decision, _, _, _ in outcomes]
        change = statistics.median((ratio - 1) * 100 for _, ratio, _, _ in outcomes)
        rounds = statistics.median(rounds for _, _, _, rounds in outcomes)
        wall = statistics.median(wall for _, _, wall, _ in outcomes)
        print(
            f"| {case} | {decisions.count('fail')} | {decisions.count('pass')} | {decisions.count('inconclusive')} "
            f"| {change:+.1f}% | {rounds:g} | {wall:.0f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
