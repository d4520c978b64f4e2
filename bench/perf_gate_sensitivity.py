"""How often the generated service's CPU regression gate is right: its power curve.

Bakes a service, commits it on main, then runs the gate (its defaults, through
the same `make perf-gate` a team's CI runs, with the perf tool from this checkout;
`--measure cpu` for the CPU-time
measure) against branches whose CPU
workload does more hashing — +2.5%, +5%, +7.5% and +10% by default — and
against an unchanged branch, twice as often. Levels are interleaved (one run of
each per cycle), so a slow drift of the machine hits every level alike and a
study stopped early still covers them all evenly.

Every run is appended to a JSON-lines file as it finishes (the decision, the
measured change and interval, the rounds it took, its wall time and every
window's numbers), so a long study can stop and resume (`--resume`) and
a different decision rule can be tried on the recorded windows later. The table
is printed from that file.

    .venv/bin/python -m bench.perf_gate_sensitivity --runs 10 --results gate-power.jsonl
    .venv/bin/python -m bench.perf_gate_sensitivity --table --results bench/results/gate-power.jsonl

A level is the extra hashing in the workload function (`hash_chain`); the cost
per request rises a little less (the function is most, not all, of a request's
work under the gate's mix), which the "median measured change" column shows.
Needs Docker; each run takes one to four minutes on 2 cores.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

from tests.docker_support import base_image_for, engine_unavailable_reason

ROOT = Path(__file__).resolve().parents[1]

GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]
# uv from this environment (.venv/bin beside the running Python), else PATH.
UV = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv") or "uv"
LOOP = "    for _ in range(iterations):\n"
DEFAULT_LEVELS = (2.5, 5.0, 7.5, 10.0)


def sh(command: list[str], cwd: Path) -> str:
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def injected_loop(percent: float) -> str:
    """The workload's loop doing ``percent`` more iterations (per mille, in integers)."""
    per_mille = round(percent * 10)
    return f"    for _ in range(iterations + iterations * {per_mille} // 1000):  # injected +{percent:g}%\n"


def level_name(percent: float) -> str:
    return "unchanged" if percent == 0 else f"+{percent:g}%"


