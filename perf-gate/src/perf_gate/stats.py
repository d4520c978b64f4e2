"""The gate's decision rule, across rounds, never from one sample.

Rounds alternate baseline and candidate, the order flipped every pair
(A B, B A, A B, …), so round i of each side ran under the same machine
conditions and neither side always runs first. For every pair the ratio
candidate/baseline of the cost per request (instructions, or CPU time) is
taken; the log ratios' mean and a Student-t confidence interval give the
ratio's interval. The gate's default verdict combines two such measures, the
instruction ratio and the paired change in kernel-side CPU, into one ratio of
all the CPU a request costs (``decide_all_cpu``). Against the threshold:

* fail          — the interval lies wholly above 1 + threshold: a regression
                  larger than the threshold, with that confidence;
* pass          — the interval's top is at or below 1 + threshold;
* inconclusive  — the interval straddles 1 + threshold: the noise is larger
                  than the threshold allows deciding.

The gate looks at the rounds more than once (every few rounds, up to its
cap) and stops at the first decision. Each look uses a 1 - 0.05/looks
interval (Bonferroni), so the chance that *any* look errs stays at most 5%,
as with a single look at 95%.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

MIN_PAIRS = 3
LOOK_EVERY = 12
ERROR_RATE = 0.05


def rule(measure: str, looks: list[int], combined: bool = False) -> str:
    """The decision rule in words, for the report."""
    ratio = (
        "ratio = 1 + (baseline user CPU x (instructions ratio - 1) + change in kernel-side CPU) / baseline CPU, "
        "per request; the instructions ratio from paired counted rounds, the user and kernel-side CPU from "
        "paired native windows, each part's interval at half the error rate"
        if combined
        else f"ratio = candidate/baseline {measure} per request"
    )
    return (
        f"paired rounds (A B, B A, …); {ratio}; "
        f"looks after rounds {', '.join(map(str, looks))}, each a Student-t interval of the mean log ratio at "
        f"1 - {ERROR_RATE}/{len(looks)} confidence (Bonferroni); fail if the interval is wholly above "
        "1+threshold, pass if its top is at or below 1+threshold, otherwise go on (inconclusive at the last look)"
    )


def t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student-t quantile, from the normal one by the Cornish-Fisher expansion
    (Abramowitz & Stegun 26.7.5). Checked against the t density integrated
    numerically: from 7 degrees of freedom the tail it leaves is within 0.1%
    of the one asked for, at 95% and at the looks' levels; at 2, within 15%."""
    z = statistics.NormalDist().inv_cdf(probability)
    n = degrees_of_freedom
    return (
        z
        + (z**3 + z) / (4 * n)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * n**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * n**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * n**4)
    )


def look_points(max_rounds: int, every: int = LOOK_EVERY) -> list[int]:
    """The round counts at which the gate decides: every ``every`` rounds, and the cap."""
    points = list(range(every, max_rounds, every))
    return [*points, max_rounds]


def confidence_per_look(looks: int) -> float:
    return 1 - ERROR_RATE / looks


