"""Every private name of ddtrace (and of CPython's threading) the service uses.

ddtrace (at the version pyproject.toml pins) has no public way to choose the
profile types of one ``Profiler``, to tune its sampler, or to stop and start it
cleanly more than once, so the service reaches inside here, and only here.
``tests/test_ddtrace_internals.py`` fails naming the installed ddtrace version
when an upgrade removes or changes a name: this file breaks loudly, not the
service quietly.

Importing this module imports ddtrace: see ddtrace_environment.py for when.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ddtrace
from ddtrace.internal.settings.profiling import config as profiling_config
from ddtrace.internal.settings.profiling import exception_is_available
from ddtrace.profiling.profiler import Profiler as Profiler  # the type profiling.py holds

from .profile_types import ProfileType

DDTRACE_VERSION: str = ddtrace.__version__

# The stack sampler, as ddtrace configures it by itself. Every 250 ms it sets
# its interval so its own CPU meets floor (hundredths of a core; 0) + target
# (percent of the process's CPU, the larger of now and its 600 s p95; 1), within
# 100 µs and the cap (µs; 100 ms). With no floor a quiet process samples every
# 100 ms and short bursts land on the wait after them. The stack collector reads
# all three at each start, so every profiler start sets them again.
DEFAULT_MAX_SAMPLING_INTERVAL_US: int = profiling_config.stack.adaptive_sampling_max_interval
DDTRACE_SAMPLER_FLOOR_CORE_PERCENT: float = profiling_config.stack.adaptive_sampling_baseline
DDTRACE_SAMPLER_TARGET_PERCENT: float = profiling_config.stack.adaptive_sampling_target_overhead

# Profile types this process cannot run: exception profiling needs sys.monitoring (3.12+).
UNAVAILABLE_PROFILE_TYPES: dict[ProfileType, str] = {}
if not exception_is_available:
    UNAVAILABLE_PROFILE_TYPES["exception"] = "needs Python 3.12+"


@dataclass(frozen=True)
class ProfilerSwitch:
    """How ddtrace switches one profile type: the ``Profiler`` keyword argument,
    and the section of its settings object whose ``enabled`` must agree with it
    (the stack collector registers threads only when ``stack.enabled``, and each
    profile's ``profiler_config`` tag is read from these sections)."""

    argument: str
    config_section: str


PROFILER_SWITCHES: dict[ProfileType, ProfilerSwitch] = {
    "cpu": ProfilerSwitch("_stack_collector_enabled", "stack"),
    "memory": ProfilerSwitch("_memory_collector_enabled", "memory"),
    "lock": ProfilerSwitch("_lock_collector_enabled", "lock"),
    "exception": ProfilerSwitch("_exception_profiling_enabled", "exception"),
}

# The threading.Thread methods ddtrace's stack collector wraps on every start
# (to register threads with its sampler) and never unwraps on stop: without
# the restore below, each runtime switch nested one more wrapper, and after a
# few hundred switches no thread could start (RecursionError).
PATCHED_THREAD_METHODS = ("_set_native_id", "_bootstrap_inner")
_UNPATCHED_THREAD_METHODS: dict[str, Callable[..., Any]] = {
    name: vars(threading.Thread)[name] for name in PATCHED_THREAD_METHODS
}


# How the stderr lines begin that ddtrace's native exporter (dd_wrapper's
# uploader.cpp, ddup_interface.cpp) writes when a profile is not delivered, its
# only report (``ddup.upload()`` drops the result); a stop's final one comes
# before ``stop(flush=True)`` returns. An Agent's HTTP error is reported nowhere.
PROFILE_EXPORT_FAILURES: tuple[str, ...] = (
    "Error uploading",
    "Error initializing runtime",
    "Failed to create uploader",
    "ddup_upload() called before ddup_start()",
    "Error opening output file",
    "Error writing to",
    "Error getting bytes from encoded profile",
)


def upload_interval_seconds() -> float:
    """``DD_PROFILING_UPLOAD_INTERVAL`` as ddtrace read it (its default: 60 s)."""
    interval: float = profiling_config.upload_interval
    return interval


def heap_sample_bytes() -> int:
    """``DD_PROFILING_HEAP_SAMPLE_SIZE`` as ddtrace read it (its default: 1 MiB)."""
    size: int = profiling_config.heap.sample_size
    return size


def start_profiler(
    *,
    service: str,
    env: str,
    version: str,
    tags: dict[str, str],
    profiles: frozenset[ProfileType],
    heap_sample_bytes: int,
    max_sampling_interval_us: int | None = None,
    sampler_floor_core_percent: float = DDTRACE_SAMPLER_FLOOR_CORE_PERCENT,
    sampler_target_percent: float = DDTRACE_SAMPLER_TARGET_PERCENT,
) -> Profiler:
    """Start a profiler collecting exactly ``profiles``, the CPU sampler's
    interval capped at ``max_sampling_interval_us`` (None: ddtrace's own cap)
    and its budget as given (defaults: ddtrace's own)."""
    unknown = profiles - PROFILER_SWITCHES.keys()
    if unknown:
        raise ValueError(f"unknown profile types: {', '.join(sorted(unknown))}")
    for profile, switch in PROFILER_SWITCHES.items():
        getattr(profiling_config, switch.config_section).enabled = profile in profiles
    # The memory collector reads the sample size when it is created.
    profiling_config.heap.sample_size = heap_sample_bytes
    profiling_config.stack.adaptive_sampling_max_interval = max_sampling_interval_us or DEFAULT_MAX_SAMPLING_INTERVAL_US
    profiling_config.stack.adaptive_sampling_baseline = sampler_floor_core_percent
    profiling_config.stack.adaptive_sampling_target_overhead = sampler_target_percent
    switches = {switch.argument: profile in profiles for profile, switch in PROFILER_SWITCHES.items()}
    profiler = Profiler(service=service, env=env, version=version, tags=tags, **switches)
    profiler.start()
    return profiler


def stop_profiler(profiler: Profiler) -> None:
    """Flush the last profile, stop, and take back what ``start()`` patched."""
    try:
        profiler.stop(flush=True)
    finally:
        restore_thread_methods()


def restore_thread_methods() -> None:
    """Put back the threading.Thread methods as they were before any profiler
    started. Threads already running keep the wrapper they started with; the
    next profiler start wraps the originals once, and registers every living
    thread with its sampler itself."""
    for name, method in _UNPATCHED_THREAD_METHODS.items():
        setattr(threading.Thread, name, method)


def thread_wrapper_depth() -> int:
    """How many wrappers sit on ``threading.Thread._bootstrap_inner`` now: 1
    while a CPU profiler runs, 0 otherwise. Anything more is the leak above."""
    original = _UNPATCHED_THREAD_METHODS["_bootstrap_inner"]
    method: Any = vars(threading.Thread)["_bootstrap_inner"]
    depth = 0
    while method is not original:
        inner = [cell.cell_contents for cell in method.__closure__ or () if callable(cell.cell_contents)]
        if not inner:
            raise RuntimeError(f"threading.Thread._bootstrap_inner is wrapped by something unknown: {method!r}")
        method = inner[0]
        depth += 1
    return depth
