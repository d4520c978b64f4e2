"""What the profiles say, checked against known work: the CPU a request's
workload burns carries that request's endpoint and a span of its trace (the
trace its caller started, through W3C ``traceparent``), so Datadog's "CPU by
endpoint" and the trace-to-profile drill-down find it. The profiles are read
back with the perf tool (``perf-gate samples`` and ``top``), as an engineer would;
``top --trace-id`` also prints the CPU measured exactly on the trace's spans."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from random import Random
from typing import Any

import httpx

from {{ cookiecutter.package_name }}.thread_cpu import SPAN_ATTRIBUTE

from . import perf_gate
from .agent import TestAgent
from .service import ServiceProcess

CPU = "cpu-time"
ENDPOINT = "GET /cpu-intensive"
# Long enough per request (~0.1 s) that the sampler catches the work in the act.
ITERATIONS = 300_000
REQUESTS = 24
CLIENTS = 2
LINKED_SHARE_FLOOR = 0.9
LOW_64_BITS = (1 << 64) - 1
Sample = dict[str, Any]  # a line of `perf-gate samples`: function, file, values, labels


def cpu_request(client: httpx.Client, trace_id: int) -> httpx.Response:
    """One request as a caller in a trace of its own would send it."""
    traceparent = f"00-{trace_id:032x}-{0x1122334455667788:016x}-01"
    return client.get("/cpu-intensive", params={"iterations": ITERATIONS}, headers={"traceparent": traceparent})


def in_the_workload(sample: Sample) -> bool:
    """Whether the innermost Python frame is the CPU workload."""
    return bool(sample["function"] == "hash_chain")


def cpu_nanoseconds(sample: Sample) -> int:
    return int(sample["values"][CPU])


def share(samples: list[Sample], predicate: Callable[[Sample], bool]) -> float:
    total = sum(cpu_nanoseconds(sample) for sample in samples)
    return sum(cpu_nanoseconds(sample) for sample in samples if predicate(sample)) / total


def test_workload_cpu_carries_its_endpoint_and_a_span_of_its_request(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    # The default upload interval: the whole run lands in the final profile,
    # flushed at shutdown after every request has finished.
    service = start_service(DD_TRACE_AGENT_URL=test_agent.url, WORKLOAD_MAX_CONCURRENCY=str(CLIENTS))
    callers_traces = [Random(seed).getrandbits(128) for seed in range(REQUESTS)]
    with httpx.Client(base_url=service.url, timeout=60) as client, ThreadPoolExecutor(CLIENTS) as pool:
        codes = [response.status_code for response in pool.map(lambda t: cpu_request(client, t), callers_traces)]
    assert codes == [200] * REQUESTS, codes
    service.stop()  # flushes the last profile and the pending spans

    spans = [span for trace in test_agent.traces() for span in trace]
    trace_of = {span["span_id"]: span["trace_id"] for span in spans}
    # The agent reports a 128-bit trace id's lower half.
    sent = {trace_id & LOW_64_BITS for trace_id in callers_traces}
    endpoint_traces = {span["trace_id"] for span in spans if span.get("resource") == ENDPOINT} & sent

    def in_its_requests_trace(sample: Sample) -> bool:
        """The sample's span is in the same trace as its request's root span,
        and that trace is a caller's, through a request to the endpoint."""
        trace = trace_of.get(sample["labels"].get("span id"))
        root_trace = trace_of.get(sample["labels"].get("local root span id"))
        return trace is not None and trace == root_trace and trace in endpoint_traces

    assert test_agent.profiles(), "the agent received no profile"
    samples = perf_gate.samples("--agent", test_agent.url)
    workload = [sample for sample in samples if in_the_workload(sample)]
    assert workload, "no CPU sample of hash_chain in any uploaded profile"
    with_endpoint = share(workload, lambda sample: sample["labels"].get("trace endpoint") == ENDPOINT)
    assert with_endpoint >= LINKED_SHARE_FLOOR, (
        f"{with_endpoint:.0%} of hash_chain's CPU carries the endpoint {ENDPOINT!r}; "
        f"labels seen: {sorted({str(sample['labels']) for sample in workload})[:3]}"
    )
    with_span = share(workload, in_its_requests_trace)
    assert with_span >= LINKED_SHARE_FLOOR, (
        f"{with_span:.0%} of hash_chain's CPU carries the span id of a span in its request's trace"
    )

    # From one request's span (as a trace or a log line shows it) to its CPU.
    root = workload[0]["labels"].get("local root span id")
    assert isinstance(root, int), workload[0]
    by_span = perf_gate.run("top", "--agent", test_agent.url, "--span-id", str(root))
    assert by_span.returncode == 0, by_span.stderr
    first_row = by_span.stdout.splitlines()[2]
    assert "hash_chain" in first_row and ENDPOINT in first_row, by_span.stdout

    # And from a caller's trace id (as its logs print it) straight to the CPU.
    busy_trace = trace_of[root]
    caller_trace = next(trace_id for trace_id in callers_traces if trace_id & LOW_64_BITS == busy_trace)
    by_trace = perf_gate.run("top", "--agent", test_agent.url, "--trace-id", f"{caller_trace:032x}")
    assert by_trace.returncode == 0, by_trace.stderr
    first_row = by_trace.stdout.splitlines()[2]
    assert "hash_chain" in first_row and ENDPOINT in first_row, by_trace.stdout
    # Under the table, the exact CPU the workload's span measured on itself.
    measured = sum(
        span["metrics"][SPAN_ATTRIBUTE]
        for span in spans
        if span["trace_id"] == busy_trace and SPAN_ATTRIBUTE in span.get("metrics", {})
    )
    exact = f"measured on the trace's spans: {measured:.0f} ms of thread CPU in workload.hash_chain;"
    assert by_trace.stdout.splitlines()[-1].startswith(exact), by_trace.stdout
