"""fd 2 read back as lines: whoever writes (native code, Python), a line comes
out whole, a wait means everything before it was handed over, and closing gives
stderr back."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from {{ cookiecutter.package_name }}.stderr_capture import STDERR_FD, StderrCapture


@contextmanager
def captured() -> Iterator[tuple[StderrCapture, list[str]]]:
    """Started in the test itself: pytest points fd 2 at its own file again
    between a fixture's set-up and the test."""
    lines: list[str] = []
    capture = StderrCapture()
    capture.start(lines.append)
    try:
        yield capture, lines
    finally:
        capture.close()


def test_what_any_writer_puts_on_fd_2_reaches_the_callback_line_by_line() -> None:
    python_stderr = sys.__stderr__  # pytest swaps sys.stderr for its own; this one is on fd 2
    assert python_stderr is not None
    with captured() as (capture, lines):
        os.write(STDERR_FD, b"written by native code\nand a second line\n")
        print("written by Python", file=python_stderr, flush=True)
        assert capture.wait_until_read()
    assert lines == ["written by native code", "and a second line", "written by Python"]


def test_a_line_written_in_pieces_comes_out_whole_even_across_a_wait() -> None:
    with captured() as (capture, lines):
        os.write(STDERR_FD, b"Error up")
        assert capture.wait_until_read()
        os.write(STDERR_FD, b"loading (refused)")
        os.write(STDERR_FD, b"\n")
        assert capture.wait_until_read()
    assert lines == ["Error uploading (refused)"]


def test_a_failing_callback_does_not_stop_the_reader() -> None:
    lines: list[str] = []

    def on_line(line: str) -> None:
        if not lines:
            lines.append("failed once")
            raise RuntimeError(line)
        lines.append(line)

    capture = StderrCapture()
    capture.start(on_line)
    try:
        os.write(STDERR_FD, b"first\n")
        assert capture.wait_until_read()
        os.write(STDERR_FD, b"second\n")
        assert capture.wait_until_read()
    finally:
        capture.close()
    assert lines == ["failed once", "second"]


def test_closing_hands_over_the_rest_and_gives_fd_2_back() -> None:
    before = os.fstat(STDERR_FD)
    lines: list[str] = []
    capture = StderrCapture()
    capture.start(lines.append)
    assert os.fstat(STDERR_FD).st_ino != before.st_ino
    os.write(STDERR_FD, b"no newline at the end")
    capture.close()
    assert lines == ["no newline at the end"]
    assert (os.fstat(STDERR_FD).st_dev, os.fstat(STDERR_FD).st_ino) == (before.st_dev, before.st_ino)
    assert not capture.wait_until_read(), "a closed capture has nothing to wait for"
