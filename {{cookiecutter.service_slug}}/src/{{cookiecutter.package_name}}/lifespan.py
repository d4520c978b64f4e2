"""What happens when the service starts serving and after it stops, in order:
metrics and the profiler (with its runtime control file) start, the start-up
heap is frozen, readiness turns on; on shutdown, after uvicorn has drained
in-flight requests, the final profile, metrics and spans are sent."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from .dependencies import ServiceState
from .profile_types import ProfileSet
from .profiling import Profiling
from .profiling_control import ControlFileWatcher
from .settings import Settings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def control_file_watcher(settings: Settings, profiling: Profiling) -> ControlFileWatcher | None:
    """The runtime switch, when a control file is configured."""
    if settings.profiling_control_file is None:
        return None

    async def apply_in_thread(profile_set: ProfileSet) -> None:
        # Stopping flushes a profile (an upload): keep it off the event loop.
        await asyncio.to_thread(profiling.apply, profile_set)

    return ControlFileWatcher(
        settings.profiling_control_file, profiling.baseline, apply_in_thread, settings.profiling_control_poll_seconds
    )


def shut_down(state: ServiceState) -> None:
    """Send what is left. Each step blocks for an upload: run it off the event loop."""
    state.profiling.stop()
    state.telemetry.stop()
    # The process may end right after (uvicorn re-raises SIGTERM): log what
    # native code wrote to stderr until now while the reader still can.
    state.uploads.catch_up()


def build_lifespan(state: ServiceState) -> Lifespan:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        watcher = control_file_watcher(state.settings, state.profiling)
        state.telemetry.start()
        state.profiling.apply(watcher.in_force if watcher else state.profiling.baseline)
        polling = asyncio.create_task(watcher.run()) if watcher else None
        # What exists now (modules, the app, the profiler) lives as long as the
        # process: frozen, the collector's full passes stop walking it, so they
        # no longer pause requests for as long as a walk of the whole start-up heap takes.
        gc.collect()
        gc.freeze()
        state.ready = True
        try:
            yield
        finally:
            # Graceful shutdown: uvicorn has drained requests by now.
            state.ready = False
            gc.unfreeze()
            if polling is not None:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
            await asyncio.to_thread(shut_down, state)

    return lifespan
