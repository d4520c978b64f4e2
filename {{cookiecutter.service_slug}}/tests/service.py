"""The service as a real uvicorn process, started the way the image starts it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}.settings import Settings

from .agent import free_port, terminate, wait_for_http

# What the service reads, so the caller's values must not leak into a test:
# every variable of the settings class, and the families ddtrace and
# OpenTelemetry read for themselves.
SETTINGS_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)
LIBRARY_PREFIXES = ("DD_", "_DD_", "OTEL_")


def read_by_the_service(variable: str) -> bool:
    return variable.upper() in SETTINGS_VARIABLES or variable.upper().startswith(LIBRARY_PREFIXES)


def isolated_environment(overrides: dict[str, str]) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not read_by_the_service(key)}
    environment.update(overrides)
    return environment


class ServiceProcess:
    """``python -m <package>`` on a free loopback port, logs to a file (stderr
    to the same file, or to ``stderr_path`` when given)."""

    def __init__(
        self, package: str, environment: dict[str, str], log_path: Path, stderr_path: Path | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.stderr_path = stderr_path
        self.environment = isolated_environment({"HOST": "127.0.0.1", "PORT": str(self.port), **environment})
        self.command = [sys.executable, "-m", package]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.log_path.open("wb"))
            stderr = files.enter_context(self.stderr_path.open("wb")) if self.stderr_path else subprocess.STDOUT
            self.process = subprocess.Popen(self.command, env=self.environment, stdout=log, stderr=stderr)
        wait_for_http(f"{self.url}/healthz", timeout, self.process)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "service not started"
        return self.process.pid

    def send_sigterm(self) -> None:
        assert self.process is not None, "service not started"
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None, "service not started"
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=30)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def errors(self) -> str:
        """What the process wrote to stderr, when that went to a file of its own."""
        assert self.stderr_path is not None, "stderr goes to the log file"
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def _status_mib(pid: int, field: str) -> float:
    """A memory figure from /proc/<pid>/status (reported in kB), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def peak_rss_mib(pid: int) -> float:
    """The process's high-water resident memory (VmHWM), from the kernel."""
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmRSS")
