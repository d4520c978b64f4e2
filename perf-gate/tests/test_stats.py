"""The gate's decision rule on known inputs: it fails real regressions, passes
noise, and says inconclusive instead of passing when noise hides the answer."""

from __future__ import annotations

import math
import random

import pytest

from perf_gate.stats import (
    Interval,
    Split,
    Verdict,
    confidence_per_look,
    decide,
    decide_all_cpu,
    difference_interval,
    look_points,
    t_quantile,
)


def rounds(mean: float, noise: float, count: int, seed: int) -> list[float]:
    generator = random.Random(seed)
    return [mean * (1 + generator.uniform(-noise, noise)) for _ in range(count)]


def test_a_clear_regression_fails() -> None:
    verdict = decide(rounds(10.0, 0.01, 8, 1), rounds(11.5, 0.01, 8, 2))
    assert verdict.decision == "fail", verdict.summary()
    assert verdict.low > 1.05


def test_the_same_code_passes() -> None:
    verdict = decide(rounds(10.0, 0.01, 8, 3), rounds(10.0, 0.01, 8, 4))
    assert verdict.decision == "pass", verdict.summary()
    assert verdict.low < 1 < verdict.high


def test_a_change_below_the_threshold_passes_when_measured_tightly() -> None:
    baseline = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95]
    verdict = decide(baseline, [value * 1.02 for value in baseline])
    assert verdict.decision == "pass", verdict.summary()


def test_noise_larger_than_the_threshold_is_inconclusive_not_a_pass() -> None:
    verdict = decide([10.0, 10.0, 10.0, 10.0], [9.5, 10.8, 9.7, 10.9])
    assert verdict.decision == "inconclusive", verdict.summary()


def test_the_threshold_is_a_parameter() -> None:
    baseline = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95]
    candidate = [value * 1.08 for value in baseline]
    assert decide(baseline, candidate, threshold=0.05).decision == "fail"
    assert decide(baseline, candidate, threshold=0.10).decision == "pass"


@pytest.mark.parametrize(
    ("baseline", "candidate", "threshold", "complaint"),
    [
        ([1.0, 1.0, 1.0], [1.0, 1.0], 0.05, "must pair up"),
        ([1.0, 1.0], [1.0, 1.0], 0.05, "at least 3"),
        ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], 1.5, "threshold"),
        ([1.0, 0.0, 1.0], [1.0, 1.0, 1.0], 0.05, "positive"),
    ],
)
def test_unusable_input_is_refused(
    baseline: list[float], candidate: list[float], threshold: float, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        decide(baseline, candidate, threshold)


@pytest.mark.parametrize(
    ("degrees_of_freedom", "exact"),
    [(4, 2.776), (7, 2.365), (11, 2.201), (29, 2.045)],  # two-sided 95%, from t tables
)
def test_t_quantile_matches_the_tables(degrees_of_freedom: int, exact: float) -> None:
    assert t_quantile(0.975, degrees_of_freedom) == pytest.approx(exact, abs=0.002)


def test_the_gate_looks_every_twelve_rounds_and_at_its_cap() -> None:
    assert look_points(48) == [12, 24, 36, 48]
    assert look_points(30) == [12, 24, 30]
    assert look_points(8) == [8]
    assert confidence_per_look(4) == pytest.approx(0.9875)


def test_a_stricter_confidence_widens_the_interval() -> None:
    baseline, candidate = rounds(10.0, 0.03, 12, 5), rounds(10.3, 0.03, 12, 6)
    single, split = decide(baseline, candidate), decide(baseline, candidate, confidence=confidence_per_look(4))
    assert split.low < single.low and split.high > single.high


def test_instruction_windows_look_every_three_rounds() -> None:
    assert look_points(6, every=3) == [3, 6]


def test_a_spread_between_processes_keeps_a_change_near_the_threshold_undecided() -> None:
    # Windows that repeat to 0.01% put +5.5% firmly past 5%; a known 0.75% spread
    # between the two processes leaves it undecided, and a clear +8% still fails.
    baseline = rounds(100.0, 0.0001, 3, 7)
    near = [value * 1.055 for value in baseline]
    assert decide(baseline, near).decision == "fail"
    widened = decide(baseline, near, spread_between_processes=0.0075)
    assert widened.decision == "inconclusive", widened.summary()
    assert widened.low < 1.05 < widened.high
    clear = decide(baseline, [value * 1.08 for value in baseline], spread_between_processes=0.0075)
    assert clear.decision == "fail", clear.summary()


# The combined verdict: a baseline of 8 ms per request, 7.6 ms of it the
# service's user time (what instructions stand for) and 0.4 ms outside.
SPLIT = Split(instructions_part=0.0076, outside_part=0.0004)


def combined(instruction_change: float, outside_change_ms: float, margin_ms: float = 0.05) -> Verdict:
    instructions = Interval(1 + instruction_change, 1 + instruction_change - 0.002, 1 + instruction_change + 0.002)
    outside = Interval(
        outside_change_ms / 1000, (outside_change_ms - margin_ms) / 1000, (outside_change_ms + margin_ms) / 1000
    )
    return decide_all_cpu(instructions, 0.0075, outside, SPLIT, pairs=3, threshold=0.05, confidence=0.975)


def test_kernel_time_alone_fails_a_change_the_instructions_do_not_see() -> None:
    # +0.6 ms per request in the kernel is +7.5% of all the CPU; instructions unchanged.
    verdict = combined(0.0, 0.6)
    assert verdict.decision == "fail", verdict.summary()
    assert verdict.ratio == pytest.approx(1.075)


def test_instructions_count_only_for_the_share_of_cpu_they_stand_for() -> None:
    # +5.5% instructions on 95% of the CPU is +5.2% in all: not past 5% with the spread.
    assert combined(0.055, 0.0).ratio == pytest.approx(1 + 0.055 * 0.95)
    assert combined(0.055, 0.0).decision == "inconclusive"
    assert combined(0.10, 0.0).decision == "fail"


def test_half_in_python_and_half_in_the_kernel_add_up() -> None:
    # +5% instructions (4.75% of the CPU) and +0.4 ms in the kernel (5%): +9.75% in all.
    verdict = combined(0.05, 0.4)
    assert verdict.ratio == pytest.approx(1.0975)
    assert verdict.decision == "fail", verdict.summary()


def test_an_unchanged_tree_passes_whatever_noise_the_kernel_side_shows() -> None:
    verdict = combined(0.0, 0.02, margin_ms=0.15)
    assert verdict.decision == "pass", verdict.summary()
    assert verdict.low < 1 < verdict.high


def test_kernel_side_noise_larger_than_the_threshold_is_inconclusive() -> None:
    assert combined(0.0, 0.5, margin_ms=0.4).decision == "inconclusive"


def test_the_margins_of_independent_parts_add_in_quadrature() -> None:
    verdict = combined(0.0, 0.0, margin_ms=0.3)
    instruction_margin, outside_margin = 0.95 * 0.002, 0.3 / 8
    expected = math.hypot(instruction_margin, outside_margin) + 0.95 * 0.0075
    assert verdict.high - verdict.ratio == pytest.approx(expected)


def test_paired_differences_and_their_interval() -> None:
    interval = difference_interval([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.4, 4.6], confidence=0.95)
    assert interval.value == pytest.approx(0.5)
    assert interval.low < 0.5 < interval.high
    with pytest.raises(ValueError, match="at least 3"):
        difference_interval([1.0, 2.0], [1.0, 2.0], confidence=0.95)
