"""The CPU regression gate: the working tree (candidate) against a baseline
ref (default: the merge-base with main), both built from the working tree's
Dockerfile, run in alternating rounds under the same seeded load.

The decision comes from instructions per request counted under callgrind
(``--measure instructions``, the default; see instructions.py) or from the
containers' CPU time (``--measure cpu``). Either way the per-function table
and the flame graph come from ddtrace's CPU profiles of native windows."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import load, report, stats
from .config import ServiceConfig
from .images import BuiltImages
from .instructions import CallgrindRun, add_valgrind
from .pprof import Profile, read_profiles
from .runners import profiled_container
from .service import RunError, ServiceContainer, docker

Measure = Literal["instructions", "cpu"]
# More than any warm-up can send: the warm-up ends at its deadline.
WARMUP_PLAN_REQUESTS = 100_000
# Uninstrumented requests before counting starts: the interpreter's
# specialisation and the allocator's pools settle within a few requests.
INSTRUCTION_WARMUP_REQUESTS = 20
# Counts repeat to a fraction of a percent: a look every 3 rounds decides.
INSTRUCTION_LOOK_EVERY = 3
# Two processes of the same code settle at levels up to 0.6% apart (measured in
# the template repository, bench/gate_instructions.py), which windows of the
# same pair of processes cannot show: the interval is widened by this much.
INSTRUCTION_SPREAD_BETWEEN_PROCESSES = 0.0075
# Requests per CPU window when the windows only feed the function table.
PROFILE_WINDOW_REQUESTS = 100


@dataclass(frozen=True)
class GateOptions:
    project: Path
    baseline_ref: str | None
    measure: Measure
    rounds: int
    requests: int
    profile_rounds: int
    warmup_seconds: float
    concurrency: int
    threshold: float
    seed: int
    report_dir: Path
    base_image: str | None
    service: ServiceConfig
    # Leave the images it built (both sides, their Valgrind copies, build layers) for the next run.
    keep_images: bool


@dataclass
class Side:
    name: str
    image: str
    git_sha: str
    profile_dir: Path
    cpu_per_request: list[float] = field(default_factory=list)
    instructions_per_request: list[float] = field(default_factory=list)

    @property
    def counted_image(self) -> str:
        """The side's image plus Valgrind, for the instruction counts."""
        return f"{self.image}-callgrind"


