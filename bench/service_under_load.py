"""The generated service under a load generator, and what the OS says it cost:
wrk as the load, CPU time and RSS from /proc. The service itself is started by
the perf tool's ``perf_gate.service`` (a local process or a container of its
image), the way the gate starts it.

Both kinds of service are read the same way, from the host's /proc entry of the
process that serves (a container's PID 1 is an ordinary host process), so the
two targets' numbers mean the same thing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from perf_gate.service import RunError, Service, pinned_to

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
        preexec_fn=pinned_to(placement.load),  # sets CPU affinity only
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


def load(service: Service, path: str, seconds: int, connections: int, placement: CpuPlacement) -> LoadResult:
    """``seconds`` of wrk on ``path``, and the CPU the serving process used meanwhile."""
    before = service.cpu_seconds()
    requests, rate, p50, p99 = wrk(service.url + path, seconds, connections, placement)
    if requests == 0:
        raise BenchError(f"no request to {path} completed in {seconds}s")
    return LoadResult(requests, rate, p50, p99, service.cpu_seconds() - before)


def cold_start_seconds(service: Service) -> float:
    """Seconds from the start command to the first 200 from /healthz, polled
    every 10 ms so the cold start is not rounded to the poll."""
    try:
        return service.wait_until_serving(timeout=START_TIMEOUT_SECONDS, poll=0.01)
    except RunError as error:
        raise BenchError(str(error)) from None


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
