"""What is running: the identity every profile carries. Nothing secret."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter(tags=["meta"])


class VersionInfo(BaseModel):
    service: str
    env: str
    version: str
    git_commit_sha: str
    git_repository_url: str
    profiling_enabled: bool


@router.get("/version")
async def version(request: Request) -> VersionInfo:
    observability = request.app.state.observability
    identity = observability.identity
    return VersionInfo(
        service=identity.service,
        env=identity.env,
        version=identity.version,
        git_commit_sha=identity.git_commit_sha,
        git_repository_url=identity.git_repository_url,
        profiling_enabled=observability.profiling_active,
    )
