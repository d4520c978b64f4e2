"""The app factory: configuration, tracing, shared state, routes. What happens
when serving starts and stops (metrics, the profiler, graceful shutdown) is
lifespan.py's."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from .build_info import load_build_info
from .ddtrace_environment import export_ddtrace_environment
from .dependencies import ServiceState
from .identity import Identity, resolve_identity
from .lifespan import build_lifespan
from .profile_uploads import UploadMonitor
from .profiling import Profiling
from .routes import health, version, workload
from .settings import Settings, load_settings
from .telemetry import Telemetry
from .tracing import install_tracing


def create_app(
    settings: Settings | None = None, identity: Identity | None = None, uploads: UploadMonitor | None = None
) -> FastAPI:
    """``identity``: resolved by the entry point, which exported ddtrace's
    environment with it before importing FastAPI; without it, both happen here.
    ``uploads``: the profile upload failures, when the entry point captures stderr."""
    # 1. Configuration, and the identity every profile, span and metric carries.
    settings = settings or load_settings()
    if identity is None:
        identity = resolve_identity(settings, load_build_info())
        export_ddtrace_environment(identity, settings.dd_trace_enabled)

    # 2. Tracing now, so the app below is instrumented; metrics and the
    #    profiler start with serving (lifespan.py).
    install_tracing(identity, settings.dd_trace_enabled)

    # 3. The state routes share, and the lifespan that starts and stops it.
    uploads = uploads or UploadMonitor()
    state = ServiceState(
        settings=settings,
        identity=identity,
        profiling=Profiling(settings, identity, uploads),
        telemetry=Telemetry(settings, identity),
        uploads=uploads,
        workload_slots=asyncio.Semaphore(settings.workload_max_concurrency),
    )
    # ddtrace's FastAPI integration makes the request spans (and APM's request
    # metrics); FastAPI's own OpenTelemetry spans would wrap each in a second
    # server span, and its request metrics would repeat APM's.
    app = FastAPI(
        title=settings.dd_service,
        lifespan=build_lifespan(state),
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = state

    # 4. Routes: they get the state through the dependencies in dependencies.py.
    app.include_router(health.router)
    app.include_router(version.router)
    if settings.workload_enabled:
        app.include_router(workload.router)
    return app
