"""Exact CPU per unit of work, beside the profile's estimate: every call run
through ``run_in_worker_thread`` puts the CPU its thread burned on its span
(``thread.cpu_time_ms``) and into the ``worker_thread.cpu_time`` histogram by
function and route, checked against the same work timed independently here,
and as the Agent's trace intake and an OTLP receiver get them."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from random import Random
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan
from opentelemetry.util.types import AttributeValue

from {{ cookiecutter.package_name }} import thread_cpu
from {{ cookiecutter.package_name }}.build_info import BuildInfo
from {{ cookiecutter.package_name }}.thread_cpu import (
    FUNCTION_ATTRIBUTE,
    METRIC,
    ROUTE_ATTRIBUTE,
    SPAN_ATTRIBUTE,
    recording_thread_cpu,
)
from {{ cookiecutter.package_name }}.workload import hash_chain

from .agent import TestAgent
from .service import ServiceProcess

WORKLOAD_SPAN = "workload.hash_chain"
# Two sizes, about 9 and 27 ms of CPU a call here: a constant cannot match both.
ITERATIONS = (30_000, 90_000)
REQUESTS_PER_SIZE = 10
# Two requests at once, so two worker threads take turns on the GIL: a call's
# wall time is then well above its CPU (medians +70% to +270% seen), and a figure
# taken from a wall clock, or the whole process's CPU clock, fails.
CLIENTS = 2
# Most calls read within 3% of the same calls timed here; on a busy machine a
# few read higher, here as in the service (single calls up to +60% seen on a
# loaded two-core VM): contention costs a call real CPU. So no call may read
# lower than the quickest here, and each size's median must match.
TOLERANCE = 0.05
REFERENCE_CALLS = 9
LOW_64_BITS = (1 << 64) - 1

Span = dict[str, Any]


class RecordingSpan(NonRecordingSpan):
    """A span that keeps what is set on it."""

    def __init__(self) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self.attributes: dict[str, AttributeValue] = {}

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value


class RecordingHistogram:
    """Stands in for the histogram: keeps each recorded value and its attributes."""

    def __init__(self) -> None:
        self.records: list[tuple[float, dict[str, str]]] = []

    def record(self, amount: float, attributes: dict[str, str]) -> None:
        self.records.append((amount, attributes))


@pytest.fixture
def histogram(monkeypatch: pytest.MonkeyPatch) -> RecordingHistogram:
    recording = RecordingHistogram()
    monkeypatch.setattr(thread_cpu, "cpu_time", recording)
    return recording


def test_the_figure_is_the_threads_cpu_not_its_waits(histogram: RecordingHistogram) -> None:
    span = RecordingSpan()
    with pytest.raises(RuntimeError), recording_thread_cpu(span, "workload.nap", "/nap"):
        time.sleep(0.2)
        raise RuntimeError("the work failed")
    # Recorded although the work raised; the 200 ms asleep cost (almost) no CPU.
    figure = span.attributes[SPAN_ATTRIBUTE]
    assert isinstance(figure, float) and 0 <= figure < 20, span.attributes
    assert histogram.records == [(figure, {FUNCTION_ATTRIBUTE: "workload.nap", ROUTE_ATTRIBUTE: "/nap"})]


def test_handlers_label_the_cpu_with_their_function_and_route_template(
    client: TestClient, histogram: RecordingHistogram
) -> None:
    assert client.get("/cpu-intensive", params={"iterations": 1000}).status_code == 200
    assert client.get("/memory-alloc", params={"size_mb": 1}).status_code == 200
    labels = [attributes for _, attributes in histogram.records]
    assert labels == [
        {FUNCTION_ATTRIBUTE: "workload.hash_chain", ROUTE_ATTRIBUTE: "/cpu-intensive"},
        {FUNCTION_ATTRIBUTE: "workload.allocate_and_touch", ROUTE_ATTRIBUTE: "/memory-alloc"},
    ]


def cpu_ms_here() -> dict[int, list[float]]:
    """The independent measure: the same calls made in this process and timed
    with this thread's CPU clock, ``REFERENCE_CALLS`` of each size in turn.
    Made while the service is idle, never alongside its calls: on a VM whose two
    vCPUs share a physical core, a call costs up to 1.8x the CPU time while the
    other vCPU is busy (measured: 265 against 144 ms), so a reference taken
    alongside reads whatever core it landed on. The service's two worker
    threads take turns on the GIL, so its calls run one at a time, as these do."""
    costs: dict[int, list[float]] = {size: [] for size in ITERATIONS}
    for size in ITERATIONS:
        hash_chain(size)  # the first call runs colder
    while min(len(timed) for timed in costs.values()) < REFERENCE_CALLS:
        for size in ITERATIONS:
            started = time.thread_time_ns()
            hash_chain(size)
            costs[size].append((time.thread_time_ns() - started) / 1e6)
    return costs


# One process hashing and printing its own CPU time in ms.
HASHING = (
    "import hashlib, time\nstarted = time.thread_time()\ndigest = b'x'\n"
    "for _ in range(150_000): digest = hashlib.sha256(digest).digest()\n"
    "print((time.thread_time() - started) * 1000)"
)


def cpu_time_when_both_cores_work() -> float:
    """How much more CPU time the same work takes while another process works
    too (1.0 on a machine whose cores are its own). A VM throttled to less than
    its vCPUs (or whose vCPUs share a core) charges the waiting to the thread's
    CPU clock: up to 1.8x seen on the two-core VM this was written on."""

    def run(count: int) -> list[float]:
        processes = [
            subprocess.Popen([sys.executable, "-c", HASHING], stdout=subprocess.PIPE, text=True) for _ in range(count)
        ]
        return [float(process.communicate()[0]) for process in processes]

    alone = min(run(1) + run(1))
    return max(run(2)) / alone


def cpu_request(client: httpx.Client, iterations: int, trace_id: int | None = None) -> int:
    """One request, in a caller's trace when ``trace_id`` is given."""
    headers = {} if trace_id is None else {"traceparent": f"00-{trace_id:032x}-{0x1122334455667788:016x}-01"}
    return client.get("/cpu-intensive", params={"iterations": iterations}, headers=headers).status_code


