"""The workload functions alone: bounded, deterministic, and they free what they take."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from {{ cookiecutter.package_name }}.workload import (
    MAX_ALLOCATION_MB,
    MAX_CPU_ITERATIONS,
    allocate_and_touch,
    hash_chain,
)


def test_hash_chain_is_deterministic_and_depends_on_iterations() -> None:
    assert hash_chain(100).digest == hash_chain(100).digest
    assert hash_chain(100).digest != hash_chain(101).digest


@pytest.mark.parametrize("iterations", [0, -1, MAX_CPU_ITERATIONS + 1])
def test_hash_chain_refuses_unbounded_work(iterations: int) -> None:
    with pytest.raises(ValueError, match="iterations must be from 1"):
        hash_chain(iterations)


@pytest.mark.parametrize("size_mb", [0, MAX_ALLOCATION_MB + 1])
def test_allocation_refuses_unbounded_size(size_mb: int) -> None:
    with pytest.raises(ValueError, match="size_mb must be from 1"):
        allocate_and_touch(size_mb)


def test_allocation_releases_everything_it_allocated() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        result = allocate_and_touch(8)
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.allocated_mb == 8
    assert peak - before >= 8 * 1024 * 1024, "the work did not really allocate 8 MiB"
    assert after - before < 64 * 1024, f"{after - before} bytes still held after the call"
