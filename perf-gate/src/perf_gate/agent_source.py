"""Profiles and traces as a local test agent received them.

``ddapm-test-agent`` (``make up-test-agent``, the tests, the demo) keeps every
request sent to it and lists them at ``/test/session/requests`` and the traces
at ``/test/session/traces``. Reading both lets ``perf-gate top`` go from a
trace id to the CPU its request burned: the profiles label samples with span
ids, and only the traces know which spans a trace holds (and what CPU the
service measured on them).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlsplit

from .service import RunError

PROFILE_INPUT_PATH = "/profiling/v1/input"
# The span attribute in which a service from the template records the CPU its
# thread burned in the span, exactly (its thread_cpu.py): the thread's own CPU
# clock read around the work, in milliseconds.
THREAD_CPU_METRIC = "thread.cpu_time_ms"
LOW_64_BITS = (1 << 64) - 1
HEX_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def parse_trace_id(text: str) -> int:
    """A trace id as logs and ``traceparent`` print it (32 hex digits) or as
    Datadog's UI and ``x-datadog-trace-id`` do (decimal)."""
    if HEX_TRACE_ID.fullmatch(text):
        return int(text, 16)
    if text.isdigit() and int(text) < 1 << 128:
        return int(text)
    raise ValueError(f"{text!r} is not a trace id (32 hex digits, or decimal)")


def parse_agent_url(text: str) -> str:
    """The test agent's base URL: http or https only."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    return text.rstrip("/")


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - http(s) only, see parse_agent_url
            return json.load(response)
    except (OSError, ValueError) as error:
        raise RunError(f"cannot read {url}: {error}") from None


def received_profiles(agent_url: str) -> list[bytes]:
    """The ``profile.pprof`` of every profile upload the agent received."""
    profiles = []
    for request in _get_json(f"{agent_url}/test/session/requests"):
        if not request["url"].endswith(PROFILE_INPUT_PATH):
            continue
        headers = {key.lower(): value for key, value in request["headers"].items()}
        body = base64.b64decode(request["body"])
        envelope = f"Content-Type: {headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(envelope + body)
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            if part.get_filename() == "profile.pprof" and isinstance(payload, bytes):
                profiles.append(payload)
    return profiles


@dataclass(frozen=True)
class TraceSpan:
    """A span as the agent received it: what ``top --trace-id`` reads of it."""

    span_id: int
    # The span's own name: ddtrace files an OpenTelemetry span's name as its
    # resource (its operation name is its kind, e.g. "internal").
    resource: str
    # The CPU its thread burned inside it, measured on the span by the service
    # (THREAD_CPU_METRIC); None when the span carries no such figure.
    thread_cpu_ms: float | None


def spans_of_trace(agent_url: str, trace_id: int) -> list[TraceSpan]:
    """Every span the agent received in the trace (matched on the trace id's
    lower 64 bits, which is what Datadog's trace payload carries)."""
    return spans_in(_get_json(f"{agent_url}/test/session/traces"), trace_id)


def spans_in(traces: list[list[dict[str, Any]]], trace_id: int) -> list[TraceSpan]:
    """The spans of one trace in the agent's ``/test/session/traces`` document."""
    spans = []
    for trace in traces:
        for span in trace:
            if span["trace_id"] != trace_id & LOW_64_BITS:
                continue
            figure = (span.get("metrics") or {}).get(THREAD_CPU_METRIC)
            cpu_ms = float(figure) if isinstance(figure, int | float) else None
            spans.append(TraceSpan(span["span_id"], str(span.get("resource", "")), cpu_ms))
    return spans


def span_ids_of_trace(agent_url: str, trace_id: int) -> frozenset[int]:
    """Every span id the agent received in the trace."""
    return frozenset(span.span_id for span in spans_of_trace(agent_url, trace_id))
