"""Switch profiling, and what it collects, at run time through a small file.

The file (JSON) is mounted from a Kubernetes ConfigMap or a Docker bind mount
and polled; nothing about it is writable over HTTP. Example::

    {"enabled": true, "profiles": ["cpu", "lock"], "heap_sample_bytes": 1048576}

Every key is optional: what the file leaves out comes from the environment. A
missing file means "the environment's settings". A file that can't be used
changes nothing: the error is logged once and the last good state stays.
This module decides *what* should run; profiling.py makes it so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from .profile_types import MAX_HEAP_SAMPLE_BYTES, PROFILE_TYPES, ProfileSet, ProfileType

logger = logging.getLogger(__name__)


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


def parse_control_file(text: str, baseline: ProfileSet, path: Path) -> ProfileSet:
    """The profile set a control file asks for, on top of ``baseline``."""
    try:
        document = ControlFile.model_validate_json(text)
    except ValidationError as error:
        raise ControlFileError(f"{path}: {_problem(error.errors()[0])}") from None
    return replace(baseline, source="control file", **document.model_dump(exclude_unset=True))


class ControlFileWatcher:
    """Polls the control file and hands every new, valid profile set to ``apply``.

    ``in_force`` starts as what the file asks for when the watcher is made (the
    baseline without a usable file): the profile set serving starts with.
    """

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
        self._last_seen: bytes | None = None
        self._said_missing = False
        self.in_force = baseline
        self.in_force = self.desired() or baseline

    def desired(self) -> ProfileSet | None:
        """What the file asks for now; None when it can't be used (logged once per content)."""
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