def run_gate(project: Path, base_image: str, measure: str) -> dict[str, Any]:
    # make exits 2 for fail, inconclusive and "could not run" alike: the report
    # tells them apart, so none may be left from the run before.
    shutil.rmtree(project / "perf-report", ignore_errors=True)
    started = time.monotonic()
    environment = {
        **os.environ,
        "PERF_GATE": str(ROOT / "perf-gate"),
        "BASE_IMAGE": base_image,
        "PATH": f"{Path(UV).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    outcome = subprocess.run(
        ["make", "perf-gate", f"PERF_GATE_ARGS=--baseline main --measure {measure}"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    wall = time.monotonic() - started
    report_path = project / "perf-report" / "report.json"
    if outcome.returncode not in (0, 1, 2) or not report_path.is_file():
        raise SystemExit(f"bench: the gate did not decide (exit {outcome.returncode}):\n{outcome.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(report_path.read_text())
    return {
        "decision": report["decision"],
        "ratio": report["ratio"],
        "interval": report["interval"],
        "rounds": report["load"]["rounds"],
        "wall_seconds": wall,
        "measure": report.get("measure", "cpu"),
        "baseline_cpu_per_request": report["baseline"]["cpu_seconds_per_request"],
        "candidate_cpu_per_request": report["candidate"]["cpu_seconds_per_request"],
        "baseline_instructions_per_request": report["baseline"].get("instructions_per_request", []),
        "candidate_instructions_per_request": report["candidate"].get("instructions_per_request", []),
        # What the function table says of the workload function (profiled rounds), against the verdict.
        "hash_chain_table_change": hash_chain_change(report.get("functions", [])),
    }


def hash_chain_change(functions: list[dict[str, Any]]) -> float | None:
    """The function table's relative change in ``hash_chain``'s own CPU per request."""
    row = next((row for row in functions if row["function"] == "hash_chain"), None)
    if row is None or not row["baseline_self_ms"]:
        return None
    return float(row["candidate_self_ms"] / row["baseline_self_ms"] - 1)


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def schedule(levels: list[float], runs: int, unchanged_runs: int, done: dict[float, int]) -> Iterator[float]:
    """Cycles of one run per level (unchanged as often as its share asks), until each has its count."""
    wanted = {0.0: unchanged_runs, **{level: runs for level in levels}}
    per_cycle = {level: max(1, round(count / max(runs, 1))) for level, count in wanted.items()}
    remaining = {level: max(0, wanted[level] - done.get(level, 0)) for level in wanted}
    while any(remaining.values()):
        for level in wanted:
            for _ in range(min(per_cycle[level], remaining[level])):
                remaining[level] -= 1
                yield level


def format_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| measure | injected in `hash_chain` | runs | fail | pass | inconclusive | median measured change "
        "| median rounds | median wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    # The default measure first, then by level.
    cases = sorted(
        {(result.get("measure", "cpu"), result["level"]) for result in results},
        key=lambda case: (case[0] != "instructions", case[1]),
    )
    for measure, level in cases:
        runs = [result for result in results if (result.get("measure", "cpu"), result["level"]) == (measure, level)]
        decisions = [result["decision"] for result in runs]
        change = statistics.median((result["ratio"] - 1) * 100 for result in runs)
        rounds = statistics.median(result["rounds"] for result in runs)
        wall = statistics.median(result["wall_seconds"] for result in runs)
        lines.append(
            f"| {measure} | {level_name(level)} | {len(runs)} | {decisions.count('fail')} | {decisions.count('pass')} "
            f"| {decisions.count('inconclusive')} | {change:+.1f}% | {rounds:g} | {wall:.0f} s |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="gate runs per injected level (default 10)")
    parser.add_argument("--unchanged-runs", type=int, help="gate runs of an unchanged branch (default 2 x --runs)")
    parser.add_argument(
        "--levels",
        type=lambda text: [float(part) for part in text.split(",")],
        default=list(DEFAULT_LEVELS),
        help="injected extra hashing in percent, comma-separated (default 2.5,5,7.5,10)",
    )
    parser.add_argument(
        "--measure", choices=("instructions", "cpu"), default="instructions", help="the gate's measure (its default)"
    )
    parser.add_argument("--results", type=Path, default=Path("gate-power.jsonl"), help="JSON lines, one per run")
    parser.add_argument("--resume", action="store_true", help="count the runs already in --results")
    parser.add_argument("--table", action="store_true", help="only print the table from --results")
    arguments = parser.parse_args()
    if arguments.table:
        results = read_results(arguments.results)
        if not results:
            sys.exit(f"bench: no runs in {arguments.results}")
        print(format_table(results))
        return 0
    if any(not 0 < level < 100 for level in arguments.levels):
        sys.exit("bench: --levels are percentages between 0 and 100")
    reason = engine_unavailable_reason()
    if reason:
        sys.exit(f"bench: {reason}")
    if not arguments.resume and arguments.results.exists():
        sys.exit(f"bench: {arguments.results} exists; pass --resume to add to it, or another --results")
    unchanged_runs = arguments.unchanged_runs if arguments.unchanged_runs is not None else 2 * arguments.runs
    done: dict[float, int] = {}
    for result in read_results(arguments.results):
        if result.get("measure", "cpu") == arguments.measure:
            done[result["level"]] = done.get(result["level"], 0) + 1
    base_image = base_image_for("3.13")
    machine = f"{os.cpu_count()} cores, base image {base_image}"

    with tempfile.TemporaryDirectory(prefix="gate-bench-") as scratch:
        project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=scratch))
        sh([UV, "sync", "--locked", "--quiet"], project)
        sh([*GIT, "init", "-q", "-b", "main"], project)
        sh([*GIT, "add", "-A"], project)
        sh([*GIT, "commit", "-q", "-m", "generated"], project)
        workload = next((project / "src").glob("*/workload.py"))
        original = workload.read_text()
        if LOOP not in original:
            sys.exit(f"bench: the workload's loop is no longer {LOOP.strip()!r}; update the bench")
        for number, level in enumerate(schedule(arguments.levels, arguments.runs, unchanged_runs, done), 1):
            branch = f"level-{number}"
            sh([*GIT, "checkout", "-q", "-b", branch, "main"], project)
            if level:
                workload.write_text(original.replace(LOOP, injected_loop(level)))
                sh([*GIT, "commit", "-q", "-am", f"{level:g}% more hashing"], project)
            try:
                outcome = run_gate(project, base_image, arguments.measure)
            finally:
                sh([*GIT, "checkout", "-q", "-f", "main"], project)
            record = {"level": level, "machine": machine, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **outcome}
            with arguments.results.open("a") as results_file:
                results_file.write(json.dumps(record) + "\n")
            low, high = ((bound - 1) * 100 for bound in outcome["interval"])
            print(
                f"{level_name(level):<10} {outcome['decision']:<12} change {(outcome['ratio'] - 1) * 100:+5.1f}% "
                f"[{low:+.1f}%, {high:+.1f}%]  {outcome['rounds']:>2} rounds  {outcome['wall_seconds']:.0f} s",
                flush=True,
            )

    print()
    print(f"The gate's power, its defaults ({machine}):")
    print(format_table(read_results(arguments.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
