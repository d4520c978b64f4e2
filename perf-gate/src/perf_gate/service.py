"""The service under measurement, started one of two ways: as a local process
(``python -m <module>``, or any command that serves) or as a container of its
image. Either way it listens on a free loopback port, is told so through
``HOST``/``PORT``, stops on SIGTERM (so ddtrace flushes its last profile), and
its CPU and memory are read from the OS.

The gate, ``perf-gate flamegraph`` and the template's benchmarks all start the
service through this module; what they add (profile files, callgrind, CPU
pinning) are arguments, not copies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT_SECONDS = 60


class RunError(RuntimeError):
    """The service (or a tool around it) failed; the message says how."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def docker(*arguments: str, timeout: float = 120, stdin: str | None = None) -> str:
    """``docker <arguments>``'s output; a RunError with its stderr when it fails."""
    result = subprocess.run(
        ["docker", *arguments], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RunError(f"docker {arguments[0]} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RunError(f"no VmRSS for process {pid}")


def pinned_to(cores: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that restricts a child to ``cores`` (None: no restriction)."""
    if cores is None:
        return None
    return lambda: os.sched_setaffinity(0, cores)


class Service:
    """A started service: its URL, the host PID that serves, how to read and stop it."""

    port: int
    url: str
    pid: int
    started_at: float

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started_at = time.monotonic()

    def exited(self) -> bool:
        """Whether the service is gone (a crash during start-up ends the wait at once)."""
        raise NotImplementedError

    def logs(self) -> str:
        raise NotImplementedError

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM, drain, last profile flush; the service is gone afterwards."""
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU the serving process has used so far (every thread)."""
        return process_cpu_seconds(self.pid)

    def wait_until_serving(self, health_path: str = "/healthz", timeout: float = 60, poll: float = 0.2) -> float:
        """Seconds from the start command to the first 200 from ``health_path``.
        On a timeout or an early exit: RunError with the end of the service's logs
        (read here, before a caller's stop() can remove them)."""
        deadline = self.started_at + timeout
        problem = f"{self.url}{health_path} did not answer 200 within {timeout:.0f} s"
        while time.monotonic() < deadline:
            if self.exited():
                problem = f"the service exited before {self.url}{health_path} answered"
                break
            try:
                if httpx.get(f"{self.url}{health_path}", timeout=2).status_code == 200:
                    return time.monotonic() - self.started_at
            except httpx.HTTPError:
                pass
            time.sleep(poll)
        raise RunError(f"{problem}\n{self.logs()[-3000:]}")


class ServiceProcess(Service):
    """``command`` as a child process, given ``environment`` over ``inherited``
    (default: this process's environment). Started directly (not under ``uv
    run``) so SIGTERM reaches the service."""

    def __init__(
        self,
        command: list[str],
        environment: dict[str, str],
        *,
        cwd: Path | None = None,
        log_path: Path | None = None,
        cores: set[int] | None = None,
        inherited: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        base = os.environ if inherited is None else inherited
        variables = {**base, **environment, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.log_path = log_path
        with open(log_path or os.devnull, "wb") as output:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=variables,
                stdout=output,
                stderr=output,
                preexec_fn=pinned_to(cores),  # sets CPU affinity only
            )
        self.pid = self.process.pid

    def exited(self) -> bool:
        return self.process.poll() is not None

    def logs(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        if self.exited():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RunError(f"the service did not stop within {timeout:.0f} s of SIGTERM") from None


class ServiceContainer(Service):
    """A container of ``image`` on the host network, loopback port, ``environment``
    set; the image's command unless ``command`` replaces it. No HEALTHCHECK: each
    one starts a process in the container every 10 s, CPU that would land in
    whichever window it hits."""

    def __init__(
        self,
        image: str,
        environment: dict[str, str],
        *,
        command: list[str] | None = None,
        options: list[str] | None = None,
        cores: set[int] | None = None,
    ) -> None:
        super().__init__()
        arguments = ["run", "-d", "--no-healthcheck", "--network", "host"]
        if cores is not None:
            arguments.append(f"--cpuset-cpus={','.join(map(str, sorted(cores)))}")
        for name, value in {**environment, "HOST": "127.0.0.1", "PORT": str(self.port)}.items():
            arguments += ["-e", f"{name}={value}"]
        self.id = docker(*arguments, *(options or []), image, *(command or [])).strip()
        try:
            # The container's PID 1 is an ordinary host process: read from /proc like a local one.
            self.pid = int(docker("inspect", "--format", "{{.State.Pid}}", self.id))
        except (RunError, ValueError):
            # The caller never gets this object to stop it: remove the container here.
            subprocess.run(["docker", "rm", "-f", self.id], capture_output=True, check=False)
            raise

    def exited(self) -> bool:
        # PID 1's host /proc entry goes when the container stops; cheaper than
        # asking docker at every poll of a cold start.
        return not Path(f"/proc/{self.pid}").exists()

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.id], capture_output=True, text=True, check=False)
        return result.stdout + result.stderr

    def execute(self, *command: str, timeout: float = 300) -> str:
        """Run ``command`` inside the container; its output."""
        return docker("exec", self.id, *command, timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        try:
            docker("stop", "-t", f"{timeout:.0f}", self.id, timeout=timeout + 60)
        finally:
            subprocess.run(["docker", "rm", "-f", self.id], capture_output=True, check=False)
