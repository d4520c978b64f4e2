"""Liveness and readiness, for Kubernetes probes and the image HEALTHCHECK."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

router = APIRouter(tags=["health"])


@router.get("/", response_class=PlainTextResponse)
async def root() -> str:
    return "OK"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the event loop answers. Never depends on Datadog being reachable."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, response: Response) -> dict[str, str]:
    """Ready between the end of start-up and the start of shutdown."""
    if not getattr(request.app.state, "ready", False):
        response.status_code = 503
        return {"status": "not ready"}
    return {"status": "ready"}
