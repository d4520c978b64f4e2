"""The profiler-overhead benchmark: its statistical rule, and one short real run
so the script that produces the README's numbers cannot rot unnoticed. The
numbers themselves are the benchmark's business, never asserted here."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from bench import perf_gate_sensitivity, profiler_overhead

from .conftest import TEMPLATE_DIR, run


@pytest.fixture(scope="module")
def overhead() -> ModuleType:
    return profiler_overhead


@pytest.mark.parametrize(
    ("count", "low_rank", "high_rank"),
    [(6, 1, 6), (8, 1, 8), (9, 2, 8), (12, 3, 10), (20, 6, 15)],
    ids=["6-rounds", "8-rounds", "9-rounds", "12-rounds", "20-rounds"],
)
def test_median_interval_uses_the_binomial_order_statistics(
    overhead: ModuleType, count: int, low_rank: int, high_rank: int
) -> None:
    values = [float(rank) for rank in range(count, 0, -1)]  # any order
    interval = overhead.median_interval(values)
    assert (interval.low, interval.high) == (low_rank, high_rank)
    assert interval.median == (count + 1) / 2


def test_too_few_rounds_give_no_interval_and_no_verdict(overhead: ModuleType) -> None:
    interval = overhead.median_interval([1.0, 1.01, 0.99, 1.02, 1.0])
    assert (interval.low, interval.high) == (None, None)
    assert overhead.verdict(interval, interval, interval).startswith("unresolved")


@pytest.mark.parametrize(
    ("cpu", "throughput", "p99", "expected"),
    [
        ((1.01, 1.00, 1.015), (0.99, 0.985, 1.00), (1.00, 0.98, 1.03), "within"),
        ((1.04, 1.03, 1.05), (0.96, 0.95, 0.97), (1.00, 0.98, 1.03), "over: CPU, throughput"),
        ((1.00, 0.99, 1.01), (1.00, 0.99, 1.01), (1.10, 1.06, 1.20), "over: p99"),
        ((1.01, 0.99, 1.03), (0.99, 0.97, 1.01), (1.00, 0.98, 1.03), "unresolved"),
        ((1.00, 0.99, 1.01), (1.00, 0.99, 1.01), (1.02, 0.95, 1.09), "unresolved"),
    ],
    ids=["within", "over-cpu", "over-p99", "cpu-straddles", "p99-straddles"],
)
def test_budget_verdict_follows_the_intervals(
    overhead: ModuleType,
    cpu: tuple[float, float, float],
    throughput: tuple[float, float, float],
    p99: tuple[float, float, float],
    expected: str,
) -> None:
    intervals = [overhead.Interval(*values) for values in (cpu, throughput, p99)]
    assert overhead.verdict(*intervals) == expected


def test_unknown_configuration_is_refused_with_the_known_names(
    overhead: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        overhead.parse_arguments(["--configs", "off,cpu,gpu"])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown configuration 'gpu'; known: off, control, default, cpu" in message, message


def test_every_ratio_brings_its_reference_and_the_references_own(overhead: ModuleType) -> None:
    chosen = overhead.parse_configurations("shipped-no-runtime-metrics")
    assert [configuration.key for configuration in chosen] == ["off", "traced", "shipped", "shipped-no-runtime-metrics"]
    capped = overhead.parse_configurations("traced-control,shipped-interval-2ms")
    assert [configuration.key for configuration in capped] == [
        "off",
        "traced",
        "traced-control",
        "shipped-interval-2ms",
    ]
    assert capped[-1].environment()["_DD_PROFILING_STACK_ADAPTIVE_SAMPLING_MAX_INTERVAL_US"] == "2000"


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("REQUIRE_WRK") == "1":
            pytest.fail("REQUIRE_WRK=1 but wrk is not installed")
        pytest.skip("wrk is not installed (Debian: apt-get install wrk)")


def test_a_short_real_run_reports_every_configuration_against_off(tmp_path: Path) -> None:
    require_wrk()
    raw = tmp_path / "raw.json"
    arguments = ["--target", "process", "--rounds", "1", "--seconds", "1", "--warmup", "1"]
    result = run(
        [
            sys.executable,
            "-m",
            "bench.profiler_overhead",
            *arguments,
            "--configs",
            "control,cpu",
            "--json",
            str(raw),
        ],
        cwd=TEMPLATE_DIR,  # the benchmarks run as modules of this repository
        timeout=300,
    )
    report = result.stdout
    for row in ("| off again (control) | `/` |", "| CPU alone | `/cpu-intensive` |", "| CPU alone | `/memory-alloc` |"):
        assert row in report, f"expected the row {row!r} in:\n{report}"
    assert "| profiling on, tracing on (as shipped) |" in report, report
    assert raw.exists(), "--json should write the raw rounds"


def test_a_warm_run_measures_every_round_on_the_same_instances(tmp_path: Path) -> None:
    require_wrk()
    raw = tmp_path / "raw.json"
    arguments = ["--target", "process", "--warm", "--rounds", "3", "--seconds", "1", "--warmup", "1"]
    result = run(
        [sys.executable, "-m", "bench.profiler_overhead", *arguments, "--configs", "traced", "--json", str(raw)],
        cwd=TEMPLATE_DIR,
        timeout=300,
    )
    assert "| tracing alone (reference for as shipped) | `/` |" in result.stdout, result.stdout
    (process,) = json.loads(raw.read_text())
    assert {key: len(runs) for key, runs in process["runs"].items()} == {"off": 3, "traced": 3}
    # One instance each for the whole run: its idle memory was read once.
    for runs in process["runs"].values():
        assert len({run["rss_idle_mib"] for run in runs}) == 1
    assert process["cold_starts"] == {name: [] for name in process["cold_starts"]}


# ---- the soak (bench/soak.py): its schedule and verdicts, on synthetic data ----


@pytest.mark.parametrize(("minutes", "downs"), [(8, 1), (120, 2)], ids=["smoke", "two-hours"])
def test_soak_plan_switches_profiles_and_stops_the_agent_away_from_the_memory_window(minutes: int, downs: int) -> None:
    from bench import soak_plan

    plan = soak_plan.plan_for(minutes)
    steps = [plan.step_at(start)[0] for start in range(0, plan.duration, plan.cycle)]
    assert steps[0] == steps[-1] == "cpu", steps  # starts and ends as shipped
    assert "cpu+memory" in steps and "off" in steps, steps
    assert len(plan.agent_down) == downs, plan
    for start, end in plan.agent_down:
        assert 60 <= end - start <= 120
        during = {plan.step_at(t)[0] for t in range(start, end, soak_plan.STEP_SECONDS)}
        assert during <= soak_plan.AGENT_DOWN_ALLOWED, during
    assert {plan.phase_at(t) for t in range(0, plan.cycle, soak_plan.STEP_SECONDS)} == {"light", "closed", "burst"}


def test_soak_truth_on_demand_lapses_by_itself_and_the_verdict_sees_it() -> None:
    from bench import soak_plan
    from bench.soak_report import Sample, truth_verdict

    plan = soak_plan.plan_for(120)
    ((start, end),) = plan.spans_of(soak_plan.TRUTH_STEP)
    lapse = plan.truth_cap_end(int(start))
    assert start < lapse <= end - 2 * soak_plan.STEP_SECONDS  # the run sees the cap lapse, file unchanged

    def samples(states: Callable[[int], str]) -> list[Sample]:
        times = range(int(start) + 10, int(end) + 10, 10)
        return [Sample(t, "", "light", "up", soak_plan.TRUTH_STEP, states(t), *[0] * 12) for t in times]

    def on_time(t: int) -> str:  # the sample read just after "until" may already see the lapse
        return "cpu cap 2 ms" if t < lapse else "cpu"

    def stuck(t: int) -> str:
        return "cpu cap 2 ms"

    def lapsed_into_the_wrong_set(t: int) -> str:
        return "cpu cap 2 ms" if t < lapse else "off"

    window = (start, lapse, end)
    assert truth_verdict(samples(on_time), 10, window).verdict == "pass"
    assert truth_verdict(samples(stuck), 10, window).verdict == "fail"
    assert truth_verdict(samples(lapsed_into_the_wrong_set), 10, window).verdict == "fail"


def test_soak_upload_accounting_tells_lost_from_expected_gaps() -> None:
    from bench.soak_observe import Upload
    from bench.soak_stats import account_uploads

    tiled = [Upload(float(start), float(start + 10)) for start in range(0, 100, 10)]
    clean = account_uploads(tiled, 10, down=[], profiling_off=[])
    assert clean.exact and clean.received == 10 and clean.scheduled == 10

    missing_two = [upload for upload in tiled if upload.start not in (40.0, 50.0)]
    while_down = account_uploads(missing_two, 10, down=[(45.0, 65.0)], profiling_off=[])
    assert while_down.exact and while_down.lost_while_down == 2
    while_up = account_uploads(missing_two, 10, down=[], profiling_off=[])
    assert while_up.unexplained_gaps == ((40.0, 60.0),)
    assert account_uploads(missing_two, 10, down=[], profiling_off=[(42.0, 58.0)]).exact
    # Off for one interval, then down for the next: one upload lost, not two.
    off_then_down = account_uploads(missing_two, 10, down=[(55.0, 65.0)], profiling_off=[(40.0, 50.0)])
    assert off_then_down.exact and off_then_down.lost_while_down == 1

    doubled = account_uploads([*tiled, Upload(25.0, 35.0)], 10, down=[], profiling_off=[])
    assert doubled.duplicates >= 1 and not doubled.exact
    merged = account_uploads([Upload(0.0, 10.0), Upload(10.0, 30.0)], 10, down=[], profiling_off=[])
    assert merged.oversized == 1 and not merged.exact
    # Switched off at 10 s, on again at 70 s: a first window from 10 s claims the off minute too.
    after_off = account_uploads([Upload(0.0, 10.0), Upload(10.0, 80.0)], 10, down=[], profiling_off=[(10.0, 70.0)])
    assert after_off.exact and after_off.spanning_off == (70.0,)


def test_soak_rss_slope_interval_covers_the_true_slope() -> None:
    from bench.soak_stats import slope_per_hour, slope_verdict

    times = [10.0 * step for step in range(360)]  # an hour of samples
    wobble = [0.3 * ((step * 7) % 5 - 2) for step in range(360)]  # bounded, deterministic noise
    leaking = slope_per_hour(times, [100 + 5 * t / 3600 + w for t, w in zip(times, wobble, strict=True)])
    assert leaking.low < 5 < leaking.high and slope_verdict(leaking, 1.0) == "fail", leaking
    steady = slope_per_hour(times, [100 + w for w in wobble])
    assert slope_verdict(steady, 1.0) == "pass", steady
    assert slope_verdict(slope_per_hour(times[:3], [1.0, 2.0, 3.0]), 1.0).startswith("unresolved")


# ---- the gate's power study (bench/perf_gate_sensitivity.py): what it injects ----

WORKLOAD = TEMPLATE_DIR / "{{cookiecutter.service_slug}}" / "src" / "{{cookiecutter.package_name}}" / "workload.py"


@pytest.mark.parametrize(
    ("kind", "percent", "loop_per_mille", "random_bytes"),
    [("python", 7.5, 75, None), ("kernel", 12, None, 15360), ("mixed", 10, 50, 6400)],
)
def test_the_power_study_injects_each_kind_of_work_into_the_real_workload(
    kind: str, percent: float, loop_per_mille: int | None, random_bytes: int | None
) -> None:
    source = perf_gate_sensitivity.injected(WORKLOAD.read_text(), kind, percent, bytes_per_percent_iteration=1.28)
    assert (f"iterations * {loop_per_mille} // 1000" in source) == (loop_per_mille is not None)
    namespace: dict[str, Any] = {}
    exec(compile(source, str(WORKLOAD), "exec"), namespace)  # the template's own file, changed as the study does
    sizes: list[int] = []
    namespace["os"] = SimpleNamespace(urandom=lambda size: sizes.append(size))
    result = namespace["hash_chain"](1000)
    assert result.iterations == 1000 and len(result.digest) == 64
    assert sizes == ([] if random_bytes is None else [random_bytes])


def test_the_power_study_refuses_an_unknown_kind_in_one_line() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="the kind must be one of python, kernel, mixed"):
        perf_gate_sensitivity.parse_level("disk:5")
    assert perf_gate_sensitivity.parse_level("7.5") == ("python", 7.5)
