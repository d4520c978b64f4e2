"""Could instructions replace CPU time as the CPU gate's measure? Their noise, cost
and how well they track CPU time, on injected regressions.

CPU time per request varies by several percent between windows on a shared
machine (the gate's power table); an instruction count does not depend on what
else the machine is doing. This bench bakes a service and runs it as a local
process under Valgrind's callgrind (instrumentation switched on only around the
measured windows, profiler and tracer off), sends the gate's seeded request mix
one request at a time, and reads the instructions executed per request in each
window. For every level of injected extra hashing in the CPU workload
(`hash_chain`), and unchanged, it reports:

- instructions per request, its spread across windows and across processes
  (a fresh process per repeat), and the ratio to unchanged;
- beside it, the process's CPU time per request for the same mix run natively
  (no Valgrind), and that ratio: a measure that tracks CPU moves with it;
- the wall time a measured window takes under callgrind.

    .venv/bin/python -m bench.gate_instructions                    # 3 repeats, about 20 minutes
    .venv/bin/python -m bench.gate_instructions --repeats 2 --windows 2 --requests 20

Needs valgrind (``apt-get install valgrind``), which runs on any machine: it
counts instructions in software, no performance counters needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from perf_gate import config, instructions, load
from perf_gate.config import Mix
from perf_gate.service import RunError, ServiceProcess

from harness.bake import bake

LOOP = "    for _ in range(iterations):\n"
SEED = 1234  # the gate's default seed: the same mix as its windows
# Everything that runs on a timer or talks to an agent is off: only request work is counted.
ENVIRONMENT = {
    "DD_PROFILING_ENABLED": "false",
    "DD_TRACE_ENABLED": "false",
    "DD_RUNTIME_METRICS_ENABLED": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "PYTHONHASHSEED": "0",
    "LOG_LEVEL": "warning",
}
SERVICE_HOST = "127.0.0.1"  # what ServiceProcess gives the service as $HOST
# Under callgrind a service takes minutes to start and to finish its last dump.
CALLGRIND_TIMEOUT_SECONDS = 600


@dataclass
class Level:
    percent: float
    instructions: list[list[float]] = field(default_factory=list)  # per process, per window: Ir/request
    cpu: list[float] = field(default_factory=list)  # native CPU seconds per request, per window
    window_seconds: list[float] = field(default_factory=list)


def start(command: list[str], timeout: float) -> ServiceProcess:
    """The service as a local process, serving once ``/healthz`` answers."""
    service = ServiceProcess(command, ENVIRONMENT)
    try:
        service.wait_until_serving(timeout=timeout, poll=0.5)
    except RunError as error:
        service.stop(timeout=CALLGRIND_TIMEOUT_SECONDS)
        raise SystemExit(f"bench: {error}") from None
    return service


def send(client: httpx.Client, requests: list[load.Planned]) -> None:
    for path, params in requests:
        response = client.get(path, params=params)
        if response.status_code != 200:
            raise SystemExit(f"bench: {path} answered {response.status_code}")


def callgrind_control(*arguments: str) -> None:
    # Valgrind names its control pipes after $HOST, which the service reads as its
    # listen address: the controller must see the same value to find them.
    environment = {**os.environ, "HOST": SERVICE_HOST}
    result = subprocess.run(
        ["callgrind_control", *arguments], env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0 or "OK." not in result.stdout:
        raise SystemExit(f"bench: callgrind_control {' '.join(arguments)}: {(result.stdout + result.stderr).strip()}")


def measure_instructions(
    mix: Mix, python: Path, package: str, level: Level, arguments: argparse.Namespace, scratch: Path
) -> None:
    """One process under callgrind: warm up uninstrumented, then windows with instrumentation on."""
    out = scratch / f"callgrind-{level.percent:g}-{len(level.instructions)}"
    out.mkdir()
    callgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/callgrind.out"]
    service = start([*callgrind, str(python), "-m", package], timeout=CALLGRIND_TIMEOUT_SECONDS)
    windows: list[float] = []
    try:
        with httpx.Client(base_url=service.url, timeout=CALLGRIND_TIMEOUT_SECONDS) as client:
            send(client, load.plan(mix, arguments.warmup, SEED + 1))  # specialisation, caches, pools
            callgrind_control("--instr=on", str(service.pid))
            for _ in range(arguments.windows):
                callgrind_control("--zero", str(service.pid))
                started = time.monotonic()
                send(client, load.plan(mix, arguments.requests, SEED))
                level.window_seconds.append(time.monotonic() - started)
                for dump in out.glob("callgrind.out.*"):
                    dump.unlink()
                callgrind_control("--dump", str(service.pid))
                windows.append(instructions.read_totals(out) / arguments.requests)
    finally:
        service.stop(timeout=CALLGRIND_TIMEOUT_SECONDS)
    level.instructions.append(windows)


def measure_cpu(mix: Mix, python: Path, package: str, level: Level, arguments: argparse.Namespace) -> None:
    """The same mix natively: the process's CPU time per request."""
    service = start([str(python), "-m", package], timeout=60)
    try:
        requests = load.plan(mix, arguments.native_requests, SEED)
        with httpx.Client(base_url=service.url, timeout=60) as client:
            send(client, load.plan(mix, arguments.warmup, SEED + 1))
            for _ in range(arguments.windows):
                before = service.cpu_seconds()
                send(client, requests)
                level.cpu.append((service.cpu_seconds() - before) / len(requests))
    finally:
        service.stop()


