"""What the profiles say, against known work, as shipped.

Bakes a service with the default answers and runs it as a real uvicorn process,
as shipped (profiling and tracing on, defaults untouched), beside a real
ddapm-test-agent receiving its uploads, under three load shapes:

- light: one client per endpoint (``/``, ``/cpu-intensive``, ``/memory-alloc``),
  each pausing 0.2 s between requests: a few requests a second, what many
  services see most of the day;
- closed: the same three clients back to back;
- saturating: four clients on ``/cpu-intensive`` and one on each of the others.

Each shape first runs ``--warmup`` seconds unmeasured (past ddtrace's slower
first ~15 s after a start), then ``--seconds`` measured; only uploads that start
after the warm-up count. For each run it reports:

- credited/true: the CPU the profiles put on ``hash_chain`` (the CPU workload)
  over the CPU it really burned there. The truth is the service's own exact
  figure, ``thread.cpu_time_ms`` on each ``workload.hash_chain`` span the agent
  received (the worker thread's CPU clock around the call; the service's
  ``tests/test_thread_cpu.py`` checks it against the kernel's account of the
  process), summed over the calls whose span ended inside the uploads' time
  span. Nothing is injected into the service: a wrapper of its own would sit
  in the stacks the sampler reads, and a wrapper that logs each call gives up
  the GIL there, so the sampler finds the thread in it and charges it the
  burst (21-38% of the endpoint's CPU landed on such a wrapper's frame).
  A quiet-process calibration of the same call is shown beside it: under load
  the same call costs more CPU, so a calibration taken apart would flatter the
  profiler;
- linked: the share of ``hash_chain``'s profiled CPU carrying ``trace endpoint:
  GET /cpu-intensive`` and a span id of a trace the agent received for it;
- endpoint/true: all the CPU the profiles label ``GET /cpu-intensive`` on the
  worker threads (any frame), over the same truth: whether CPU by endpoint
  loses what the function loses. The sampler charges a burst's CPU to the
  stack it finds next; when that is the worker's idle wait, the request has
  ended and the sample carries no span, so no endpoint either. The event
  loop's own CPU for the requests (routing, spans) is left out of both sides;
- waits: the share of all profiled CPU whose innermost Python frame waits
  (``Condition.wait``, ``Queue.get``, ``sleep``, ``select``, ...): CPU that the
  sampler charged to a thread's idle frame;
- the sampler's interval as ddtrace reported it in the uploads;
- with ``--memory`` (the memory profile switched on): the allocations the
  profiles put on ``allocate_and_touch`` over the bytes its calls allocated
  (``MEMORY_MB`` MiB a call, one ``workload.allocate_and_touch`` span each).

- with ``--idle``, instead of the shapes: the idle process's CPU as a share of
  one core, per sampler setting (``--warmup`` s of light load, then
  ``--idle-seconds`` without a request; uploads every 60 s, as shipped).

Sampler settings (``--settings``, from ``SAMPLER_SETTINGS``) are a matrix: every
(setting, shape, run) gets its own fresh service process, since ddtrace's
sampler keeps a 600 s load history for the life of the process. With
``--results FILE`` every run is appended to FILE as one JSON line as it ends,
and runs already there are skipped (a stopped matrix resumes); the table is
then made from the file.

    .venv/bin/python -m bench.profile_truth                     # 3 repeats, about 10 minutes
    .venv/bin/python -m bench.profile_truth --repeats 1 --seconds 20
    .venv/bin/python -m bench.profile_truth --settings all --shapes light,closed \\
        --warmup 15 --seconds 20 --results bench/results/sampler-matrix.jsonl
    .venv/bin/python -m bench.profile_truth --idle --settings all --results bench/results/sampler-idle.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from perf_gate.ddtrace_private import MAX_SAMPLING_INTERVAL_VARIABLE
from perf_gate.pprof import decode_samples, innermost_python_frame
from perf_gate.service import ServiceProcess

from bench.sampler_settings import SAMPLER_SETTINGS
from harness import agent as agent_support
from harness.bake import bake

ROOT = Path(__file__).resolve().parents[1]

CPU = "cpu-time"
ALLOC = "alloc-space"
ENDPOINT = "GET /cpu-intensive"
# The truth: the spans the service opens around its workload calls, and the
# exact CPU figure it records on them.
CPU_SPAN = "workload.hash_chain"
MEMORY_SPAN = "workload.allocate_and_touch"
CPU_FIGURE = "thread.cpu_time_ms"
MEMORY_MB = 2
MIB = 1024 * 1024
DEFAULT_ITERATIONS = 20_000
WAIT_FUNCTIONS = frozenset({"wait", "get", "sleep", "select", "poll", "_wait_for_tstate_lock", "acquire", "join"})
LIGHT_PAUSE_SECONDS = 0.2
SHAPE_NAMES = ("light", "closed", "saturating")
# The thread that runs the event loop; the workload runs on the others.
MAIN_THREAD = "MainThread"


def shape(name: str, iterations: int) -> list[tuple[str, int, float]]:
    """A load shape: (endpoint path and query, clients, pause between requests)."""
    cpu = f"/cpu-intensive?iterations={iterations}"
    pause = LIGHT_PAUSE_SECONDS if name == "light" else 0.0
    cpu_clients = 4 if name == "saturating" else 1
    return [("/", 1, pause), (cpu, cpu_clients, pause), (f"/memory-alloc?size_mb={MEMORY_MB}", 1, pause)]


ENVIRONMENT = {
    "DD_PROFILING_UPLOAD_INTERVAL": "5",
    "WORKLOAD_MAX_CONCURRENCY": "8",  # above the clients: no 503s
    "LOG_LEVEL": "warning",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
}


IDLE = "idle"


@dataclass(frozen=True)
class Truth:
    shape: str
    requests_per_second: float
    credited_over_true: float
    linked: float
    waits: float
    interval_ms: float
    cost_in_service_ms: float
    # With --memory: allocations the profiles put on allocate_and_touch over the
    # bytes its calls allocated (NaN without the memory profile).
    alloc_credited_over_true: float = float("nan")
    # The worker threads' CPU the profiles label with the endpoint, over the
    # same truth as credited_over_true.
    endpoint_over_true: float = float("nan")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_time(text: str) -> float:
    """ddtrace's RFC 3339 timestamps (nanoseconds, Z) as epoch seconds."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return moment.timestamp() + float(f"0.{fraction or '0'}")


