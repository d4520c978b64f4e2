"""The statistics behind the soak's verdicts: percentiles, a slope with an
interval that respects autocorrelated samples, and whether profile uploads
tile the run one per interval. Pure functions, tested on synthetic data in
tests/test_bench.py."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from bench.soak_observe import Upload

# Upload windows whose ends and starts lie this close are contiguous (ddtrace
# starts the next window where the last ended, to the microsecond).
CONTIGUOUS_SECONDS = 1.0
# A window at least this share of the interval is a scheduled one; shorter
# ones are flushes (a profile-set switch, the final stop).
SCHEDULED_SHARE = 0.8
OVERSIZED_SHARE = 1.2  # a window this long spans two intervals: one upload missing


@dataclass(frozen=True)
class Estimate:
    """A slope with a 95% interval (NaN bounds: too few samples)."""

    value: float
    low: float
    high: float
    samples: int


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _t_quantile_975(degrees: float) -> float:
    """Student's t 97.5% quantile (Cornish-Fisher expansion: 4% low at 3 degrees, within 1% from 5 up)."""
    z = 1.959964
    return z + (z**3 + z) / (4 * degrees) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * degrees**2)


def slope_per_hour(times_s: Sequence[float], values: Sequence[float]) -> Estimate:
    """Least-squares slope of ``values`` over time, per hour, with a 95% interval.

    Samples 10 s apart are not independent (RSS wanders slowly), which would
    make the plain interval too narrow: the residuals' lag-1 autocorrelation r
    shrinks the sample count to n(1-r)/(1+r) before the interval is taken.
    """
    count = len(times_s)
    if count < 4:
        return Estimate(math.nan, math.nan, math.nan, count)
    mean_t, mean_v = statistics.fmean(times_s), statistics.fmean(values)
    sxx = sum((t - mean_t) ** 2 for t in times_s)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True)) / sxx
    residuals = [v - mean_v - slope * (t - mean_t) for t, v in zip(times_s, values, strict=True)]
    squares = sum(r * r for r in residuals)
    lag1 = sum(a * b for a, b in pairwise(residuals)) / squares if squares else 0.0
    effective = max(3.0, count * (1 - lag1) / (1 + lag1)) if lag1 > 0 else float(count)
    error = math.sqrt(squares / (count - 2) / sxx * count / effective)
    half = _t_quantile_975(effective - 2 if effective > 5 else 3) * error
    return Estimate(slope * 3600, (slope - half) * 3600, (slope + half) * 3600, count)


def slope_verdict(estimate: Estimate, goal: float) -> str:
    if math.isnan(estimate.low):
        return "unresolved (too few samples)"
    if estimate.high < goal:
        return "pass"
    if estimate.low > goal:
        return "fail"
    return f"unresolved (the interval straddles {goal:g})"


@dataclass(frozen=True)
class UploadCheck:
    received: int
    scheduled: int  # full-interval windows
    flushes: int  # shorter windows: a profile-set switch or the final stop
    intervals_covered: float  # seconds the received windows cover while profiling, in intervals
    unexplained_gaps: tuple[tuple[float, float], ...]  # uncovered spans while up and profiling
    duplicates: int  # windows overlapping another
    oversized: int  # windows spanning two intervals or more: an upload missing
    # Windows that also claim a span when profiling was off (their seconds):
    # not a missing upload, but a profile whose start is wrong.
    spanning_off: tuple[float, ...]
    lost_while_down: int  # intervals uncovered because the agent was down

    @property
    def exact(self) -> bool:
        return not self.unexplained_gaps and not self.duplicates and not self.oversized


def _overlaps(span: tuple[float, float], periods: Iterable[tuple[float, float]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in periods)


def _overlap_seconds(span: tuple[float, float], periods: Iterable[tuple[float, float]]) -> float:
    return sum(max(0.0, min(span[1], end) - max(span[0], start)) for start, end in periods)


def account_uploads(
    uploads: Sequence[Upload],
    interval: float,
    down: Sequence[tuple[float, float]],
    profiling_off: Sequence[tuple[float, float]],
) -> UploadCheck:
    """Do the received windows tile the run, one per interval?

    ddtrace starts each profile where the previous one ended, across switches
    of the profile set too, so any uncovered span is an upload that never
    arrived. It is expected while the agent was down (those uploads failed;
    counted in intervals, less any time the profiler was off) and while
    profiling was off; anywhere else it is a lost upload. Times are epoch
    seconds; ``down`` spans carry a margin for an upload in flight at the stop.
    """
    ordered = sorted(uploads, key=lambda upload: upload.start)
    gaps, duplicates, lost = [], 0, 0
    for previous, following in pairwise(ordered):
        span = (previous.end, following.start)
        if span[1] - span[0] > CONTIGUOUS_SECONDS:
            if _overlaps(span, down):
                lost += round((span[1] - span[0] - _overlap_seconds(span, profiling_off)) / interval)
            elif not _overlaps(span, profiling_off):
                gaps.append(span)
        elif span[0] - span[1] > CONTIGUOUS_SECONDS:
            duplicates += 1
    durations = [upload.end - upload.start for upload in ordered]
    long = [upload for upload in ordered if upload.end - upload.start > OVERSIZED_SHARE * interval]
    spanning_off = [upload for upload in long if _overlaps((upload.start, upload.end), profiling_off)]
    profiled = sum(
        d - _overlap_seconds((u.start, u.end), profiling_off) for u, d in zip(ordered, durations, strict=True)
    )
    return UploadCheck(
        received=len(ordered),
        scheduled=sum(d >= SCHEDULED_SHARE * interval for d in durations),
        flushes=sum(d < SCHEDULED_SHARE * interval for d in durations),
        intervals_covered=profiled / interval,
        unexplained_gaps=tuple(gaps),
        duplicates=duplicates,
        oversized=len(long) - len(spanning_off),
        spanning_off=tuple(upload.end - upload.start for upload in spanning_off),
        lost_while_down=lost,
    )
