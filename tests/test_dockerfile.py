"""The generated Dockerfile read as text: lint-clean, cache-friendly, secret-free.
(What it builds is proven in test_container.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import DEFAULT_PACKAGE, run, tool


def instructions(dockerfile: Path) -> list[str]:
    """Instructions with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_hadolint_reports_nothing(default_project: Path) -> None:
    run([tool("hadolint"), "Dockerfile"], cwd=default_project)


def test_provenance_args_come_after_the_dependency_layer(default_project: Path) -> None:
    lines = instructions(default_project / "Dockerfile")
    dependency_layer = next(i for i, line in enumerate(lines) if "--no-install-project" in line)
    first_provenance_arg = next(i for i, line in enumerate(lines) if re.match(r"ARG (GIT_SHA|VERSION)\b", line))
    assert dependency_layer < first_provenance_arg, "a new commit would rebuild the dependency layer"


def test_base_image_is_an_argument_and_nothing_needs_a_frontend_image(
    default_project: Path,
) -> None:
    text = (default_project / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.13-slim-trixie$", text, re.MULTILINE)
    assert "# syntax=" not in text
    assert "--mount" not in text


def test_runs_uvicorn_in_exec_form_as_a_numeric_user(default_project: Path) -> None:
    lines = instructions(default_project / "Dockerfile")
    assert f'CMD ["python", "-m", "{DEFAULT_PACKAGE}"]' in lines
    assert "USER 10001:10001" in lines
    assert not any(line.startswith("CMD") and "uv run" in line for line in lines)


def test_no_secret_is_baked_into_a_layer(default_project: Path) -> None:
    text = (default_project / "Dockerfile").read_text()
    for secret in ("DD_API_KEY", "DD_APP_KEY", "DOCKER_PASSWORD", "DOCKER_LOGIN"):
        assert secret not in text


def test_dockerignore_keeps_git_environments_caches_and_baked_files_out(
    default_project: Path,
) -> None:
    ignored = set((default_project / ".dockerignore").read_text().splitlines())
    assert {
        ".git",
        ".venv",
        "**/__pycache__",
        ".env",
        "src/*/_build_info.json",
    } <= ignored
