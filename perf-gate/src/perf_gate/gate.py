"""The CPU regression gate: the working tree (candidate) against a baseline
ref (default: the merge-base with main), both built from the working tree's
Dockerfile, run in alternating rounds under the same seeded load.

A run builds both images (builds.py), measures them (rounds.py), decides, and
writes its report. The default measure (``--measure instructions``) counts all
the CPU a request costs in two parts: the service's user-space instructions,
counted under callgrind, and the CPU instructions cannot see (kernel time,
child processes), read from native windows; see ``decide_combined``. The CPU
measure (``--measure cpu``) decides from the native windows' CPU time alone.
Either way the per-function table and the flame graph come from ddtrace's CPU
profiles of the native windows."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from . import gate_report, stats
from .builds import build, export_commit, git, resolve_baseline
from .config import ServiceConfig
from .images import BuiltImages
from .instructions import add_valgrind
from .rounds import CountedSides, Load, NativeSides, Side
from .runners import getrandom_as_system_call
from .service import RunError

Measure = Literal["instructions", "cpu"]
# Counts repeat to a fraction of a percent: a look every 3 rounds decides.
INSTRUCTION_LOOK_EVERY = 3
# Two processes of the same code settle at levels up to 0.6% apart (measured in
# the template repository, bench/gate_instructions.py), which windows of the
# same pair of processes cannot show: the interval is widened by this much.
INSTRUCTION_SPREAD_BETWEEN_PROCESSES = 0.0075
# Requests per native window when the windows feed the kernel-side part and
# the function table (the CPU measure sets its own with --requests).
NATIVE_WINDOW_REQUESTS = 200


@dataclass(frozen=True)
class GateOptions:
    project: Path
    baseline_ref: str | None
    measure: Measure
    rounds: int
    requests: int
    native_rounds: int
    warmup_seconds: float
    concurrency: int
    threshold: float
    seed: int
    report_dir: Path
    base_image: str | None
    service: ServiceConfig
    # Leave the images it built (both sides, their Valgrind copies, build layers) for the next run.
    keep_images: bool

    @property
    def load(self) -> Load:
        return Load(self.service, self.seed, self.concurrency, self.warmup_seconds)


def look_points(options: GateOptions) -> list[int]:
    """The rounds after which the gate decides, for its measure."""
    every = INSTRUCTION_LOOK_EVERY if options.measure == "instructions" else stats.LOOK_EVERY
    return stats.look_points(options.rounds, every)


def decide_combined(options: GateOptions, baseline: Side, candidate: Side, confidence: float) -> stats.Verdict:
    """All the CPU a request costs, from the instruction counts and the native
    windows' split (stats.decide_all_cpu)."""
    instructions = stats.ratio_interval(
        baseline.instructions_per_request, candidate.instructions_per_request, confidence
    )
    outside = stats.difference_interval(
        [window.outside_instructions for window in baseline.native],
        [window.outside_instructions for window in candidate.native],
        confidence,
    )
    split = stats.Split(
        statistics.fmean(window.service_user for window in baseline.native),
        statistics.fmean(window.outside_instructions for window in baseline.native),
    )
    verdict = stats.decide_all_cpu(
        instructions,
        INSTRUCTION_SPREAD_BETWEEN_PROCESSES,
        outside,
        split,
        len(baseline.instructions_per_request),
        options.threshold,
        confidence,
    )
    return replace(verdict, detail=gate_report.parts_in_words(instructions, outside, split, baseline, candidate))


