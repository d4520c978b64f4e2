"""Bounds that hold under concurrency, measured on a real uvicorn process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from {{ cookiecutter.package_name }}.workload import MAX_ALLOCATION_MB, MAX_CPU_ITERATIONS

from .agent import TestAgent
from .service import ServiceProcess, peak_rss_mib, rss_mib

MAX_CONCURRENCY = 2
BURST = 12
# Python, the allocator and the profiler's own buffers move RSS a little too.
SLACK_MIB = 64


def test_health_answers_while_cpu_work_runs(start_service: Callable[..., ServiceProcess]) -> None:
    service = start_service(DD_PROFILING_ENABLED="false", DD_TRACE_ENABLED="false")
    done = threading.Event()

    def heavy() -> None:
        with httpx.Client(base_url=service.url, timeout=60) as client:
            client.get("/cpu-intensive", params={"iterations": MAX_CPU_ITERATIONS})
        done.set()

    worker = threading.Thread(target=heavy)
    worker.start()
    with httpx.Client(base_url=service.url, timeout=10) as client:
        answers = [client.get("/healthz").status_code for _ in range(5)]
    answered_before_cpu_finished = not done.is_set()
    worker.join()
    assert answers == [200] * 5
    assert answered_before_cpu_finished, "/healthz waited for the CPU work: the event loop was blocked"


def test_burst_of_maximum_allocations_stays_within_the_memory_budget(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        WORKLOAD_MAX_CONCURRENCY=str(MAX_CONCURRENCY),
    )
    with httpx.Client(base_url=service.url, timeout=30) as client:
        client.get("/memory-alloc", params={"size_mb": 1})  # warm up the code path
    baseline = rss_mib(service.pid)

    def allocate(_: int) -> httpx.Response:
        with httpx.Client(base_url=service.url, timeout=60) as client:
            return client.get("/memory-alloc", params={"size_mb": MAX_ALLOCATION_MB})

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        responses = list(pool.map(allocate, range(BURST)))
        with httpx.Client(base_url=service.url, timeout=10) as client:
            health = client.get("/healthz").status_code

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses, statuses
    assert all(r.headers.get("retry-after") == "1" for r in responses if r.status_code == 503)
    assert health == 200
    budget = MAX_CONCURRENCY * MAX_ALLOCATION_MB + SLACK_MIB
    grew = peak_rss_mib(service.pid) - baseline
    assert grew <= budget, f"peak RSS grew {grew:.0f} MiB under the burst; budget {budget} MiB"