def git(project: Path, *arguments: str) -> str:
    result = subprocess.run(["git", "-C", str(project), *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RunError(f"git {' '.join(arguments)}: {result.stderr.strip()}")
    return result.stdout.strip()


def resolve_baseline(project: Path, ref: str | None) -> str:
    """The commit to compare against: ``ref``, else where HEAD left main."""
    if ref is not None:
        # "^{commit}" peels a tag to its commit.
        return git(project, "rev-parse", "--verify", ref + "^{commit}")
    for main in ("main", "origin/main"):
        try:
            return git(project, "merge-base", "HEAD", main)
        except RunError:
            continue
    raise RunError("no baseline: pass --baseline REF (no main or origin/main to take the merge-base with)")


def export_commit(project: Path, commit: str, destination: Path) -> None:
    """The commit's files, without touching the repository (no worktree, no checkout)."""
    archive = destination.with_suffix(".tar")
    git(project, "archive", "--format=tar", f"--output={archive}", commit)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    archive.unlink()


def build(options: GateOptions, context: Path, tag: str, git_sha: str, version: str) -> None:
    arguments = ["build", "--network", "host", "-f", str(options.project / "Dockerfile"), "-t", tag]
    arguments += [f"--build-arg=GIT_SHA={git_sha}", f"--build-arg=VERSION={version}"]
    if options.base_image:
        arguments.append(f"--build-arg=BASE_IMAGE={options.base_image}")
    docker(*arguments, str(context), timeout=1200)


def start_side(options: GateOptions, side: Side) -> ServiceContainer:
    """One container per side for the whole run, so every measured window is
    taken from a warm process (a fresh container per round put the first
    windows in the interpreter's and the profiler's start-up, once +40%)."""
    environment = {
        **options.service.environment,
        # CPU profiles only: the allocation and lock collectors add cost whose
        # variance would hide small CPU changes, and the gate does not read them.
        "DD_PROFILING_MEMORY_ENABLED": "false",
        "DD_PROFILING_LOCK_ENABLED": "false",
    }
    container = profiled_container(side.image, side.profile_dir, environment)
    try:
        container.wait_until_serving(options.service.health_path)
    except RunError as error:
        container.stop()
        raise RunError(f"{side.name}: {error}") from None
    return container


def warm_up(options: GateOptions, sides: list[tuple[Side, ServiceContainer]]) -> None:
    """Load every side at once for ``warmup_seconds``: past ddtrace's slower
    first ~15 s of sampling, and long enough for caches and allocator pools to
    settle. Nothing of it is measured, so the sides may share the machine."""
    requests = load.plan(options.service.mix, WARMUP_PLAN_REQUESTS, options.seed + 1)
    with ThreadPoolExecutor(max_workers=len(sides)) as pool:
        futures = [
            pool.submit(load.run, container.url, requests, options.concurrency, options.warmup_seconds)
            for _, container in sides
        ]
    for (side, container), future in zip(sides, futures, strict=True):
        result = future.result()
        if result.failed:
            failures = f"{side.name} warm-up: {result.failed} of {result.sent} requests failed"
            raise RunError(f"{failures}\n{container.logs()[-3000:]}")


def measure_window(options: GateOptions, side: Side, container: ServiceContainer, index: int, requests: int) -> None:
    """One measured window: the seeded request mix, CPU from the container's accounting."""
    before = container.container_cpu_seconds()
    result = load.run(container.url, load.plan(options.service.mix, requests, options.seed), options.concurrency, 120)
    after = container.container_cpu_seconds()
    if result.failed or result.sent != requests:
        failures = f"{side.name} round {index + 1}: {result.failed} of {result.sent} requests failed"
        raise RunError(f"{failures}\n{container.logs()[-3000:]}")
    side.cpu_per_request.append((after - before) / requests)


def alternating(sides: tuple[Side, Side], rounds: int) -> list[tuple[int, tuple[Side, Side]]]:
    """Each round's order, flipped every pair (A B, B A, A B, …): drift over the
    run hits both sides alike, and so does any advantage of going first."""
    baseline, candidate = sides
    return [(index, (baseline, candidate) if index % 2 == 0 else (candidate, baseline)) for index in range(rounds)]


def native_rounds(
    options: GateOptions,
    sides: tuple[Side, Side],
    rounds: int,
    requests: int,
    after_round: Callable[[int], bool],
    log: Any,
) -> None:
    """Both sides' containers with the CPU profiler on (runners.py's settings),
    warmed up, then alternating CPU windows until ``after_round(rounds done)``
    says stop.
    Stopping the containers flushes each side's profile into its folder."""
    containers: dict[str, ServiceContainer] = {}
    try:
        for side in sides:
            containers[side.name] = start_side(options, side)
        log(f"warming both up for {options.warmup_seconds:g} s")
        warm_up(options, [(side, containers[side.name]) for side in sides])
        for index, order in alternating(sides, rounds):
            for side in order:
                measure_window(options, side, containers[side.name], index, requests)
            if after_round(index + 1):
                break
    finally:
        # SIGTERM, drain, final flush: each side's profile is written now.
        for container in containers.values():
            container.stop()


def look_points(options: GateOptions) -> list[int]:
    """The rounds after which the gate decides, for its measure."""
    every = INSTRUCTION_LOOK_EVERY if options.measure == "instructions" else stats.LOOK_EVERY
    return stats.look_points(options.rounds, every)


def verdict_after(
    options: GateOptions, rounds_done: int, baseline: list[float], candidate: list[float], log: Any
) -> stats.Verdict | None:
    """The verdict if ``rounds_done`` is a look, else None: the measure's own
    interval (instructions: widened by the spread between processes)."""
    looks = look_points(options)
    if rounds_done not in looks:
        return None
    instructions = options.measure == "instructions"
    verdict = stats.decide(
        baseline,
        candidate,
        options.threshold,
        stats.confidence_per_look(len(looks)),
        measure="instructions" if instructions else "CPU",
        spread_between_processes=INSTRUCTION_SPREAD_BETWEEN_PROCESSES if instructions else 0.0,
    )
    log(f"after {rounds_done} rounds: {verdict.summary()}")
    return verdict


def decide_by_cpu(options: GateOptions, sides: tuple[Side, Side], log: Any) -> stats.Verdict:
    baseline, candidate = sides
    verdicts: list[stats.Verdict] = []

    def look(rounds_done: int) -> bool:
        verdict = verdict_after(options, rounds_done, baseline.cpu_per_request, candidate.cpu_per_request, log)
        if verdict is None:
            return False
        verdicts.append(verdict)
        return verdict.decision != "inconclusive"

    native_rounds(options, sides, options.rounds, options.requests, look, log)
    if not verdicts:  # unreachable: the last round is always a look
        raise RunError("no decision was taken")
    return verdicts[-1]


def decide_by_instructions(options: GateOptions, sides: tuple[Side, Side], log: Any) -> stats.Verdict:
    baseline, candidate = sides
    runs: dict[str, CallgrindRun] = {}
    verdict: stats.Verdict | None = None
    try:
        for side in sides:
            add_valgrind(side.image, side.counted_image)
            runs[side.name] = CallgrindRun(
                side.counted_image, options.report_dir / "callgrind" / side.name, options.service.environment
            )
        warm_up_requests = load.plan(options.service.mix, INSTRUCTION_WARMUP_REQUESTS, options.seed + 1)
        for side in sides:
            run = runs[side.name]
            run.wait_until_serving(options.service.health_path)
            if load.run(run.url, warm_up_requests, 1, 600).failed:
                raise RunError(f"{side.name}: warm-up requests failed under callgrind")
            run.start_counting()
        log(f"counting instructions: windows of {options.requests} requests, one at a time")
        window = load.plan(options.service.mix, options.requests, options.seed)
        for index, order in alternating(sides, options.rounds):
            for side in order:
                side.instructions_per_request.append(runs[side.name].instructions_per_request(window))
            looked = verdict_after(
                options, index + 1, baseline.instructions_per_request, candidate.instructions_per_request, log
            )
            if looked is not None:
                verdict = looked
                if verdict.decision != "inconclusive":
                    break
    finally:
        for run in runs.values():
            run.stop()
    if verdict is None:  # unreachable: the last round is always a look
        raise RunError("no decision was taken")
    return verdict


def side_profile(side: Side) -> Profile:
    paths = sorted(side.profile_dir.glob("*.pprof"))
    if not paths:
        raise RunError(f"no profiles were written for the {side.name}")
    return read_profiles(paths)


def run_gate(options: GateOptions, log: Any = print) -> stats.Verdict:
    started = time.monotonic()
    shutil.rmtree(options.report_dir, ignore_errors=True)
    options.report_dir.mkdir(parents=True)
    baseline_sha = resolve_baseline(options.project, options.baseline_ref)
    candidate_sha = git(options.project, "rev-parse", "HEAD")
    profiles = options.report_dir / "profiles"
    # Tags of this run alone: two gates on one Docker engine (two checkouts, CI jobs
    # sharing a machine) never build over, measure or remove each other's images.
    run = uuid.uuid4().hex[:8]
    baseline = Side("baseline", f"{options.service.image}:perf-baseline-{run}", baseline_sha, profiles / "baseline")
    candidate = Side(
        "candidate", f"{options.service.image}:perf-candidate-{run}", candidate_sha, profiles / "candidate"
    )

    sides = (baseline, candidate)
    images = BuiltImages(keep=options.keep_images)
    for side in sides:
        images.add(side.image)
    if options.measure == "instructions":
        for side in sides:
            images.add(side.counted_image)
    try:
        with tempfile.TemporaryDirectory(prefix="perf-gate-") as scratch:
            baseline_context = Path(scratch) / "baseline"
            export_commit(options.project, baseline_sha, baseline_context)
            log(f"building baseline {baseline_sha[:12]} and candidate (working tree at {candidate_sha[:12]})")
            build(options, baseline_context, baseline.image, baseline_sha, "perf-baseline")
        build(options, options.project, candidate.image, candidate_sha, "perf-candidate")

        if options.measure == "instructions":
            verdict = decide_by_instructions(options, sides, log)
            log(f"profiling both for the function table: {options.profile_rounds} rounds of CPU windows")
            native_rounds(options, sides, options.profile_rounds, PROFILE_WINDOW_REQUESTS, lambda _: False, log)
        else:
            verdict = decide_by_cpu(options, sides, log)
    finally:
        # Pass, fail or error: what the run built goes (unless kept) before the report is read.
        images.finish(log)
    looks = look_points(options)

    baseline_profile, candidate_profile = side_profile(baseline), side_profile(candidate)
    baseline_cpu = sum(baseline.cpu_per_request) / len(baseline.cpu_per_request)
    candidate_cpu = sum(candidate.cpu_per_request) / len(candidate.cpu_per_request)
    changes = report.function_changes(baseline_profile, candidate_profile, baseline_cpu, candidate_cpu)
    svg = report.write_flamegraph(
        options.report_dir / "cpu-diff.svg",
        candidate_profile.stacks.get(report.CPU, Counter()),
        title=f"CPU: candidate {candidate_sha[:12]} vs baseline {baseline_sha[:12]}",
        unit="CPU",
        baseline=baseline_profile.stacks.get(report.CPU),
    )
    table = report.format_table(changes)
    (options.report_dir / "functions.txt").write_text(table + "\n")
    report.write_json(
        options.report_dir / "report.json",
        {
            "decision": verdict.decision,
            "summary": verdict.summary(),
            "measure": options.measure,
            "rule": stats.rule(verdict.measure, looks),
            "ratio": verdict.ratio,
            "interval": [verdict.low, verdict.high],
            "threshold": options.threshold,
            "confidence_per_look": verdict.confidence,
            "looks": looks,
            "baseline": {
                "commit": baseline_sha,
                "cpu_seconds_per_request": baseline.cpu_per_request,
                "instructions_per_request": baseline.instructions_per_request,
            },
            "candidate": {
                "commit": candidate_sha,
                "cpu_seconds_per_request": candidate.cpu_per_request,
                "instructions_per_request": candidate.instructions_per_request,
            },
            "load": {
                "requests_per_round": options.requests,
                "rounds": verdict.pairs,
                "max_rounds": options.rounds,
                "profile_rounds": options.profile_rounds if options.measure == "instructions" else None,
                "seed": options.seed,
                "warmup_seconds": options.warmup_seconds,
                "concurrency": options.concurrency,
                "mix": [asdict(request) for request in options.service.mix],
            },
            "functions": changes[:50],
            "wall_seconds": time.monotonic() - started,
        },
    )
    log(table)
    log(f"differential flame graph: {svg}")
    log(verdict.summary())
    return verdict