def workload_calls(traces: list[list[dict[str, Any]]], name: str) -> list[tuple[float, dict[str, Any]]]:
    """Every span ``name`` (its resource: ddtrace names an OpenTelemetry span by
    its kind) with the epoch second it ended."""
    return [
        ((span["start"] + span["duration"]) / 1e9, span)
        for trace in traces
        for span in trace
        if span.get("resource") == name
    ]


def calibrate(python: str, package: str, iterations: int) -> float:
    """hash_chain's CPU per call (seconds), in the bake's Python: the median of
    5 batches of about a second each."""
    calls = max(5, 1_500_000 // iterations)
    code = (
        f"import time; from {package}.workload import hash_chain\n"
        f"for _ in range({calls}): hash_chain({iterations})\n"
        "costs = []\n"
        "for _ in range(5):\n"
        "    started = time.thread_time()\n"
        f"    for _ in range({calls}): hash_chain({iterations})\n"
        f"    costs.append((time.thread_time() - started) / {calls})\n"
        "print(sorted(costs)[2])\n"
    )
    return float(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)


class Load:
    """Client threads for one shape; counts requests and failures."""

    def __init__(self, base_url: str, shape: list[tuple[str, int, float]]) -> None:
        self.base_url = base_url
        self.shape = shape
        self.stop = threading.Event()
        self.requests = 0
        self.by_path: Counter[str] = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _client(self, path: str, pause: float) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            while not self.stop.is_set():
                response = client.get(path)
                with self._lock:
                    self.requests += 1
                    self.by_path[path.partition("?")[0]] += 1
                    if response.status_code != 200:
                        self.errors.append(f"{path}: {response.status_code}")
                if pause:
                    self.stop.wait(pause)

    def start(self) -> None:
        for path, clients, pause in self.shape:
            for _ in range(clients):
                thread = threading.Thread(target=self._client, args=(path, pause), daemon=True)
                thread.start()
                self._threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def in_allocator(function: str) -> bool:
    return function.startswith("allocate_and_touch")


def waits(function: str) -> bool:
    return function.rsplit(".", 1)[-1] in WAIT_FUNCTIONS


def service_inheritance() -> dict[str, str]:
    """The service's own settings only: nothing of this shell's DD_/OTEL_/WORKLOAD_/PROFILING_ ones."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DD_", "_DD_", "OTEL_", "WORKLOAD_", "PROFILING_")) and key != "VIRTUAL_ENV"
    }


def measure(
    shape_name: str,
    python: str,
    package: str,
    workdir: Path,
    arguments: argparse.Namespace,
    setting: dict[str, str] | None = None,
) -> Truth:
    warmup, seconds = arguments.warmup, arguments.seconds

    agent = agent_support.TestAgent(workdir / f"agent-{shape_name}.log").start()
    inherited = service_inheritance()
    environment = {
        **ENVIRONMENT,
        "DD_TRACE_AGENT_URL": agent.url,
    }
    if arguments.memory:
        environment["DD_PROFILING_MEMORY_ENABLED"] = "true"
    if arguments.max_interval_ms is not None:
        environment[MAX_SAMPLING_INTERVAL_VARIABLE] = str(round(arguments.max_interval_ms * 1000))
    environment.update(setting or {})
    service = ServiceProcess(
        [python, "-m", package], environment, log_path=workdir / f"service-{shape_name}.log", inherited=inherited
    )
    try:
        service.wait_until_serving()
        started = time.time()
        load = Load(service.url, shape(shape_name, arguments.iterations))
        load.start()
        time.sleep(warmup + seconds)
        load.finish()
        service.stop()  # the last profile is flushed on SIGTERM
        if load.errors:
            raise RuntimeError(f"{shape_name}: requests failed: {load.errors[:3]}")
        uploads = [upload for upload in agent.profiles() if parse_time(upload.event["start"]) >= started + warmup]
        traces = agent.traces()
    finally:
        service.stop()
        agent.stop()
    if not uploads:
        raise RuntimeError(f"{shape_name}: no upload started after the warm-up")

    window_start = min(parse_time(upload.event["start"]) for upload in uploads)
    window_end = max(parse_time(upload.event["end"]) for upload in uploads)
    cpu_calls = workload_calls(traces, CPU_SPAN)
    # A trace lost on its way to the agent would shorten the truth and flatter the profile.
    sent = load.by_path["/cpu-intensive"]
    if len(cpu_calls) < sent or any(CPU_FIGURE not in span.get("metrics", {}) for _, span in cpu_calls):
        raise RuntimeError(f"{shape_name}: {len(cpu_calls)} {CPU_SPAN} spans with {CPU_FIGURE} for {sent} requests")
    in_window = [span["metrics"][CPU_FIGURE] / 1e3 for ended, span in cpu_calls if window_start <= ended <= window_end]
    true_seconds = sum(in_window)
    allocations = [ended for ended, _ in workload_calls(traces, MEMORY_SPAN) if window_start <= ended <= window_end]
    true_bytes = len(allocations) * MEMORY_MB * MIB
    endpoint_traces = [trace for trace in traces if any(span.get("resource") == ENDPOINT for span in trace)]
    spans_of_endpoint = {span["span_id"] for trace in endpoint_traces for span in trace}
    total = credited = linked = waited = allocated_bytes = endpoint_on_workers = 0
    endpoint_frames: Counter[str] = Counter()
    for upload in uploads:
        for sample in decode_samples(upload.attachments["profile.pprof"])[1]:
            allocation = sample.values.get(ALLOC, 0)
            # The list comprehension that makes the chunks is its own frame on 3.11.
            if allocation and sample.stack and in_allocator(innermost_python_frame(sample.stack).function):
                allocated_bytes += allocation
            nanoseconds = sample.values.get(CPU, 0)
            if not nanoseconds or not sample.stack:
                continue
            function = innermost_python_frame(sample.stack).function
            total += nanoseconds
            waited += nanoseconds if waits(function) else 0
            if sample.labels.get("trace endpoint") == ENDPOINT and sample.labels.get("thread name") != MAIN_THREAD:
                endpoint_on_workers += nanoseconds
                endpoint_frames[function] += nanoseconds
            if function == "hash_chain":
                credited += nanoseconds
                span = sample.labels.get("span id")
                span_id = span & 0xFFFF_FFFF_FFFF_FFFF if isinstance(span, int) else None
                if sample.labels.get("trace endpoint") == ENDPOINT and span_id in spans_of_endpoint:
                    linked += nanoseconds
    if arguments.verbose and endpoint_on_workers:
        log(
            f"    {ENDPOINT} on the worker threads, by innermost frame: "
            + ", ".join(f"{name} {value / endpoint_on_workers:.0%}" for name, value in endpoint_frames.most_common(5))
        )
    intervals = [upload.event.get("internal", {}).get("sampling_interval_us", 0) / 1000 for upload in uploads]
    return Truth(
        shape=shape_name,
        requests_per_second=load.requests / (warmup + seconds),
        credited_over_true=credited / 1e9 / true_seconds if true_seconds else float("nan"),
        cost_in_service_ms=statistics.median(in_window) * 1e3 if in_window else float("nan"),
        linked=linked / credited if credited else 0.0,
        waits=waited / total if total else 0.0,
        interval_ms=statistics.median(intervals),
        alloc_credited_over_true=allocated_bytes / true_bytes if arguments.memory and true_bytes else float("nan"),
        endpoint_over_true=endpoint_on_workers / 1e9 / true_seconds if true_seconds else float("nan"),
    )


def idle_share(
    python: str, package: str, workdir: Path, arguments: argparse.Namespace, agent_url: str, name: str, run: int
) -> dict[str, object]:
    """One fresh process with setting ``name``, as shipped (uploads every 60 s):
    ``--warmup`` s of light load, then the CPU it spends with no request for
    ``--idle-seconds``, as a share of one core."""
    environment = {
        **{key: value for key, value in ENVIRONMENT.items() if key != "DD_PROFILING_UPLOAD_INTERVAL"},
        "DD_TRACE_AGENT_URL": agent_url,
        **SAMPLER_SETTINGS[name],
    }
    service = ServiceProcess(
        [python, "-m", package],
        environment,
        log_path=workdir / f"service-idle-{name}-{run}.log",
        inherited=service_inheritance(),
    )
    try:
        service.wait_until_serving()
        load = Load(service.url, shape("light", arguments.iterations))
        load.start()
        time.sleep(arguments.warmup)
        load.finish()
        time.sleep(2)  # the last requests' spans flushed
        before, started = service.cpu_seconds(), time.monotonic()
        time.sleep(arguments.idle_seconds)
        cpu, elapsed = service.cpu_seconds() - before, time.monotonic() - started
    finally:
        service.stop()
    return {"idle_core_share": cpu / elapsed, "idle_seconds": elapsed}


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))} to {fmt(max(values))})"


def report(results: list[Truth], cost: float, arguments: argparse.Namespace) -> str:
    lines = [
        f"hash_chain({arguments.iterations}) costs {cost * 1e3:.2f} ms of CPU per call in a quiet process; "
        f"{arguments.repeats} repeat(s), {arguments.warmup:.0f} s warm-up + {arguments.seconds:.0f} s measured each"
        + (f"; sampling interval capped at {arguments.max_interval_ms:g} ms" if arguments.max_interval_ms else ""),
        "",
        "| load shape | requests/s | credited/true (target 0.9 to 1.1) | linked (target >= 90%) "
        "| CPU on waits (target <= 5%) | sampling interval | CPU per call in the service "
        "| allocations credited/true (--memory) | endpoint/true |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SHAPE_NAMES:
        runs = [result for result in results if result.shape == name]
        if not runs:
            continue
        lines.append(
            f"| {name} | {spread([r.requests_per_second for r in runs], lambda v: f'{v:.0f}')} "
            f"| {spread([r.credited_over_true for r in runs], lambda v: f'{v:.2f}')} "
            f"| {spread([r.linked for r in runs], lambda v: f'{v:.0%}')} "
            f"| {spread([r.waits for r in runs], lambda v: f'{v:.0%}')} "
            f"| {spread([r.interval_ms for r in runs], lambda v: f'{v:.0f} ms')} "
            f"| {spread([r.cost_in_service_ms for r in runs], lambda v: f'{v:.1f} ms')} "
            f"| {spread([r.alloc_credited_over_true for r in runs], lambda v: f'{v:.2f}')} "
            f"| {spread([r.endpoint_over_true for r in runs], lambda v: f'{v:.2f}')} |"
        )
    return "\n".join(lines)


def matrix_report(records: list[dict[str, object]], settings: list[str], shapes: list[str]) -> str:
    """Per setting and shape: median credited/true (min to max of the runs, n),
    and the median share of profile CPU on wait frames; idle cost when measured."""
    idle = {
        name: [float(str(r["idle_core_share"])) for r in records if r["setting"] == name and r["shape"] == IDLE]
        for name in settings
    }
    shown = [name for name in shapes if name != IDLE]
    header = "| setting | " + " | ".join(
        f"{name}: credited/true (min to max, n) | {name}: endpoint/true | {name}: on waits" for name in shown
    )
    header += " | idle CPU, share of a core |"
    lines = [header, "|---" * (1 + 3 * len(shown) + 1) + "|"]
    for name in settings:
        cells = []
        for shape_name in shown:
            runs = [r for r in records if r["setting"] == name and r["shape"] == shape_name]
            if not runs:
                cells += ["", "", ""]
                continue
            ratios = [float(str(r["credited_over_true"])) for r in runs]
            # Runs recorded before the column existed have none.
            by_endpoint = [float(str(r["endpoint_over_true"])) for r in runs if "endpoint_over_true" in r]
            waited = [float(str(r["waits"])) for r in runs]
            cells.append(f"{statistics.median(ratios):.2f} ({min(ratios):.2f} to {max(ratios):.2f}, {len(runs)})")
            cells.append(f"{statistics.median(by_endpoint):.2f}" if by_endpoint else "")
            cells.append(f"{statistics.median(waited):.0%}")
        idle_cell = spread(idle[name], lambda v: f"{v:.2%}") if idle[name] else ""
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {idle_cell} |")
    return "\n".join(lines)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of every shape, in shuffled order (3)")
    parser.add_argument("--warmup", type=float, default=20.0, help="unmeasured seconds first (20)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per run (30)")
    parser.add_argument(
        "--iterations", type=int, default=DEFAULT_ITERATIONS, help="hash rounds per CPU request (20000, ~6-15 ms)"
    )
    parser.add_argument(
        "--memory", action="store_true", help="switch the memory profile on and check allocation attribution too"
    )
    parser.add_argument(
        "--max-interval-ms",
        type=float,
        help="cap ddtrace's adaptive sampling interval (a private setting; a trade row, not a default)",
    )
    parser.add_argument(
        "--shapes", default=",".join(SHAPE_NAMES), help="comma-separated, from: light, closed, saturating"
    )
    parser.add_argument(
        "--settings",
        help=f"comma-separated sampler settings, one fresh process each, or 'all': {', '.join(SAMPLER_SETTINGS)}",
    )
    parser.add_argument("--results", type=Path, help="JSON lines, one per run, appended as it ends; resumes")
    parser.add_argument(
        "--idle", action="store_true", help="measure each setting's idle CPU (share of a core) instead of the shapes"
    )
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle seconds measured (--idle; 60)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--verbose", action="store_true", help="log where the endpoint's CPU lands, by frame")
    arguments = parser.parse_args(argv)
    if arguments.settings == "all":
        arguments.settings = list(SAMPLER_SETTINGS)
    elif arguments.settings:
        arguments.settings = [name.strip() for name in arguments.settings.split(",") if name.strip()]
        unknown_settings = [name for name in arguments.settings if name not in SAMPLER_SETTINGS]
        if unknown_settings:
            parser.error(f"--settings: unknown setting {unknown_settings[0]!r}")
    if arguments.settings and arguments.max_interval_ms is not None:
        parser.error("--settings and --max-interval-ms: the caps are settings (cap-10ms, ...)")
    if arguments.idle and not arguments.settings:
        arguments.settings = ["default"]
    arguments.shapes = [name.strip() for name in arguments.shapes.split(",") if name.strip()]
    unknown = [name for name in arguments.shapes if name not in SHAPE_NAMES]
    if unknown or not arguments.shapes:
        parser.error(f"--shapes: unknown shape {unknown[0]!r}" if unknown else "--shapes: none given")
    if arguments.max_interval_ms is not None and not 0.1 <= arguments.max_interval_ms <= 1000:
        parser.error("--max-interval-ms must be between 0.1 and 1000")
    if arguments.repeats < 1 or arguments.seconds < 10 or arguments.warmup < 0 or arguments.iterations < 1:
        parser.error("--repeats and --iterations must be at least 1, --seconds at least 10, --warmup not negative")
    return arguments


def done_runs(path: Path | None) -> list[dict[str, object]]:
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def record(path: Path | None, entry: dict[str, object]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.write(json.dumps(entry) + "\n")


def conditions() -> dict[str, object]:
    """What the machine was like when a run started."""
    return {
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_1m": os.getloadavg()[0],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_matrix(python: str, package: str, workdir: Path, arguments: argparse.Namespace) -> list[dict[str, object]]:
    """Every (setting, shape, run) not yet in --results, each in a fresh process;
    runs interleave the settings so the machine's drift spreads over all of them."""
    records = done_runs(arguments.results)
    done = {(r["setting"], r["shape"], r["run"]) for r in records}
    shuffler = random.Random(arguments.seed)
    todo = [
        (name, shape_name, run)
        for run in range(arguments.repeats)
        for shape_name in arguments.shapes
        for name in shuffler.sample(arguments.settings, len(arguments.settings))
        if (name, shape_name, run) not in done
    ]
    for index, (name, shape_name, run) in enumerate(todo, start=1):
        log(f"[{index}/{len(todo)}] {name} {shape_name} run {run}")
        started = conditions()
        try:
            result = measure(shape_name, python, package, workdir, arguments, SAMPLER_SETTINGS[name])
        except RuntimeError as error:
            log(f"    failed: {error}")
            continue
        log(
            f"    credited/true {result.credited_over_true:.2f}, endpoint/true {result.endpoint_over_true:.2f}, "
            f"waits {result.waits:.0%}"
        )
        entry: dict[str, object] = {
            "setting": name,
            "environment": SAMPLER_SETTINGS[name],
            "run": run,
            **asdict(result),
            "warmup": arguments.warmup,
            "seconds": arguments.seconds,
            "iterations": arguments.iterations,
            **started,
        }
        record(arguments.results, entry)
        records.append(entry)
    return records


def run_idle(python: str, package: str, workdir: Path, arguments: argparse.Namespace) -> list[dict[str, object]]:
    """Every setting's idle cost, --repeats times; the settings of one repeat run
    side by side (idle, they barely compete), one shared test agent."""
    records = done_runs(arguments.results)
    agent = agent_support.TestAgent(workdir / "agent-idle.log").start()
    try:
        for run in range(arguments.repeats):
            todo = [
                n
                for n in arguments.settings
                if (n, IDLE, run) not in {(r["setting"], r["shape"], r["run"]) for r in records}
            ]
            if not todo:
                continue
            log(f"idle run {run}: {', '.join(todo)}")
            started = conditions()
            with ThreadPoolExecutor(max_workers=len(todo)) as pool:
                futures = {
                    name: pool.submit(idle_share, python, package, workdir, arguments, agent.url, name, run)
                    for name in todo
                }
                for name, future in futures.items():
                    entry: dict[str, object] = {
                        "setting": name,
                        "environment": SAMPLER_SETTINGS[name],
                        "shape": IDLE,
                        "run": run,
                        **future.result(),
                        "warmup": arguments.warmup,
                        "side_by_side": len(todo),
                        **started,
                    }
                    log(f"    {name}: {float(str(entry['idle_core_share'])):.2%} of a core")
                    record(arguments.results, entry)
                    records.append(entry)
    finally:
        agent.stop()
    return records


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    with tempfile.TemporaryDirectory(prefix="profile-truth-") as scratch:
        workdir = Path(scratch)
        baked = bake(workdir, ROOT)
        package = baked.package
        log(f"baked {baked.project.name}; installing its locked dependencies")
        baked.sync()
        python = str(baked.python)
        if arguments.idle:
            records = run_idle(python, package, workdir, arguments)
            print(matrix_report(records, arguments.settings, [IDLE]))
            return 0
        cost = calibrate(python, package, arguments.iterations)
        log(f"hash_chain({arguments.iterations}): {cost * 1e3:.2f} ms of CPU per call")
        if arguments.settings:
            records = run_matrix(python, package, workdir, arguments)
            print(
                f"hash_chain({arguments.iterations}) costs {cost * 1e3:.2f} ms of CPU per call in a quiet process; "
                f"{arguments.warmup:.0f} s warm-up + {arguments.seconds:.0f} s measured per run, "
                "each (setting, shape, run) in its own fresh process\n"
            )
            print(matrix_report(records, arguments.settings, arguments.shapes))
            return 0
        order = [name for _ in range(arguments.repeats) for name in arguments.shapes]
        random.Random(arguments.seed).shuffle(order)
        results = []
        for index, name in enumerate(order, start=1):
            log(f"[{index}/{len(order)}] {name}")
            result = measure(name, python, package, workdir, arguments)
            log(f"    {result}")
            results.append(result)
    print(report(results, cost, arguments))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