def workload_spans_by_trace(agent: TestAgent) -> dict[int, Span]:
    # ddtrace names an OpenTelemetry span by its kind; the span's own name is the resource.
    spans = [span for trace in agent.traces() for span in trace if span.get("resource") == WORKLOAD_SPAN]
    return {span["trace_id"]: span for span in spans}


def test_each_workload_span_carries_the_cpu_its_call_burned(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    inflation = cpu_time_when_both_cores_work()
    if inflation > 1 + 3 * TOLERANCE:
        pytest.skip(
            f"this machine charges a call {inflation - 1:.0%} more CPU time while another process works: "
            "a call's CPU time is not a property of the call here, so no reference can match it"
        )
    # Profiling off: with it on, the calls cost a few percent more CPU, varying
    # with load (README, "What the profiles say"), which the same calls timed
    # here would not show. The figure counts that CPU too, rightly.
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url, DD_PROFILING_ENABLED="false", WORKLOAD_MAX_CONCURRENCY=str(CLIENTS)
    )
    plan = [(Random(seed).getrandbits(128), ITERATIONS[seed % 2]) for seed in range(REQUESTS_PER_SIZE * 2)]
    with httpx.Client(base_url=service.url, timeout=60) as client, ThreadPoolExecutor(CLIENTS) as pool:
        # Each worker thread's first calls run colder; they are not measured.
        warm_up = list(pool.map(lambda size: cpu_request(client, size), ITERATIONS * CLIENTS))
        before = cpu_ms_here()
        codes = list(pool.map(lambda call: cpu_request(client, call[1], call[0]), plan))
        after = cpu_ms_here()
    here = {size: before[size] + after[size] for size in ITERATIONS}
    assert warm_up + codes == [200] * (len(warm_up) + len(plan)), warm_up + codes
    service.stop()  # flushes the pending spans

    spans = workload_spans_by_trace(test_agent)
    figures: dict[int, list[float]] = {size: [] for size in ITERATIONS}
    for trace_id, size in plan:
        span = spans.get(trace_id & LOW_64_BITS)
        assert span is not None, f"no {WORKLOAD_SPAN} span in trace {trace_id:032x}"
        figure = span.get("metrics", {}).get(SPAN_ATTRIBUTE)
        assert isinstance(figure, float), f"{SPAN_ATTRIBUTE} missing or not a number: {span}"
        figures[size].append(figure)
    for size in ITERATIONS:
        reference = statistics.median(here[size])
        # No call costs less than the quickest of the same calls here, give or take the tolerance.
        floor = min(here[size]) * (1 - TOLERANCE)
        typical = statistics.median(figures[size]) / reference - 1
        assert min(figures[size]) >= floor and abs(typical) <= TOLERANCE, (
            f"hash_chain({size}): spans read {[f'{ms / reference - 1:+.1%}' for ms in sorted(figures[size])]} off "
            f"the same call timed here ({reference:.2f} ms, median of {len(here[size])}; quickest "
            f"{min(here[size]):.2f} ms); expected none below {floor:.2f} ms and a median within ±{TOLERANCE:.0%}"
        )


