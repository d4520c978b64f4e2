"""Profile upload failures, from the exporter's stderr lines to log lines: one
warning per upload interval with a count of the rest, and a stop line that says
whether the last profile was uploaded (or that nobody could see)."""

from __future__ import annotations

import logging

import pytest

from {{ cookiecutter.package_name }}.profile_uploads import UploadMonitor

from .conftest import PACKAGE

FAILURE = (
    "Error uploading (ddog_prof_Exporter_send_blocking failed: Failed to send HTTP request: "
    "tcp connect error: Connection refused (os error 111))"
)
INTERVAL = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def watching(clock: Clock | None = None) -> UploadMonitor:
    """A monitor as the entry point makes it, its stderr reader always caught up."""
    return UploadMonitor(("Error uploading",), INTERVAL, wait_until_read=lambda: True, clock=clock or Clock())


def said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int, str]]:
    return [(record.name, record.levelno, record.getMessage()) for record in caplog.records]


def fields(record: logging.LogRecord) -> dict[str, object]:
    values: dict[str, object] = record.__dict__["fields"]
    return values


def test_the_first_failure_warns_at_once_with_its_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    watching().on_stderr_line(FAILURE)
    assert said(caplog) == [(f"{PACKAGE}.profile_uploads", logging.WARNING, f"profile upload failed: {FAILURE}")]
    assert fields(caplog.records[0]) == {
        "profiling.upload.error": FAILURE,
        "profiling.upload.suppressed": 0,
        "profiling.upload.failures": 1,
    }


def test_failures_within_an_upload_interval_are_counted_and_told_with_the_next_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    monitor = watching(clock)
    for clock.now in (0.0, 10.0, 30.0, 50.0):
        monitor.on_stderr_line(FAILURE)
    assert len(caplog.records) == 1, said(caplog)
    clock.now = 0.95 * INTERVAL  # one interval later, give or take the upload's own time
    monitor.on_stderr_line(FAILURE)
    assert len(caplog.records) == 2, said(caplog)
    assert caplog.records[1].getMessage() == f"profile upload failed (3 more since the last warning): {FAILURE}"
    assert fields(caplog.records[1])["profiling.upload.suppressed"] == 3
    assert fields(caplog.records[1])["profiling.upload.failures"] == 5


def test_any_other_stderr_line_is_logged_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    watching().on_stderr_line("something native had to say")
    assert said(caplog) == [(f"{PACKAGE}.stderr", logging.WARNING, "something native had to say")]


def test_a_failed_final_upload_is_said_once_by_the_stop_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    monitor = watching()
    with monitor.final_flush():
        monitor.on_stderr_line(FAILURE)
    assert said(caplog) == [
        (f"{PACKAGE}.profile_uploads", logging.WARNING, f"profiler stopped; final profile not uploaded: {FAILURE}")
    ]
    assert fields(caplog.records[0])["profiling.final_upload"] == "failed"


def test_a_final_upload_without_error_is_said_uploaded_with_the_failures_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = watching()
    monitor.on_stderr_line(FAILURE)
    caplog.clear()
    caplog.set_level(logging.INFO)
    with monitor.final_flush():
        pass
    stopped = "profiler stopped; final profile uploaded (1 earlier upload failed)"
    assert said(caplog) == [(f"{PACKAGE}.profile_uploads", logging.INFO, stopped)]
    assert fields(caplog.records[0]) == {"profiling.final_upload": "uploaded", "profiling.upload.failures": 1}


def test_without_stderr_captured_the_stop_line_says_it_did_not_see(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with UploadMonitor().final_flush():
        pass
    (message,) = [record.getMessage() for record in caplog.records]
    assert message.startswith("profiler stopped; final profile flushed (whether it was uploaded is not observed")


def test_a_stop_that_fails_says_nothing_about_the_upload(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    monitor = watching()
    with pytest.raises(RuntimeError), monitor.final_flush():
        raise RuntimeError("stop failed")
    assert said(caplog) == []
    monitor.on_stderr_line(FAILURE)  # and failures warn again after it
    assert said(caplog) == [(f"{PACKAGE}.profile_uploads", logging.WARNING, f"profile upload failed: {FAILURE}")]
