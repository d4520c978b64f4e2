"""The gate's decision rule, across rounds, never from one sample.

Rounds alternate baseline and candidate, the order flipped every pair
(A B, B A, A B, …), so round i of each side ran under the same machine
conditions and neither side always runs first. For every pair the ratio
candidate/baseline of the cost per request (instructions, or CPU time) is
taken; the log ratios' mean and a Student-t confidence interval give the
ratio's interval:

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


def rule(measure: str, looks: list[int]) -> str:
    """The decision rule in words, for the report."""
    return (
        f"paired rounds (A B, B A, …); ratio = candidate/baseline {measure} per request; "
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

    def summary(self) -> str:
        change = (self.ratio - 1) * 100
        return (
            f"{self.decision.upper()}: candidate {self.measure} per request {change:+.1f}% vs baseline "
            f"({self.confidence:.2%} interval {(self.low - 1) * 100:+.1f}% to {(self.high - 1) * 100:+.1f}%, "
            f"threshold +{self.threshold * 100:.0f}%, {self.pairs} paired rounds)"
        )


def decide(
    baseline: list[float],
    candidate: list[float],
    threshold: float = 0.05,
    confidence: float = 1 - ERROR_RATE,
    measure: str = "CPU",
    spread_between_processes: float = 0.0,
) -> Verdict:
    """Compare per-round cost per request (CPU or instructions); rounds are paired by position.

    ``spread_between_processes`` widens the interval by that fraction on each
    side: a difference between the two processes measured that pairing their
    windows cannot see (their windows repeat tightly, each around its own level)."""
    if len(baseline) != len(candidate):
        raise ValueError(f"rounds must pair up: {len(baseline)} baseline, {len(candidate)} candidate")
    if len(baseline) < MIN_PAIRS:
        raise ValueError(f"at least {MIN_PAIRS} paired rounds are needed, got {len(baseline)}")
    if not 0 < threshold < 1:
        raise ValueError("threshold must be between 0 and 1 (0.05 means 5%)")
    if not 0.5 < confidence < 1:
        raise ValueError("confidence must be between 0.5 and 1")
    if min(baseline + candidate) <= 0:
        raise ValueError(f"{measure} per request must be positive in every round")
    log_ratios = [math.log(c / b) for b, c in zip(baseline, candidate, strict=True)]
    pairs = len(log_ratios)
    mean = statistics.fmean(log_ratios)
    spread = statistics.stdev(log_ratios) / math.sqrt(pairs)
    margin = t_quantile(1 - (1 - confidence) / 2, pairs - 1) * spread + math.log1p(spread_between_processes)
    low, high = math.exp(mean - margin), math.exp(mean + margin)
    limit = 1 + threshold
    decision = "fail" if low > limit else "pass" if high <= limit else "inconclusive"
    return Verdict(decision, math.exp(mean), low, high, threshold, pairs, confidence, measure)
