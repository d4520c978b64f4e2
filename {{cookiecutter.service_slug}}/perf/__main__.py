"""``python -m perf gate`` and ``python -m perf flamegraph`` (``make perf-gate``, ``make flamegraph``)."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path

from . import load, report
from .gate import GateOptions, run_gate
from .pprof import read_profiles
from .runners import LocalRun, RunError

PACKAGE = "{{ cookiecutter.package_name }}"
IMAGE_NAME = "{{ cookiecutter.service_slug }}"
EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 2}


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1 (0.05 means 5%)")
    return value


def flamegraph(arguments: argparse.Namespace) -> int:
    report_dir: Path = arguments.report_dir
    shutil.rmtree(report_dir / "flamegraph-profiles", ignore_errors=True)
    # The allocation profile is off by default in the service (its cost); a flame graph wants it.
    environment = {"WORKLOAD_MAX_CONCURRENCY": "2", "DD_PROFILING_MEMORY_ENABLED": "true"}
    service = LocalRun(PACKAGE, report_dir / "flamegraph-profiles", environment)
    try:
        load.wait_until_healthy(service.url, timeout=60)
        result = load.run(service.url, load.plan(arguments.requests, arguments.seed), 2, deadline_seconds=300)
    finally:
        service.stop()
    profile = read_profiles(sorted((report_dir / "flamegraph-profiles").glob("*.pprof")))
    for sample_type, name, unit in ((report.CPU, "cpu", "CPU time"), (report.ALLOCATIONS, "alloc", "allocated bytes")):
        path = report.write_flamegraph(
            report_dir / f"flamegraph-{name}.svg",
            profile.stacks.get(sample_type, Counter()),
            title=f"{IMAGE_NAME}: {unit} under {result.sent} requests",
            unit=unit,
        )
        print(f"{unit}: {path}")
    return 0 if result.failed == 0 else 1


def gate(arguments: argparse.Namespace) -> int:
    options = GateOptions(
        project=Path.cwd(),
        baseline_ref=arguments.baseline,
        rounds=arguments.rounds,
        requests=arguments.requests,
        warmup=arguments.warmup,
        concurrency=arguments.concurrency,
        threshold=arguments.threshold,
        seed=arguments.seed,
        report_dir=arguments.report_dir,
        base_image=arguments.base_image,
        image_name=IMAGE_NAME,
    )
    verdict = run_gate(options)
    return EXIT_CODES[verdict.decision]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gate_parser = commands.add_parser("gate", help="fail a change whose CPU per request rises above the threshold")
    gate_parser.add_argument("--baseline", help="ref to compare with (default: merge-base of HEAD and main)")
    gate_parser.add_argument("--rounds", type=positive, default=12, help="rounds per side (default 12)")
    gate_parser.add_argument("--requests", type=positive, default=400, help="requests per round (default 400)")
    gate_parser.add_argument("--warmup", type=positive, default=50, help="unmeasured requests first (default 50)")
    gate_parser.add_argument("--concurrency", type=positive, default=2, help="clients at once (default 2)")
    gate_parser.add_argument("--threshold", type=fraction, default=0.05, help="allowed rise (default 0.05: 5%%)")
    gate_parser.add_argument("--seed", type=int, default=1234, help="seed of the request mix")
    gate_parser.add_argument("--base-image", help="BASE_IMAGE build arg for both images (a mirror or stand-in)")
    gate_parser.add_argument("--report-dir", type=Path, default=Path("perf-report"))
    gate_parser.set_defaults(run=gate)
    flame_parser = commands.add_parser("flamegraph", help="profile the service locally under the fixed load")
    flame_parser.add_argument("--requests", type=positive, default=300)
    flame_parser.add_argument("--seed", type=int, default=1234)
    flame_parser.add_argument("--report-dir", type=Path, default=Path("perf-report"))
    flame_parser.set_defaults(run=flamegraph)
    arguments = parser.parse_args(argv)
    try:
        code: int = arguments.run(arguments)
    except RunError as error:
        print(f"perf: {error}", file=sys.stderr)
        return 3
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
