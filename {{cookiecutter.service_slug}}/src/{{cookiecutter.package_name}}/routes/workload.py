"""CPU and memory workload endpoints, bounded per request and in total.

Each request is bounded by its query parameters; all of them together by a
fixed number of workload slots, so a burst of maximum-size requests cannot
exceed ``WORKLOAD_MAX_CONCURRENCY * MAX_ALLOCATION_MB`` of extra memory or
starve the health endpoints. The work runs in a worker thread so the event
loop keeps answering other requests meanwhile; its span and the
``worker_thread.cpu_time`` histogram carry the CPU it burned (thread_cpu.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from opentelemetry import metrics

from .. import workload
from ..dependencies import RouteDep, WorkloadSlotsDep
from ..worker_threads import run_in_worker_thread

router = APIRouter(tags=["workload"])

RETRY_AFTER_SECONDS = "1"
MIB = 1024 * 1024

# Application metrics through the OpenTelemetry API (see otlp_exporter.py): the
# pattern to copy. They do nothing until OTEL_METRICS_EXPORTER=otlp.
meter = metrics.get_meter(__name__)
hash_rounds = meter.create_counter(
    "workload.hash.rounds", unit="{round}", description="SHA-256 rounds chained by /cpu-intensive"
)
allocated_bytes = meter.create_histogram(
    "workload.allocation.size", unit="By", description="bytes allocated and touched per /memory-alloc request"
)


@asynccontextmanager
async def workload_slot(slots: asyncio.Semaphore) -> AsyncIterator[None]:
    """Take a slot without waiting, or answer 503 with Retry-After."""
    if slots.locked():
        raise HTTPException(
            status_code=503,
            detail="workload capacity in use; retry later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    async with slots:
        yield


@router.get("/cpu-intensive")
async def cpu_intensive(
    slots: WorkloadSlotsDep,
    route: RouteDep,
    iterations: Annotated[int, Query(ge=1, le=workload.MAX_CPU_ITERATIONS)] = 200_000,
) -> dict[str, object]:
    """Chain SHA-256 ``iterations`` times."""
    async with workload_slot(slots):
        result = await run_in_worker_thread(workload.hash_chain, iterations, route=route)
    hash_rounds.add(result.iterations)
    return {"iterations": result.iterations, "digest": result.digest}


@router.get("/memory-alloc")
async def memory_alloc(
    slots: WorkloadSlotsDep,
    route: RouteDep,
    size_mb: Annotated[int, Query(ge=1, le=workload.MAX_ALLOCATION_MB)] = 16,
) -> dict[str, object]:
    """Allocate and touch ``size_mb`` MiB, then release it."""
    async with workload_slot(slots):
        result = await run_in_worker_thread(workload.allocate_and_touch, size_mb, route=route)
    allocated_bytes.record(result.allocated_mb * MIB)
    return {"allocated_mb": result.allocated_mb, "checksum": result.checksum}
