"""What continuous profiling costs the generated service, measured side by side.

Bakes a service with the default answers and runs it, as a real uvicorn process
(the host's Python) and as its image (the image's Python; needs a Docker
engine), in several profiler configurations: off, the generated default, each
profile type alone, ddtrace's full set, and "off" again as a control. Every
round starts a fresh instance of every configuration, in a shuffled order, warms
it up and drives each endpoint with wrk (a separate process, fixed concurrency,
loopback only, bounded in time). The service has one core to itself.

Each configuration is compared with "off" *of the same round*; the table gives
the median of those paired ratios over the rounds and a distribution-free 95%
interval for it, and says whether the cost is within budget: CPU per request
and throughput within 2%, p99 latency within 5%. The control row shows how much
two identical configurations differ by chance. Also: RSS idle and after load,
cold start (start to the first 200 from /healthz) with and without profiling and
tracing, and the image's size against a naive single-stage image.

    apt-get install wrk
    .venv/bin/python -m bench.profiler_overhead                 # both targets, about an hour
    .venv/bin/python -m bench.profiler_overhead --target process --rounds 6 --configs off,control,default
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from perf_gate.cli import whole_number
from perf_gate.ddtrace_private import MAX_SAMPLING_INTERVAL_VARIABLE
from perf_gate.service import Service, ServiceContainer, ServiceProcess, free_port, rss_mib

from bench.sampler_settings import SAMPLER_SETTINGS
from bench.service_under_load import BenchError, CpuPlacement, LoadResult, cold_start_seconds, load, require_wrk
from harness.bake import BakedService, bake
from harness.docker import base_image_for, build_image, docker, engine_unavailable_reason

ROOT = Path(__file__).resolve().parents[1]

ENDPOINTS = {
    "/": "/",
    "/cpu-intensive": "/cpu-intensive?iterations=20000",
    "/memory-alloc": "/memory-alloc?size_mb=2",
}
# The service's (and ddtrace's) switch for each profile type.
PROFILE_SWITCHES = {
    "cpu": "DD_PROFILING_STACK_ENABLED",
    "memory": "DD_PROFILING_MEMORY_ENABLED",
    "lock": "DD_PROFILING_LOCK_ENABLED",
    "exception": "DD_PROFILING_EXCEPTION_ENABLED",
}
# Held equal in every configuration: tracing off (so the profiler's cost is not
# mixed with the tracer's), profiles written to files instead of uploaded, and
# no background traffic to an agent (none runs; the URL is a closed port).
COMMON_ENVIRONMENT = {
    "DD_TRACE_ENABLED": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "LOG_LEVEL": "warning",
    # Above wrk's connections, so no request is turned away with a 503.
    "WORKLOAD_MAX_CONCURRENCY": "8",
}
CONTAINER_PROFILE_PREFIX = "/tmp/profile"  # inside the container
BUDGET_CPU = 0.02  # CPU per request and throughput
BUDGET_P99 = 0.05
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Configuration:
    """A profiler configuration: ``profiles`` None means profiling off;
    ``switches`` False leaves the profile types to the service's own defaults.
    Its ratios are taken against ``reference`` in the same round."""

    key: str
    label: str
    profiles: frozenset[str] | None
    switches: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    reference: str = "off"

    def environment(self) -> dict[str, str]:
        if self.profiles is None:
            return {"DD_PROFILING_ENABLED": "false", **self.extra}
        environment = {"DD_PROFILING_ENABLED": "true", **self.extra}
        if self.switches:
            for name, variable in PROFILE_SWITCHES.items():
                environment[variable] = "true" if name in self.profiles else "false"
        return environment

    def runs_as_asked(self, in_force: list[str] | None) -> bool:
        """Whether the profile types the service reports match this configuration."""
        if self.profiles is None or in_force is None:
            return self.profiles is None and in_force is None
        return not self.switches or set(in_force) == self.profiles

    def on_python(self, python: tuple[int, int]) -> Configuration | None:
        """This configuration as ``python`` can run it, or None if it can't at
        all: exception profiling needs Python 3.12+ (sys.monitoring)."""
        if self.profiles is None or "exception" not in self.profiles or python >= (3, 12):
            return self
        rest = self.profiles - {"exception"}
        return replace(self, profiles=rest) if rest else None


OFF = "off"
DEFAULT = "default"
ALL = "all"
TRACED = "traced"
SHIPPED = "shipped"
TRACING_ON = {"DD_TRACE_ENABLED": "true"}
CONFIGURATIONS = {
    configuration.key: configuration
    for configuration in (
        Configuration(OFF, "off", None),
        Configuration("control", "off again (control)", None),
        Configuration(DEFAULT, "the generated default", frozenset(), switches=False),
        Configuration("cpu", "CPU alone", frozenset({"cpu"})),
        Configuration("exception", "exceptions alone", frozenset({"exception"})),
        Configuration("memory", "allocation/heap alone", frozenset({"memory"})),
        Configuration("lock", "lock alone", frozenset({"lock"})),
        Configuration(ALL, "ddtrace's default", frozenset({"cpu", "memory", "lock", "exception"})),
        # As shipped: tracing on in both arms, so the profiler's per-span work
        # (linking samples to spans and endpoints) is in the cost.
        Configuration(TRACED, "tracing alone (reference for as shipped)", None, extra=TRACING_ON),
        # The noise of the as-shipped comparison: the same reference twice.
        Configuration(
            "traced-control", "tracing alone again (control for as shipped)", None, extra=TRACING_ON, reference=TRACED
        ),
        Configuration(
            SHIPPED,
            "as shipped: tracing and the default profile",
            frozenset(),
            switches=False,
            extra=TRACING_ON,
            reference=TRACED,
        ),
        # Runtime metrics are on by default (a DogStatsD flush every 10 s); this
        # row's ratio is as shipped without them, against as shipped.
        Configuration(
            "shipped-no-runtime-metrics",
            "as shipped, runtime metrics off (vs as shipped)",
            frozenset(),
            switches=False,
            extra={**TRACING_ON, "DD_RUNTIME_METRICS_ENABLED": "false"},
            reference=SHIPPED,
        ),
        # The sampling interval capped through ddtrace's private setting (the
        # trade of truth against cost; see profile_truth.py --max-interval-ms).
        *(
            Configuration(
                f"shipped-interval-{milliseconds}ms",
                f"as shipped, sampling every {milliseconds} ms at most",
                frozenset(),
                switches=False,
                extra={**TRACING_ON, MAX_SAMPLING_INTERVAL_VARIABLE: str(milliseconds * 1000)},
                reference=TRACED,
            )
            for milliseconds in (10, 2)
        ),
        # The stack sampler settings of profile_truth.py's matrix, as shipped
        # (tracing on) against tracing alone: the cost side of each truth row.
        *(
            Configuration(
                f"shipped-{name}",
                f"as shipped, sampler {name}",
                frozenset(),
                switches=False,
                extra={**TRACING_ON, **setting},
                reference=TRACED,
            )
            for name, setting in SAMPLER_SETTINGS.items()
            if setting
        ),
        # Tuning candidates, measured on request (--configs).
        Configuration(
            "cpu-no-timeline", "CPU, no timeline", frozenset({"cpu"}), extra={"DD_PROFILING_TIMELINE_ENABLED": "false"}
        ),
        Configuration(
            "cpu-no-native",
            "CPU, no native frames",
            frozenset({"cpu"}),
            extra={"DD_PROFILING_STACK_NATIVE_FRAMES": "false"},
        ),
        Configuration(
            "memory-8mib",
            "allocation/heap, 8 MiB samples",
            frozenset({"memory"}),
            extra={"DD_PROFILING_HEAP_SAMPLE_SIZE": str(8 << 20)},
        ),
        Configuration(
            "memory-no-pymem",
            "allocation/heap, no PyMem domain",
            frozenset({"memory"}),
            extra={"DD_PROFILING_MEMORY_MEM_DOMAIN_ENABLED": "false"},
        ),
        Configuration(
            "lock-0.1pct", "lock, 0.1% captured", frozenset({"lock"}), extra={"DD_PROFILING_CAPTURE_PCT": "0.1"}
        ),
    )
}
STANDARD_SET = ("off", "control", "default", "exception", "memory", "lock", "all")
# Cold start: process start to the first 200 from /healthz, profiling and tracing on and off.
COLD_START_CASES = {
    "profiling off, tracing off": {"DD_PROFILING_ENABLED": "false", "DD_TRACE_ENABLED": "false"},
    "profiling on, tracing off": {"DD_PROFILING_ENABLED": "true", "DD_TRACE_ENABLED": "false"},
    "profiling off, tracing on": {"DD_PROFILING_ENABLED": "false", "DD_TRACE_ENABLED": "true"},
    "profiling on, tracing on (as shipped)": {"DD_PROFILING_ENABLED": "true", "DD_TRACE_ENABLED": "true"},
}


@dataclass
class Run:
    """One fresh instance of one configuration in one round."""

    profiles_in_force: list[str] | None
    rss_idle_mib: float
    rss_loaded_mib: float
    endpoints: dict[str, LoadResult]


@dataclass
class TargetResults:
    target: str
    python: str
    placement: str
    runs: dict[str, list[Run]] = field(default_factory=dict)
    cold_starts: dict[str, list[float]] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)
    image_mib: dict[str, float] | None = None


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: int
    warmup: int
    settle: int
    connections: int
    placement: CpuPlacement
    warm: bool = False
    endpoints: tuple[str, ...] = tuple(ENDPOINTS)


class Target:
    """Where the service runs: ``start`` gives a fresh instance."""

    name: str
    python: tuple[int, int]

    def start(self, environment: dict[str, str], placement: CpuPlacement) -> Service:
        raise NotImplementedError


class ProcessTarget(Target):
    name = "process"

    def __init__(self, baked: BakedService, scratch: Path) -> None:
        baked.sync(dev=False)
        self.python_path = baked.python
        self.package = baked.package
        self.profile_prefix = scratch / "profiles" / "profile"
        self.profile_prefix.parent.mkdir(parents=True, exist_ok=True)
        self.python = _python_version([str(self.python_path)])

    def start(self, environment: dict[str, str], placement: CpuPlacement) -> Service:
        environment = {**environment, "DD_PROFILING_OUTPUT_PPROF": str(self.profile_prefix)}
        return ServiceProcess([str(self.python_path), "-m", self.package], environment, cores=placement.service)


class ImageTarget(Target):
    name = "image"
    tag = "profiler-overhead-bench:latest"

    def __init__(self, project: Path, python_version: str) -> None:
        base = base_image_for(python_version)
        build_image(project, self.tag, {"BASE_IMAGE": base, "GIT_SHA": "0" * 40, "VERSION": "0.0.0-bench"})
        self.base = base
        self.python = _python_version(["docker", "run", "--rm", "--network", "none", self.tag, "python"])

    def start(self, environment: dict[str, str], placement: CpuPlacement) -> Service:
        environment = {**environment, "DD_PROFILING_OUTPUT_PPROF": CONTAINER_PROFILE_PREFIX}
        return ServiceContainer(self.tag, environment, cores=placement.service)


def _python_version(python: list[str]) -> tuple[int, int]:
    output = subprocess.run(
        [*python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, check=True
    ).stdout
    major, minor = output.split()
    return int(major), int(minor)


def profiles_in_force(instance: Service) -> list[str] | None:
    """What the service says it runs (GET /version): the profile types, or None when off."""
    with urllib.request.urlopen(f"{instance.url}/version", timeout=5) as response:
        state = json.load(response)["profiling"]
    return sorted(state["profiles"]) if state["enabled"] else None


@dataclass
class Prepared:
    """A started, checked and warmed instance of one configuration."""

    instance: Service
    profiles_in_force: list[str] | None
    rss_idle_mib: float


def prepare(target: Target, configuration: Configuration, options: Options, environment: dict[str, str]) -> Prepared:
    """Start the configuration, check it runs the profiles asked for, settle and warm it up."""
    instance = target.start({**environment, **configuration.environment()}, options.placement)
    try:
        cold_start_seconds(instance)
        in_force = profiles_in_force(instance)
        if not configuration.runs_as_asked(in_force):
            asked = sorted(configuration.profiles or [])
            raise BenchError(f"{configuration.key}: asked for {asked}, the service runs {in_force}")
        time.sleep(0.5)
        rss_idle = rss_mib(instance.pid)
        if options.settle:
            load(instance, ENDPOINTS["/"], options.settle, options.connections, options.placement)
        for path in ENDPOINTS.values():
            load(instance, path, options.warmup, options.connections, options.placement)
    except BaseException:
        instance.stop()
        raise
    return Prepared(instance, in_force, rss_idle)


def window(prepared: Prepared, path: str, options: Options) -> LoadResult:
    return load(prepared.instance, path, options.seconds, options.connections, options.placement)


def measure(target: Target, configuration: Configuration, options: Options, environment: dict[str, str]) -> Run:
    """A fresh instance of the configuration, each endpoint measured once."""
    prepared = prepare(target, configuration, options, environment)
    try:
        endpoints = {name: window(prepared, ENDPOINTS[name], options) for name in options.endpoints}
        return Run(prepared.profiles_in_force, prepared.rss_idle_mib, rss_mib(prepared.instance.pid), endpoints)
    finally:
        prepared.instance.stop()


def measure_warm(
    target: Target,
    configurations: list[Configuration],
    options: Options,
    environment: dict[str, str],
    seed: int,
    log: Callable[[str], None],
) -> dict[str, list[Run]]:
    """One warm instance per configuration for the whole run, all on the service's
    core; every round measures each endpoint on every configuration back to back,
    in a shuffled order. Compared windows lie seconds apart instead of minutes, so
    the machine's drift (which swamped 2% between fresh instances) cancels out."""
    prepared: dict[str, Prepared] = {}
    try:
        for configuration in configurations:
            prepared[configuration.key] = prepare(target, configuration, options, environment)
        runs: dict[str, list[Run]] = {key: [] for key in prepared}
        for round_index in range(options.rounds):
            shuffler = random.Random(seed + round_index)
            windows: dict[str, dict[str, LoadResult]] = {key: {} for key in prepared}
            for name in options.endpoints:
                for key in shuffler.sample(list(prepared), len(prepared)):
                    windows[key][name] = window(prepared[key], ENDPOINTS[name], options)
            for key, state in prepared.items():
                rss_loaded = rss_mib(state.instance.pid)
                runs[key].append(Run(state.profiles_in_force, state.rss_idle_mib, rss_loaded, windows[key]))
            log(f"{target.name}: warm round {round_index + 1}/{options.rounds}")
        return runs
    finally:
        for state in prepared.values():
            state.instance.stop()


