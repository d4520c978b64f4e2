"""Profiles and traces as a local test agent received them.

``ddapm-test-agent`` (``make up-test-agent``, the tests, the demo) keeps every
request sent to it and lists them at ``/test/session/requests`` and the traces
at ``/test/session/traces``. Reading both lets ``perf-gate top`` go from a
trace id to the CPU its request burned: the profiles label samples with span
ids, and only the traces know which spans a trace holds.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlsplit

from .service import RunError

PROFILE_INPUT_PATH = "/profiling/v1/input"
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


def span_ids_of_trace(agent_url: str, trace_id: int) -> frozenset[int]:
    """Every span id the agent received in the trace (matched on the trace id's
    lower 64 bits, which is what Datadog's trace payload carries)."""
    traces = _get_json(f"{agent_url}/test/session/traces")
    return frozenset(
        span["span_id"] for trace in traces for span in trace if span["trace_id"] == trace_id & LOW_64_BITS
    )