@dataclass(frozen=True)
class Verdict:
    decision: str  # "pass", "fail" or "inconclusive"
    ratio: float  # geometric mean of the paired ratios
    low: float
    high: float
    threshold: float
    pairs: int
    confidence: float = 1 - ERROR_RATE
    measure: str = "CPU"
    # What the verdict is made of, in words (the combined measure's parts).
    detail: str = ""

    def summary(self) -> str:
        change = (self.ratio - 1) * 100
        line = (
            f"{self.decision.upper()}: candidate {self.measure} per request {change:+.1f}% vs baseline "
            f"({self.confidence:.2%} interval {(self.low - 1) * 100:+.1f}% to {(self.high - 1) * 100:+.1f}%, "
            f"threshold +{self.threshold * 100:.0f}%, {self.pairs} paired rounds)"
        )
        return f"{line}: {self.detail}" if self.detail else line


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval."""

    value: float
    low: float
    high: float


def check_pairs(baseline: list[float], candidate: list[float]) -> None:
    if len(baseline) != len(candidate):
        raise ValueError(f"rounds must pair up: {len(baseline)} baseline, {len(candidate)} candidate")
    if len(baseline) < MIN_PAIRS:
        raise ValueError(f"at least {MIN_PAIRS} paired rounds are needed, got {len(baseline)}")


def check_rule(threshold: float, confidence: float) -> None:
    if not 0 < threshold < 1:
        raise ValueError("threshold must be between 0 and 1 (0.05 means 5%)")
    if not 0.5 < confidence < 1:
        raise ValueError("confidence must be between 0.5 and 1")


def mean_interval(values: list[float], confidence: float) -> Interval:
    """The mean of ``values`` and its two-sided Student-t interval."""
    mean = statistics.fmean(values)
    margin = t_quantile(1 - (1 - confidence) / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean, mean - margin, mean + margin)


def ratio_interval(
    baseline: list[float], candidate: list[float], confidence: float, spread_between_processes: float = 0.0
) -> Interval:
    """The geometric mean of the paired ratios candidate/baseline and its interval.

    ``spread_between_processes`` widens the interval by that fraction on each
    side: a difference between the two processes measured that pairing their
    windows cannot see (their windows repeat tightly, each around its own level)."""
    check_pairs(baseline, candidate)
    if min(baseline + candidate) <= 0:
        raise ValueError("the cost per request must be positive in every round")
    logs = mean_interval([math.log(c / b) for b, c in zip(baseline, candidate, strict=True)], confidence)
    widen = math.log1p(spread_between_processes)
    return Interval(math.exp(logs.value), math.exp(logs.low - widen), math.exp(logs.high + widen))


def difference_interval(baseline: list[float], candidate: list[float], confidence: float) -> Interval:
    """The mean of the paired differences candidate - baseline and its interval."""
    check_pairs(baseline, candidate)
    return mean_interval([c - b for b, c in zip(baseline, candidate, strict=True)], confidence)


def decision(low: float, high: float, threshold: float) -> str:
    limit = 1 + threshold
    return "fail" if low > limit else "pass" if high <= limit else "inconclusive"


def decide(
    baseline: list[float],
    candidate: list[float],
    threshold: float = 0.05,
    confidence: float = 1 - ERROR_RATE,
    measure: str = "CPU",
    spread_between_processes: float = 0.0,
) -> Verdict:
    """Compare per-round cost per request (CPU or instructions); rounds are paired by position."""
    check_rule(threshold, confidence)
    try:
        ratio = ratio_interval(baseline, candidate, confidence, spread_between_processes)
    except ValueError as error:
        raise ValueError(str(error).replace("the cost", f"{measure}")) from None
    return Verdict(
        decision(ratio.low, ratio.high, threshold),
        ratio.value,
        ratio.low,
        ratio.high,
        threshold,
        len(baseline),
        confidence,
        measure,
    )


@dataclass(frozen=True)
class Split:
    """The baseline's native CPU per request in the verdict's two parts (seconds):
    what the instruction count stands for and what it cannot see."""

    instructions_part: float
    outside_part: float

    @property
    def total(self) -> float:
        return self.instructions_part + self.outside_part


def decide_all_cpu(
    instructions: Interval,
    spread_between_processes: float,
    outside_change: Interval,
    baseline: Split,
    pairs: int,
    threshold: float,
    confidence: float,
) -> Verdict:
    """The verdict over all the CPU a request costs, in native CPU time:

        ratio = 1 + (user x (instructions ratio - 1) + change outside) / (user + outside)

    where user and outside are the baseline's native split. The two parts are
    measured independently (counted rounds, native windows), so their random
    margins, each at ``confidence``, add in quadrature; the spread between
    processes is systematic and adds to the instruction part's margin."""
    check_rule(threshold, confidence)
    if baseline.total <= 0:
        raise ValueError("the baseline's native CPU per request must be positive")
    user_weight = baseline.instructions_part / baseline.total
    centre = 1 + user_weight * (instructions.value - 1) + outside_change.value / baseline.total
    instruction_margin = user_weight * max(
        instructions.high - instructions.value, instructions.value - instructions.low
    )
    outside_margin = (outside_change.high - outside_change.value) / baseline.total
    margin = math.hypot(instruction_margin, outside_margin) + user_weight * spread_between_processes
    low, high = centre - margin, centre + margin
    return Verdict(decision(low, high, threshold), centre, low, high, threshold, pairs, confidence, "CPU")