def cold_start(target: Target, environment: dict[str, str], options: Options) -> float:
    instance = target.start(environment, options.placement)
    try:
        return cold_start_seconds(instance)
    finally:
        instance.stop()


def run_target(
    target: Target, configurations: list[Configuration], options: Options, seed: int, log: Callable[[str], None]
) -> TargetResults:
    python = f"{target.python[0]}.{target.python[1]}"
    results = TargetResults(target.name, python, options.placement.describe())
    runnable = {c.key: c.on_python(target.python) for c in configurations}
    available = [c for c in runnable.values() if c is not None]
    results.unavailable = [key for key, c in runnable.items() if c is None]
    results.runs = {c.key: [] for c in available}
    results.cold_starts = {name: [] for name in COLD_START_CASES}
    # Traces (when on) go to a closed port on loopback: nothing leaves the machine.
    environment = {**COMMON_ENVIRONMENT, "DD_TRACE_AGENT_URL": f"http://127.0.0.1:{free_port()}"}
    if options.warm:
        results.runs = measure_warm(target, available, options, environment, seed, log)
        return results
    for round_index in range(options.rounds):
        started = time.monotonic()
        shuffler = random.Random(seed + round_index)
        for configuration in shuffler.sample(available, len(available)):
            results.runs[configuration.key].append(measure(target, configuration, options, environment))
        for name in shuffler.sample(list(COLD_START_CASES), len(COLD_START_CASES)):
            results.cold_starts[name].append(cold_start(target, {**environment, **COLD_START_CASES[name]}, options))
        log(f"{target.name}: round {round_index + 1}/{options.rounds} took {time.monotonic() - started:.0f} s")
    return results


