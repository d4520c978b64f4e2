"""Minimal reproduction, ready for an upstream report: after ddtrace's profiler
is stopped and started again in the same process, the first profile uploaded
after the restart claims a window that starts when the last profile before
the stop was flushed, not when profiling started again.

A profile's start and end are what Datadog divides its samples by (CPU per
second, cores used) and where it places them on the timeline, so that profile
understates the process's CPU by the share of its window nobody profiled.

No web framework, no tracing, public API only: ``Profiler().start()``, burn
CPU, ``stop(flush=True)``, wait idle, start again, burn CPU, stop. Profiles go
to a real ``ddapm-test-agent``; each upload's ``event.json`` ``start``/``end``
and the pprof's ``cpu-time`` total are set against what the process really did
(when profilers ran, and the CPU burned inside each claimed window, timed with
``time.thread_time()``).

Scenarios, each in a fresh process (the state at fault is process-wide):

- ``fresh``: a new ``Profiler`` object for the restart (what the generated
  service does on its runtime switch).
- ``same``: the same ``Profiler`` object started again.
- ``bridge``: as ``fresh``, plus ddtrace's private ``ddup.upload()`` just
  before the restart: the only call reachable from Python that resets the
  window's start, and what it costs (an upload claiming the idle gap).

Why (dd-trace-py's native exporter, ``ddtrace/internal/datadog/profiling/
dd_wrapper``): the profile being filled is one per process
(``ProfilerState::get().profile_state``), created once (``ProfilerState::start``
runs under ``std::call_once``, so ``ddup.start()`` from a new ``Profiler`` does
nothing the second time). Its start time is reset only by serialising it
(``UploaderBuilder::build`` -> ``ddog_prof_Profile_serialize(profile, nullptr,
nullptr)``: end = now, start = the previous reset, and the next profile starts
now). The stop's final flush serialises at the stop; nothing resets it at the
next start, so the next serialisation claims [stop, now].

Usage, from the template checkout (the ddtrace version: the generated
service's ``uv.lock``, unless given)::

    .venv/bin/python -m bench.ddtrace_restart_window_repro [--interval 4] [--burn 8] [--idle 20]
        [--scenarios fresh,same,bridge] [--ddtrace 4.16.0]

Each scenario runs ddtrace in ``uv run --no-project --with ddtrace==<version>``;
this process only starts the test agent, runs the scenarios and reads the
uploads. About ``2 x burn + idle + 2 x interval`` seconds per scenario, one
core busy while burning.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIOS = ("fresh", "same", "bridge")
SEGMENT_SECONDS = 0.25  # how finely the burn's CPU is timed


# --- the child: runs ddtrace (public API, except the bridge) --------------------


def burn_for(seconds: float, segments: list[tuple[float, float, float]]) -> None:
    """Burn CPU for ``seconds`` of wall time; append (wall start, wall end, thread CPU) per segment."""
    deadline = time.time() + seconds
    while (started := time.time()) < deadline:
        cpu = time.thread_time()
        digest = b"seed"
        while time.time() - started < SEGMENT_SECONDS:
            for _ in range(2000):
                digest = hashlib.sha256(digest).digest()
        segments.append((started, time.time(), time.thread_time() - cpu))


def child(scenario: str, burn: float, idle: float) -> None:
    """One scenario; prints what happened as JSON (epoch seconds)."""
    from ddtrace.profiling import Profiler

    segments: list[tuple[float, float, float]] = []
    running: list[tuple[float, float]] = []

    profiler = Profiler()
    for run in range(2):
        if run:
            time.sleep(idle)
            if scenario == "bridge":
                from ddtrace.internal.datadog.profiling import ddup

                ddup.upload()
            if scenario != "same":
                profiler = Profiler()
        started = time.time()
        profiler.start()
        burn_for(burn, segments)
        stopping = time.time()
        profiler.stop(flush=True)
        running.append((started, stopping))
    import ddtrace

    print(
        json.dumps(
            {"ddtrace": ddtrace.__version__, "python": sys.version.split()[0], "running": running, "segments": segments}
        )
    )


# --- the parent: test agent, scenarios, table ----------------------------------


@dataclass(frozen=True)
class Claim:
    start: float
    end: float
    cpu_seconds: float  # the pprof's cpu-time total


def locked_ddtrace_version() -> str:
    lock = Path(__file__).resolve().parents[1] / "{{cookiecutter.service_slug}}" / "uv.lock"
    found = re.search(r'name = "ddtrace"\nversion = "([^"]+)"', lock.read_text())
    if found is None:
        raise RuntimeError(f"no ddtrace in {lock}")
    return found.group(1)


def cpu_seconds(pprof: bytes) -> float:
    """The ``cpu-time`` total of an (uncompressed) pprof, in seconds."""
    from bench.ddtrace_attribution_repro import _fields, _packed

    top = _fields(pprof)
    strings = [value.decode() for number, value in top if number == 6 and isinstance(value, bytes)]
    types = [
        strings[int(dict(_fields(value)).get(1, 0))]
        for number, value in top
        if number == 1 and isinstance(value, bytes)
    ]
    if "cpu-time" not in types:
        return 0.0
    index = types.index("cpu-time")
    total = 0
    for number, value in top:
        if number == 2 and isinstance(value, bytes):
            values = [v for field, content in _fields(value) if field == 2 for v in _packed(content)]
            total += values[index] if index < len(values) else 0
    return total / 1e9


def run_scenario(scenario: str, version: str, agent_url: str, arguments: argparse.Namespace) -> dict[str, Any]:
    from harness.bake import uv, uv_environment

    environment = {key: value for key, value in uv_environment().items() if not key.startswith(("DD_", "_DD_"))}
    environment.update(
        {
            "DD_TRACE_AGENT_URL": agent_url,
            "DD_PROFILING_UPLOAD_INTERVAL": str(arguments.interval),
            "DD_PROFILING_STACK_ENABLED": "true",
            "DD_PROFILING_MEMORY_ENABLED": "false",
            "DD_PROFILING_LOCK_ENABLED": "false",
            "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
            "DD_TRACE_ENABLED": "false",
            "DD_SERVICE": f"restart-window-{scenario}",
        }
    )
    command = [uv(), "run", "--quiet", "--no-project", "--with", f"ddtrace=={version}", "python", __file__]
    command += ["child", scenario, "--burn", str(arguments.burn), "--idle", str(arguments.idle)]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{scenario} exited {result.returncode}:\n{result.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def overlap(start: float, end: float, spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in spans)


def table(scenario: str, report: dict[str, Any], claims: list[Claim]) -> list[str]:
    running = [(a, b) for a, b in report["running"]]
    origin = running[0][0]
    lines = [
        f"{scenario}: profiler ran {', '.join(f'{a - origin:.2f}-{b - origin:.2f} s' for a, b in running)} "
        f"(t = 0 at the first start); idle in between",
        "| upload | claimed start | claimed end | claimed s | profiler ran in it | CPU burned in it | "
        "CPU in the profile | profile's cores (CPU / claimed s) | true cores while profiled |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for number, claim in enumerate(claims, 1):
        profiled = overlap(claim.start, claim.end, running)
        burned = sum(
            cpu * overlap(claim.start, claim.end, [(a, b)]) / (b - a) for a, b, cpu in report["segments"] if b > a
        )
        claimed = claim.end - claim.start
        # Windows of a few milliseconds (a stop may flush twice) make no rate.
        true_cores = f"{burned / profiled:.2f}" if profiled > 0.05 else "-"
        claimed_cores = f"{claim.cpu_seconds / claimed:.2f}" if claimed > 0.05 else "-"
        lines.append(
            f"| {number} | {claim.start - origin:.2f} | {claim.end - origin:.2f} | {claimed:.2f} | {profiled:.2f} s | "
            f"{burned:.2f} s | {claim.cpu_seconds:.2f} s | {claimed_cores} | {true_cores} |"
        )
    return lines


def main(argv: list[str]) -> int:
    if argv[:1] == ["child"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("scenario", choices=SCENARIOS)
        parser.add_argument("--burn", type=float, required=True)
        parser.add_argument("--idle", type=float, required=True)
        child_arguments = parser.parse_args(argv[1:])
        child(child_arguments.scenario, child_arguments.burn, child_arguments.idle)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, default=4, help="DD_PROFILING_UPLOAD_INTERVAL, seconds")
    parser.add_argument("--burn", type=float, default=8.0, help="seconds of CPU before the stop and after the restart")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds between the stop and the restart")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--ddtrace", default=None, help="ddtrace version (default: the generated service's lock)")
    arguments = parser.parse_args(argv)

    from bench.profile_truth import parse_time
    from harness.agent import TestAgent

    version = arguments.ddtrace or locked_ddtrace_version()
    with tempfile.TemporaryDirectory(prefix="restart-window-") as directory:
        agent = TestAgent(Path(directory) / "test-agent.log").start()
        try:
            for scenario in arguments.scenarios.split(","):
                agent.clear()
                report = run_scenario(scenario, version, agent.url, arguments)
                claims = sorted(
                    (
                        Claim(
                            parse_time(upload.event["start"]),
                            parse_time(upload.event["end"]),
                            cpu_seconds(upload.attachment("profile.pprof")),
                        )
                        for upload in agent.profiles()
                    ),
                    key=lambda claim: claim.start,
                )
                if scenario == arguments.scenarios.split(",")[0]:
                    print(
                        f"ddtrace {report['ddtrace']}, Python {report['python']}, upload interval "
                        f"{arguments.interval} s, burn {arguments.burn:g} s, idle {arguments.idle:g} s"
                    )
                print()
                print("\n".join(table(scenario, report, claims)))
        finally:
            agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
