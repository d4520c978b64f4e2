"""What a gate run leaves in its report folder and prints: the verdict and its
parts, the per-function table of the native windows' profiles, the
differential flame graph, and report.json with every window's numbers."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from . import pprof, report, stats
from .cpu_split import CpuSplit
from .pprof import Profile, read_profiles
from .rounds import Side
from .service import RunError

if TYPE_CHECKING:
    from .gate import GateOptions

MS = 1000
# The share of the baseline's CPU per request above which the report names
# the functions behind a rise in kernel-side CPU.
KERNEL_SIDE_NOTABLE = 0.01


def native_change(baseline: Side, candidate: Side) -> CpuSplit:
    """The change in each part of the native windows' mean CPU per request (seconds)."""
    return candidate.mean_split - baseline.mean_split


def parts_in_words(
    instructions: stats.Interval, outside: stats.Interval, split: stats.Split, baseline: Side, candidate: Side
) -> str:
    """The combined verdict's parts, the kernel side named as such."""
    user_share = split.instructions_part / split.total
    change = native_change(baseline, candidate)
    return (
        f"instructions {(instructions.value - 1) * 100:+.1f}% on the {user_share:.0%} of the CPU they stand for; "
        f"kernel-side {outside.value * MS:+.2f} ms per request ({outside.low * MS:+.2f} to {outside.high * MS:+.2f}) "
        f"on {split.outside_part * MS:.2f} ms: system CPU {change.system * MS:+.2f} ms, "
        f"child processes {change.children_user * MS:+.2f} ms"
    )


def kernel_side_callers(baseline: Side, candidate: Side, changes: list[report.FunctionChange]) -> str | None:
    """When the CPU outside instructions rose by more than 1% of the baseline's,
    the Python functions whose own CPU rose most: the profiler charges a
    thread's kernel time to the frame that made the system call."""
    change = native_change(baseline, candidate).outside_instructions * MS
    if change <= KERNEL_SIDE_NOTABLE * statistics.fmean(baseline.cpu_per_request) * MS:
        return None
    rising = [row for row in changes if not row.idle_wait and row.self_change_ms > 0][:3]
    names = ", ".join(f"{row.function} ({row.self_change_ms:+.2f} ms)" for row in rising) or "none in the profile"
    return (
        f"kernel-side CPU {change:+.2f} ms per request (system calls, page faults, child processes); "
        f"the functions whose own CPU rose most, which the profile charges with the kernel time of "
        f"the calls they made: {names}"
    )


def side_profile(side: Side) -> Profile:
    paths = sorted(side.profile_dir.glob("*.pprof"))
    if not paths:
        raise RunError(f"no profiles were written for the {side.name}")
    return read_profiles(paths)


def side_numbers(side: Side) -> dict[str, Any]:
    return {
        "commit": side.git_sha,
        "cpu_seconds_per_request": side.cpu_per_request,
        "cpu_split_per_request": [asdict(window) for window in side.native],
        "instructions_per_request": side.instructions_per_request,
    }


def write(
    options: GateOptions,
    sides: tuple[Side, Side],
    verdict: stats.Verdict,
    looks: list[int],
    wall_seconds: float,
    log: Any,
) -> None:
    baseline, candidate = sides
    baseline_profile, candidate_profile = side_profile(baseline), side_profile(candidate)
    # The table scales each side's profile shares by its CPU per request. The
    # candidate's is the baseline's times the verdict's ratio, not its own
    # native mean: native CPU time moves 5-15% between windows on a shared
    # machine, and that noise would land on every row.
    baseline_cpu = statistics.fmean(baseline.cpu_per_request)
    changes = report.function_changes(baseline_profile, candidate_profile, baseline_cpu, baseline_cpu * verdict.ratio)
    svg = report.write_flamegraph(
        options.report_dir / "cpu-diff.svg",
        candidate_profile.stacks.get(pprof.CPU, Counter()),
        title=f"CPU: candidate {candidate.git_sha[:12]} vs baseline {baseline.git_sha[:12]}",
        unit="CPU",
        baseline=baseline_profile.stacks.get(pprof.CPU),
    )
    table = report.format_table(changes)
    (options.report_dir / "functions.txt").write_text(table + "\n")
    kernel_side = native_change(baseline, candidate)
    report.write_json(
        options.report_dir / "report.json",
        {
            "decision": verdict.decision,
            "summary": verdict.summary(),
            "measure": options.measure,
            "rule": stats.rule(verdict.measure, looks, combined=options.measure == "instructions"),
            "ratio": verdict.ratio,
            "interval": [verdict.low, verdict.high],
            "threshold": options.threshold,
            "confidence_per_look": verdict.confidence,
            "looks": looks,
            "kernel_side_change_ms": {
                "system": kernel_side.system * MS,
                "children_user": kernel_side.children_user * MS,
            },
            "baseline": side_numbers(baseline),
            "candidate": side_numbers(candidate),
            "load": {
                "requests_per_round": options.requests,
                "rounds": verdict.pairs,
                "max_rounds": options.rounds,
                "native_rounds": len(baseline.native),
                "seed": options.seed,
                "warmup_seconds": options.warmup_seconds,
                "concurrency": options.concurrency,
                "mix": [asdict(request) for request in options.service.mix],
            },
            "functions": changes[:50],
            "wall_seconds": wall_seconds,
        },
    )
    log(table)
    callers = kernel_side_callers(baseline, candidate, changes)
    if callers:
        log(callers)
    log(f"differential flame graph: {svg}")
    log(verdict.summary())
