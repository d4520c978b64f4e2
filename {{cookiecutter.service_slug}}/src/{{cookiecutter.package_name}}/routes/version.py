"""``/version``: what is running, the identity every profile carries and the
profiling state in force. Read-only; nothing secret."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from ..dependencies import ServiceStateDep

router = APIRouter(tags=["version"])


class ProfilingState(BaseModel):
    enabled: bool
    profiles: list[str]
    heap_sample_bytes: int
    source: str
    # The CPU sampler's interval cap (null: ddtrace's adaptive interval), and
    # when the control file's cap ends by itself (null: no end set).
    max_sampling_interval_ms: int | None
    until: datetime | None


class VersionInfo(BaseModel):
    service: str
    env: str
    version: str
    git_commit_sha: str
    git_repository_url: str
    # Why the commit above is not exactly the running code ("unknown", or
    # uncommitted changes on top of it); null when it is.
    provenance_warning: str | None
    profiling: ProfilingState


@router.get("/version")
async def version(state: ServiceStateDep) -> VersionInfo:
    identity, profiling = state.identity, state.profiling
    profile_set = profiling.profile_set
    return VersionInfo(
        service=identity.service,
        env=identity.env,
        version=identity.version,
        git_commit_sha=identity.git_commit_sha,
        git_repository_url=identity.git_repository_url,
        provenance_warning=identity.provenance_warning,
        profiling=ProfilingState(
            enabled=profiling.active,
            profiles=sorted(profile_set.profiles) if profiling.active else [],
            heap_sample_bytes=profile_set.heap_sample_bytes,
            source=profile_set.source,
            max_sampling_interval_ms=profile_set.max_sampling_interval_ms,
            until=profile_set.until,
        ),
    )