# ---- statistics -------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A median and a distribution-free confidence interval for it."""

    median: float
    low: float | None
    high: float | None

    def text(self) -> str:
        if self.low is None or self.high is None:
            return f"{self.median:.3f}"
        return f"{self.median:.3f} [{self.low:.3f}, {self.high:.3f}]"


def median_interval(values: list[float], confidence: float = CONFIDENCE) -> Interval:
    """The median with the order statistics x(k), x(n+1-k) around it: the
    largest k whose two-sided binomial tail stays within 1 - confidence. Needs
    no assumption about the shape of the noise; None with too few values."""
    ordered = sorted(values)
    count = len(ordered)
    tail, k = 0.0, 0
    while True:
        tail += math.comb(count, k) / 2**count
        if 2 * tail > 1 - confidence:
            break
        k += 1
    if k == 0:
        return Interval(statistics.median(ordered), None, None)
    return Interval(statistics.median(ordered), ordered[k - 1], ordered[count - k])


def paired_ratios(runs: list[Run], reference: list[Run], endpoint: str, metric: str) -> list[float]:
    """Per round: this configuration's ``metric`` (a LoadResult attribute) at
    ``endpoint`` over the reference's in the same round."""
    return [
        getattr(run.endpoints[endpoint], metric) / getattr(base.endpoints[endpoint], metric)
        for run, base in zip(runs, reference, strict=True)
    ]


