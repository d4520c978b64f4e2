"""Liveness and readiness, for Kubernetes probes and the image HEALTHCHECK."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from ..dependencies import ServiceStateDep

router = APIRouter(tags=["health"])


@router.get("/", response_class=PlainTextResponse)
async def root() -> str:
    return "OK"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the event loop answers. Never depends on Datadog being reachable."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(response: Response, state: ServiceStateDep) -> dict[str, str]:
    """Ready between the end of start-up and the start of shutdown, while the
    process can still start the worker threads its workload runs in."""
    if not state.ready:
        response.status_code = 503
        return {"status": "not ready"}
    if not await state.thread_start_probe.can_start_a_thread():
        response.status_code = 503
        return {"status": "not ready: cannot start a thread"}
    return {"status": "ready"}
