"""Switch profiling, and what it collects, at run time through a small file
(its format: control_file.py), polled while the service serves.

A missing file means "the environment's settings"; a file that can't be used
changes nothing: the error is logged once and the last good state stays. A
sampling cap the file set ends by itself at its ``until``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from .control_file import ControlFileError, parse_control_file, without_lapsed_cap
from .profile_types import ProfileSet, rfc3339

logger = logging.getLogger(__name__)


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