def attribute_values(attributes: list[dict[str, Any]]) -> dict[str, str]:
    """OTLP key/value attributes (as the test agent decodes them) as a dict."""
    return {item["key"]: next(iter(item["value"].values()), "") for item in attributes}


def cpu_points(requests: list[dict[str, Any]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The resource the CPU histogram came with, and every data point of it
    (exponential buckets: otlp_exporter.py)."""
    resource: dict[str, str] = {}
    points: list[dict[str, Any]] = []
    for request in requests:
        for resource_metrics in request.get("resource_metrics", []):
            for scope in resource_metrics.get("scope_metrics", []):
                for metric in scope.get("metrics", []):
                    if metric["name"] == METRIC:
                        resource = attribute_values(resource_metrics["resource"]["attributes"])
                        assert metric.get("unit") == "ms", metric
                        points.extend(metric["exponential_histogram"]["data_points"])
    return resource, points


def test_the_cpu_histogram_reaches_an_otlp_receiver_by_function_route_and_version(
    test_agent: TestAgent, baked_build: BuildInfo, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_PROFILING_ENABLED="false",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"{test_agent.otlp_http_url}/v1/metrics",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    calls = {("workload.hash_chain", "/cpu-intensive"): 3, ("workload.allocate_and_touch", "/memory-alloc"): 2}
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for _ in range(3):
            assert client.get("/cpu-intensive", params={"iterations": 2_000}).status_code == 200
            time.sleep(0.3)  # spread over several exports: delta counts must add up
        for _ in range(2):
            assert client.get("/memory-alloc", params={"size_mb": 1}).status_code == 200
    service.stop()  # the last export happens at shutdown

    resource, points = cpu_points(test_agent.otlp_metrics())
    assert resource.get("service.version") == baked_build.version, resource
    counted: dict[tuple[str, str], int] = {}
    summed: dict[str, float] = {}
    for point in points:
        attributes = attribute_values(point.get("attributes", []))
        function, route = attributes.get(FUNCTION_ATTRIBUTE, ""), attributes.get(ROUTE_ATTRIBUTE, "")
        counted[(function, route)] = counted.get((function, route), 0) + int(point["count"])
        summed[function] = summed.get(function, 0.0) + float(point.get("sum", 0.0))
    assert counted == calls, f"histogram counts by (function, route): {counted}"

    # The very figures the spans carry, call for call.
    on_spans: dict[str, float] = {}
    for span in (span for trace in test_agent.traces() for span in trace):
        if SPAN_ATTRIBUTE in span.get("metrics", {}):
            on_spans[span["resource"]] = on_spans.get(span["resource"], 0.0) + span["metrics"][SPAN_ATTRIBUTE]
    assert summed == pytest.approx(on_spans, rel=1e-6), f"histogram sums {summed}, span figures summed {on_spans}"
