"""Switch profiling, and what it collects, at run time through a small file.

The file (JSON) is mounted from a Kubernetes ConfigMap or a Docker bind mount
and polled; nothing about it is writable over HTTP. Example::

    {"enabled": true, "profiles": ["cpu", "lock"], "heap_sample_bytes": 1048576}

Every key is optional: what the file leaves out comes from the environment. A
missing file means "the environment's settings". A file that can't be used
changes nothing: the error is logged once and the last good state stays.
This module decides *what* should run; observability.py makes it so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

logger = logging.getLogger(__name__)

# The profile types, by the names the control file, /version and the logs use.
# Everything that maps them (settings.py to environment variables,
# ddtrace_internals.py to ddtrace's switches) is checked against this list.
ProfileType = Literal["cpu", "memory", "lock", "exception"]
PROFILE_TYPES: tuple[ProfileType, ...] = get_args(ProfileType)
MAX_HEAP_SAMPLE_BYTES = 1 << 30
KNOWN_KEYS = frozenset({"enabled", "profiles", "heap_sample_bytes"})


class ControlFileError(ValueError):
    """The control file can't be used; the message names what is wrong."""


@dataclass(frozen=True)
class ProfileSet:
    """What the profiler should be doing."""

    enabled: bool
    profiles: frozenset[ProfileType]
    heap_sample_bytes: int
    source: str = "environment"

    def describe(self) -> str:
        if not self.enabled:
            return f"profiling off (from {self.source})"
        profiles = ",".join(sorted(self.profiles)) or "none"
        return f"profiling on: {profiles}; heap_sample_bytes={self.heap_sample_bytes} (from {self.source})"


def parse_control_file(text: str, baseline: ProfileSet, path: Path) -> ProfileSet:
    """The profile set a control file asks for, on top of ``baseline``."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ControlFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict):
        raise ControlFileError(f"{path}: must hold a JSON object")
    unknown = sorted(set(document) - KNOWN_KEYS)
    if unknown:
        raise ControlFileError(f"{path}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(KNOWN_KEYS))}")
    result = replace(baseline, source="control file")
    if "enabled" in document:
        if not isinstance(document["enabled"], bool):
            raise ControlFileError(f"{path}: 'enabled' must be true or false")
        result = replace(result, enabled=document["enabled"])
    if "profiles" in document:
        profiles = document["profiles"]
        if not isinstance(profiles, list) or not all(isinstance(name, str) for name in profiles):
            raise ControlFileError(f"{path}: 'profiles' must be a list of names from {', '.join(PROFILE_TYPES)}")
        unknown_profiles = sorted(set(profiles) - set(PROFILE_TYPES))
        if unknown_profiles:
            raise ControlFileError(
                f"{path}: unknown profile {unknown_profiles[0]!r}; known profiles: {', '.join(PROFILE_TYPES)}"
            )
        result = replace(result, profiles=frozenset(name for name in PROFILE_TYPES if name in profiles))
    if "heap_sample_bytes" in document:
        size = document["heap_sample_bytes"]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_HEAP_SAMPLE_BYTES:
            raise ControlFileError(
                f"{path}: 'heap_sample_bytes' must be a whole number from 0 to {MAX_HEAP_SAMPLE_BYTES}"
            )
        result = replace(result, heap_sample_bytes=size)
    return result


class ControlFileWatcher:
    """Polls the control file and hands every new, valid profile set to ``apply``."""

    def __init__(
        self,
        path: Path,
        baseline: ProfileSet,
        apply: Callable[[ProfileSet], Awaitable[None]],
        poll_seconds: float,
    ) -> None:
        self.path = path
        self.baseline = baseline
        self.apply = apply
        self.poll_seconds = poll_seconds
        self.in_force = baseline
        self._last_seen: bytes | None = None

    def desired(self) -> ProfileSet | None:
        """What the file asks for now; None when it can't be used (logged once per content)."""
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            self._last_seen = None
            return self.baseline
        except OSError as error:
            logger.error(
                "profiling control file %s can't be read: %s; keeping %s", self.path, error, self.in_force.describe()
            )
            return None
        try:
            return parse_control_file(content.decode("utf-8"), self.baseline, self.path)
        except (ControlFileError, UnicodeDecodeError) as error:
            if content != self._last_seen:
                logger.error("ignoring profiling control file: %s; keeping %s", error, self.in_force.describe())
            return None
        finally:
            self._last_seen = content

    async def check_once(self) -> None:
        desired = self.desired()
        if desired is None or desired == self.in_force:
            return
        await self.apply(desired)
        self.in_force = desired

    async def run(self) -> None:
        """Poll until cancelled. A failure to apply is logged and retried next poll."""
        while True:
            try:
                await self.check_once()
            except Exception:
                logger.exception("applying the profiling control file failed; keeping %s", self.in_force.describe())
            await asyncio.sleep(self.poll_seconds)
