"""How often the generated service's CPU regression gate is right: its power curve.

Bakes a service, commits it on main, then runs the gate (its defaults, through
the same `make perf-gate` a team's CI runs, with the perf tool from this checkout;
`--measure cpu` for the CPU-time
measure) against branches whose CPU workload costs more, and against an
unchanged branch, twice as often. A level is a kind and a size:

* `7.5` (or `python:7.5`): 7.5% more hashing in the workload's loop;
* `kernel:7.5`: `os.urandom` in the workload, sized to add 7.5% to the CPU per
  request of the gate's mix in the kernel (calibrated at the start of the study
  in a container of the baseline image run as the gate's native windows run it:
  the mix's CPU per request, and os.urandom's CPU per byte as a system call);
* `mixed:10`: half of each.

Levels are interleaved (one run of
each per cycle), so a slow drift of the machine hits every level alike and a
study stopped early still covers them all evenly.

Every run is appended to a JSON-lines file as it finishes (the decision, the
measured change and interval, the rounds it took, its wall time and every
window's numbers), so a long study can stop and resume (`--resume`) and
a different decision rule can be tried on the recorded windows later. The table
is printed from that file.

    .venv/bin/python -m bench.perf_gate_sensitivity --runs 10 --results gate-power.jsonl
    .venv/bin/python -m bench.perf_gate_sensitivity --levels python:7.5,python:10,kernel:7.5,kernel:12,mixed:10 \
        --runs 10 --results gate-power-kernel.jsonl
    .venv/bin/python -m bench.perf_gate_sensitivity --table --results bench/results/gate-power.jsonl

A Python level's size is relative to the workload function's (`hash_chain`)
instructions, a kernel level's to the request's CPU; the "median measured
change" column shows what the gate measured.
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

from perf_gate import config, cpu_split, load
from perf_gate.runners import getrandom_as_system_call, profiled_container

from harness.bake import bake, uv
from harness.docker import base_image_for, build_image, docker, engine_unavailable_reason

ROOT = Path(__file__).resolve().parents[1]

GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]
LOOP = "    for _ in range(iterations):\n"
RETURN = "    return CpuResult(iterations=iterations, digest=digest.hex())\n"
IMPORT = "import hashlib\n"
KINDS = ("python", "kernel", "mixed")
DEFAULT_LEVELS = ("python:2.5", "python:5", "python:7.5", "python:10")
# What the kernel-side levels are sized by, measured in one container of the
# baseline image running as the gate's native windows run it (its filter
# included): the CPU per request of the gate's mix, and the CPU per byte of
# os.urandom as a system call (thread CPU, medians, in the same container).
RANDOMNESS_COST = """
import os, time
samples = []
for _ in range(41):
    started = time.thread_time()
    os.urandom(1 << 20)
    samples.append(time.thread_time() - started)
print(sorted(samples)[20] / (1 << 20))
"""
CALIBRATION_REQUESTS = 2000


def sh(command: list[str], cwd: Path) -> str:
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def parse_level(text: str) -> tuple[str, float]:
    kind, _, size = text.rpartition(":")
    kind = kind or "python"
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"level {text!r}: the kind must be one of {', '.join(KINDS)}")
    try:
        percent = float(size)
    except ValueError:
        raise argparse.ArgumentTypeError(f"level {text!r}: the size must be a percentage") from None
    if not 0 < percent < 100:
        raise argparse.ArgumentTypeError(f"level {text!r}: the size must be between 0 and 100")
    return kind, percent


def injected_loop(percent: float) -> str:
    """The workload's loop doing ``percent`` more iterations (per mille, in integers)."""
    per_mille = round(percent * 10)
    return f"    for _ in range(iterations + iterations * {per_mille} // 1000):  # injected +{percent:g}%\n"


def injected_randomness(percent: float, bytes_per_percent_iteration: float) -> str:
    """os.urandom before the workload returns, costing ``percent`` of its CPU (calibrated)."""
    per_thousand = round(percent * bytes_per_percent_iteration * 1000)
    return f"    os.urandom(iterations * {per_thousand} // 1000)  # injected +{percent:g}% in the kernel\n" + RETURN


