"""Liveness and readiness, for Kubernetes probes and the image HEALTHCHECK."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from ..readiness import ThreadStartProbe

router = APIRouter(tags=["health"])


@router.get("/", response_class=PlainTextResponse)
async def root() -> str:
    return "OK"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the event loop answers. Never depends on Datadog being reachable."""
    return {"status": "ok"}


def thread_start_probe(request: Request) -> ThreadStartProbe:
    probe: ThreadStartProbe = request.app.state.thread_start_probe
    return probe


ThreadStartProbeDep = Annotated[ThreadStartProbe, Depends(thread_start_probe)]


@router.get("/readyz")
async def readyz(request: Request, response: Response, probe: ThreadStartProbeDep) -> dict[str, str]:
    """Ready between the end of start-up and the start of shutdown, while the
    process can still start the worker threads its workload runs in."""
    if not getattr(request.app.state, "ready", False):
        response.status_code = 503
        return {"status": "not ready"}
    if not await probe.can_start_a_thread():
        response.status_code = 503
        return {"status": "not ready: cannot start a thread"}
    return {"status": "ready"}
