"""Logs: JSON lines tying every request's log to its trace, uvicorn's access
log included; plain text for a person at a terminal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from .agent import TestAgent
from .service import ServiceProcess


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def received_spans(agent: TestAgent, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with httpx.Client(timeout=10) as client:
            traces = client.get(f"{agent.url}/test/session/traces").json()
        spans = [span for trace in traces for span in trace]
        if spans:
            return spans
        time.sleep(0.25)
    raise AssertionError("the test agent received no trace")


def test_access_log_line_carries_the_trace_id_of_the_span_the_agent_received(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url, DD_PROFILING_ENABLED="false", LOG_FORMAT="json", DD_ENV="staging"
    )
    assert httpx.get(f"{service.url}/version", timeout=10).status_code == 200
    service.stop()  # flushes the trace

    request_span = next(span for span in received_spans(test_agent) if span.get("resource") == "GET /version")
    access = next(line for line in json_lines(service.logs()) if line.get("http.url") == "/version")
    # ddtrace logs 128-bit trace ids as 32 hex digits; spans carry the low 64 bits.
    logged = access["dd.trace_id"]
    lower_64 = int(logged, 16) & (2**64 - 1) if len(logged) == 32 else int(logged)
    assert lower_64 == request_span["trace_id"], f"log {access} vs span {request_span['trace_id']}"
    assert int(access["dd.span_id"]) != 0
    assert (access["dd.service"], access["dd.env"]) == ("{{ cookiecutter.service_slug }}", "staging")
    assert (access["http.method"], access["http.status_code"], access["logger.name"]) == ("GET", 200, "uvicorn.access")


def test_every_line_is_json_when_asked(start_service: Callable[..., ServiceProcess]) -> None:
    service = start_service(DD_TRACE_ENABLED="false", DD_PROFILING_ENABLED="false", LOG_FORMAT="json")
    httpx.get(f"{service.url}/", timeout=10)
    service.stop()
    lines = [line for line in service.logs().splitlines() if line.strip()]
    assert lines and all(line.startswith("{") for line in lines), lines
    assert all({"timestamp", "level", "logger.name", "message"} <= set(json.loads(line)) for line in lines)


def test_plain_text_when_asked(start_service: Callable[..., ServiceProcess]) -> None:
    service = start_service(DD_TRACE_ENABLED="false", DD_PROFILING_ENABLED="false", LOG_FORMAT="plain")
    service.stop()
    assert "INFO [uvicorn.error] Application startup complete." in service.logs()
