"""The app factory: settings, observability, routes, graceful shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .build_info import BuildInfo, load_build_info
from .observability import Observability
from .routes import health, meta, workload
from .settings import Settings, load_settings


def create_app(settings: Settings | None = None, build: BuildInfo | None = None) -> FastAPI:
    # 1. Configuration: the environment, and the provenance baked at build time.
    settings = settings or load_settings()
    build = build or load_build_info()

    # 2. Observability: tracing now, so the app below is instrumented; the
    #    profiler starts with serving and flushes after the drain.
    observability = Observability(settings, build)
    observability.init()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        observability.start()
        app.state.ready = True
        try:
            yield
        finally:
            # 4. Graceful shutdown: uvicorn has drained requests by now; the
            #    final upload blocks, so it runs off the event loop.
            app.state.ready = False
            await asyncio.to_thread(observability.stop)

    # 3. Routes.
    app = FastAPI(title=settings.dd_service, lifespan=lifespan)
    app.state.settings = settings
    app.state.observability = observability
    app.state.workload_slots = asyncio.Semaphore(settings.workload_max_concurrency)
    app.include_router(health.router)
    app.include_router(meta.router)
    if settings.workload_enabled:
        app.include_router(workload.router)
    return app
