"""The soak's verdicts on each target, its CSV rows and its summary: pure
functions of what the run recorded (the CSV's rows, and the rest of the
record in its JSON)."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bench.soak_observe import Upload
from bench.soak_plan import TRUTH_CAP_MS
from bench.soak_stats import account_uploads, percentile, slope_per_hour, slope_verdict

HANDFUL = 5  # threads or fds: "flat" allows this much either way
RSS_SLOPE_GOAL_MIB_PER_HOUR = 1.0
RSS_RECOVERY_TOLERANCE = 0.05
P99_DRIFT_TOLERANCE = 0.10


@dataclass(frozen=True)
class Sample:
    """One 10 s window of the soak: a CSV row."""

    elapsed_s: float
    time_utc: str
    phase: str
    agent: str  # up / down
    profiles_asked: str
    profiles_in_force: str  # as GET /version said at the window's end
    rss_mib: float
    threads: int
    open_fds: int
    cpu_seconds: float
    cpu_ms_per_request: float
    ok: int
    http_503: int
    errors: int
    p50_ms: float
    p99_ms: float
    uploads_received: int
    upload_failures_logged: int


@dataclass(frozen=True)
class Verdict:
    target: str
    goal: str
    value: str
    verdict: str  # pass / fail / unresolved / info


def median_of(samples: Iterable[Sample], field_name: str) -> float:
    values = [float(getattr(sample, field_name)) for sample in samples]
    return statistics.median(values) if values else math.nan


def flat(first: float, last: float) -> str:
    if math.isnan(first) or math.isnan(last):
        return "unresolved (no samples)"
    return "pass" if abs(last - first) <= HANDFUL else "fail"


def within(ratio: float, tolerance: float) -> str:
    if math.isnan(ratio):
        return "unresolved (no samples)"
    return "pass" if abs(ratio - 1) <= tolerance else "fail"


def p99_drift(
    samples: Sequence[Sample], latencies: Sequence[Sequence[float]], warmup: float
) -> dict[str, tuple[float, float]]:
    """Per phase: p99 (ms) of the first and the second half of its windows,
    comparable ones only (the CPU profile alone, agent up, past the warm-up)."""
    by_phase: dict[str, list[Sequence[float]]] = {}
    for sample, window in zip(samples, latencies, strict=True):
        if sample.profiles_in_force == "cpu" and sample.agent == "up" and sample.elapsed_s > warmup:
            by_phase.setdefault(sample.phase, []).append(window)
    drift = {}
    for phase, windows in by_phase.items():
        half = len(windows) // 2
        first = [value for window in windows[:half] for value in window]
        last = [value for window in windows[half:] for value in window]
        drift[phase] = (percentile(first, 0.99), percentile(last, 0.99))
    return drift


def write_csv(samples: Sequence[Sample], path: Path) -> None:
    with path.open("w", newline="") as output:
        writer = csv.DictWriter(output, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        for sample in samples:
            writer.writerow(
                {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(sample).items()}
            )


# ---- verdicts ------------------------------------------------------------------


@dataclass
class RunRecord:
    """Everything a soak recorded; times are seconds since its start unless named epoch."""

    target: str
    python: str
    duration_s: int
    cycle_s: int
    warmup_s: int
    step_s: int
    upload_interval_s: int
    started_epoch: float
    samples: list[Sample]
    latencies: Sequence[Sequence[float]]
    uploads: list[Upload]
    agent_down: list[tuple[float, float]]
    profiling_off_epoch: list[tuple[float, float]]  # when the profiler was off (epoch seconds)
    memory_windows: list[tuple[float, float]]  # as asked through the control file
    # Truth on demand: (asked, the file's "until", the next step) per window.
    truth_windows: list[tuple[float, float, float]]
    errors: dict[str, int]
    upload_failures_logged: int
    failure_warnings: int
    traces_dropped: int
    log_problems: dict[str, int]
    exit_status: str
    exit_clean: bool
    exit_seconds: float
    final_upload_arrived: bool
    final_upload_logged: str


def _cpu_samples(record: RunRecord, start: float, end: float) -> list[Sample]:
    return [s for s in record.samples if start < s.elapsed_s <= end and s.profiles_in_force == "cpu"]


def rss_verdicts(record: RunRecord) -> list[Verdict]:
    steady = _cpu_samples(record, record.warmup_s, record.duration_s)
    slope = slope_per_hour([s.elapsed_s for s in steady], [s.rss_mib for s in steady])
    everything = [s for s in record.samples if s.elapsed_s > record.warmup_s]
    overall = slope_per_hour([s.elapsed_s for s in everything], [s.rss_mib for s in everything])
    verdicts = [
        Verdict(
            f"RSS slope after the first {record.warmup_s / 60:g} min, CPU profile alone",
            f"< {RSS_SLOPE_GOAL_MIB_PER_HOUR:g} MiB/h",
            f"{slope.value:+.2f} MiB/h [95%: {slope.low:+.2f}, {slope.high:+.2f}], {slope.samples} samples",
            slope_verdict(slope, RSS_SLOPE_GOAL_MIB_PER_HOUR),
        ),
        Verdict(
            "RSS slope after the warm-up, every profile set",
            "(for reference)",
            f"{overall.value:+.2f} MiB/h [95%: {overall.low:+.2f}, {overall.high:+.2f}], {overall.samples} samples",
            "info",
        ),
    ]
    for start, end in record.memory_windows:
        # The whole cycle before and after, past each one's first (switching) window.
        before = median_of(_cpu_samples(record, start - record.cycle_s + record.step_s, start), "rss_mib")
        after = median_of(_cpu_samples(record, end + record.step_s, end + record.cycle_s), "rss_mib")
        peak = max((s.rss_mib for s in record.samples if start < s.elapsed_s <= end), default=math.nan)
        verdicts.append(
            Verdict(
                f"RSS after the memory-profile window {start / 60:g}-{end / 60:g} min",
                f"within {RSS_RECOVERY_TOLERANCE:.0%} of before",
                f"{before:.1f} MiB before, {peak:.1f} peak, {after:.1f} after ({after / before - 1:+.1%})",
                within(after / before, RSS_RECOVERY_TOLERANCE),
            )
        )
    return verdicts


def flatness_verdicts(record: RunRecord) -> list[Verdict]:
    first = _cpu_samples(record, 0, record.warmup_s)
    last = _cpu_samples(record, record.duration_s - record.warmup_s, record.duration_s)
    verdicts = []
    for key, name in (("threads", "threads"), ("open_fds", "open fds")):
        before, after = median_of(first, key), median_of(last, key)
        verdicts.append(
            Verdict(
                f"{name}: first {record.warmup_s / 60:g} min vs the last, CPU profile alone",
                f"flat (± {HANDFUL})",
                f"{before:.0f} -> {after:.0f} (medians of {len(first)} and {len(last)} samples)",
                flat(before, after),
            )
        )
    return verdicts


def truth_verdict(samples: Sequence[Sample], step_s: float, window: tuple[float, float, float]) -> Verdict:
    """The cap holds from the file's next poll to its "until", then lapses by
    itself while the file still asks for it, leaving the CPU profile alone.
    A sample reads GET /version just after its window ends, and the service
    polls the file every 5 s: the windows a switch or the lapse may fall in
    are left out."""
    start, lapse, end = window
    during = [s.profiles_in_force for s in samples if start + step_s < s.elapsed_s <= lapse - step_s]
    after = [s.profiles_in_force for s in samples if lapse + step_s < s.elapsed_s <= end]
    capped = sum(state == f"cpu cap {TRUTH_CAP_MS} ms" for state in during)
    lapsed = sum(state == "cpu" for state in after)
    return Verdict(
        f"truth on demand {start / 60:g}-{lapse / 60:g} min (sampling cap until a time, then by itself off)",
        "in force until 'until', then lapsed",
        f"capped in {capped} of {len(during)} samples before 'until'; lapsed in {lapsed} of {len(after)} "
        "after it, the file unchanged",
        "pass" if during and after and capped == len(during) and lapsed == len(after) else "fail",
    )


def truth_verdicts(record: RunRecord) -> list[Verdict]:
    if not record.truth_windows:
        return [
            Verdict("truth on demand", "in force until 'until', then lapsed", "no window in a run this short", "info")
        ]
    return [truth_verdict(record.samples, record.step_s, window) for window in record.truth_windows]


def upload_verdicts(record: RunRecord) -> list[Verdict]:
    epoch = record.started_epoch
    margin = 2.0  # an upload in flight when the agent stopped or started
    check = account_uploads(
        record.uploads,
        record.upload_interval_s,
        [(epoch + start - margin, epoch + end + margin) for start, end in record.agent_down],
        record.profiling_off_epoch,
    )
    gaps = ", ".join(f"{a - epoch:.0f}-{b - epoch:.0f} s" for a, b in check.unexplained_gaps) or "none"
    return [
        Verdict(
            "profile uploads while the agent was up",
            "exactly one per upload interval",
            f"{check.received} received ({check.scheduled} full intervals, {check.flushes} flushes at switches "
            f"and the stop) covering {check.intervals_covered:.1f} intervals; unexplained gaps: {gaps}; "
            f"overlapping: {check.duplicates}; spanning two intervals: {check.oversized}",
            "pass" if check.exact and check.received else "fail",
        ),
        Verdict(
            "profiles after profiling was switched back on",
            "cover the time profiled only",
            f"{len(check.spanning_off)} upload(s) whose window also spans the time profiling was off: "
            + (", ".join(f"{seconds:.0f} s" for seconds in check.spanning_off) or "none"),
            "fail" if check.spanning_off else "pass",
        ),
        Verdict(
            "while the agent was down",
            "(what happened)",
            f"{check.lost_while_down} intervals' uploads missing; the service counted "
            f"{record.upload_failures_logged} failed uploads ({record.failure_warnings} warning lines), "
            f"and ddtrace dropped {record.traces_dropped} traces",
            "info",
        ),
    ]


def request_verdicts(record: RunRecord) -> list[Verdict]:
    ok = sum(s.ok for s in record.samples)
    unavailable = sum(s.http_503 for s in record.samples)
    errors = ", ".join(f"{count} {kind}" for kind, count in sorted(record.errors.items())) or "none"
    verdicts = [
        Verdict(
            "request errors other than 503",
            "none",
            f"{ok} ok, {unavailable} 503, errors: {errors}",
            "pass" if not record.errors else "fail",
        )
    ]
    drift = p99_drift(record.samples, record.latencies, record.warmup_s)
    for phase in ("light", "closed", "burst"):
        first, last = drift.get(phase, (math.nan, math.nan))
        verdicts.append(
            Verdict(
                f"p99 of {phase} windows, first half vs second (CPU profile alone, agent up)",
                f"within {P99_DRIFT_TOLERANCE:.0%}",
                f"{first:.1f} ms -> {last:.1f} ms ({last / first - 1:+.1%})",
                within(last / first, P99_DRIFT_TOLERANCE),
            )
        )
    return verdicts


def stop_verdicts(record: RunRecord) -> list[Verdict]:
    clean = record.exit_clean and record.final_upload_arrived and record.final_upload_logged == "uploaded"
    return [
        Verdict(
            "SIGTERM at the end",
            "clean exit, final profile uploaded",
            f"{record.exit_status} after {record.exit_seconds:.1f} s; final upload "
            f"{'received' if record.final_upload_arrived else 'NOT received'} by the agent, "
            f"logged as {record.final_upload_logged!r}",
            "pass" if clean else "fail",
        )
    ]


def evaluate(record: RunRecord) -> list[Verdict]:
    return [
        *rss_verdicts(record),
        *flatness_verdicts(record),
        *truth_verdicts(record),
        *request_verdicts(record),
        *upload_verdicts(record),
        *stop_verdicts(record),
    ]


def summary_text(record: RunRecord, verdicts: Sequence[Verdict], header: Sequence[str]) -> str:
    lines = [*header, "", "| target | goal | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {v.target} | {v.goal} | {v.value} | {v.verdict} |" for v in verdicts]
    if record.log_problems:
        lines += ["", "Warning and error lines the service logged (count, level, logger: message):"]
        ranked = sorted(record.log_problems.items(), key=lambda item: -item[1])
        lines += [f"- {count} x {line}" for line, count in ranked[:15]]
    return "\n".join(lines) + "\n"
