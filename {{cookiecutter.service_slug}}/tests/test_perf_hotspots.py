"""``python -m perf top``: the functions that burned the most CPU, by endpoint,
from pprof files ddtrace wrote; and one span's CPU alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perf.hotspots import hotspots, label_as_id, read_samples

FIXTURE = Path(__file__).parent / "fixtures" / "ddtrace-4.16-py3.13.pprof"


def top(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perf", "top", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_cpu_workload_tops_a_profile_of_the_gate_load() -> None:
    spots = hotspots(read_samples([FIXTURE]))
    assert spots[0].function == "hash_chain", spots[:3]
    assert sum(spot.share for spot in spots) == pytest.approx(1.0)
    outcome = top(str(FIXTURE), "--limit", "3")
    assert outcome.returncode == 0, outcome.stderr
    rows = outcome.stdout.splitlines()
    assert len(rows) == 2 + 3 and "hash_chain" in rows[2], outcome.stdout


def test_span_ids_read_as_traces_print_them() -> None:
    assert label_as_id(-1) == 2**64 - 1
    assert label_as_id(42) == 42
    assert label_as_id("42") is None


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["missing.pprof"], "no such profile file: missing.pprof"),
        ([str(FIXTURE), "--span-id", "123"], "no CPU samples for those span ids"),
        ([str(FIXTURE), "--span-id", "abc"], "'abc' is not a span id"),
    ],
)
def test_bad_input_is_named_in_one_line(arguments: list[str], complaint: str) -> None:
    outcome = top(*arguments)
    assert outcome.returncode != 0
    assert complaint in outcome.stderr.strip().splitlines()[-1], outcome.stderr