def verdict(cpu: Interval, throughput: Interval, p99: Interval) -> str:
    """within / over budget when the intervals say so, unresolved when they straddle it."""
    if cpu.low is None or cpu.high is None or throughput.low is None or throughput.high is None:
        return "unresolved (too few rounds)"
    over = [
        name
        for name, is_over in (
            ("CPU", cpu.low > 1 + BUDGET_CPU),
            ("throughput", throughput.high < 1 - BUDGET_CPU),
            ("p99", p99.low is not None and p99.low > 1 + BUDGET_P99),
        )
        if is_over
    ]
    if over:
        return "over: " + ", ".join(over)
    within = cpu.high <= 1 + BUDGET_CPU and throughput.low >= 1 - BUDGET_CPU
    p99_within = p99.high is not None and p99.high <= 1 + BUDGET_P99
    return "within" if within and p99_within else "unresolved"


# ---- report -----------------------------------------------------------------


def label(configuration: Configuration, runs: list[Run]) -> str:
    if configuration.key in (DEFAULT, ALL):
        in_force = runs[0].profiles_in_force if runs else None
        return f"{configuration.label} ({', '.join(in_force) if in_force else 'off'})"
    return configuration.label


def report(results: TargetResults, options: Options, emit: Callable[[str], None]) -> None:
    off = results.runs[OFF]
    emit(
        f"\n### {results.target}: Python {results.python}, {os.cpu_count()} cores ({platform.machine()}), "
        f"{results.placement}"
    )
    design = (
        "one warm instance per configuration for the whole run; each round measures every endpoint "
        "on every configuration back to back, in a shuffled order"
        if options.warm
        else "each a fresh instance per configuration in a shuffled order"
    )
    emit(
        f"{options.rounds} rounds, {design}, "
        f"{options.warmup} s warm-up and {options.seconds} s of wrk -c{options.connections} per endpoint. "
        + (
            f"{options.settle} s of load on `/` first (past ddtrace's ~15 s start-up sampling). "
            if options.settle
            else ""
        )
        + "Ratios to profiling off (as shipped: to tracing alone) in the same round: "
        "median over the rounds [95% interval]. "
        "Budget: CPU per request and throughput within 2%, p99 within 5%."
    )
    if results.unavailable:
        emit(f"Not measured here (need Python 3.12+): {', '.join(results.unavailable)}.")
    emit("")
    emit("| configuration | endpoint | CPU per request | throughput | p50 | p99 | budget |")
    emit("|---|---|---|---|---|---|---|")
    for key, runs in results.runs.items():
        configuration = CONFIGURATIONS[key]
        if key == configuration.reference:
            continue
        reference = results.runs[configuration.reference]
        for endpoint in options.endpoints:
            cpu, throughput, p50, p99 = (
                median_interval(paired_ratios(runs, reference, endpoint, metric))
                for metric in ("cpu_ms_per_request", "requests_per_second", "p50_ms", "p99_ms")
            )
            emit(
                f"| {label(configuration, runs)} | `{endpoint}` | {cpu.text()} | {throughput.text()} "
                f"| {p50.text()} | {p99.text()} | {verdict(cpu, throughput, p99)} |"
            )
    emit("")
    first = options.endpoints[0]
    emit(
        f"| configuration | RSS idle (MiB) | RSS after load (MiB) | after load, vs off (MiB) "
        f"| `{first}` CPU ms/request |"
    )
    emit("|---|---|---|---|---|")
    for key, runs in results.runs.items():
        growth = statistics.median(
            run.rss_loaded_mib - base.rss_loaded_mib for run, base in zip(runs, off, strict=True)
        )
        cpu_absolute = statistics.median(run.endpoints[first].cpu_ms_per_request for run in runs)
        emit(
            f"| {label(CONFIGURATIONS[key], runs)} | {statistics.median(run.rss_idle_mib for run in runs):.0f} "
            f"| {statistics.median(run.rss_loaded_mib for run in runs):.0f} | {growth:+.1f} "
            f"| {cpu_absolute:.3f} |"
        )
    if any(results.cold_starts.values()):  # none in --warm runs
        emit("")
        emit("| cold start to the first `/healthz` 200 | median (s) | slowest (s) |")
        emit("|---|---|---|")
        for name, seconds in results.cold_starts.items():
            emit(f"| {name} | {statistics.median(seconds):.2f} | {max(seconds):.2f} |")
    if results.image_mib is not None:
        emit("")
        sizes = results.image_mib
        emit(
            f"Image: {sizes['base'] + sizes['ours']:.0f} MiB in all, {sizes['ours']:.0f} MiB in the layers above "
            f"the {sizes['base']:.0f} MiB base; a naive single-stage `pip install` image of the same service: "
            f"{sizes['base'] + sizes['naive']:.0f} MiB, {sizes['naive']:.0f} MiB above the base."
        )


