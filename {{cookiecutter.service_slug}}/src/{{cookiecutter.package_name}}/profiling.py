"""The profiler in force, one at a time: started with serving, replaced whole
on a runtime switch (the control file; the flush in between marks the boundary
in the uploaded profiles), flushed and stopped after the drain. ddtrace is
reached through ddtrace_internals.py, imported inside the functions (why:
ddtrace_environment.py)."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from .identity import Identity
from .profile_types import ProfileSet
from .profile_uploads import UploadMonitor
from .settings import Settings
from .signal_handlers import keeping_signal_handlers

if TYPE_CHECKING:
    from .ddtrace_internals import Profiler

logger = logging.getLogger(__name__)


def baseline_profile_set(settings: Settings) -> ProfileSet:
    """The profile set the environment asks for (see the settings' defaults)."""
    from . import ddtrace_internals

    heap_sample_bytes = settings.dd_profiling_heap_sample_size
    if heap_sample_bytes is None:
        # Unset: what ddtrace derived for itself (from the machine's memory).
        heap_sample_bytes = ddtrace_internals.heap_sample_bytes()
    return ProfileSet(
        enabled=settings.dd_profiling_enabled,
        profiles=settings.profile_types(),
        heap_sample_bytes=heap_sample_bytes,
        max_sampling_interval_ms=settings.profiling_max_sampling_interval_ms,
    )


class Profiling:
    """Continuous profiling for one process: which profiler runs, and with what."""

    def __init__(self, settings: Settings, identity: Identity, uploads: UploadMonitor | None = None) -> None:
        self.identity = identity
        self.baseline = baseline_profile_set(settings)
        # Not part of a profile set: the control file leaves them as deployed.
        self.sampler_floor_core_percent = settings.profiling_sampler_floor_core_percent
        self.sampler_target_percent = settings.profiling_sampler_target_percent
        # What the stop of a profiler says about its last upload: observed when
        # the entry point captures stderr, else not.
        self._uploads = uploads or UploadMonitor()
        self.profile_set = ProfileSet(enabled=False, profiles=frozenset(), heap_sample_bytes=0)
        self._profiler: Profiler | None = None
        # The control-file watcher applies changes from a worker thread while
        # shutdown may be stopping: one change at a time.
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._profiler is not None

    def apply(self, profile_set: ProfileSet) -> None:
        """Make the profiler run ``profile_set``: flush and stop the current one,
        then start a new one. Blocks for the flush: call it off the event loop
        once serving."""
        from . import ddtrace_internals

        unavailable = profile_set.profiles & ddtrace_internals.UNAVAILABLE_PROFILE_TYPES.keys()
        for profile in sorted(unavailable):
            reason = ddtrace_internals.UNAVAILABLE_PROFILE_TYPES[profile]
            logger.warning("%s profiling %s; running without it", profile, reason)
        profile_set = replace(profile_set, profiles=profile_set.profiles - unavailable)
        milliseconds = profile_set.max_sampling_interval_ms
        with self._lock:
            self._stop_profiler()
            if profile_set.enabled:
                with keeping_signal_handlers():
                    self._profiler = ddtrace_internals.start_profiler(
                        service=self.identity.service,
                        env=self.identity.env,
                        version=self.identity.version,
                        tags=self.identity.profiler_tags(),
                        profiles=profile_set.profiles,
                        heap_sample_bytes=profile_set.heap_sample_bytes,
                        max_sampling_interval_us=None if milliseconds is None else milliseconds * 1000,
                        sampler_floor_core_percent=self.sampler_floor_core_percent,
                        sampler_target_percent=self.sampler_target_percent,
                    )
            self.profile_set = profile_set
        logger.info("%s", profile_set.describe())

    def stop(self) -> None:
        """Flush the last profile and stop; one line says whether it was
        uploaded. Blocks for the upload: call it after the drain, off the event loop."""
        with self._lock:
            self._stop_profiler()

    def _stop_profiler(self) -> None:
        from . import ddtrace_internals

        profiler, self._profiler = self._profiler, None
        if profiler is not None:
            with self._uploads.final_flush():
                ddtrace_internals.stop_profiler(profiler)
