"""The generated Dockerfile read as text: lint-clean, cache-friendly, secret-free;
and what `make image` hands it: the commit, or a refusal outside git, and a
version marked -dirty when uncommitted changes go in. (What it builds is proven
in test_container.py.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import DEFAULT_PACKAGE, DEFAULT_SLUG, run, tool


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


# Stands in for docker in `make image`: records the arguments of each call.
FAKE_DOCKER = """#!/bin/sh
printf '%s\\n' "$@" >> "$DOCKER_CALLS"
"""
# What `make image` reads: the Makefile, scripts/version.sh and pyproject.toml.
BUILD_INPUTS = ("Makefile", "pyproject.toml", "Dockerfile", ".gitignore", ".dockerignore", "scripts", "src")
# Variables make and version.sh would take from the caller's environment.
CALLER_VARIABLES = ("GIT_SHA", "VERSION", "IMAGE", "BASE_IMAGE", "BUILD_DATE", "CIRCLE_TAG", "PIPELINE_NUMBER")
IMAGE = f"registry.example.com/platform/{DEFAULT_SLUG}"


@pytest.fixture
def service_tree(default_project: Path, tmp_path: Path) -> Path:
    """A copy of the service's build inputs, in no git repository."""
    tree = tmp_path / "service"
    tree.mkdir()
    for name in BUILD_INPUTS:
        source = default_project / name
        if source.is_dir():
            shutil.copytree(source, tree / name)
        else:
            shutil.copy2(source, tree / name)
    outside = subprocess.run(["git", "-C", str(tree), "rev-parse"], capture_output=True, check=False)
    assert outside.returncode != 0, f"{tmp_path} is inside a git repository: these tests need one outside"
    return tree


def git(tree: Path, *arguments: str) -> str:
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    identity |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    result = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *arguments],
        cwd=tree,
        env={**os.environ, **identity},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def commit_everything(tree: Path) -> str:
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "the service")
    return git(tree, "rev-parse", "HEAD")


def make_image(tree: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`make image` for real, docker replaced by a recorder: its result, and the
    arguments docker got (none if it was never called)."""
    fake_bin, calls = tree.parent / "bin", tree.parent / "docker-calls"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "docker").write_text(FAKE_DOCKER)
    (fake_bin / "docker").chmod(0o755)
    environment = {key: value for key, value in os.environ.items() if key not in CALLER_VARIABLES}
    environment.update({"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "DOCKER_CALLS": str(calls)})
    result = subprocess.run(
        ["make", "image", *arguments], cwd=tree, env=environment, capture_output=True, text=True, timeout=60
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def said_by_make_image(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("make image:")]


@pytest.mark.parametrize("committed_nothing", [False, True], ids=["no-repository", "no-commit-yet"])
def test_make_image_without_a_commit_refuses_with_one_line_saying_what_to_do(
    service_tree: Path, committed_nothing: bool
) -> None:
    if committed_nothing:
        git(service_tree, "init", "-q")
    result, docker_calls = make_image(service_tree)
    assert result.returncode != 0 and docker_calls == [], (result.stderr, docker_calls)
    (line,) = said_by_make_image(result)
    assert "commit the code first" in line and "make image GIT_SHA=unknown" in line, line


def test_make_image_with_git_sha_unknown_builds_anyway_and_warns(service_tree: Path) -> None:
    result, docker_calls = make_image(service_tree, "GIT_SHA=unknown")
    assert result.returncode == 0, result.stderr
    assert "GIT_SHA=unknown" in docker_calls, docker_calls
    (line,) = said_by_make_image(result)
    assert line.startswith("make image: WARNING: GIT_SHA=unknown"), line


def test_make_image_from_a_clean_commit_bakes_it_without_a_word(service_tree: Path) -> None:
    head = commit_everything(service_tree)
    result, docker_calls = make_image(service_tree)
    assert result.returncode == 0, result.stderr
    assert {f"GIT_SHA={head}", "VERSION=0.1.0-dev", f"{IMAGE}:0.1.0-dev"} <= set(docker_calls), docker_calls
    assert said_by_make_image(result) == []


def test_make_image_from_a_dirty_tree_marks_the_version_and_warns(service_tree: Path) -> None:
    head = commit_everything(service_tree)
    with (service_tree / "src" / DEFAULT_PACKAGE / "workload.py").open("a") as source:
        source.write("# an uncommitted change\n")
    result, docker_calls = make_image(service_tree)
    assert result.returncode == 0, result.stderr
    expected = {f"GIT_SHA={head}", "VERSION=0.1.0-dev-dirty", f"{IMAGE}:0.1.0-dev-dirty"}
    assert expected <= set(docker_calls), docker_calls
    (line,) = said_by_make_image(result)
    assert line.startswith(f"make image: WARNING: uncommitted changes: the image is {head} plus those changes"), line


@pytest.mark.parametrize(
    ("change", "tag", "expected"),
    [
        ("none", "", "0.1.0-dev"),
        ("edited", "", "0.1.0-dev-dirty"),
        ("new-file", "", "0.1.0-dev-dirty"),
        ("ignored-file", "", "0.1.0-dev"),
        ("none", "v1.2.3", "1.2.3"),
        ("edited", "v1.2.3", "1.2.3-dirty"),
    ],
)
def test_version_script_marks_uncommitted_changes_dirty(
    service_tree: Path, change: str, tag: str, expected: str
) -> None:
    commit_everything(service_tree)
    if change == "edited":
        (service_tree / "pyproject.toml").write_text((service_tree / "pyproject.toml").read_text() + "\n")
    elif change == "new-file":
        (service_tree / "src" / DEFAULT_PACKAGE / "new_module.py").write_text("")
    elif change == "ignored-file":
        (service_tree / ".env").write_text("SECRET=1\n")
    result = run(["bash", "scripts/version.sh", tag, ""], cwd=service_tree)
    assert result.stdout.strip() == expected
