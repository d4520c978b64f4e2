"""The CPU regression gate: the working tree (candidate) against a baseline
ref (default: the merge-base with main), both built from the working tree's
Dockerfile, run in alternating rounds under the same seeded load."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import load, report, stats
from .pprof import Profile, read_profiles
from .runners import ContainerRun, RunError, docker


@dataclass(frozen=True)
class GateOptions:
    project: Path
    baseline_ref: str | None
    rounds: int
    requests: int
    warmup: int
    concurrency: int
    threshold: float
    seed: int
    report_dir: Path
    base_image: str | None
    image_name: str


@dataclass
class Side:
    name: str
    image: str
    git_sha: str
    cpu_per_request: list[float] = field(default_factory=list)
    profile_dirs: list[Path] = field(default_factory=list)


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


def run_round(options: GateOptions, side: Side, index: int) -> None:
    profile_dir = options.report_dir / "profiles" / f"{side.name}-{index:02d}"
    environment = {
        "WORKLOAD_MAX_CONCURRENCY": str(options.concurrency),
        # CPU profiles only: the allocation and lock collectors add cost whose
        # variance would hide small CPU changes, and the gate does not read them.
        "DD_PROFILING_MEMORY_ENABLED": "false",
        "DD_PROFILING_LOCK_ENABLED": "false",
    }
    container = ContainerRun(side.image, profile_dir, environment)
    try:
        load.wait_until_healthy(container.url, timeout=60)
        load.run(container.url, load.plan(options.warmup, options.seed + 1), options.concurrency, deadline_seconds=60)
        before = container.cpu_seconds()
        result = load.run(container.url, load.plan(options.requests, options.seed), options.concurrency, 120)
        after = container.cpu_seconds()
        if result.failed or result.sent != options.requests:
            failures = f"{side.name} round {index}: {result.failed} of {result.sent} requests failed"
            raise RunError(f"{failures}\n{container.logs()[-3000:]}")
    finally:
        container.stop()
    side.cpu_per_request.append((after - before) / options.requests)
    side.profile_dirs.append(profile_dir)


def side_profile(side: Side) -> Profile:
    paths = sorted(path for directory in side.profile_dirs for path in directory.glob("*.pprof"))
    if not paths:
        raise RunError(f"no profiles were written for the {side.name}")
    return read_profiles(paths)


def run_gate(options: GateOptions, log: Any = print) -> stats.Verdict:
    started = time.monotonic()
    shutil.rmtree(options.report_dir, ignore_errors=True)
    options.report_dir.mkdir(parents=True)
    baseline_sha = resolve_baseline(options.project, options.baseline_ref)
    candidate_sha = git(options.project, "rev-parse", "HEAD")
    baseline = Side("baseline", f"{options.image_name}:perf-baseline", baseline_sha)
    candidate = Side("candidate", f"{options.image_name}:perf-candidate", candidate_sha)

    with tempfile.TemporaryDirectory(prefix="perf-gate-") as scratch:
        baseline_context = Path(scratch) / "baseline"
        export_commit(options.project, baseline_sha, baseline_context)
        log(f"building baseline {baseline_sha[:12]} and candidate (working tree at {candidate_sha[:12]})")
        build(options, baseline_context, baseline.image, baseline_sha, "perf-baseline")
    build(options, options.project, candidate.image, candidate_sha, "perf-candidate")

    for index in range(options.rounds):
        # Alternating rounds, the order flipped every pair (A B, B A, A B, …):
        # drift over the run hits both sides alike, and so does any advantage
        # of running first or second.
        order = (baseline, candidate) if index % 2 == 0 else (candidate, baseline)
        for side in order:
            run_round(options, side, index)
        log(
            f"round {index + 1}/{options.rounds}: CPU per request baseline "
            f"{baseline.cpu_per_request[-1] * 1000:.3f} ms, candidate {candidate.cpu_per_request[-1] * 1000:.3f} ms"
        )

    verdict = stats.decide(baseline.cpu_per_request, candidate.cpu_per_request, options.threshold)
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
            "rule": stats.RULE,
            "ratio": verdict.ratio,
            "interval": [verdict.low, verdict.high],
            "threshold": options.threshold,
            "baseline": {"commit": baseline_sha, "cpu_seconds_per_request": baseline.cpu_per_request},
            "candidate": {"commit": candidate_sha, "cpu_seconds_per_request": candidate.cpu_per_request},
            "load": {
                "requests_per_round": options.requests,
                "rounds": options.rounds,
                "seed": options.seed,
                "concurrency": options.concurrency,
                "mix": load.MIX,
            },
            "functions": changes[:50],
            "wall_seconds": time.monotonic() - started,
        },
    )
    log(table)
    log(f"differential flame graph: {svg}")
    log(verdict.summary())
    return verdict