def injected(original: str, kind: str, percent: float, bytes_per_percent_iteration: float) -> str:
    """The workload's source with ``kind`` of extra work worth ``percent`` of its CPU."""
    python = percent if kind == "python" else percent / 2 if kind == "mixed" else 0.0
    kernel = percent - python
    source = original.replace(LOOP, injected_loop(python)) if python else original
    if kernel:
        source = source.replace(IMPORT, IMPORT + "import os\n", 1)
        source = source.replace(RETURN, injected_randomness(kernel, bytes_per_percent_iteration), 1)
    return source


def calibrate(project: Path, base_image: str, scratch: Path) -> float:
    """Bytes of os.urandom per iteration of hash_chain that add 1% to the CPU
    per request of the gate's mix: a kernel-side level is a share of what the
    verdict measures, the request's CPU, in the conditions of a native window."""
    service = config.load(project)
    workload = next(request for request in service.mix if request.path == "/cpu-intensive")
    share = workload.weight / sum(request.weight for request in service.mix)
    image = "gate-bench-calibration"
    build_image(project, image, {"BASE_IMAGE": base_image, "GIT_SHA": "0" * 40, "VERSION": "calibration"})
    container = profiled_container(
        image, scratch / "calibration", service.environment, options=getrandom_as_system_call(scratch)
    )
    try:
        container.wait_until_serving(service.health_path)
        load.run(container.url, load.plan(service.mix, 100_000, 1), 2, 15)
        before = cpu_split.read(container.id)
        load.run(container.url, load.plan(service.mix, CALIBRATION_REQUESTS, 2), 2, 600)
        cpu_per_request = (cpu_split.read(container.id) - before).total / CALIBRATION_REQUESTS
        seconds_per_byte = float(container.execute("python", "-c", RANDOMNESS_COST).strip())
    finally:
        container.stop()
        docker("image", "rm", image, check=False)
    print(
        f"calibration: {cpu_per_request * 1000:.2f} ms CPU per request of the mix; os.urandom "
        f"{seconds_per_byte * 1e3 * (1 << 20):.2f} ms per MiB as a system call"
    )
    iterations = int(workload.query["iterations"])
    return float(0.01 * cpu_per_request / (share * seconds_per_byte * iterations))


def level_name(kind: str, percent: float) -> str:
    if percent == 0:
        return "unchanged"
    return f"+{percent:g}%" if kind == "python" else f"+{percent:g}% {kind}"


