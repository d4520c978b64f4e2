"""What the soak reads while it runs: the test agent's uploads (across the
agent's own restarts), the service's JSON log lines, and the serving process's
/proc entry."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perf_gate.service import free_port, process_cpu_seconds, rss_mib

from bench.profile_truth import parse_time
from harness.agent import PROFILE_INPUT_PATH, parse_profile_upload, terminate, test_agent_command, wait_for_http

AGENT_START_TIMEOUT_SECONDS = 120.0
# Polled this often while the agent starts: the first answer is our session
# marker, and an upload can only slip in before it within this much time.
AGENT_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Upload:
    """One profile upload as received: the time span it covers (epoch seconds)."""

    start: float
    end: float


class RestartableAgent:
    """A real ``ddapm-test-agent`` on one loopback port for the whole soak,
    stopped and started again on request (the service keeps its URL).

    The agent keeps every request in memory, traces included (thousands a
    minute as shipped), so its uploads are read in slices and each slice is
    deleted once read. A slice is the span between two session markers
    (``/test/session/start?test_session_token=N``): the agent lists the requests
    between marker N and N+1 and clears exactly those, so an upload arriving
    while we read falls in the next slice instead of being cleared unseen.
    """

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._marker = 0

    @property
    def up(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        command = [
            *test_agent_command(),
            f"--port={self.port}",
            # Its OTLP listeners default to fixed ports: free ones, so it never
            # collides with another agent on this (shared) machine.
            f"--otlp-http-port={free_port()}",
            f"--otlp-grpc-port={free_port()}",
            # It logs every trace at INFO: hours of that would be a large file.
            "--log-level=WARNING",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._marker += 1
        wait_for_http(self._marker_url(self._marker), AGENT_START_TIMEOUT_SECONDS, self._process, AGENT_POLL_SECONDS)

    def stop(self) -> list[Upload]:
        """Read what it holds, then stop it; the uploads read."""
        uploads = self.collect()
        if self._process is not None:
            terminate(self._process, timeout=10)
        return uploads

    def collect(self) -> list[Upload]:
        """The profile uploads received since the previous call."""
        if not self.up:
            return []
        previous, self._marker = self._marker, self._marker + 1
        self._get(self._marker_url(self._marker))
        requests = json.loads(self._get(f"{self.url}/test/session/requests?test_session_token={previous}"))
        self._get(f"{self.url}/test/session/clear?test_session_token={previous}")
        return [_upload(request) for request in requests if request["url"].endswith(PROFILE_INPUT_PATH)]

    def _marker_url(self, marker: int) -> str:
        return f"{self.url}/test/session/start?test_session_token={marker}"

    @staticmethod
    def _get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=60) as response:
            body: bytes = response.read()
            return body


def _upload(request: dict[str, Any]) -> Upload:
    headers = {key.lower(): value for key, value in request["headers"].items()}
    event = parse_profile_upload(headers["content-type"], base64.b64decode(request["body"])).event
    return Upload(parse_time(event["start"]), parse_time(event["end"]))


@dataclass
class ServiceLog:
    """What the service's JSON log lines said, read as the file grows.

    Access log lines (one per request) are skipped unparsed: at hundreds of
    requests a second, parsing them would cost the bench more than the rest.
    """

    path: Path
    offset: int = 0
    upload_failures: int = 0  # the service's own running count of failed profile uploads
    failure_warnings: int = 0
    traces_dropped: int = 0
    final_uploads: list[tuple[float, str]] = field(default_factory=list)  # (epoch, uploaded/failed/...)
    profiling_switches: list[tuple[float, bool]] = field(default_factory=list)  # (epoch, on after it)
    problems: Counter[str] = field(default_factory=Counter)  # WARNING/ERROR lines by logger and message start
    _partial: bytes = b""

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        self.offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            if b'"uvicorn.access"' not in line and line.strip():
                self._take(line)

    def _take(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            self.problems[f"not JSON: {line[:80].decode(errors='replace')}"] += 1
            return
        failures = record.get("profiling.upload.failures")
        if isinstance(failures, int):
            self.upload_failures = max(self.upload_failures, failures)
        message = str(record.get("message", ""))
        if message.startswith("profile upload failed"):
            self.failure_warnings += 1
        if "dropping" in message and "traces" in message:
            # ddtrace's writer: "failed to send, dropping N traces to intake at ..."
            words = message.split()
            count = words[words.index("dropping") + 1]
            self.traces_dropped += int(count) if count.isdigit() else 0
        if message.startswith(("profiling on", "profiling off")):
            # The service's line for each profile set it applies: "profiling on: cpu; ...", "profiling off (...)".
            self.profiling_switches.append((parse_time(record["timestamp"]), message.startswith("profiling on")))
        if "profiling.final_upload" in record:
            self.final_uploads.append((parse_time(record["timestamp"]), str(record["profiling.final_upload"])))
        if record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            self.problems[f"{record['level']} {record.get('logger.name')}: {message[:90]}"] += 1


def follow_container_log(container: str, path: Path) -> subprocess.Popen[bytes]:
    """``docker logs -f`` of ``container`` into ``path``; ends when the container stops."""
    with path.open("ab") as log:
        return subprocess.Popen(["docker", "logs", "-f", container], stdout=log, stderr=subprocess.STDOUT)


@dataclass(frozen=True)
class ProcessState:
    rss_mib: float
    threads: int
    open_fds: int
    cpu_seconds: float


def process_state(pid: int) -> ProcessState:
    """The serving process's resources from the host's /proc (a container's main
    process included: this bench runs as root, which may read its fd table)."""
    status = Path(f"/proc/{pid}/status").read_text()
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    return ProcessState(rss_mib(pid), threads, len(os.listdir(f"/proc/{pid}/fd")), process_cpu_seconds(pid))


def profiling_in_force(service_url: str) -> str:
    """The profile set the service says it runs (GET /version): "cpu+lock",
    "off", "cpu cap 2 ms" while a sampling cap from the control file holds."""
    try:
        with urllib.request.urlopen(f"{service_url}/version", timeout=10) as response:
            state = json.load(response)["profiling"]
    except (OSError, ValueError, KeyError):
        return "?"
    if not state["enabled"]:
        return "off"
    profiles = "+".join(state["profiles"])
    cap, until = state.get("max_sampling_interval_ms"), state.get("until")
    return f"{profiles} cap {cap} ms" if cap is not None and until is not None else profiles


def off_periods(switches: list[tuple[float, bool]], end: float) -> list[tuple[float, float]]:
    """The spans between a switch off and the next switch on (or ``end``)."""
    periods, since = [], None
    for moment, on in switches:
        if not on and since is None:
            since = moment
        elif on and since is not None:
            periods.append((since, moment))
            since = None
    return periods + ([(since, end)] if since is not None else [])