# ---- image size ---------------------------------------------------------------


def image_sizes(project: Path, base: str, package: str) -> dict[str, float]:
    """MiB above the base: the project's Dockerfile and a naive single-stage one, built alike."""

    def size(image: str) -> float:
        return int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout) / 2**20

    naive = project / "naive.Dockerfile"
    naive.write_text(
        f"FROM {base}\nWORKDIR /app\nCOPY . .\n"
        "RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir .\n"
        f'CMD ["/venv/bin/python", "-m", "{package}"]\n'
    )
    try:
        docker(
            "build",
            "--network",
            "host",
            "-q",
            "-f",
            str(naive),
            "-t",
            "profiler-overhead-naive",
            str(project),
            timeout=900,
        )
        base_size = size(base)
        return {
            "base": base_size,
            "ours": size(ImageTarget.tag) - base_size,
            "naive": size("profiler-overhead-naive") - base_size,
        }
    finally:
        naive.unlink()
        docker("rmi", "-f", "profiler-overhead-naive", check=False)


# ---- command line ---------------------------------------------------------------


def parse_configurations(text: str) -> list[Configuration]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in CONFIGURATIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown configuration {unknown[0]!r}; known: {', '.join(CONFIGURATIONS)}")
    # Every ratio needs its reference (off, tracing alone for "as shipped", ...),
    # and that reference its own.
    chosen: list[str] = []

    def choose(key: str) -> None:
        reference = CONFIGURATIONS[key].reference
        if reference != key and reference not in chosen:
            choose(reference)
        if key not in chosen:
            chosen.append(key)

    for key in [OFF, *keys]:
        choose(key)
    return [CONFIGURATIONS[key] for key in chosen]


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("process", "image", "both"), default="both")
    parser.add_argument("--rounds", type=whole_number(1), default=12, help="fresh instances per configuration (12)")
    parser.add_argument("--seconds", type=whole_number(1), default=4, help="measured seconds per endpoint (4)")
    parser.add_argument("--warmup", type=whole_number(1), default=2, help="warm-up seconds per endpoint (2)")
    parser.add_argument(
        "--settle", type=whole_number(0), default=0, help="seconds of load on / before the warm-ups (0)"
    )
    parser.add_argument("--connections", type=whole_number(1), default=2, help="wrk's concurrency (2)")
    parser.add_argument(
        "--configs",
        type=parse_configurations,
        default=parse_configurations(",".join(STANDARD_SET)),
        help=f"comma-separated, from: {', '.join(CONFIGURATIONS)} (default: {','.join(STANDARD_SET)})",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="one warm instance per configuration, windows interleaved round by round (no cold starts)",
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help=f"comma-separated endpoints measured, from: {', '.join(ENDPOINTS)} (all)",
    )
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place the service and wrk")
    parser.add_argument("--seed", type=int, default=0, help="seeds the shuffled order of each round")
    parser.add_argument("--json", type=Path, help="also write every round's raw numbers here")
    arguments = parser.parse_args(argv)
    arguments.endpoints = [name.strip() for name in arguments.endpoints.split(",") if name.strip()]
    unknown = [name for name in arguments.endpoints if name not in ENDPOINTS]
    if unknown or not arguments.endpoints:
        parser.error(f"--endpoints: unknown endpoint {unknown[0]!r}" if unknown else "--endpoints: none given")
    return arguments


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    try:
        require_wrk()
    except BenchError as error:
        sys.exit(f"bench: {error}")
    targets = ["process", "image"] if arguments.target == "both" else [arguments.target]
    reason = engine_unavailable_reason()
    if "image" in targets and reason is not None:
        if arguments.target == "image":
            sys.exit(f"bench: the image target needs Docker: {reason}")
        log(f"skipping the image target: {reason}")
        targets.remove("image")
    options = Options(
        rounds=arguments.rounds,
        seconds=arguments.seconds,
        warmup=arguments.warmup,
        settle=arguments.settle,
        connections=arguments.connections,
        placement=CpuPlacement.choose(pin=not arguments.no_pin),
        warm=arguments.warm,
        endpoints=tuple(arguments.endpoints),
    )
    per_instance = 3 + arguments.settle + len(ENDPOINTS) * arguments.warmup
    per_round = len(arguments.configs) * len(arguments.endpoints) * arguments.seconds
    if arguments.warm:
        seconds = len(arguments.configs) * per_instance + arguments.rounds * per_round
    else:
        seconds = arguments.rounds * (len(arguments.configs) * per_instance + per_round + 4 * 3)
    minutes = len(targets) * seconds / 60
    log(f"about {minutes:.0f} minutes: {', '.join(targets)}; {', '.join(c.key for c in arguments.configs)}")

    all_results: list[TargetResults] = []
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as scratch:
        context = json.loads((ROOT / "cookiecutter.json").read_text())
        baked = bake(Path(scratch), ROOT)
        project = baked.project
        for name in targets:
            target: Target
            if name == "process":
                target = ProcessTarget(baked, Path(scratch))
            else:
                log("building the image")
                target = ImageTarget(project, context["python_version"][0])
            results = run_target(target, arguments.configs, options, arguments.seed, log)
            if isinstance(target, ImageTarget):
                results.image_mib = image_sizes(project, target.base, baked.package)
                docker("rmi", "-f", ImageTarget.tag, check=False)
            all_results.append(results)

    print(f"## Profiler overhead ({time.strftime('%Y-%m-%d')})")
    for results in all_results:
        report(results, options, print)
    if arguments.json is not None:
        arguments.json.write_text(json.dumps([asdict(results) for results in all_results], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as error:
        sys.exit(f"bench: {error}")