def measure_by_instructions(options: GateOptions, sides: tuple[Side, Side], scratch: Path, log: Any) -> stats.Verdict:
    """Native windows (the part outside instructions, the function table) and
    counted rounds, deciding at each look over both parts. Each look adds its
    share of native windows first: the kernel side's tick-sampled CPU needs
    many windows, and a run that decides at the first look needs only its share."""
    looks = look_points(options)
    confidence = stats.confidence_per_look(len(looks))
    native_per_look = max(stats.MIN_PAIRS, options.native_rounds // len(looks))
    for side in sides:
        add_valgrind(side.image, side.counted_image)
    native = NativeSides(options.load, sides, getrandom_as_system_call(scratch), log)
    counted: CountedSides | None = None
    try:
        counted = CountedSides(options.load, sides, options.report_dir / "callgrind", log)
        log(
            f"per look: {native_per_look} native windows of {NATIVE_WINDOW_REQUESTS} requests and "
            f"counted windows of {options.requests} requests one at a time, both sides alternating"
        )
        for rounds_done in looks:
            native.rounds(native_per_look, NATIVE_WINDOW_REQUESTS)
            log(f"{native.done} native windows per side; counting instructions")
            counted.rounds(rounds_done - counted.done, options.requests)
            verdict = decide_combined(options, *sides, confidence)
            log(f"after {rounds_done} counted rounds and {native.done} native: {verdict.summary()}")
            if verdict.decision != "inconclusive":
                break
    finally:
        if counted is not None:
            counted.stop()
        native.stop()
    return verdict


def measure_by_cpu(options: GateOptions, sides: tuple[Side, Side], log: Any) -> stats.Verdict:
    baseline, candidate = sides
    looks = look_points(options)
    verdicts: list[stats.Verdict] = []

    def look(rounds_done: int) -> bool:
        if rounds_done not in looks:
            return False
        verdict = stats.decide(
            baseline.cpu_per_request,
            candidate.cpu_per_request,
            options.threshold,
            stats.confidence_per_look(len(looks)),
        )
        log(f"after {rounds_done} rounds: {verdict.summary()}")
        verdicts.append(verdict)
        return verdict.decision != "inconclusive"

    native = NativeSides(options.load, sides, [], log)
    try:
        native.rounds(options.rounds, options.requests, look)
    finally:
        native.stop()
    if not verdicts:  # unreachable: the last round is always a look
        raise RunError("no decision was taken")
    return verdicts[-1]


def build_sides(options: GateOptions, sides: tuple[Side, Side], scratch: Path, log: Any) -> None:
    baseline, candidate = sides
    baseline_context = scratch / "baseline"
    export_commit(options.project, baseline.git_sha, baseline_context)
    log(f"building baseline {baseline.git_sha[:12]} and candidate (working tree at {candidate.git_sha[:12]})")
    build(options.project, baseline_context, baseline.image, baseline.git_sha, "perf-baseline", options.base_image)
    shutil.rmtree(baseline_context)
    build(options.project, options.project, candidate.image, candidate.git_sha, "perf-candidate", options.base_image)


def run_gate(options: GateOptions, log: Any = print) -> stats.Verdict:
    started = time.monotonic()

    def progress(message: str) -> None:
        log(f"[{time.monotonic() - started:4.0f} s] {message}")

    shutil.rmtree(options.report_dir, ignore_errors=True)
    options.report_dir.mkdir(parents=True)
    profiles = options.report_dir / "profiles"
    # Tags of this run alone: two gates on one Docker engine (two checkouts, CI jobs
    # sharing a machine) never build over, measure or remove each other's images.
    run = uuid.uuid4().hex[:8]
    tag = f"{options.service.image}:perf"
    sides = (
        Side(
            "baseline",
            f"{tag}-baseline-{run}",
            resolve_baseline(options.project, options.baseline_ref),
            profiles / "baseline",
        ),
        Side("candidate", f"{tag}-candidate-{run}", git(options.project, "rev-parse", "HEAD"), profiles / "candidate"),
    )
    images = BuiltImages(keep=options.keep_images)
    for side in sides:
        images.add(side.image)
        if options.measure == "instructions":
            images.add(side.counted_image)
    try:
        with tempfile.TemporaryDirectory(prefix="perf-gate-") as scratch:
            build_sides(options, sides, Path(scratch), progress)
            if options.measure == "instructions":
                verdict = measure_by_instructions(options, sides, Path(scratch), progress)
            else:
                verdict = measure_by_cpu(options, sides, progress)
    finally:
        # Pass, fail or error: what the run built goes (unless kept) before the report is read.
        images.finish(progress)
    gate_report.write(options, sides, verdict, look_points(options), time.monotonic() - started, log)
    return verdict
