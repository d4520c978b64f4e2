"""Provenance: dev/unknown with a warning when unbaked; the baked values win."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.build_info import BuildInfo, BuildInfoError, load_build_info, render_build_info
from {{ cookiecutter.package_name }}.observability import Observability
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
    Observability(load_settings(), BuildInfo("dev", "unknown")).init()
    assert any("no build info baked in" in record.getMessage() for record in caplog.records)


def test_runtime_dd_version_does_not_replace_the_baked_version(caplog: pytest.LogCaptureFixture) -> None:
    os.environ["DD_VERSION"] = "9.9.9"
    caplog.set_level(logging.WARNING)
    observability = Observability(load_settings(), BuildInfo("1.2.3", SHA))
    observability.init()
    assert observability.identity.version == "1.2.3"
    assert os.environ["DD_VERSION"] == "1.2.3"
    assert any("ignoring DD_VERSION=9.9.9" in record.getMessage() for record in caplog.records)
