"""The control file's rules, without a process: what each key does, one clear
error for every kind of bad file, and a sampling cap that ends by itself."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.control_file import MAX_CAP_HOURS, ControlFileError, parse_control_file
from {{ cookiecutter.package_name }}.profile_types import ProfileSet
from {{ cookiecutter.package_name }}.profiling_control import ControlFileWatcher

BASELINE = ProfileSet(enabled=True, profiles=frozenset({"cpu", "memory", "lock"}), heap_sample_bytes=1 << 20)
PATH = Path("/etc/profiling/control.json")
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LATEST = NOW + timedelta(hours=MAX_CAP_HOURS)
EVENING = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)
CAPPED_UNTIL_EVENING = '{"max_sampling_interval_ms": 2, "until": "2026-11-29T20:00:00Z"}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file")),
        ('{"enabled": false}', ProfileSet(False, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file")),
        ('{"profiles": ["cpu"]}', ProfileSet(True, frozenset({"cpu"}), 1 << 20, "control file")),
        ('{"heap_sample_bytes": 0}', ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 0, "control file")),
        (
            CAPPED_UNTIL_EVENING,
            ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file", 2, EVENING),
        ),
        (
            '{"max_sampling_interval_ms": 2, "until": "2026-11-29T21:00:00+01:00"}',
            ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file", 2, EVENING),
        ),
        (
            '{"max_sampling_interval_ms": 2, "until": "2026-11-30T12:00:00Z"}',
            ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file", 2, LATEST),
        ),
        (
            '{"profiles": ["cpu"], "max_sampling_interval_ms": 2, "until": "2026-11-29T11:59:59Z"}',
            ProfileSet(True, frozenset({"cpu"}), 1 << 20, "control file"),
        ),
    ],
    ids=[
        "empty-keeps-environment",
        "off",
        "reduced-set",
        "heap-sampling",
        "sampling-cap-until-evening",
        "until-with-an-offset",
        "until-exactly-24h-ahead",
        "expired-cap-gone-rest-stays",
    ],
)
def test_control_file_overrides_only_what_it_names(text: str, expected: ProfileSet) -> None:
    assert parse_control_file(text, BASELINE, PATH, NOW) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('{"enabled": tru', "not valid JSON"),
        ('["cpu"]', "must hold a JSON object"),
        ('{"enable": false}', "unknown key 'enable'"),
        ('{"enabled": "no"}', "'enabled' must be true or false"),
        ('{"profiles": ["cpu", "gpu"]}', "unknown profile 'gpu'"),
        ('{"profiles": "cpu"}', "'profiles' must be a list"),
        ('{"heap_sample_bytes": -1}', "'heap_sample_bytes' must be a whole number"),
        ('{"heap_sample_bytes": 2147483648}', "'heap_sample_bytes' must be a whole number"),
        ('{"heap_sample_bytes": true}', "'heap_sample_bytes' must be a whole number"),
        ('{"max_sampling_interval_ms": 2}', "'max_sampling_interval_ms' needs 'until'"),
        ('{"until": "2026-11-29T20:00:00Z"}', "'until' is when 'max_sampling_interval_ms' ends"),
        (
            '{"max_sampling_interval_ms": 2, "until": "2026-11-30T12:00:01Z"}',
            f"'until' must be at most {MAX_CAP_HOURS} h ahead (by 2026-11-30T12:00:00Z), not 2026-11-30T12:00:01Z",
        ),
        ('{"max_sampling_interval_ms": 2, "until": "2026-11-29T20:00:00"}', "'until' must be an RFC 3339 time"),
        ('{"max_sampling_interval_ms": 2, "until": "tonight"}', "'until' must be an RFC 3339 time"),
        ('{"max_sampling_interval_ms": 2, "until": 1795982400}', "'until' must be an RFC 3339 time"),
        ('{"max_sampling_interval_ms": 0, "until": "2026-11-29T20:00:00Z"}', "'max_sampling_interval_ms' must be"),
        ('{"max_sampling_interval_ms": 101, "until": "2026-11-29T20:00:00Z"}', "from 1 to 100"),
        ('{"max_sampling_interval_ms": 2.5, "until": "2026-11-29T20:00:00Z"}', "'max_sampling_interval_ms' must be"),
    ],
    ids=[
        "unparseable",
        "not-an-object",
        "unknown-key",
        "wrong-type",
        "unknown-profile",
        "profiles-not-list",
        "negative",
        "too-large",
        "bool-as-number",
        "cap-without-until",
        "until-without-cap",
        "until-more-than-24h-ahead",
        "until-without-offset",
        "until-not-a-time",
        "until-a-number",
        "cap-zero",
        "cap-beyond-ddtrace",
        "cap-fractional",
    ],
)
def test_bad_control_file_is_refused_with_one_line_naming_the_problem(text: str, complaint: str) -> None:
    with pytest.raises(ControlFileError) as caught:
        parse_control_file(text, BASELINE, PATH, NOW)
    message = str(caught.value)
    assert complaint in message and str(PATH) in message and "\n" not in message, message


def test_watcher_keeps_the_last_good_state_and_reverts_to_the_environment_when_the_file_goes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    applied: list[ProfileSet] = []

    async def apply(profile_set: ProfileSet) -> None:
        applied.append(profile_set)

    path = tmp_path / "control.json"
    watcher = ControlFileWatcher(path, BASELINE, apply, poll_seconds=1)

    async def scenario() -> None:
        await watcher.check_once()  # no file: the environment, already in force
        path.write_text('{"profiles": ["cpu"]}')
        await watcher.check_once()
        path.write_text('{"profiles": ["cpu"], "colour": "red"}')
        await watcher.check_once()
        await watcher.check_once()  # the same bad file is reported once
        path.unlink()
        await watcher.check_once()

    caplog.set_level(logging.ERROR)
    asyncio.run(scenario())
    assert [sorted(p.profiles) for p in applied] == [["cpu"], ["cpu", "lock", "memory"]]
    assert applied[-1] == BASELINE
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "unknown key 'colour'" in errors[0], errors


def test_a_missing_control_file_is_said_once_until_it_appears(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A wrong mount path would otherwise go unnoticed: the environment decides, and one line says why."""

    async def apply(profile_set: ProfileSet) -> None:
        pass

    path = tmp_path / "control.json"
    caplog.set_level(logging.WARNING)
    watcher = ControlFileWatcher(path, BASELINE, apply, poll_seconds=1)

    async def scenario() -> None:
        await watcher.check_once()
        await watcher.check_once()
        path.write_text("{}")
        await watcher.check_once()
        path.unlink()
        await watcher.check_once()

    asyncio.run(scenario())
    missing = [record.getMessage() for record in caplog.records if "does not exist" in record.getMessage()]
    assert missing == [f"profiling control file {path} does not exist; the environment decides"] * 2, missing


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    ("environment_cap", "file_after_the_cap"),
    [(None, None), (10, None), (None, '{"profiles": ["cpu"], "max_sampling_interval_ms": 2, "oops": 1}')],
    ids=["back-to-adaptive", "back-to-the-environments-cap", "file-broken-meanwhile"],
)
def test_watcher_drops_the_sampling_cap_when_its_time_is_up_and_keeps_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, environment_cap: int | None, file_after_the_cap: str | None
) -> None:
    """The cap ends by itself at ``until``, within a poll, even when the file
    has since become unusable (its last good state holds, but not past its end)."""
    applied: list[ProfileSet] = []

    async def apply(profile_set: ProfileSet) -> None:
        applied.append(profile_set)

    baseline = ProfileSet(True, frozenset({"cpu", "lock"}), 1 << 20, max_sampling_interval_ms=environment_cap)
    path = tmp_path / "control.json"
    path.write_text('{"profiles": ["cpu"], "max_sampling_interval_ms": 2, "until": "2026-11-29T20:00:00Z"}')
    clock = Clock(NOW)
    watcher = ControlFileWatcher(path, baseline, apply, poll_seconds=1, clock=clock)
    capped = ProfileSet(True, frozenset({"cpu"}), 1 << 20, "control file", 2, EVENING)
    assert watcher.in_force == capped, "serving starts with the cap the file asks for"

    async def scenario() -> None:
        await watcher.check_once()
        if file_after_the_cap is not None:
            path.write_text(file_after_the_cap)
        clock.now = EVENING - timedelta(seconds=1)
        await watcher.check_once()
        clock.now = EVENING
        await watcher.check_once()
        clock.now = EVENING + timedelta(minutes=5)
        await watcher.check_once()

    caplog.set_level(logging.INFO)
    asyncio.run(scenario())
    reverted = ProfileSet(True, frozenset({"cpu"}), 1 << 20, "control file", environment_cap)
    assert applied == [reverted], f"expected one change, to {reverted}, at the cap's end; applied {applied}"
    assert watcher.in_force == reverted
    ended = [record.getMessage() for record in caplog.records if "ended at" in record.getMessage()]
    back_to = "ddtrace's adaptive interval" if environment_cap is None else f"a {environment_cap} ms cap"
    assert ended == [
        "max_sampling_interval_ms=2 from the profiling control file ended at 2026-11-29T20:00:00Z; "
        f"CPU sampler back to {back_to}"
    ], ended


def test_a_file_whose_cap_has_ended_starts_without_it(tmp_path: Path) -> None:
    """A pod started after ``until`` (a restart, a new replica) runs the rest of the file, uncapped."""

    async def apply(profile_set: ProfileSet) -> None:
        raise AssertionError(f"nothing should change, yet {profile_set} was applied")

    path = tmp_path / "control.json"
    path.write_text('{"enabled": true, "max_sampling_interval_ms": 2, "until": "2026-11-29T20:00:00Z"}')
    watcher = ControlFileWatcher(path, BASELINE, apply, poll_seconds=1, clock=Clock(EVENING + timedelta(hours=1)))
    assert watcher.in_force == ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file")
    asyncio.run(watcher.check_once())


def test_describe_says_the_cap_and_its_end() -> None:
    capped = ProfileSet(True, frozenset({"cpu"}), 1 << 20, "control file", 2, EVENING)
    assert capped.describe() == (
        "profiling on: cpu; heap_sample_bytes=1048576; max_sampling_interval_ms=2 until 2026-11-29T20:00:00Z "
        "(from control file)"
    )
