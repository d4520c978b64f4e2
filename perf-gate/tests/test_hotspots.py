"""``perf-gate top``: the functions that burned the most CPU, by endpoint,
from pprof files ddtrace wrote; and one span's CPU alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from perf_gate.agent_source import parse_trace_id
from perf_gate.hotspots import decode_all, hotspots, label_as_id

FIXTURE = Path(__file__).parent / "fixtures" / "ddtrace-4.16-py3.13.pprof"
# Tracing on: CPU samples labelled with the spans open around them.
SPANS_FIXTURE = Path(__file__).parent / "fixtures" / "ddtrace-4.16-py3.11-spans.pprof"


def top(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perf_gate", "top", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_cpu_workload_tops_a_profile_of_the_gate_load() -> None:
    spots = hotspots(decode_all([FIXTURE.read_bytes()]))
    assert spots[0].function == "hash_chain", spots[:3]
    assert sum(spot.share for spot in spots) == pytest.approx(1.0)
    outcome = top(str(FIXTURE), "--limit", "3")
    assert outcome.returncode == 0, outcome.stderr
    rows = outcome.stdout.splitlines()
    assert len(rows) == 2 + 3 and "hash_chain" in rows[2], outcome.stdout


def test_trace_ids_read_as_logs_and_datadog_print_them() -> None:
    assert parse_trace_id("0af7651916cd43dd8448eb211c80319c") == 0x0AF7651916CD43DD8448EB211C80319C
    assert parse_trace_id("7220134501236713845") == 7220134501236713845


def test_span_ids_read_as_traces_print_them() -> None:
    assert label_as_id(-1) == 2**64 - 1
    assert label_as_id(42) == 42
    assert label_as_id("42") is None


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["missing.pprof"], "no such profile file or folder: missing.pprof"),
        ([str(Path(__file__).parent)], "no .pprof file in"),
        ([str(FIXTURE), "--span-id", "123"], "no CPU samples for those spans"),
        ([str(FIXTURE), "--span-id", "abc"], "'abc' is not a span id"),
        ([], "give pprof files, or --agent URL"),
        ([str(FIXTURE), "--trace-id", "1"], "--trace-id needs --agent"),
        (["--agent", "http://127.0.0.1:9", "--trace-id", "xyz"], "'xyz' is not a trace id"),
        (["--agent", "http://127.0.0.1:9"], "cannot read http://127.0.0.1:9/test/session/requests"),
        (["--agent", "file:///etc/passwd"], "is not an http:// or https:// URL"),
    ],
)
def test_bad_input_is_named_in_one_line(arguments: list[str], complaint: str) -> None:
    outcome = top(*arguments)
    assert outcome.returncode != 0
    assert complaint in outcome.stderr.strip().splitlines()[-1], outcome.stderr


def test_a_folder_stands_for_the_profiles_in_it(tmp_path: Path) -> None:
    """``make flamegraph`` leaves a folder of profiles; ``perf-gate top <folder>`` reads them all."""
    (tmp_path / "flamegraph-profiles").mkdir()
    for name in ("profile.1.1.pprof", "profile.1.2.pprof"):
        (tmp_path / "flamegraph-profiles" / name).write_bytes(FIXTURE.read_bytes())
    (tmp_path / "flamegraph-profiles" / "service.log").write_text("not a profile\n")
    from_folder, from_one_file = top(str(tmp_path / "flamegraph-profiles")), top(str(FIXTURE))
    assert from_folder.returncode == 0, from_folder.stderr
    # Two copies of the same profile: each function's CPU doubles, its share stays.
    first_folder, first_file = from_folder.stdout.splitlines()[2].split(), from_one_file.stdout.splitlines()[2].split()
    assert first_folder[2] == first_file[2] and first_folder[1] == first_file[1], (first_folder, first_file)
    assert int(first_folder[0].removesuffix("ms")) == 2 * int(first_file[0].removesuffix("ms"))


def test_samples_prints_each_cpu_sample_as_a_json_line() -> None:
    outcome = subprocess.run(
        [sys.executable, "-m", "perf_gate", "samples", str(FIXTURE)], capture_output=True, text=True, timeout=60
    )
    assert outcome.returncode == 0, outcome.stderr
    rows = [json.loads(line) for line in outcome.stdout.splitlines()]
    decoded = [sample for sample in decode_all([FIXTURE.read_bytes()]) if sample.values.get("cpu-time")]
    assert len(rows) == len(decoded) > 0
    by_function: dict[str, int] = {}
    for row in rows:
        by_function[row["function"]] = by_function.get(row["function"], 0) + row["values"]["cpu-time"]
    assert max(by_function, key=by_function.__getitem__) == "hash_chain", sorted(by_function.items())[:5]


def samples_of(*arguments: str) -> list[dict[str, Any]]:
    outcome = subprocess.run(
        [sys.executable, "-m", "perf_gate", "samples", str(SPANS_FIXTURE), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stderr
    return [json.loads(line) for line in outcome.stdout.splitlines()]


def test_samples_carry_the_span_ids_the_tracer_gave_as_unsigned_numbers() -> None:
    # Eight spans, each around 0.4 s of CPU in burn(); ddtrace stores span ids as
    # signed 64-bit labels, so the ones at or above 2**63 read negative unless converted.
    recorded = json.loads(SPANS_FIXTURE.with_suffix(".json").read_text())
    span_ids: list[int] = recorded["span_ids"]
    assert any(span_id >= 1 << 63 for span_id in span_ids), "re-record the fixture: no id exercises the sign"
    rows = samples_of()
    cpu_by_span: dict[int, int] = {}
    for row in rows:
        if row["function"] == recorded["function"]:
            span = row["labels"].get("span id")
            cpu_by_span[span] = cpu_by_span.get(span, 0) + row["values"]["cpu-time"]
    assert set(cpu_by_span) == set(span_ids), sorted(cpu_by_span, key=str)
    # Each span burned the same CPU; none of them gets a small fraction of it.
    assert min(cpu_by_span.values()) > 0.25 * max(cpu_by_span.values()), cpu_by_span
    # --span-id keeps one span's samples, named by the id a trace shows.
    highest = max(span_ids)
    kept = samples_of("--span-id", str(highest))
    assert kept and {row["labels"]["span id"] for row in kept} == {highest}
