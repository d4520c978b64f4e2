"""The profile vocabulary: the profile types, by the names the control file,
``/version`` and the logs use; the ddtrace variable that switches each on from
the environment; and a set of them, which is what a profiler runs.

The one list of profile types. settings.py has a field per variable,
ddtrace_internals.py a profiler switch per type, and tests check both against
this table. Imports nothing of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

ProfileType = Literal["cpu", "memory", "lock", "exception"]
# The largest heap sample size the service accepts (1 GiB between samples).
MAX_HEAP_SAMPLE_BYTES = 1 << 30
# The largest CPU sampling-interval cap the service accepts: ddtrace's own (100 ms).
MAX_SAMPLING_INTERVAL_MS = 100
PROFILE_TYPES: tuple[ProfileType, ...] = get_args(ProfileType)

# ddtrace's own variable for each type (the settings' field of the same name).
PROFILE_TYPE_VARIABLES: dict[ProfileType, str] = {
    "cpu": "DD_PROFILING_STACK_ENABLED",
    "memory": "DD_PROFILING_MEMORY_ENABLED",
    "lock": "DD_PROFILING_LOCK_ENABLED",
    "exception": "DD_PROFILING_EXCEPTION_ENABLED",
}


@dataclass(frozen=True)
class ProfileSet:
    """What the profiler should be doing, and who asked for it."""

    enabled: bool
    profiles: frozenset[ProfileType]
    heap_sample_bytes: int
    source: str = "environment"
    # The CPU sampler's longest interval (None: ddtrace's adaptive 10-100 ms),
    # and when the control file's cap ends (None: it holds while the set does).
    max_sampling_interval_ms: int | None = None
    until: datetime | None = None

    def describe(self) -> str:
        if not self.enabled:
            return f"profiling off (from {self.source})"
        profiles = ",".join(sorted(self.profiles)) or "none"
        cap = ""
        if self.max_sampling_interval_ms is not None:
            cap = f"; max_sampling_interval_ms={self.max_sampling_interval_ms}"
            cap += f" until {rfc3339(self.until)}" if self.until is not None else ""
        return f"profiling on: {profiles}; heap_sample_bytes={self.heap_sample_bytes}{cap} (from {self.source})"


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 writes it, the way the control file and ``/version`` do."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
