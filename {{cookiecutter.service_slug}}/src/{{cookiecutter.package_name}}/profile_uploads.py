"""Whether profiles reach the Agent, said in log lines.

The ddtrace this service pins reports a profile it could not deliver in one
way only: its native exporter writes a line to the process's stderr
(``ddup.upload()`` returns nothing). The entry point captures stderr (stderr_capture.py) and hands every
line to ``UploadMonitor.on_stderr_line``, which turns each failure into a
structured warning (at most one per upload interval, with the count of those
left out) and lets a profiler's stop say whether its last profile got through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .logs import with_fields

logger = logging.getLogger(__name__)
# Whatever else reaches stderr from native code: one warning per line.
stderr_logger = logging.getLogger(f"{__package__}.stderr")
# Scheduled uploads come one interval apart, give or take a few milliseconds:
# a failure that much early still counts as the next interval's.
INTERVAL_TOLERANCE = 0.9


class UploadMonitor:
    """Profile upload failures, from the exporter's stderr lines to warnings.

    ``failure_prefixes``: how the exporter's failure lines begin (ddtrace's
    words, in ddtrace_internals.py). ``wait_until_read``: blocks until the
    stderr reader has caught up (``StderrCapture.wait_until_read``); without it
    nothing is observed and a stop says so instead of guessing.
    """

    def __init__(
        self,
        failure_prefixes: tuple[str, ...] = (),
        warn_every_seconds: float = 60.0,
        wait_until_read: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failure_prefixes = failure_prefixes
        self._warn_every_seconds = warn_every_seconds
        self._wait_until_read = wait_until_read
        self._clock = clock
        self._lock = threading.Lock()
        self.failures = 0
        self._suppressed = 0
        self._last_warning_at: float | None = None
        self._flushing = False
        self._flush_error: str | None = None

    def on_stderr_line(self, line: str) -> None:
        """One line from stderr: a failed upload, or anything else."""
        if not line.startswith(self._failure_prefixes):
            stderr_logger.warning("%s", line)
            return
        with self._lock:
            self.failures += 1
            if self._flushing:  # the stop's own line reports it
                self._flush_error = line
                return
            now, last = self._clock(), self._last_warning_at
            if last is not None and now - last < self._warn_every_seconds * INTERVAL_TOLERANCE:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last_warning_at = self._suppressed, 0, now
            failures = self.failures
        logger.warning(
            "profile upload failed%s: %s",
            f" ({suppressed} more since the last warning)" if suppressed else "",
            line,
            extra=with_fields(
                {
                    "profiling.upload.error": line,
                    "profiling.upload.suppressed": suppressed,
                    "profiling.upload.failures": failures,
                }
            ),
        )

    def catch_up(self) -> bool:
        """Wait until every line written to stderr so far has been handled."""
        return self._wait_until_read is not None and self._wait_until_read()

    @contextmanager
    def final_flush(self) -> Iterator[None]:
        """Around a profiler's ``stop(flush=True)``, which uploads the last profile
        before it returns: after it, one line says whether that upload failed."""
        with self._lock:
            self._flushing, self._flush_error = True, None
        try:
            yield
        finally:
            observed = self.catch_up()
            with self._lock:
                self._flushing = False
                error, failures = self._flush_error, self.failures
        if not observed:
            logger.info(
                "profiler stopped; final profile flushed (whether it was uploaded is not observed: "
                "stderr is not captured in this process)",
                extra=with_fields({"profiling.final_upload": "unobserved"}),
            )
        elif error is not None:
            logger.warning(
                "profiler stopped; final profile not uploaded: %s",
                error,
                extra=with_fields(
                    {
                        "profiling.final_upload": "failed",
                        "profiling.upload.error": error,
                        "profiling.upload.failures": failures,
                    }
                ),
            )
        else:
            logger.info(
                "profiler stopped; final profile uploaded%s",
                f" ({failures} earlier upload{'' if failures == 1 else 's'} failed)" if failures else "",
                extra=with_fields({"profiling.final_upload": "uploaded", "profiling.upload.failures": failures}),
            )
