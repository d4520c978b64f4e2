"""Logs: JSON lines tying every request's log to its trace, uvicorn's access
log included; plain text for a person at a terminal. Whatever reaches stderr
(the profile exporter writes there) comes out in the same format, and what the
service says about profile uploads is true with the Agent away and back."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from {{ cookiecutter.package_name }}.logs import JsonFormatter, with_fields

from .agent import TestAgent, free_port
from .conftest import PACKAGE
from .service import ServiceProcess

UPLOAD_FAILED = "profile upload failed"
PROFILER_STOPPED = "profiler stopped"
UPLOAD_INTERVAL_SECONDS = 1


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


def test_json_lines_carry_a_records_fields_without_overriding_its_own() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "said", None, None)
    record.__dict__.update(with_fields({"profiling.upload.failures": 3, "message": "not this"}))
    document = json.loads(JsonFormatter().format(record))
    assert (document["message"], document["profiling.upload.failures"]) == ("said", 3), document


def every_line_as_json(text: str, stream: str) -> list[dict[str, Any]]:
    """Each non-empty line parsed; fails naming the first line that is not JSON."""
    documents = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"a line on {stream} is not JSON: {line!r}") from None
    return documents


def logged_at(document: dict[str, Any]) -> float:
    """A JSON line's timestamp, in seconds since the epoch."""
    moment = datetime.strptime(document["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return moment.timestamp()


def wait_for_line(service: ServiceProcess, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in service.logs():
        assert time.monotonic() < deadline, f"no line with {text!r} within {timeout}s:\n{service.logs()}"
        time.sleep(0.1)


def the_stop_line(lines: list[dict[str, Any]]) -> dict[str, Any]:
    stops = [line for line in lines if line["message"].startswith(PROFILER_STOPPED)]
    assert len(stops) == 1, f"expected one line saying the profiler stopped, got {stops}"
    return stops[0]


def test_with_no_agent_every_line_is_json_and_says_the_uploads_failed(
    start_service: Callable[..., ServiceProcess],
) -> None:
    service = start_service(
        own_stderr=True,
        DD_TRACE_AGENT_URL=f"http://127.0.0.1:{free_port()}",
        DD_PROFILING_UPLOAD_INTERVAL=str(UPLOAD_INTERVAL_SECONDS),
        LOG_FORMAT="json",
    )
    started = time.monotonic()
    wait_for_line(service, UPLOAD_FAILED)
    time.sleep(3 * UPLOAD_INTERVAL_SECONDS)  # a few more failed uploads
    service.send_sigterm()
    assert service.wait() == -15, service.logs()
    ran_for = time.monotonic() - started

    lines = every_line_as_json(service.logs(), "stdout")
    assert every_line_as_json(service.errors(), "stderr") == []
    warnings = [line for line in lines if line["message"].startswith(UPLOAD_FAILED)]
    assert warnings and all(line["level"] == "WARNING" for line in warnings), warnings
    assert all("Connection refused" in line["profiling.upload.error"] for line in warnings), warnings
    # At most one warning per upload interval; the rest are counted.
    assert len(warnings) <= ran_for / UPLOAD_INTERVAL_SECONDS + 1, f"{len(warnings)} warnings in {ran_for:.1f}s"
    reported = sum(1 + line["profiling.upload.suppressed"] for line in warnings)
    stop = the_stop_line(lines)
    assert (stop["level"], stop["profiling.final_upload"]) == ("WARNING", "failed"), stop
    assert stop["message"].startswith("profiler stopped; final profile not uploaded: Error uploading"), stop
    assert "Connection refused" in stop["message"], stop
    assert stop["profiling.upload.failures"] >= reported + 1, (stop, reported)


def test_when_the_agent_comes_up_the_warnings_stop_and_the_final_upload_says_it_arrived(
    tmp_path: Path, start_service: Callable[..., ServiceProcess]
) -> None:
    agent = TestAgent(tmp_path / "test-agent.log")  # its port, nothing listening yet
    service = start_service(
        own_stderr=True,
        DD_TRACE_AGENT_URL=agent.url,
        DD_PROFILING_UPLOAD_INTERVAL=str(UPLOAD_INTERVAL_SECONDS),
        LOG_FORMAT="json",
    )
    wait_for_line(service, UPLOAD_FAILED)
    try:
        agent.start()
        agent_up = time.time()
        agent.wait_for_profiles(count=3)
        received = len(agent.profiles())
        service.send_sigterm()
        assert service.wait() == -15, service.logs()
        agent.wait_for_profiles(count=received + 1, timeout=15)  # the final flush arrived
    finally:
        agent.stop()

    lines = every_line_as_json(service.logs(), "stdout")
    assert every_line_as_json(service.errors(), "stderr") == []
    warnings = [line for line in lines if line["message"].startswith(UPLOAD_FAILED)]
    assert warnings, "the uploads before the agent came up failed, and no line said so"
    # An upload already failing as the agent came up may be logged a moment later.
    late = [line for line in warnings if logged_at(line) > agent_up + 0.5]
    assert late == [], f"uploads were said to fail after the agent was up: {late}"
    stop = the_stop_line(lines)
    assert (stop["level"], stop["profiling.final_upload"]) == ("INFO", "uploaded"), stop
    assert re.fullmatch(r"profiler stopped; final profile uploaded \(\d+ earlier uploads? failed\)", stop["message"])
    assert stop["profiling.upload.failures"] >= len(warnings), stop


def test_plain_text_says_a_failed_upload_in_one_readable_line(
    start_service: Callable[..., ServiceProcess],
) -> None:
    service = start_service(
        own_stderr=True,
        DD_TRACE_AGENT_URL=f"http://127.0.0.1:{free_port()}",
        DD_PROFILING_UPLOAD_INTERVAL=str(UPLOAD_INTERVAL_SECONDS),
        DD_TRACE_ENABLED="false",
        LOG_FORMAT="plain",
    )
    wait_for_line(service, UPLOAD_FAILED)
    service.stop()
    logs = service.logs()
    assert f"WARNING [{PACKAGE}.profile_uploads] profile upload failed: Error uploading (" in logs, logs
    assert f"WARNING [{PACKAGE}.profile_uploads] profiler stopped; final profile not uploaded: " in logs, logs
    assert service.errors() == ""
