"""The gate's measurements: alternating rounds of the same seeded requests on
both sides. Native rounds run the images as built (CPU profiler on) and read
each window's CPU from the kernel, split by cpu_split.py; counted rounds run
them under callgrind and read instructions per request (instructions.py)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cpu_split, load
from .config import ServiceConfig
from .instructions import CallgrindRun
from .runners import profiled_container
from .service import RunError, ServiceContainer

# More than any warm-up can send: the warm-up ends at its deadline.
WARMUP_PLAN_REQUESTS = 100_000
# Uninstrumented requests before counting starts: the interpreter's
# specialisation and the allocator's pools settle within a few requests.
INSTRUCTION_WARMUP_REQUESTS = 20


@dataclass
class Side:
    name: str
    image: str
    git_sha: str
    profile_dir: Path
    # Per native window: CPU per request, split (cpu_split.py).
    native: list[cpu_split.CpuSplit] = field(default_factory=list)
    instructions_per_request: list[float] = field(default_factory=list)

    @property
    def counted_image(self) -> str:
        """The side's image plus Valgrind, for the instruction counts."""
        return f"{self.image}-callgrind"

    @property
    def cpu_per_request(self) -> list[float]:
        return [window.total for window in self.native]

    @property
    def mean_split(self) -> cpu_split.CpuSplit:
        """The native windows' CPU per request, each part averaged."""
        return cpu_split.CpuSplit.mean(self.native)


@dataclass(frozen=True)
class Load:
    """What every round sends, and how."""

    service: ServiceConfig
    seed: int
    concurrency: int
    warmup_seconds: float


def round_order(sides: tuple[Side, Side], index: int) -> tuple[Side, Side]:
    """Round ``index``'s order, flipped every pair (A B, B A, A B, …): drift over
    the run hits both sides alike, and so does any advantage of going first."""
    baseline, candidate = sides
    return (baseline, candidate) if index % 2 == 0 else (candidate, baseline)


def start_side(work: Load, side: Side, options: list[str]) -> ServiceContainer:
    """One container per side for the whole run, so every measured window is
    taken from a warm process."""
    environment = {
        **work.service.environment,
        # CPU profiles only: the allocation and lock collectors add cost whose
        # variance would hide small CPU changes, and the gate does not read them.
        "DD_PROFILING_MEMORY_ENABLED": "false",
        "DD_PROFILING_LOCK_ENABLED": "false",
    }
    container = profiled_container(side.image, side.profile_dir, environment, options=options)
    try:
        container.wait_until_serving(work.service.health_path)
    except RunError as error:
        container.stop()
        raise RunError(f"{side.name}: {error}") from None
    return container


def warm_up(work: Load, sides: list[tuple[Side, ServiceContainer]]) -> None:
    """Load every side at once for ``warmup_seconds``: past ddtrace's slower
    first ~15 s of sampling, and long enough for caches and allocator pools to
    settle. Nothing of it is measured, so the sides may share the machine."""
    requests = load.plan(work.service.mix, WARMUP_PLAN_REQUESTS, work.seed + 1)
    with ThreadPoolExecutor(max_workers=len(sides)) as pool:
        futures = [
            pool.submit(load.run, container.url, requests, work.concurrency, work.warmup_seconds)
            for _, container in sides
        ]
    for (side, container), future in zip(sides, futures, strict=True):
        result = future.result()
        if result.failed:
            failures = f"{side.name} warm-up: {result.failed} of {result.sent} requests failed"
            raise RunError(f"{failures}\n{container.logs()[-3000:]}")


def measure_window(work: Load, side: Side, container: ServiceContainer, index: int, requests: int) -> None:
    """One native window: the seeded request mix, its CPU from the kernel's accounting."""
    before = cpu_split.read(container.id)
    result = load.run(container.url, load.plan(work.service.mix, requests, work.seed), work.concurrency, 120)
    after = cpu_split.read(container.id)
    if result.failed or result.sent != requests:
        failures = f"{side.name} round {index + 1}: {result.failed} of {result.sent} requests failed"
        raise RunError(f"{failures}\n{container.logs()[-3000:]}")
    side.native.append((after - before).per(requests))


class NativeSides:
    """Both sides' containers for the whole run (CPU profiler on, runners.py's
    settings), warmed up; alternating windows whenever asked, the alternation
    carried on across batches. Stopping flushes each side's profile into its
    folder."""

    def __init__(self, work: Load, sides: tuple[Side, Side], container_options: list[str], log: Any) -> None:
        self.work, self.sides, self.done = work, sides, 0
        self.containers: dict[str, ServiceContainer] = {}
        try:
            for side in sides:
                self.containers[side.name] = start_side(work, side, container_options)
            log(f"warming both up for {work.warmup_seconds:g} s")
            warm_up(work, [(side, self.containers[side.name]) for side in sides])
        except BaseException:
            self.stop()
            raise

    def rounds(self, count: int, requests: int, after_round: Callable[[int], bool] = lambda _: False) -> None:
        """Up to ``count`` more rounds, until ``after_round(rounds done in all)`` says stop."""
        for _ in range(count):
            for side in round_order(self.sides, self.done):
                measure_window(self.work, side, self.containers[side.name], self.done, requests)
            self.done += 1
            if after_round(self.done):
                break

    def stop(self) -> None:
        # SIGTERM, drain, final flush: each side's profile is written now.
        for container in self.containers.values():
            container.stop()
        self.containers = {}


class CountedSides:
    """Both sides under callgrind (their Valgrind images must exist), a few
    uninstrumented requests first; then alternating counted windows of
    requests sent one at a time, whenever asked."""

    def __init__(self, work: Load, sides: tuple[Side, Side], dump_dir: Path, log: Any) -> None:
        self.work, self.sides, self.done = work, sides, 0
        self.runs: dict[str, CallgrindRun] = {}
        try:
            for side in sides:
                self.runs[side.name] = CallgrindRun(side.counted_image, dump_dir / side.name, work.service.environment)
            warm_up_requests = load.plan(work.service.mix, INSTRUCTION_WARMUP_REQUESTS, work.seed + 1)
            for side in sides:
                run = self.runs[side.name]
                run.wait_until_serving(work.service.health_path)
                if load.run(run.url, warm_up_requests, 1, 600).failed:
                    raise RunError(f"{side.name}: warm-up requests failed under callgrind")
                run.start_counting()
        except BaseException:
            self.stop()
            raise

    def rounds(self, count: int, requests: int) -> None:
        window = load.plan(self.work.service.mix, requests, self.work.seed)
        for _ in range(count):
            for side in round_order(self.sides, self.done):
                side.instructions_per_request.append(self.runs[side.name].instructions_per_request(window))
            self.done += 1

    def stop(self) -> None:
        for run in self.runs.values():
            run.stop()
        self.runs = {}
