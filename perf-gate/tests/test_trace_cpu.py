"""``perf-gate top --trace-id``: under the table, the CPU the service measured
exactly on the trace's spans (``thread.cpu_time_ms``) beside what the profile
credits to the same spans, read from a trace and a profile a test agent
received from a service baked from the template (recorded by
``fixtures/record_trace_cpu.py``: four ~9 ms calls of ``hash_chain`` in one
caller's trace, the profiler as shipped)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from perf_gate.agent_source import LOW_64_BITS, THREAD_CPU_METRIC, TraceSpan, parse_trace_id, spans_in
from perf_gate.hotspots import SPAN_LABEL, decode_all, label_as_id, measured_beside_profile

FIXTURES = Path(__file__).parent / "fixtures"
TRACES = json.loads((FIXTURES / "ddtrace-4.16-py3.11-trace-cpu.traces.json").read_text())
PROFILE = (FIXTURES / "ddtrace-4.16-py3.11-trace-cpu.pprof").read_bytes()
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"  # the caller's traceparent when recorded
WORKLOAD_SPAN = "workload.hash_chain"
BOUNDARY = "recorded-profile"


def profile_upload(pprof: bytes) -> dict[str, Any]:
    """A profile upload as the agent lists it at /test/session/requests (only the pprof part)."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="profile.pprof"; filename="profile.pprof"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + pprof
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return {
        "url": "http://127.0.0.1/profiling/v1/input",
        "method": "POST",
        "headers": {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        "body": base64.b64encode(body).decode(),
    }


def serve(documents: dict[str, Any]) -> Iterator[str]:
    """A stand-in test agent answering the two session documents perf-gate reads."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = documents.get(self.path)
            payload = json.dumps(document).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorded_agent() -> Iterator[str]:
    yield from serve({"/test/session/traces": TRACES, "/test/session/requests": [profile_upload(PROFILE)]})


@pytest.fixture
def agent_without_profiles() -> Iterator[str]:
    yield from serve({"/test/session/traces": TRACES, "/test/session/requests": []})


def top(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perf_gate", "top", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def workload_spans() -> list[dict[str, Any]]:
    trace_id = parse_trace_id(TRACE_ID) & LOW_64_BITS
    return [
        span
        for trace in TRACES
        for span in trace
        if span["trace_id"] == trace_id and THREAD_CPU_METRIC in span["metrics"]
    ]


def test_top_prints_the_cpu_measured_on_the_traces_spans_beside_what_the_profile_credits(recorded_agent: str) -> None:
    spans = workload_spans()
    assert len(spans) == 4 and {span["resource"] for span in spans} == {WORKLOAD_SPAN}, spans
    measured_ms = sum(span["metrics"][THREAD_CPU_METRIC] for span in spans)
    # Read the profile apart from perf-gate's own sums: the CPU of samples taken while a workload span ran.
    ids = {span["span_id"] for span in spans}
    samples = decode_all([PROFILE])
    credited_ns = sum(s.values.get("cpu-time", 0) for s in samples if label_as_id(s.labels.get(SPAN_LABEL)) in ids)
    assert credited_ns < 0.5 * measured_ms * 1e6, "re-record: the fixture should show the sampler's shortfall"

    outcome = top("--agent", recorded_agent, "--trace-id", TRACE_ID)
    assert outcome.returncode == 0, outcome.stderr
    expected = (
        f"measured on the trace's spans: {measured_ms:.0f} ms of thread CPU in {WORKLOAD_SPAN} (4 spans); "
        f"the profile credits {credited_ns / 1e6:.0f} ms"
    )
    *table, last = outcome.stdout.splitlines()
    assert last == expected, outcome.stdout
    # The table above it is the profile's, as before.
    assert any("hash_chain" in row for row in table[2:]), outcome.stdout


def test_the_measured_cpu_is_printed_when_the_profile_caught_none_of_the_trace(agent_without_profiles: str) -> None:
    outcome = top("--agent", agent_without_profiles, "--trace-id", TRACE_ID)
    assert outcome.returncode == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[0] == "no CPU sample of this trace in the profiles", outcome.stdout
    assert lines[1].endswith(f"in {WORKLOAD_SPAN} (4 spans); the profile credits 0 ms"), outcome.stdout


def test_spans_without_a_measured_figure_add_no_line() -> None:
    # Spans of a service that measures nothing (or older than the figure), and a figure of 0 ms that counts.
    spans = [TraceSpan(1, "GET /", None), TraceSpan(2, "cache.lookup", 0.0)]
    rows = measured_beside_profile(spans, [])
    assert [(row.name, row.spans, row.measured_ms, row.credited_ns) for row in rows] == [("cache.lookup", 1, 0.0, 0)]


def test_the_agents_spans_are_read_with_their_figure_and_matched_on_the_low_64_bits() -> None:
    spans = spans_in(TRACES, parse_trace_id(TRACE_ID))
    assert len(spans) == 12, spans
    measured = [span for span in spans if span.thread_cpu_ms is not None]
    assert [span.resource for span in measured] == [WORKLOAD_SPAN] * 4
    assert all(5 < (span.thread_cpu_ms or 0) < 50 for span in measured), measured
    assert spans_in(TRACES, parse_trace_id(TRACE_ID) + 1) == []
