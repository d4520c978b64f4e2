"""Switch profiling, and what it collects, at run time through a small file.

The file (JSON) is mounted from a Kubernetes ConfigMap or a Docker bind mount
and polled; nothing about it is writable over HTTP. Example::

    {"enabled": true, "profiles": ["cpu", "lock"], "heap_sample_bytes": 1048576}

Every key is optional: what the file leaves out comes from the environment. A
missing file means "the environment's settings". A file that can't be used
changes nothing: the error is logged once and the last good state stays.

The CPU sampler's truthful setting costs CPU on every pod while it holds, so
the file sets it only for a while: ``"max_sampling_interval_ms": 2`` needs
``"until"``, an RFC 3339 time at most ``MAX_CAP_HOURS`` ahead (an absolute
time means the same on every pod and after a restart). When it passes, the
cap goes and the rest of the file stays, even if the file has become unusable.
This module decides *what* should run; profiling.py makes it so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from .profile_types import (
    MAX_HEAP_SAMPLE_BYTES,
    MAX_SAMPLING_INTERVAL_MS,
    PROFILE_TYPES,
    ProfileSet,
    ProfileType,
    rfc3339,
)

logger = logging.getLogger(__name__)

# How far ahead ``until`` may be: a working day's chase and a night's margin,
# not a cap forgotten in a ConfigMap for the rest of the quarter.
MAX_CAP_HOURS = 24


class ControlFileError(ValueError):
    """The control file can't be used; the message names what is wrong."""


class ControlFile(BaseModel):
    """The file's keys. A key the file leaves out is not set, and keeps the
    environment's value: the defaults here are never used."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    # Each description finishes the line that says a value is wrong.
    enabled: bool = Field(default=False, description="true or false")
    profiles: frozenset[ProfileType] = Field(
        default=frozenset(), description=f"a list of names from {', '.join(PROFILE_TYPES)}"
    )
    heap_sample_bytes: int = Field(
        default=0, ge=0, le=MAX_HEAP_SAMPLE_BYTES, description=f"a whole number from 0 to {MAX_HEAP_SAMPLE_BYTES}"
    )
    max_sampling_interval_ms: int = Field(
        default=MAX_SAMPLING_INTERVAL_MS,
        ge=1,
        le=MAX_SAMPLING_INTERVAL_MS,
        description=f"a whole number of milliseconds from 1 to {MAX_SAMPLING_INTERVAL_MS}",
    )
    until: AwareDatetime = Field(
        default=datetime.min.replace(tzinfo=UTC),
        description="an RFC 3339 time with its offset, such as 2026-11-29T20:00:00Z",
    )


def _problem(error: ErrorDetails) -> str:
    """pydantic's complaint about the file, as the end of one line."""
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')})"
    if not error["loc"]:
        return "must hold a JSON object"
    key = str(error["loc"][0])
    if error["type"] == "extra_forbidden":
        return f"unknown key {key!r}; known keys: {', '.join(sorted(ControlFile.model_fields))}"
    if error["type"] == "literal_error":
        return f"unknown profile {error['input']!r}; known profiles: {', '.join(PROFILE_TYPES)}"
    return f"{key!r} must be {ControlFile.model_fields[key].description}"


def _cap_problem(document: ControlFile, now: datetime) -> str | None:
    """What is wrong with the file's sampling cap and its end, if anything."""
    has_cap, has_end = "max_sampling_interval_ms" in document.model_fields_set, "until" in document.model_fields_set
    if has_cap and not has_end:
        return f"'max_sampling_interval_ms' needs 'until' (at most {MAX_CAP_HOURS} h ahead): a cap here ends by itself"
    if has_end and not has_cap:
        return "'until' is when 'max_sampling_interval_ms' ends, and the file sets none"
    latest = now + timedelta(hours=MAX_CAP_HOURS)
    if has_end and document.until > latest:
        return (
            f"'until' must be at most {MAX_CAP_HOURS} h ahead (by {rfc3339(latest.replace(microsecond=0))}), "
            f"not {rfc3339(document.until)}: the cap costs CPU on every pod while it holds"
        )
    return None


def without_lapsed_cap(profile_set: ProfileSet, baseline: ProfileSet, now: datetime) -> ProfileSet:
    """``profile_set`` as it stands at ``now``: a cap whose ``until`` has come gives
    way to the baseline's (the environment's), and the rest stays."""
    if profile_set.until is None or now < profile_set.until:
        return profile_set
    return replace(profile_set, max_sampling_interval_ms=baseline.max_sampling_interval_ms, until=None)


def parse_control_file(text: str, baseline: ProfileSet, path: Path, now: datetime) -> ProfileSet:
    """The profile set a control file asks for at ``now``, on top of ``baseline``.
    A cap whose ``until`` has passed is no error: the rest of the file holds."""
    try:
        document = ControlFile.model_validate_json(text)
    except ValidationError as error:
        raise ControlFileError(f"{path}: {_problem(error.errors()[0])}") from None
    problem = _cap_problem(document, now)
    if problem is not None:
        raise ControlFileError(f"{path}: {problem}")
    asked = replace(baseline, source="control file", **document.model_dump(exclude_unset=True))
    if asked.until is not None:
        asked = replace(asked, until=asked.until.astimezone(UTC))
    return without_lapsed_cap(asked, baseline, now)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ControlFileWatcher:
    """Polls the control file and hands every new, valid profile set to ``apply``.

    ``in_force`` starts as what the file asks for when the watcher is made (the
    baseline without a usable file): the profile set serving starts with.
    ``clock`` tells the time the file's ``until`` is compared with.
    """

    def __init__(
        self,
        path: Path,
        baseline: ProfileSet,
        apply: Callable[[ProfileSet], Awaitable[None]],
        poll_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        self.baseline = baseline
        self.apply = apply
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._last_seen: bytes | None = None
        self._said_missing = False
        self.in_force = baseline
        self.in_force = self.desired(clock()) or baseline

    def desired(self, now: datetime) -> ProfileSet | None:
        """What the file asks for at ``now``; None when it can't be used (logged once per content)."""
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            if not self._said_missing:  # once until it appears, so a wrong mount path shows
                logger.warning("profiling control file %s does not exist; the environment decides", self.path)
            self._said_missing = True
            self._last_seen = None
            return self.baseline
        except OSError as error:
            logger.error(
                "profiling control file %s can't be read: %s; keeping %s", self.path, error, self.in_force.describe()
            )
            return None
        self._said_missing = False
        try:
            return parse_control_file(content.decode("utf-8"), self.baseline, self.path, now)
        except (ControlFileError, UnicodeDecodeError) as error:
            if content != self._last_seen:
                logger.error("ignoring profiling control file: %s; keeping %s", error, self.in_force.describe())
            return None
        finally:
            self._last_seen = content

    async def check_once(self) -> None:
        now = self.clock()
        # A file that can't be used keeps the state in force, but not past its end.
        desired = self.desired(now) or without_lapsed_cap(self.in_force, self.baseline, now)
        if desired == self.in_force:
            return
        ended = self.in_force.until
        if ended is not None and ended <= now:
            back_to = desired.max_sampling_interval_ms
            logger.info(
                "max_sampling_interval_ms=%s from the profiling control file ended at %s; CPU sampler back to %s",
                self.in_force.max_sampling_interval_ms,
                rfc3339(ended),
                "ddtrace's adaptive interval" if back_to is None else f"a {back_to} ms cap",
            )
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
