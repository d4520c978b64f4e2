"""The control file's rules, without a process: what each key does, and one
clear error for every kind of bad file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.profile_types import ProfileSet
from {{ cookiecutter.package_name }}.profiling_control import (
    ControlFileError,
    ControlFileWatcher,
    parse_control_file,
)

BASELINE = ProfileSet(enabled=True, profiles=frozenset({"cpu", "memory", "lock"}), heap_sample_bytes=1 << 20)
PATH = Path("/etc/profiling/control.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file")),
        ('{"enabled": false}', ProfileSet(False, frozenset({"cpu", "memory", "lock"}), 1 << 20, "control file")),
        ('{"profiles": ["cpu"]}', ProfileSet(True, frozenset({"cpu"}), 1 << 20, "control file")),
        ('{"heap_sample_bytes": 0}', ProfileSet(True, frozenset({"cpu", "memory", "lock"}), 0, "control file")),
    ],
    ids=["empty-keeps-environment", "off", "reduced-set", "heap-sampling"],
)
def test_control_file_overrides_only_what_it_names(text: str, expected: ProfileSet) -> None:
    assert parse_control_file(text, BASELINE, PATH) == expected


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
    ],
)
def test_bad_control_file_is_refused_with_one_line_naming_the_problem(text: str, complaint: str) -> None:
    with pytest.raises(ControlFileError) as caught:
        parse_control_file(text, BASELINE, PATH)
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