def interval(values: list[float]) -> str:
    """Median and the spread of the values as a coefficient of variation."""
    if len(values) < 2:
        return f"{statistics.median(values):,.0f}"
    return f"{statistics.median(values):,.0f} (CV {statistics.stdev(values) / statistics.fmean(values):.2%})"


def report(levels: list[Level]) -> str:
    unchanged = levels[0]
    base_ir = statistics.median(value for windows in unchanged.instructions for value in windows)
    base_cpu = statistics.median(unchanged.cpu)
    lines = [
        "| injected in `hash_chain` | instructions per request (spread over windows) | spread of process medians "
        "| instructions vs unchanged | native CPU per request | CPU vs unchanged | window under callgrind |",
        "|---|---|---|---|---|---|---|",
    ]
    for level in levels:
        every = [value for windows in level.instructions for value in windows]
        per_process = [statistics.median(windows) for windows in level.instructions]
        process_spread = (
            f"{(max(per_process) - min(per_process)) / statistics.fmean(per_process):.3%}"
            if len(per_process) > 1
            else "-"
        )
        name = "unchanged" if level.percent == 0 else f"+{level.percent:g}%"
        lines.append(
            f"| {name} | {interval(every)} | {process_spread} | {statistics.median(every) / base_ir - 1:+.2%} "
            f"| {statistics.median(level.cpu) * 1000:.2f} ms | {statistics.median(level.cpu) / base_cpu - 1:+.1%} "
            f"| {statistics.median(level.window_seconds):.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per level (default 3)")
    parser.add_argument("--windows", type=int, default=3, help="measured windows per process (default 3)")
    parser.add_argument("--requests", type=int, default=20, help="requests per callgrind window (default 20)")
    parser.add_argument("--native-requests", type=int, default=400, help="requests per native window (default 400)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first (default 20)")
    parser.add_argument(
        "--levels",
        type=lambda text: [float(part) for part in text.split(",")],
        default=[2.5, 5.0, 7.5, 10.0],
        help="injected extra hashing in percent (default 2.5,5,7.5,10)",
    )
    arguments = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench: needs valgrind (apt-get install valgrind)")
    levels = [Level(0.0), *(Level(percent) for percent in arguments.levels)]
    with tempfile.TemporaryDirectory(prefix="gate-instructions-") as directory:
        scratch = Path(directory)
        baked = bake(scratch)
        baked.sync()
        python, package = baked.python, baked.package
        # The gate's own code: the bake's request mix, callgrind's dumps read its way.
        mix = config.load(baked.project).mix

        workload = baked.project / "src" / package / "workload.py"
        original = workload.read_text()
        if LOOP not in original:
            sys.exit(f"bench: the workload's loop is no longer {LOOP.strip()!r}; update the bench")
        for repeat in range(arguments.repeats):
            for level in levels:
                per_mille = round(level.percent * 10)
                injected = f"    for _ in range(iterations + iterations * {per_mille} // 1000):\n"
                workload.write_text(original.replace(LOOP, injected) if level.percent else original)
                measure_instructions(mix, python, package, level, arguments, scratch)
                measure_cpu(mix, python, package, level, arguments)
                ir = level.instructions[-1]
                print(
                    f"repeat {repeat + 1} +{level.percent:g}%: instructions/request "
                    f"{', '.join(f'{value:,.0f}' for value in ir)}; native CPU/request "
                    f"{', '.join(f'{value * 1000:.2f} ms' for value in level.cpu[-arguments.windows :])}",
                    flush=True,
                )
    print()
    print(report(levels))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
