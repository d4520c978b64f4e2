"""The pprof decoder, on a profile ddtrace itself wrote (a baked service under
the gate's load; the fixture's name says which ddtrace and Python) and on bad
input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import zstandard

from perf_gate.pprof import (
    ProfileFormatError,
    decode,
    decompress,
    function_costs,
    innermost_python_frame,
    read_profiles,
)

FIXTURE = Path(__file__).parent / "fixtures" / "ddtrace-4.16-py3.13.pprof"


def test_real_ddtrace_profile_decodes_with_its_sample_types() -> None:
    profile = read_profiles([FIXTURE])
    assert {"cpu-time", "wall-time", "alloc-space", "heap-space", "lock-acquire-wait"} <= set(profile.sample_types)
    assert profile.total("cpu-time") > 0
    assert profile.total("alloc-space") > 0


def test_stacks_run_from_the_thread_root_to_the_leaf() -> None:
    profile = read_profiles([FIXTURE])
    hashing = [stack for stack in profile.stacks["cpu-time"] if any(f.function == "hash_chain" for f in stack)]
    assert hashing, "the CPU workload is missing from the profile"
    for stack in hashing:
        assert stack[0].function == "Thread._bootstrap", stack[0]
        names = [frame.function for frame in stack]
        assert names.index("WorkerThread.run") < names.index("hash_chain")


def test_the_cpu_workload_is_the_hottest_python_function() -> None:
    costs = function_costs(read_profiles([FIXTURE]), "cpu-time")
    hottest = max(costs, key=lambda frame: costs[frame].self_value)
    assert hottest.function == "hash_chain" and hottest.filename.endswith("workload.py")
    # Inclusive time is at least self time, for every function.
    assert all(cost.inclusive_value >= cost.self_value for cost in costs.values())


def test_time_in_c_calls_is_charged_to_the_python_caller() -> None:
    profile = read_profiles([FIXTURE])
    stack = next(s for s in profile.stacks["cpu-time"] if s[-1].filename == "<native>" and len(s) > 1)
    assert innermost_python_frame(stack).filename != "<native>"


def test_compressed_and_plain_encodings_decode_alike() -> None:
    raw = decompress(FIXTURE.read_bytes())
    assert FIXTURE.read_bytes().startswith(b"\x28\xb5\x2f\xfd"), "ddtrace writes Zstandard"
    plain, gzipped, zstd = decode(raw), decode(gzip.compress(raw)), decode(zstandard.ZstdCompressor().compress(raw))
    assert plain.stacks == gzipped.stacks == zstd.stacks


@pytest.mark.parametrize(
    "data", [b"\x28\xb5\x2f\xfd\x00garbage", b"\x1f\x8b\x00\x00", b"not a profile at all"], ids=["zstd", "gzip", "raw"]
)
def test_bad_bytes_are_refused_clearly(data: bytes) -> None:
    with pytest.raises(ProfileFormatError, match="not a pprof profile"):
        decode(data)
