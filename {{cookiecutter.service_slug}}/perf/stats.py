"""The gate's decision rule, across rounds, never from one sample.

Rounds alternate baseline and candidate, the order flipped every pair
(A B, B A, A B, …), so round i of each side ran under the same machine
conditions and neither side always runs first. For every pair the ratio
candidate/baseline of CPU per request is taken; the log ratios' mean and a
Student-t confidence interval give the ratio's interval:

* fail          — the interval lies wholly above 1 + threshold: a regression
                  larger than the threshold, with that confidence;
* pass          — the interval's top is at or below 1 + threshold;
* inconclusive  — the interval straddles 1 + threshold: the noise is larger
                  than the threshold allows deciding. Rerun with more rounds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# Two-sided 95% Student-t critical values by degrees of freedom.
T_95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
    20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
    29: 2.045, 30: 2.042,
}  # fmt: skip
T_95_LARGE = 1.96
MIN_PAIRS = 3

RULE = (
    "paired rounds (A B, B A, …); ratio = candidate/baseline CPU per request; "
    "95% Student-t interval of the mean log ratio; fail if the interval is wholly above "
    "1+threshold, pass if its top is at or below 1+threshold, otherwise inconclusive"
)


@dataclass(frozen=True)
class Verdict:
    decision: str  # "pass", "fail" or "inconclusive"
    ratio: float  # geometric mean of the paired ratios
    low: float
    high: float
    threshold: float
    pairs: int

    def summary(self) -> str:
        change = (self.ratio - 1) * 100
        return (
            f"{self.decision.upper()}: candidate CPU per request {change:+.1f}% vs baseline "
            f"(95% interval {(self.low - 1) * 100:+.1f}% to {(self.high - 1) * 100:+.1f}%, "
            f"threshold +{self.threshold * 100:.0f}%, {self.pairs} paired rounds)"
        )


def decide(baseline: list[float], candidate: list[float], threshold: float = 0.05) -> Verdict:
    """Compare per-round CPU per request; rounds are paired by position."""
    if len(baseline) != len(candidate):
        raise ValueError(f"rounds must pair up: {len(baseline)} baseline, {len(candidate)} candidate")
    if len(baseline) < MIN_PAIRS:
        raise ValueError(f"at least {MIN_PAIRS} paired rounds are needed, got {len(baseline)}")
    if not 0 < threshold < 1:
        raise ValueError("threshold must be between 0 and 1 (0.05 means 5%)")
    if min(baseline + candidate) <= 0:
        raise ValueError("CPU per request must be positive in every round")
    log_ratios = [math.log(c / b) for b, c in zip(baseline, candidate, strict=True)]
    pairs = len(log_ratios)
    mean = statistics.fmean(log_ratios)
    spread = statistics.stdev(log_ratios) / math.sqrt(pairs)
    margin = T_95.get(pairs - 1, T_95_LARGE) * spread
    low, high = math.exp(mean - margin), math.exp(mean + margin)
    limit = 1 + threshold
    decision = "fail" if low > limit else "pass" if high <= limit else "inconclusive"
    return Verdict(decision, math.exp(mean), low, high, threshold, pairs)
