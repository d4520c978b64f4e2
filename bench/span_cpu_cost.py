"""What the exact CPU figure costs a call, beside the call it measures.

A baked service's ``run_in_worker_thread`` wraps every call in
``thread_cpu.recording_thread_cpu``: two reads of the thread's CPU clock, a
numeric attribute on the span, a record into an OpenTelemetry histogram. This
bench bakes a service with the default answers, installs its locked
dependencies, and in the bake's Python times that code directly in a loop, with
the providers the service runs with: ddtrace's tracer as OpenTelemetry's (a
recording span, current, so the histogram keeps exemplars as it does in a
request) and the service's own OTLP meter provider (``install_otlp_exporter``,
exporting to nobody once an hour, so no export runs inside the loop).

Each batch times ``--calls`` calls with the measuring thread's CPU clock; the
report gives, per part and for the whole, the median cost per call over
``--batches`` batches with a distribution-free 95% interval, next to the CPU of
one ``hash_chain(--iterations)`` call (the workload's typical call, ~10 ms).

    .venv/bin/python -m bench.span_cpu_cost                 # about a minute
    .venv/bin/python -m bench.span_cpu_cost --batches 41 --calls 50000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.profiler_overhead import Interval, median_interval
from harness.bake import bake

# Run in the bake's Python: prints one JSON object, the per-call cost (ns) of
# each part in every batch, and hash_chain's CPU per call (ns) in every batch.
MEASURE = """
import json, os, platform, sys, time
from importlib.metadata import version
from ddtrace.opentelemetry import TracerProvider
from opentelemetry import trace

PACKAGE, CALLS, BATCHES, ITERATIONS = sys.argv[1], *map(int, sys.argv[2:5])
otlp = __import__(f"{PACKAGE}.otlp_exporter", fromlist=["install_otlp_exporter"])
thread_cpu = __import__(f"{PACKAGE}.thread_cpu", fromlist=["recording_thread_cpu"])
workload = __import__(f"{PACKAGE}.workload", fromlist=["hash_chain"])

trace.set_tracer_provider(TracerProvider())
provider = otlp.install_otlp_exporter({"service.name": "bench"}, "http://127.0.0.1:9/v1/metrics", 3_600_000)
tracer = trace.get_tracer("bench")
labels = {thread_cpu.FUNCTION_ATTRIBUTE: "workload.hash_chain", thread_cpu.ROUTE_ATTRIBUTE: "/cpu-intensive"}
clock = time.thread_time_ns


def clock_reads(span):
    for _ in range(CALLS):
        clock()
        clock()


def attribute(span):
    for _ in range(CALLS):
        span.set_attribute(thread_cpu.SPAN_ATTRIBUTE, 9.25)


def record(span):
    for _ in range(CALLS):
        thread_cpu.cpu_time.record(9.25, labels)


def whole(span):
    for _ in range(CALLS):
        with thread_cpu.recording_thread_cpu(span, "workload.hash_chain", "/cpu-intensive"):
            pass


def empty_loop(span):
    for _ in range(CALLS):
        pass


parts = {"clock_reads": clock_reads, "attribute": attribute, "record": record, "whole": whole, "loop": empty_loop}
costs = {name: [] for name in parts}
workload_ns = []
with tracer.start_as_current_span("workload.hash_chain") as span:
    for name, part in parts.items():
        part(span)  # warm up
    workload.hash_chain(ITERATIONS)
    for _ in range(BATCHES):
        for name, part in parts.items():  # interleaved: a drift hits every part alike
            started = clock()
            part(span)
            costs[name].append((clock() - started) / CALLS)
        started = clock()
        workload.hash_chain(ITERATIONS)
        workload_ns.append(clock() - started)
provider.shutdown(timeout_millis=100)
print(json.dumps({
    "costs": costs,
    "workload_ns": workload_ns,
    "python": platform.python_version(),
    "ddtrace": version("ddtrace"),
    "opentelemetry_sdk": version("opentelemetry-sdk"),
}))
"""

PARTS = {
    "clock_reads": "two time.thread_time_ns() reads",
    "attribute": "span.set_attribute (ddtrace's span)",
    "record": "histogram.record (the SDK, with its exemplar)",
    "whole": "all of it: recording_thread_cpu around nothing",
    "loop": "(the bare loop, included in each line above)",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def microseconds(interval: Interval) -> str:
    low = "?" if interval.low is None else f"{interval.low / 1e3:.2f}"
    high = "?" if interval.high is None else f"{interval.high / 1e3:.2f}"
    return f"{interval.median / 1e3:.2f} µs [{low}, {high}]"


def report(measured: dict[str, object], arguments: argparse.Namespace) -> str:
    costs = measured["costs"]
    workload_ns = measured["workload_ns"]
    assert isinstance(costs, dict) and isinstance(workload_ns, list)
    intervals = {name: median_interval(values) for name, values in costs.items()}
    workload = median_interval([float(value) for value in workload_ns])
    whole = intervals["whole"]
    lines = [
        f"The exact CPU figure's cost per call, {datetime.now(UTC):%Y-%m-%d}: Python {measured['python']}, "
        f"ddtrace {measured['ddtrace']}, opentelemetry-sdk {measured['opentelemetry_sdk']}; "
        f"{arguments.batches} batches of {arguments.calls} calls, timed with the thread's CPU clock; "
        "median per call [95% interval]",
        "",
    ]
    lines += [f"  {PARTS[name]:<50} {microseconds(interval)}" for name, interval in intervals.items()]
    share = whole.median / workload.median
    lines += [
        "",
        f"  hash_chain({arguments.iterations}), the workload's typical call: {workload.median / 1e6:.2f} ms of CPU "
        f"(median of {len(workload_ns)})",
        f"  the figure costs {share:.4%} of that call ({whole.median / 1e3:.2f} µs in {workload.median / 1e6:.2f} ms)",
    ]
    return "\n".join(lines)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.span_cpu_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=21, help="batches per part (default 21; 9 or more)")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per batch (default 20000)")
    parser.add_argument("--iterations", type=int, default=30_000, help="hash_chain's size (default 30000: ~10 ms)")
    arguments = parser.parse_args(argv)
    # Below 9 batches the median's 95% interval has no order statistics to stand on.
    if arguments.batches < 9 or arguments.calls < 1 or arguments.iterations < 1:
        parser.error("--batches must be at least 9, --calls and --iterations at least 1")
    return arguments


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="span-cpu-cost-") as scratch:
        baked = bake(Path(scratch))
        log(f"baked {baked.project.name}; installing its locked dependencies")
        baked.sync()
        command = [str(baked.python), "-c", MEASURE, baked.package]
        command += [str(arguments.calls), str(arguments.batches), str(arguments.iterations)]
        # Spans go nowhere: the tracer's writer fails in its own thread, outside the timed one.
        environment = {**os.environ, "DD_TRACE_AGENT_URL": "http://127.0.0.1:9", "DD_TRACE_STARTUP_LOGS": "false"}
        log(f"timing {arguments.batches} batches of {arguments.calls} calls per part")
        measured = subprocess.run(
            command, capture_output=True, text=True, check=True, env=environment, cwd=baked.project
        )
    print(report(json.loads(measured.stdout.strip().splitlines()[-1]), arguments))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
