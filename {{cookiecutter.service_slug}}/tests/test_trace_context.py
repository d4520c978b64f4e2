"""A caller's trace continues here, and spans made with the OpenTelemetry API
join it: W3C ``traceparent`` (and Datadog's own headers) carry the trace id in,
and the span the workload opens in its worker thread is a child of the
request's span in that same trace, as the Agent receives it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .agent import TestAgent
from .service import ServiceProcess

W3C_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
W3C_PARENT_ID = 0xB7AD6B7169203331
DATADOG_TRACE_ID = 7_220_134_501_236_713_845
DATADOG_PARENT_ID = 1_234_567_890_123_456_789
LOW_64_BITS = (1 << 64) - 1
WORKLOAD_SPAN = "workload.hash_chain"

Span = dict[str, Any]


def spans_of_trace(spans: list[Span], trace_id_low: int) -> list[Span]:
    return [span for span in spans if span["trace_id"] == trace_id_low]


def the_request_and_its_workload(spans: list[Span], caller_span_id: int) -> tuple[Span, Span]:
    """The request's span (the only child of the caller's span) and the
    workload's span (the only one of its name)."""
    requests = [span for span in spans if span.get("parent_id") == caller_span_id]
    assert len(requests) == 1, f"expected one span under the caller's, got {[s['name'] for s in requests]}"
    request = requests[0]
    # ddtrace names an OpenTelemetry span by its kind; the span's own name is the resource.
    workloads = [span for span in spans if span["resource"] == WORKLOAD_SPAN]
    assert len(workloads) == 1, f"expected one {WORKLOAD_SPAN} span, got {[s['resource'] for s in spans]}"
    return request, workloads[0]


def test_a_w3c_caller_and_a_datadog_caller_each_continue_their_trace(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(DD_TRACE_AGENT_URL=test_agent.url, DD_PROFILING_ENABLED="false")
    traceparent = f"00-{W3C_TRACE_ID:032x}-{W3C_PARENT_ID:016x}-01"
    datadog_headers = {
        "x-datadog-trace-id": str(DATADOG_TRACE_ID),
        "x-datadog-parent-id": str(DATADOG_PARENT_ID),
        "x-datadog-sampling-priority": "1",
    }
    with httpx.Client(base_url=service.url, timeout=30) as client:
        params = {"iterations": 1000}
        w3c = client.get("/cpu-intensive", params=params, headers={"traceparent": traceparent, "tracestate": "x=1"})
        datadog = client.get("/cpu-intensive", params=params, headers=datadog_headers)
    assert (w3c.status_code, datadog.status_code) == (200, 200)
    service.stop()  # flushes the pending spans

    spans = [span for trace in test_agent.traces() for span in trace]
    w3c_spans = spans_of_trace(spans, W3C_TRACE_ID & LOW_64_BITS)
    assert w3c_spans, f"no span in the caller's W3C trace; trace ids seen: {sorted({s['trace_id'] for s in spans})}"
    request, workload = the_request_and_its_workload(w3c_spans, W3C_PARENT_ID)
    assert request["resource"] == "GET /cpu-intensive"
    # Datadog carries a 128-bit trace id's upper half in the _dd.p.tid tag.
    assert request["meta"].get("_dd.p.tid") == f"{W3C_TRACE_ID >> 64:016x}", request["meta"]
    assert workload["parent_id"] == request["span_id"]

    datadog_spans = spans_of_trace(spans, DATADOG_TRACE_ID)
    assert datadog_spans, "no span in the caller's Datadog trace"
    request, workload = the_request_and_its_workload(datadog_spans, DATADOG_PARENT_ID)
    assert workload["parent_id"] == request["span_id"]
