"""SIGTERM under load: in-flight requests finish, then the last profile is flushed."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from .agent import TestAgent
from .service import ServiceProcess

IN_FLIGHT = 4


def test_sigterm_drains_in_flight_requests_then_flushes_a_final_profile(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    # A long upload interval: any profile that arrives is the shutdown flush.
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_PROFILING_UPLOAD_INTERVAL="60",
        WORKLOAD_MAX_CONCURRENCY=str(IN_FLIGHT),
    )
    test_agent.clear()

    def slow_request(_: int) -> int:
        with httpx.Client(base_url=service.url, timeout=60) as client:
            return client.get("/cpu-intensive", params={"iterations": 1_500_000}).status_code

    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        futures = [pool.submit(slow_request, index) for index in range(IN_FLIGHT)]
        time.sleep(0.5)  # the requests are on the wire and running
        service.send_sigterm()
        statuses = [future.result(timeout=60) for future in futures]
    returncode = service.wait(timeout=30)
    logs = service.logs()

    assert statuses == [200] * IN_FLIGHT, f"in-flight requests during shutdown answered {statuses}"
    assert returncode == -15, f"expected a graceful stop (re-raised SIGTERM), got {returncode}\n{logs}"
    uploads = test_agent.wait_for_profiles(count=1, timeout=10)
    # Flushed after the drain, the final profile has seen the drained requests
    # finish; flushed on the signal (ddtrace's own handler), it has not.
    drained = sum(upload.endpoint_counts.get("GET /cpu-intensive", 0) for upload in uploads)
    assert drained == IN_FLIGHT, f"final profile counted {drained} of {IN_FLIGHT} drained requests:\n{logs}"
