"""The app factory: settings, observability, shared state, routes. What happens
when serving starts and stops (the profiler, graceful shutdown) is lifespan.py's."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from .build_info import BuildInfo, load_build_info
from .dependencies import ServiceState
from .lifespan import build_lifespan
from .observability import Observability
from .profile_uploads import UploadMonitor
from .routes import health, meta, workload
from .settings import Settings, load_settings


def create_app(
    settings: Settings | None = None, build: BuildInfo | None = None, uploads: UploadMonitor | None = None
) -> FastAPI:
    # 1. Configuration: the environment, and the provenance baked at build time.
    settings = settings or load_settings()
    build = build or load_build_info()

    # 2. Observability: tracing now, so the app below is instrumented; the
    #    profiler starts with serving (lifespan.py). ``uploads`` watches the
    #    profile uploads when the entry point captures stderr.
    observability = Observability(settings, build, uploads)
    observability.init()

    # 3. The state routes share, and the lifespan that starts and stops it.
    state = ServiceState(settings, observability, asyncio.Semaphore(settings.workload_max_concurrency))
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
    app.include_router(meta.router)
    if settings.workload_enabled:
        app.include_router(workload.router)
    return app
