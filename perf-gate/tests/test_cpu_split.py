"""Reading a container's CPU split from what ``cat`` prints of its cgroup files
and PID 1's stat, on both cgroup versions; and the system-call filter that
keeps getrandom's work where the gate can see it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from perf_gate.cpu_split import CpuSplit, parse
from perf_gate.runners import GETRANDOM_AS_SYSTEM_CALL, MAP_DROPPABLE, getrandom_as_system_call
from perf_gate.service import RunError

TICKS = os.sysconf("SC_CLK_TCK")
# utime 200, stime 30, cutime 7 * TICKS / 100 ticks (0.07 s of children's user time), cstime 1.
STAT = f"1 (python) S 0 1 1 0 -1 4194560 1 0 0 0 200 30 {7 * TICKS // 100} 1 20 0 3 0 5 1 1\n"


def test_cgroup_v2_user_and_system_and_the_children_apart() -> None:
    output = "usage_usec 5000000\nuser_usec 4500000\nsystem_usec 500000\nnr_periods 0\n" + STAT
    split = parse(output)
    assert (split.service_user, split.system, split.children_user) == pytest.approx((4.43, 0.5, 0.07))
    assert split.outside_instructions == pytest.approx(0.57)
    assert split.total == pytest.approx(5.0)


def test_cgroup_v1_nanoseconds() -> None:
    split = parse("4500000000\n500000000\n" + STAT)
    assert (split.system, split.total) == pytest.approx((0.5, 5.0))


def test_windows_are_differences_per_request() -> None:
    before, after = CpuSplit(1.0, 0.1, 0.0), CpuSplit(2.0, 0.3, 0.2)
    window = (after - before).per(100)
    assert (window.service_user, window.system, window.children_user) == pytest.approx((0.01, 0.002, 0.002))


def test_the_mean_split_averages_each_part_so_changes_read_part_by_part() -> None:
    baseline = CpuSplit.mean([CpuSplit(4.0, 1.0, 0.0), CpuSplit(6.0, 3.0, 0.0)])
    candidate = CpuSplit.mean([CpuSplit(5.0, 2.5, 1.0), CpuSplit(5.0, 3.5, 0.0)])
    change = candidate - baseline
    assert (change.service_user, change.system, change.children_user) == (0.0, 1.0, 0.5)
    assert change.outside_instructions == 1.5


@pytest.mark.parametrize("output", ["", STAT, "user_usec 1\nsystem_usec 1\n", "17\n" + STAT])
def test_missing_accounting_is_an_error_that_says_so(output: str) -> None:
    with pytest.raises(RunError, match="no cgroup CPU accounting"):
        parse(output)


def test_the_filter_refuses_only_mmap_with_map_droppable(tmp_path: Path) -> None:
    options = getrandom_as_system_call(tmp_path)
    assert options[0] == "--security-opt" and options[1].startswith("seccomp=")
    profile = json.loads(Path(options[1].removeprefix("seccomp=")).read_text())
    assert profile == GETRANDOM_AS_SYSTEM_CALL
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    (rule,) = profile["syscalls"]
    assert rule["names"] == ["mmap"] and rule["action"] == "SCMP_ACT_ERRNO"
    assert rule["args"] == [{"index": 3, "value": MAP_DROPPABLE, "valueTwo": MAP_DROPPABLE, "op": "SCMP_CMP_MASKED_EQ"}]
