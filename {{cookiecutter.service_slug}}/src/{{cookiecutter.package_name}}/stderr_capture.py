"""The process's stderr (file descriptor 2) read back as lines, so that what
native code writes there can be logged in the service's own format.

Native code (ddtrace's profile exporter among it) writes to fd 2 directly, past
``logging`` and ``sys.stderr``. ``StderrCapture`` points fd 2 at a pipe; a
thread reads the pipe and hands each complete line to a callback. Only the
entry point starts one: fd 2 belongs to the whole process.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import re
import sys
import threading
from collections.abc import Callable

STDERR_FD = 2
READ_CHUNK_BYTES = 65536
# A line longer than this is handed over in pieces rather than held without end.
MAX_LINE_BYTES = 16384
# Written to fd 2 by wait_until_read(): everything before it in the pipe has been
# handed over once the reader reaches it. NUL bytes: no text line contains them.
_MARK = re.compile(rb"\x00stderr-capture-mark:(\d+)\x00")


class StderrCapture:
    """fd 2 into a pipe, a reader thread out of it, one callback per line."""

    def __init__(self) -> None:
        self._saved_fd: int | None = None
        self._reader: threading.Thread | None = None
        self._raise_logging_exceptions = logging.raiseExceptions
        self._progress = threading.Condition()
        self._marks_written = 0
        self._marks_read = 0

    def start(self, on_line: Callable[[str], None]) -> None:
        """Point fd 2 at the pipe and start reading; ``on_line`` runs in the reader."""
        if self._reader is not None:
            raise RuntimeError("stderr is already captured")
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        self._saved_fd = os.dup(STDERR_FD)
        os.dup2(write_fd, STDERR_FD)
        os.close(write_fd)
        # A crash dump cannot wait for a thread of the dying process: if Python's
        # fault handler is on, it keeps writing to the real stderr.
        if faulthandler.is_enabled():
            faulthandler.enable(file=self._saved_fd)
        # logging reports a failing handler on sys.stderr, which now feeds the
        # reader, whose lines go to those handlers: a loop. Drop such reports.
        logging.raiseExceptions = False
        self._reader = threading.Thread(target=self._read, args=(read_fd, on_line), name="stderr-capture", daemon=True)
        self._reader.start()

    def wait_until_read(self, timeout: float = 5.0) -> bool:
        """Block until every line written to fd 2 before this call has been
        handed over; False if not capturing, or after ``timeout`` seconds."""
        reader = self._reader
        if reader is None or not reader.is_alive():
            return False
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        with self._progress:
            self._marks_written += 1
            number = self._marks_written
        os.write(STDERR_FD, b"\x00stderr-capture-mark:%d\x00" % number)
        with self._progress:
            return self._progress.wait_for(lambda: self._marks_read >= number, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Give fd 2 back to the real stderr, and hand over what the pipe still holds."""
        reader, saved_fd = self._reader, self._saved_fd
        if reader is None or saved_fd is None:
            return
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        # The pipe's last write end closes here: the reader drains it and stops.
        os.dup2(saved_fd, STDERR_FD)
        if faulthandler.is_enabled():
            faulthandler.enable(file=STDERR_FD)
        reader.join(timeout)
        os.close(saved_fd)
        logging.raiseExceptions = self._raise_logging_exceptions
        self._reader = self._saved_fd = None

    def _read(self, read_fd: int, on_line: Callable[[str], None]) -> None:
        pending = b""
        try:
            while chunk := os.read(read_fd, READ_CHUNK_BYTES):
                pending, marks = _take_marks(pending + chunk)
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_LINE_BYTES:
                    lines.append(pending)
                    pending = b""
                for line in lines:
                    _hand_over(line, on_line)
                if marks:
                    with self._progress:
                        self._marks_read = max(self._marks_read, *marks)
                        self._progress.notify_all()
            _hand_over(pending, on_line)
        finally:
            os.close(read_fd)


def _take_marks(data: bytes) -> tuple[bytes, list[int]]:
    """The data without the marks in it, and the numbers of those marks."""
    marks = [int(number) for number in _MARK.findall(data)]
    return (_MARK.sub(b"", data), marks) if marks else (data, marks)


def _hand_over(line: bytes, on_line: Callable[[str], None]) -> None:
    text = line.decode("utf-8", errors="replace").rstrip()
    if not text:
        return
    # The reader must outlive any callback: if it stopped, the pipe would fill
    # and every writer to stderr (the profile exporter too) would block.
    with contextlib.suppress(Exception):
        on_line(text)
