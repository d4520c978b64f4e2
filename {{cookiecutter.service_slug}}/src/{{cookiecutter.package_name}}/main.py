"""The app factory: settings, observability, routes, graceful shutdown."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from .build_info import BuildInfo, load_build_info
from .lifespan import build_lifespan
from .observability import Observability
from .readiness import ThreadStartProbe
from .routes import health, meta, workload
from .settings import Settings, load_settings


def create_app(settings: Settings | None = None, build: BuildInfo | None = None) -> FastAPI:
    # 1. Configuration: the environment, and the provenance baked at build time.
    settings = settings or load_settings()
    build = build or load_build_info()

    # 2. Observability: tracing now, so the app below is instrumented.
    observability = Observability(settings, build)
    observability.init()

    # 3. Routes, and what they depend on.
    # ddtrace's FastAPI integration makes the request spans (and APM's request
    # metrics); FastAPI's own OpenTelemetry spans would wrap each in a second
    # server span, and its request metrics would repeat APM's.
    app = FastAPI(
        title=settings.dd_service,
        lifespan=build_lifespan(settings, observability),
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.observability = observability
    app.state.workload_slots = asyncio.Semaphore(settings.workload_max_concurrency)
    app.state.thread_start_probe = ThreadStartProbe()
    app.include_router(health.router)
    app.include_router(meta.router)
    if settings.workload_enabled:
        app.include_router(workload.router)

    # 4. Graceful shutdown lives in the lifespan (lifespan.py): the profiler
    #    starts with serving and flushes its last profile after the drain.
    return app
