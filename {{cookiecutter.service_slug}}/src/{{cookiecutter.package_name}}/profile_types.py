"""The profile vocabulary: the profile types, by the names the control file,
``/version`` and the logs use; the ddtrace variable that switches each on from
the environment; and a set of them, which is what a profiler runs.

The one list of profile types. settings.py has a field per variable,
ddtrace_internals.py a profiler switch per type, and tests check both against
this table. Imports nothing of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

ProfileType = Literal["cpu", "memory", "lock", "exception"]
# The largest heap sample size the service accepts (1 GiB between samples).
MAX_HEAP_SAMPLE_BYTES = 1 << 30
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

    def describe(self) -> str:
        if not self.enabled:
            return f"profiling off (from {self.source})"
        profiles = ",".join(sorted(self.profiles)) or "none"
        return f"profiling on: {profiles}; heap_sample_bytes={self.heap_sample_bytes} (from {self.source})"
