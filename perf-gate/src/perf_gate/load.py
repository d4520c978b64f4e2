"""A fixed, seeded mix of requests: the same count and the same order in
every round, bounded in count and time, against loopback only."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from .config import Mix, Query

REQUEST_TIMEOUT_SECONDS = 30.0
# A planned request: its path and query string parameters.
Planned = tuple[str, Query]


@dataclass(frozen=True)
class LoadResult:
    sent: int
    failed: int


def plan(mix: Mix, count: int, seed: int) -> list[Planned]:
    """``count`` requests drawn from the service's mix by a seeded generator."""
    chooser = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    picks = chooser.choices(mix, weights=[request.weight for request in mix], k=count)
    return [(request.path, request.query) for request in picks]


def run(base_url: str, requests: list[Planned], concurrency: int, deadline_seconds: float) -> LoadResult:
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
