"""The runtime profiling switch's file: its format, its rules, one line per problem.

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
This module reads the file; profiling_control.py watches it; profiling.py makes
what it asks for so.
"""

from __future__ import annotations

import logging
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
