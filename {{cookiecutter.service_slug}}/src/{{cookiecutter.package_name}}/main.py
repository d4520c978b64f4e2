"""The app factory: settings, observability, routes, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .build_info import BuildInfo, load_build_info
from .observability import Observability
from .profiling_control import ControlFileWatcher, ProfileSet
from .readiness import ThreadStartProbe
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

    async def apply_in_thread(profile_set: ProfileSet) -> None:
        # Stopping flushes a profile (an upload): keep it off the event loop.
        await asyncio.to_thread(observability.apply, profile_set)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = None
        if settings.profiling_control_file is not None:
            baseline = observability.baseline_profile_set()
            watcher = ControlFileWatcher(
                settings.profiling_control_file, baseline, apply_in_thread, settings.profiling_control_poll_seconds
            )
            watcher.in_force = watcher.desired() or baseline
        observability.start(watcher.in_force if watcher else None)
        polling = asyncio.create_task(watcher.run()) if watcher else None
        # What exists now (modules, the app, the profiler) lives as long as the
        # process: frozen, the collector's full passes stop walking it. Those
        # passes paused requests ~24 ms each; frozen ~0.3 ms, and p99 of GET /
        # fell from ~15 ms to ~1 ms (bench/profiler_overhead.py, template repo).
        gc.collect()
        gc.freeze()
        app.state.ready = True
        try:
            yield
        finally:
            # 4. Graceful shutdown: uvicorn has drained requests by now; the
            #    final upload blocks, so it runs off the event loop.
            app.state.ready = False
            gc.unfreeze()
            if polling is not None:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
            await asyncio.to_thread(observability.stop)

    # 3. Routes.
    app = FastAPI(title=settings.dd_service, lifespan=lifespan)
    app.state.settings = settings
    app.state.observability = observability
    app.state.workload_slots = asyncio.Semaphore(settings.workload_max_concurrency)
    app.state.thread_start_probe = ThreadStartProbe()
    app.include_router(health.router)
    app.include_router(meta.router)
    if settings.workload_enabled:
        app.include_router(workload.router)
    return app
