"""A real Datadog APM test agent (ddapm-test-agent) in a child process.

It stands in for the Datadog Agent: the service uploads profiles and traces to
it exactly as it would in production, and the tests read back what arrived.
This file is plain Python (no template syntax): the template repository's own
tests, benchmarks and demo import it too, through a symlink (``harness/agent.py``
there), so the service's tests and the template's read profiles one way.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

PROFILE_INPUT_PATH = "/profiling/v1/input"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(
    url: str, timeout: float, process: subprocess.Popen[Any] | None = None, poll_seconds: float = 0.1
) -> None:
    """Poll ``url`` every ``poll_seconds`` until it answers, the process dies, or the timeout passes."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as error:
            last_error = error
            time.sleep(poll_seconds)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last_error}")


def terminate(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, then up to ``timeout`` seconds for a clean exit; killed after that."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class ProfileUpload:
    """One profile upload as the agent received it."""

    event: dict[str, Any]
    attachments: dict[str, bytes]

    @property
    def tags(self) -> dict[str, str]:
        """``tags_profiler`` split into a dict (``key:value``, comma-joined)."""
        tags: dict[str, str] = {}
        for item in self.event.get("tags_profiler", "").split(","):
            key, _, value = item.partition(":")
            if key:
                tags[key] = value
        return tags

    @property
    def endpoint_counts(self) -> dict[str, int]:
        return dict(self.event.get("endpoint_counts") or {})

    def attachment(self, name: str) -> bytes:
        """An attachment's bytes, decompressed (ddtrace sends them zstd-compressed)."""
        data = self.attachments[name]
        if data.startswith(ZSTD_MAGIC):
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
                return reader.read()
        return data

    @property
    def code_provenance(self) -> dict[str, dict[str, Any]]:
        """``code-provenance.json`` by library name: ``kind`` ("library",
        "standard library", or "" for the service's own code), ``paths``."""
        document = json.loads(self.attachment("code-provenance.json"))
        return {library["name"]: library for library in document["v1"]}


def parse_profile_upload(content_type: str, body: bytes) -> ProfileUpload:
    """Split a multipart profile upload into its event and attachments."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    event: dict[str, Any] = {}
    attachments: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "event":
            event = json.loads(payload)
        else:
            attachments[part.get_filename() or name] = payload
    return ProfileUpload(event=event, attachments=attachments)


# The test agent runs as a pinned tool in an environment of its own: it pins
# opentelemetry-proto below what the service's OTLP exporter needs, so the two
# cannot share one.
TEST_AGENT_REQUIREMENT = "ddapm-test-agent==1.69.1"


def test_agent_command() -> list[str]:
    """An installed ``ddapm-test-agent`` (beside this Python, then on PATH), else
    the pinned one through ``uv tool run``."""
    executable = shutil.which("ddapm-test-agent", path=os.path.dirname(sys.executable)) or shutil.which(
        "ddapm-test-agent"
    )
    if executable is not None:
        return [executable]
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise RuntimeError(f"neither ddapm-test-agent nor uv (to run {TEST_AGENT_REQUIREMENT}) is on PATH")
    return [uv, "tool", "run", "--from", TEST_AGENT_REQUIREMENT, "ddapm-test-agent"]


# The test agent reads these from its environment too (its --port default is
# int($PORT)): a developer's shell must not configure or break it.
AGENT_READS = ("PORT", "HOST", "LOG_LEVEL", "ENABLED_CHECKS", "DISABLED_CHECKS")
AGENT_READS_PREFIXES = ("DD_", "_DD_", "OTEL_", "SNAPSHOT_")


def agent_environment() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in AGENT_READS and not key.startswith(AGENT_READS_PREFIXES)
    }


class TestAgent:
    """``ddapm-test-agent`` on free loopback ports (its OTLP ports too, so
    several can run side by side)."""

    __test__ = False  # not a pytest test class

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.otlp_http_port = free_port()
        self.otlp_http_url = f"http://127.0.0.1:{self.otlp_http_port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> TestAgent:
        """Start it and wait until it answers (the first ``uv tool run`` installs
        the agent, hence the generous timeout)."""
        command = [
            *test_agent_command(),
            f"--port={self.port}",
            f"--otlp-http-port={self.otlp_http_port}",
            f"--otlp-grpc-port={free_port()}",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=agent_environment())
        wait_for_http(f"{self.url}/test/session/requests", timeout, self._process)
        return self

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process, timeout=10)

    def clear(self) -> None:
        with urllib.request.urlopen(f"{self.url}/test/session/clear", timeout=10):
            pass

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/test/session/requests", timeout=10) as response:
            received: list[dict[str, Any]] = json.load(response)
            return received

    def traces(self) -> list[list[dict[str, Any]]]:
        """Every trace received, each a list of spans (``span_id``, ``resource``, …)."""
        with urllib.request.urlopen(f"{self.url}/test/session/traces", timeout=10) as response:
            received: list[list[dict[str, Any]]] = json.load(response)
            return received

    def otlp_metrics(self) -> list[dict[str, Any]]:
        """Every OTLP metrics request received on the OTLP HTTP port, decoded
        (``resource_metrics`` → ``scope_metrics`` → ``metrics``)."""
        with urllib.request.urlopen(f"{self.otlp_http_url}/test/session/metrics", timeout=10) as response:
            received: list[dict[str, Any]] = json.load(response)
            return received

    def profiles(self) -> list[ProfileUpload]:
        uploads = []
        for request in self.requests():
            if not request["url"].endswith(PROFILE_INPUT_PATH):
                continue
            headers = {key.lower(): value for key, value in request["headers"].items()}
            uploads.append(parse_profile_upload(headers["content-type"], base64.b64decode(request["body"])))
        return uploads

    def wait_for_profiles(self, count: int = 1, timeout: float = 30.0) -> list[ProfileUpload]:
        """Poll until at least ``count`` profiles arrived; fail with what did."""
        deadline = time.monotonic() + timeout
        uploads = self.profiles()
        while len(uploads) < count and time.monotonic() < deadline:
            time.sleep(0.25)
            uploads = self.profiles()
        if len(uploads) < count:
            raise AssertionError(f"expected {count} profile upload(s) within {timeout}s, received {len(uploads)}")
        return uploads
