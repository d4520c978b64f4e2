"""CPU- and memory-heavy work that gives profiles something to show.

Pure functions: no HTTP, no ddtrace. The bounds live here so every caller gets
them; the routes turn them into request validation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_CPU_ITERATIONS = 2_000_000
MAX_ALLOCATION_MB = 64
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CpuResult:
    iterations: int
    digest: str


@dataclass(frozen=True)
class MemoryResult:
    allocated_mb: int
    checksum: int


def hash_chain(iterations: int, seed: bytes = b"profile-me") -> CpuResult:
    """Chain SHA-256 over its own output: pure CPU, visible as one hot frame."""
    if not 1 <= iterations <= MAX_CPU_ITERATIONS:
        raise ValueError(f"iterations must be from 1 to {MAX_CPU_ITERATIONS}")
    digest = seed
    for _ in range(iterations):
        digest = hashlib.sha256(digest).digest()
    return CpuResult(iterations=iterations, digest=digest.hex())


def allocate_and_touch(size_mb: int) -> MemoryResult:
    """Allocate ``size_mb`` MiB in 1 MiB chunks, write every page, then free it all.

    Writing each page makes the memory resident (not just reserved), so the
    allocation shows in RSS and in the heap profile; nothing survives the call.
    """
    if not 1 <= size_mb <= MAX_ALLOCATION_MB:
        raise ValueError(f"size_mb must be from 1 to {MAX_ALLOCATION_MB}")
    chunks = [bytearray(CHUNK_BYTES) for _ in range(size_mb)]
    checksum = 0
    for index, chunk in enumerate(chunks):
        for offset in range(0, CHUNK_BYTES, 4096):
            chunk[offset] = (index + offset) & 0xFF
        checksum += sum(chunk[::4096])
    del chunks
    return MemoryResult(allocated_mb=size_mb, checksum=checksum)
