"""A fixed, seeded mix of requests: the same count and the same order in
every round, bounded in count and time, against loopback only."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

# (path, query, weight): mostly CPU work, some allocation, some trivial requests.
# Allocation is kept small: page faults make its CPU cost the noisiest part.
MIX: tuple[tuple[str, dict[str, int], int], ...] = (
    ("/cpu-intensive", {"iterations": 20_000}, 8),
    ("/memory-alloc", {"size_mb": 1}, 1),
    ("/", {}, 1),
)
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class LoadResult:
    sent: int
    failed: int


def plan(count: int, seed: int) -> list[tuple[str, dict[str, int]]]:
    """``count`` requests drawn from MIX by a seeded generator."""
    chooser = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    weights = [weight for _, _, weight in MIX]
    picks = chooser.choices(range(len(MIX)), weights=weights, k=count)
    return [(MIX[index][0], MIX[index][1]) for index in picks]


def run(
    base_url: str, requests: list[tuple[str, dict[str, int]]], concurrency: int, deadline_seconds: float
) -> LoadResult:
    """Send every planned request with ``concurrency`` clients; give up at the deadline."""
    started = time.monotonic()
    lock = threading.Lock()
    position = 0
    failed = 0

    def worker() -> None:
        nonlocal position, failed
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
            while time.monotonic() - started < deadline_seconds:
                with lock:
                    if position >= len(requests):
                        return
                    path, params = requests[position]
                    position += 1
                try:
                    ok = client.get(path, params=params).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    with lock:
                        failed += 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return LoadResult(sent=position, failed=failed)


def wait_until_healthy(base_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url}/healthz did not answer within {timeout}s")