def run_gate(project: Path, base_image: str, measure: str) -> dict[str, Any]:
    # make exits 2 for fail, inconclusive and "could not run" alike: the report
    # tells them apart, so none may be left from the run before.
    shutil.rmtree(project / "perf-report", ignore_errors=True)
    started = time.monotonic()
    environment = {
        **os.environ,
        "PERF_GATE": str(ROOT / "perf-gate"),
        "BASE_IMAGE": base_image,
        "PATH": f"{Path(uv()).parent}{os.pathsep}{os.environ.get('PATH', '')}",
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
        "baseline_cpu_split_per_request": report["baseline"].get("cpu_split_per_request", []),
        "candidate_cpu_split_per_request": report["candidate"].get("cpu_split_per_request", []),
        "kernel_side_change_ms": report.get("kernel_side_change_ms"),
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


Level = tuple[str, float]
UNCHANGED: Level = ("python", 0.0)


def level_of(result: dict[str, Any]) -> Level:
    return (result.get("kind", "python"), result["level"])


def schedule(levels: list[Level], runs: int, unchanged_runs: int, done: dict[Level, int]) -> Iterator[Level]:
    """Cycles of one run per level (unchanged as often as its share asks), until each has its count."""
    wanted = {UNCHANGED: unchanged_runs, **{level: runs for level in levels}}
    per_cycle = {level: max(1, round(count / max(runs, 1))) for level, count in wanted.items()}
    remaining = {level: max(0, wanted[level] - done.get(level, 0)) for level in wanted}
    while any(remaining.values()):
        for level in wanted:
            for _ in range(min(per_cycle[level], remaining[level])):
                remaining[level] -= 1
                yield level


def format_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| measure | injected | runs | fail | pass | inconclusive | median measured change "
        "| median rounds | median wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    # The default measure first, then by kind and size.
    cases = sorted(
        {(result.get("measure", "cpu"), *level_of(result)) for result in results},
        key=lambda case: (case[0] != "instructions", KINDS.index(case[1]) if case[2] else -1, case[2]),
    )
    for measure, kind, level in cases:
        runs = [
            result for result in results if (result.get("measure", "cpu"), *level_of(result)) == (measure, kind, level)
        ]
        decisions = [result["decision"] for result in runs]
        change = statistics.median((result["ratio"] - 1) * 100 for result in runs)
        rounds = statistics.median(result["rounds"] for result in runs)
        wall = statistics.median(result["wall_seconds"] for result in runs)
        lines.append(
            f"| {measure} | {level_name(kind, level)} | {len(runs)} | {decisions.count('fail')} "
            f"| {decisions.count('pass')} | {decisions.count('inconclusive')} | {change:+.1f}% | {rounds:g} "
            f"| {wall:.0f} s |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="gate runs per injected level (default 10)")
    parser.add_argument("--unchanged-runs", type=int, help="gate runs of an unchanged branch (default 2 x --runs)")
    parser.add_argument(
        "--levels",
        type=lambda text: [parse_level(part) for part in text.split(",")],
        default=[parse_level(level) for level in DEFAULT_LEVELS],
        help="kind:percent, comma-separated; kinds python (the default), kernel, mixed "
        f"(default {','.join(DEFAULT_LEVELS)})",
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
    reason = engine_unavailable_reason()
    if reason:
        sys.exit(f"bench: {reason}")
    if not arguments.resume and arguments.results.exists():
        sys.exit(f"bench: {arguments.results} exists; pass --resume to add to it, or another --results")
    unchanged_runs = arguments.unchanged_runs if arguments.unchanged_runs is not None else 2 * arguments.runs
    done: dict[Level, int] = {}
    for result in read_results(arguments.results):
        if result.get("measure", "cpu") == arguments.measure:
            done[level_of(result)] = done.get(level_of(result), 0) + 1
    base_image = base_image_for("3.13")
    machine = f"{os.cpu_count()} cores, base image {base_image}"

    with tempfile.TemporaryDirectory(prefix="gate-bench-") as scratch:
        baked = bake(Path(scratch))
        baked.sync()
        project = baked.project
        bytes_per_percent_iteration = calibrate(project, base_image, Path(scratch))
        print(f"os.urandom: {bytes_per_percent_iteration:.2f} bytes per iteration add 1% to the CPU per request")
        sh([*GIT, "init", "-q", "-b", "main"], project)
        sh([*GIT, "add", "-A"], project)
        sh([*GIT, "commit", "-q", "-m", "generated"], project)
        workload = next((project / "src").glob("*/workload.py"))
        original = workload.read_text()
        if any(anchor not in original for anchor in (LOOP, RETURN, IMPORT)):
            sys.exit(f"bench: the workload no longer has {LOOP.strip()!r}, {RETURN.strip()!r}; update the bench")
        for number, (kind, level) in enumerate(schedule(arguments.levels, arguments.runs, unchanged_runs, done), 1):
            branch = f"level-{number}"
            sh([*GIT, "checkout", "-q", "-b", branch, "main"], project)
            if level:
                workload.write_text(injected(original, kind, level, bytes_per_percent_iteration))
                sh([*GIT, "commit", "-q", "-am", f"{level_name(kind, level)}"], project)
            try:
                outcome = run_gate(project, base_image, arguments.measure)
            finally:
                sh([*GIT, "checkout", "-q", "-f", "main"], project)
            record = {
                "kind": kind,
                "level": level,
                "machine": machine,
                "bytes_per_percent_iteration": bytes_per_percent_iteration,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **outcome,
            }
            with arguments.results.open("a") as results_file:
                results_file.write(json.dumps(record) + "\n")
            low, high = ((bound - 1) * 100 for bound in outcome["interval"])
            print(
                f"{level_name(kind, level):<16} {outcome['decision']:<12} change {(outcome['ratio'] - 1) * 100:+5.1f}% "
                f"[{low:+.1f}%, {high:+.1f}%]  {outcome['rounds']:>2} rounds  {outcome['wall_seconds']:.0f} s",
                flush=True,
            )

    print()
    print(f"The gate's power, its defaults ({machine}):")
    print(format_table(read_results(arguments.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
