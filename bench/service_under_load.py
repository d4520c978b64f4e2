"""One instance of the generated service under a load generator, and what the
OS says it cost: the service as a local uvicorn process or as a container of
its image, wrk as the load, CPU time and RSS from /proc.

Both kinds of instance are read the same way, from the host's /proc entry of the
process that serves (a container's PID 1 is an ordinary host process), so the
two targets' numbers mean the same thing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.docker_support import docker  # noqa: E402
from tests.generated_support import load_agent_support  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LATENCY_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
START_TIMEOUT_SECONDS = 60.0


class BenchError(RuntimeError):
    """A measurement that can't be trusted; the message says why."""


@dataclass(frozen=True)
class CpuPlacement:
    """Which cores the service and the load generator may use.

    The service gets one core to itself and wrk the rest: wrk competing for the
    service's core was the largest source of noise, and one core is what a pod
    with a one-CPU limit gets. ``None`` leaves both to the scheduler.
    """

    service: set[int] | None
    load: set[int] | None

    @classmethod
    def choose(cls, pin: bool) -> CpuPlacement:
        cores = sorted(os.sched_getaffinity(0))
        if not pin or len(cores) < 2:
            return cls(None, None)
        return cls({cores[-1]}, set(cores[:-1]))

    def describe(self) -> str:
        if self.service is None:
            return "not pinned"
        return f"service on core {min(self.service)}, wrk on {','.join(map(str, sorted(self.load or ())))}"


def _pinned_to(cores: set[int] | None) -> Callable[[], None] | None:
    if cores is None:
        return None
    return lambda: os.sched_setaffinity(0, cores)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: float

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1000


def wrk(url: str, seconds: int, connections: int, placement: CpuPlacement) -> tuple[int, float, float, float]:
    """(requests, requests/s, p50 ms, p99 ms) from one wrk run; any failed request is an error."""
    completed = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 60,
        preexec_fn=_pinned_to(placement.load),  # sets CPU affinity only
    )
    output = completed.stdout
    if completed.returncode != 0 or "requests in" not in output:
        raise BenchError(f"wrk against {url} failed: {completed.stderr.strip() or output.strip()}")
    for problem in ("Non-2xx or 3xx responses", "Socket errors"):
        if problem in output:
            line = next(line for line in output.splitlines() if problem in line)
            raise BenchError(f"wrk against {url}: {line.strip()}")

    def number(pattern: str) -> str:
        match = re.search(pattern, output)
        if match is None:
            raise BenchError(f"wrk output without {pattern!r}:\n{output}")
        return match.group(1)

    def percentile_ms(name: str) -> float:
        match = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)\b", output)
        if match is None:
            raise BenchError(f"wrk output without the {name}th percentile:\n{output}")
        return float(match.group(1)) * LATENCY_UNITS_MS[match.group(2)]

    requests = int(number(r"(\d+) requests in"))
    rate = float(number(r"Requests/sec:\s+([\d.]+)"))
    return requests, rate, percentile_ms("50"), percentile_ms("99")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


class Instance:
    """A running service: its URL, the host PID that serves, and how it stops."""

    url: str
    pid: int
    started_at: float
    process: subprocess.Popen[bytes] | None = None  # when it is a child of this one

    def stop(self) -> None:
        raise NotImplementedError

    def load(self, path: str, seconds: int, connections: int, placement: CpuPlacement) -> LoadResult:
        before = process_cpu_seconds(self.pid)
        requests, rate, p50, p99 = wrk(self.url + path, seconds, connections, placement)
        if requests == 0:
            raise BenchError(f"no request to {path} completed in {seconds}s")
        return LoadResult(requests, rate, p50, p99, process_cpu_seconds(self.pid) - before)

    def wait_until_serving(self) -> float:
        """Seconds from the start command to the first 200 from /healthz,
        polled every 10 ms so the cold start is not rounded to the poll."""
        try:
            load_agent_support().wait_for_http(
                f"{self.url}/healthz", START_TIMEOUT_SECONDS, self.process, poll_seconds=0.01
            )
        except (TimeoutError, RuntimeError) as error:
            raise BenchError(str(error)) from None
        return time.monotonic() - self.started_at


class ProcessInstance(Instance):
    """``python -m <package>`` from the baked project's virtual environment."""

    process: subprocess.Popen[bytes]  # always a child here

    def __init__(self, python: Path, package: str, environment: dict[str, str], placement: CpuPlacement) -> None:
        port = load_agent_support().free_port()
        self.url = f"http://127.0.0.1:{port}"
        variables = {**os.environ, **environment, "HOST": "127.0.0.1", "PORT": str(port)}
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [str(python), "-m", package],
            env=variables,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_pinned_to(placement.service),  # sets CPU affinity only
        )
        self.pid = self.process.pid

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise BenchError("the service did not stop within 60 s of SIGTERM") from None


class ContainerInstance(Instance):
    """The image on the host network (loopback only), its PID 1 read from the host."""

    def __init__(self, image: str, environment: dict[str, str], placement: CpuPlacement) -> None:
        port = load_agent_support().free_port()
        self.url = f"http://127.0.0.1:{port}"
        arguments = ["run", "-d", "--network", "host"]
        if placement.service is not None:
            arguments.append(f"--cpuset-cpus={','.join(map(str, sorted(placement.service)))}")
        for name, value in {**environment, "HOST": "127.0.0.1", "PORT": str(port)}.items():
            arguments += ["-e", f"{name}={value}"]
        self.started_at = time.monotonic()
        self.id = docker(*arguments, image).stdout.strip()
        self.pid = int(docker("inspect", "--format", "{{.State.Pid}}", self.id).stdout)

    def stop(self) -> None:
        try:
            docker("stop", "-t", "30", self.id, timeout=90)
        finally:
            docker("rm", "-f", self.id, check=False)


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
