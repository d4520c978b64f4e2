"""Provenance: dev/unknown with a warning when unbaked, one warning when the
commit is unknown or had uncommitted changes on top; the baked values win."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.build_info import (
    BUILD_INFO_FILE,
    BuildInfo,
    BuildInfoError,
    load_build_info,
    main,
    render_build_info,
)
from {{ cookiecutter.package_name }}.ddtrace_environment import export_ddtrace_environment
from {{ cookiecutter.package_name }}.identity import resolve_identity
from {{ cookiecutter.package_name }}.settings import load_settings

SHA = "89abcdef0123456789abcdef0123456789abcdef"


def test_nothing_baked_means_dev_and_unknown(tmp_path: Path) -> None:
    build = load_build_info(tmp_path / "missing.json")
    assert build == BuildInfo(version="dev", git_commit_sha="unknown")
    assert not build.is_baked


def test_baked_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "_build_info.json"
    path.write_text(render_build_info("2.0.0-rc.1", SHA))
    assert load_build_info(path) == BuildInfo(version="2.0.0-rc.1", git_commit_sha=SHA)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json", "is not JSON"),
        ('{"version": "1.0"}', "exactly the keys"),
        ('{"version": "1 0", "git_commit_sha": "unknown"}', "not a valid version"),
        ('{"version": "1.0", "git_commit_sha": "abc"}', "not 40 lowercase hex"),
    ],
)
def test_malformed_build_info_is_refused(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "_build_info.json"
    path.write_text(text)
    with pytest.raises(BuildInfoError, match=complaint):
        load_build_info(path)


def test_rendering_refuses_values_a_build_must_not_bake() -> None:
    with pytest.raises(BuildInfoError):
        render_build_info("1.0; rm -rf /", SHA)


def test_unbaked_build_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    export_ddtrace_environment(resolve_identity(load_settings(), BuildInfo("dev", "unknown")), tracing=False)
    assert any("no build info baked in" in record.getMessage() for record in caplog.records)


def test_runtime_dd_version_does_not_replace_the_baked_version(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_VERSION", "9.9.9")
    caplog.set_level(logging.WARNING)
    identity = resolve_identity(load_settings(), BuildInfo("1.2.3", SHA))
    export_ddtrace_environment(identity, tracing=False)
    assert identity.version == "1.2.3"
    assert os.environ["DD_VERSION"] == "1.2.3"
    assert any("ignoring DD_VERSION=9.9.9" in record.getMessage() for record in caplog.records)


@pytest.fixture
def build_info_file_restored() -> Iterator[None]:
    """The package's build-info file as it was before the test baked one."""
    previous = BUILD_INFO_FILE.read_bytes() if BUILD_INFO_FILE.exists() else None
    yield
    if previous is None:
        BUILD_INFO_FILE.unlink(missing_ok=True)
    else:
        BUILD_INFO_FILE.write_bytes(previous)


@pytest.mark.parametrize(
    ("build", "warning"),
    [
        (BuildInfo("1.2.3", SHA), None),
        (BuildInfo("dev", "unknown"), "no build info baked in: version=dev git.commit.sha=unknown;"),
        (BuildInfo("1.2.3", "unknown"), "commit unknown: version 1.2.3 was built without GIT_SHA,"),
        (
            BuildInfo("0.1.0-dev-dirty", SHA),
            f"built from uncommitted changes: version 0.1.0-dev-dirty is commit {SHA} ",
        ),
    ],
    ids=["committed", "unbaked", "commit-unknown", "dirty"],
)
def test_provenance_warning_says_why_a_build_is_not_exactly_one_commit(build: BuildInfo, warning: str | None) -> None:
    said = build.provenance_warning
    if warning is None:
        assert said is None, said
    else:
        assert said is not None and said.startswith(warning), f"expected {warning!r}…, got {said!r}"


@pytest.mark.usefixtures("build_info_file_restored")
def test_a_build_whose_commit_is_unknown_warns_once_and_version_says_so(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    BUILD_INFO_FILE.write_text(render_build_info("1.2.3", "unknown"), encoding="utf-8")
    caplog.set_level(logging.WARNING)
    body = make_client().get("/version").json()
    warnings = [record.getMessage() for record in caplog.records if "commit unknown" in record.getMessage()]
    assert len(warnings) == 1, f"expected one warning about the unknown commit, got {warnings}"
    assert (body["version"], body["git_commit_sha"]) == ("1.2.3", "unknown")
    assert body["provenance_warning"] == warnings[0]


def test_baking_an_empty_commit_refuses_with_one_line_saying_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    existed = BUILD_INFO_FILE.exists()
    assert main(["1.2.3", ""]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: GIT_SHA is empty") and "make image" in line and "GIT_SHA=unknown" in line, line
    assert BUILD_INFO_FILE.exists() == existed, "a refused build must not bake anything"


@pytest.mark.usefixtures("build_info_file_restored")
def test_baking_an_unknown_commit_warns_in_the_build_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["1.2.3", "unknown"]) == 0
    assert capsys.readouterr().err.startswith("WARNING: commit unknown: version 1.2.3 was built without GIT_SHA")
    assert load_build_info() == BuildInfo("1.2.3", "unknown")
