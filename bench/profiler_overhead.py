"""What continuous profiling costs the generated service, measured side by side.

Bakes a service and runs it as a real uvicorn process under wrk (a separate
process, loopback only, time-bounded) in several profiler configurations,
interleaved over rounds in a shuffled order so the machine's drift hits all
alike. Reports medians over rounds as ratios to "profiling off": throughput,
p50/p99 latency, CPU per request (the OS's own accounting of the process),
RSS idle and after load, and cold start (process start to the first 200 from
/healthz). With a Docker engine it also compares the image's layers above the
base with a naive single-stage `pip install` image of the same service.

    apt-get install wrk
    .venv/bin/python bench/profiler_overhead.py --rounds 4 --seconds 4
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.docker_support import base_image_for, engine_unavailable_reason  # noqa: E402
from tests.generated_support import load_agent_support  # noqa: E402

OFF = "off"
# Each configuration's profiler switches (ddtrace's own variables).
CONFIGURATIONS: dict[str, dict[str, str]] = {
    OFF: {"DD_PROFILING_ENABLED": "false"},
    "default": {},
    "cpu only": {"DD_PROFILING_MEMORY_ENABLED": "false", "DD_PROFILING_LOCK_ENABLED": "false"},
    "allocation/heap only": {"DD_PROFILING_STACK_ENABLED": "false", "DD_PROFILING_LOCK_ENABLED": "false"},
    "lock only": {"DD_PROFILING_STACK_ENABLED": "false", "DD_PROFILING_MEMORY_ENABLED": "false"},
}
ENDPOINTS = {
    "/": "/",
    "/cpu-intensive": "/cpu-intensive?iterations=20000",
    "/memory-alloc": "/memory-alloc?size_mb=2",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class Samples:
    throughput: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    cpu_per_request: list[float] = field(default_factory=list)


@dataclass
class ConfigurationSamples:
    endpoints: dict[str, Samples] = field(default_factory=lambda: {name: Samples() for name in ENDPOINTS})
    cold_start: list[float] = field(default_factory=list)
    rss_idle: list[float] = field(default_factory=list)
    rss_loaded: list[float] = field(default_factory=list)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrk(url: str, seconds: int) -> tuple[int, float, float, float]:
    """(requests, requests/s, p50 ms, p99 ms) from one wrk run."""
    output = subprocess.run(
        ["wrk", "-t1", "-c2", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]

    def percentile(name: str) -> float:
        value, unit = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        return float(value) * UNITS[unit]

    return requests, rate, percentile("50"), percentile("99")


def measure(python: str, package: str, environment: dict[str, str], seconds: int, into: ConfigurationSamples) -> None:
    port = load_agent_support().free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **environment, "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warning"}
    started = time.monotonic()
    process = subprocess.Popen([python, "-m", package], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.01)
            if time.monotonic() - started > 60:
                raise RuntimeError("the service did not start within 60 s")
        into.cold_start.append(time.monotonic() - started)
        wrk(f"{url}/", 1)  # warm up
        time.sleep(0.5)
        into.rss_idle.append(rss_mib(process.pid))
        for name, path in ENDPOINTS.items():
            before = process_cpu_seconds(process.pid)
            requests, rate, p50, p99 = wrk(url + path, seconds)
            samples = into.endpoints[name]
            samples.cpu_per_request.append((process_cpu_seconds(process.pid) - before) / max(requests, 1) * 1000)
            samples.throughput.append(rate)
            samples.p50.append(p50)
            samples.p99.append(p99)
        into.rss_loaded.append(rss_mib(process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def image_sizes(project: Path) -> tuple[float, float] | None:
    """(our image's MiB above the base, a naive single-stage image's), or None without Docker."""
    if engine_unavailable_reason() is not None:
        return None
    base = base_image_for("3.13")

    def size(image: str) -> int:
        return int(
            subprocess.run(
                ["docker", "image", "inspect", "--format", "{{.Size}}", image],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )

    naive = project / "naive.Dockerfile"
    naive.write_text(
        f"FROM {base}\nWORKDIR /app\nCOPY . .\n"
        "RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir .\n"
        'CMD ["/venv/bin/python", "-m", "orders_service"]\n'
    )
    for tag, dockerfile in (("bench-ours", "Dockerfile"), ("bench-naive", "naive.Dockerfile")):
        subprocess.run(
            [
                "docker",
                "build",
                "--network",
                "host",
                "-q",
                "-f",
                str(project / dockerfile),
                "--build-arg",
                f"BASE_IMAGE={base}",
                "-t",
                tag,
                str(project),
            ],
            capture_output=True,
            check=True,
        )
    base_size = size(base)
    result = ((size("bench-ours") - base_size) / 2**20, (size("bench-naive") - base_size) / 2**20)
    subprocess.run(["docker", "rmi", "-f", "bench-ours", "bench-naive"], capture_output=True, check=False)
    naive.unlink()
    return result


def ratio(values: list[float], reference: list[float]) -> str:
    return f"{statistics.median(values) / statistics.median(reference):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=4, help="wrk duration per endpoint")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as scratch:
        project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=scratch))
        subprocess.run(["uv", "sync", "--locked", "--quiet", "--no-dev"], cwd=project, check=True)
        python = str(project / ".venv" / "bin" / "python")
        profiles = Path(scratch) / "profiles"
        profiles.mkdir()
        common = {
            "DD_TRACE_ENABLED": "false",
            "DD_PROFILING_OUTPUT_PPROF": str(profiles / "p"),
            "WORKLOAD_MAX_CONCURRENCY": "4",
        }
        results = {name: ConfigurationSamples() for name in CONFIGURATIONS}
        order = list(CONFIGURATIONS)
        for round_number in range(arguments.rounds):
            random.Random(round_number).shuffle(order)
            for name in order:
                measure(python, "orders_service", {**common, **CONFIGURATIONS[name]}, arguments.seconds, results[name])
            print(f"round {round_number + 1}/{arguments.rounds} done ({', '.join(order)})", flush=True)
        sizes = image_sizes(project)

    off = results[OFF]
    print()
    print(
        f"Profiler overhead: {arguments.rounds} interleaved rounds, wrk -t1 -c2 for {arguments.seconds}s per endpoint, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; medians; ratios to profiling off"
    )
    print("| configuration | endpoint | throughput | p50 | p99 | CPU per request |")
    print("|---|---|---|---|---|---|")
    for name, samples in results.items():
        if name == OFF:
            continue
        for endpoint, endpoint_samples in samples.endpoints.items():
            reference = off.endpoints[endpoint]
            print(
                f"| {name} | `{endpoint}` | {ratio(endpoint_samples.throughput, reference.throughput)} "
                f"| {ratio(endpoint_samples.p50, reference.p50)} | {ratio(endpoint_samples.p99, reference.p99)} "
                f"| {ratio(endpoint_samples.cpu_per_request, reference.cpu_per_request)} |"
            )
    print()
    print("| configuration | cold start (s) | RSS idle (MiB) | RSS after load (MiB) | `/` req/s (absolute) |")
    print("|---|---|---|---|---|")
    for name, samples in results.items():
        root_rate = statistics.median(samples.endpoints["/"].throughput)
        print(
            f"| {name} | {statistics.median(samples.cold_start):.2f} | {statistics.median(samples.rss_idle):.0f} "
            f"| {statistics.median(samples.rss_loaded):.0f} | {root_rate:.0f} |"
        )
    if sizes is not None:
        print()
        ours, naive = sizes
        print(f"Image layers above the base: this Dockerfile {ours:.0f} MiB, naive single-stage pip {naive:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
