"""The profiler-overhead benchmark: its statistical rule, and one short real run
so the script that produces the README's numbers cannot rot unnoticed. The
numbers themselves are the benchmark's business, never asserted here."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bench import profiler_overhead

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
