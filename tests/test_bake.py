"""Baking: every answer renders into a clean, lint-free, lockable project."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from .conftest import DEFAULT_PACKAGE, DEFAULT_SLUG, TEMPLATE_DIR, run, tool, uv

# Jinja syntax and template-authoring notes (which name Jinja filters).
LEFTOVER_TEMPLATE_SYNTAX = re.compile(r"{{|{%|{#|cookiecutter\.|tojson")
# CircleCI's own template syntax, meant to survive the bake.
CIRCLECI_TEMPLATE = re.compile(r'{{ checksum "[^"]+" }}')
CHOICES = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())

# One bake per choice of every choice field, plus answers that exercise
# derivation and quoting; ids say what each case is about.
MATRIX: list[Any] = [
    *(pytest.param({"python_version": version}, id=f"python-{version}") for version in CHOICES["python_version"]),
    *(pytest.param({"datadog_site": site}, id=f"site-{site}") for site in CHOICES["datadog_site"]),
    pytest.param({"service_name": "Payments_API v2"}, id="name-derives-slug-and-package"),
    pytest.param({"http_port": "9000", "team": "checkout.core"}, id="custom-port-and-team"),
    pytest.param({"repository_url": ""}, id="no-repository-yet"),
    pytest.param({"repository_url": "git@github.com:acme/orders.git"}, id="ssh-repository"),
    pytest.param({"description": 'Says "hello" & <bye>\\'}, id="description-with-quotes"),
    pytest.param({"docker_registry": "localhost:5000/team-a"}, id="registry-with-port"),
]


def files_of(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.is_file() and ".venv" not in path.parts]


def assert_fully_rendered(project: Path) -> None:
    leftovers = []
    for path in files_of(project):
        if any(path.match(pattern) for pattern in CHOICES["_copy_without_render"]):
            continue  # copied byte for byte on purpose (binary fixtures)
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if LEFTOVER_TEMPLATE_SYNTAX.search(CIRCLECI_TEMPLATE.sub("", line)):
                leftovers.append(f"{path.relative_to(project)}:{number}: {line.strip()}")
        if LEFTOVER_TEMPLATE_SYNTAX.search(str(path.relative_to(project))):
            leftovers.append(f"unrendered path {path.relative_to(project)}")
    assert not leftovers, "template syntax left in the bake:\n" + "\n".join(leftovers)


def assert_ruff_clean(project: Path) -> None:
    ruff = tool("ruff")
    run([ruff, "check", "--no-cache", "."], cwd=project)
    run([ruff, "format", "--check", "--no-cache", "."], cwd=project)


def test_default_bake_names_everything_after_the_service(default_project: Path) -> None:
    assert default_project.name == DEFAULT_SLUG
    assert (default_project / "src" / DEFAULT_PACKAGE / "app.py").is_file()
    pyproject = tomllib.loads((default_project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == DEFAULT_SLUG
    assert pyproject["project"]["requires-python"] == ">=3.11"


def test_default_bake_is_fully_rendered_and_ruff_clean(default_project: Path) -> None:
    assert_fully_rendered(default_project)
    assert_ruff_clean(default_project)


def test_default_bake_lock_file_is_current(default_project: Path) -> None:
    run([uv(), "lock", "--check"], cwd=default_project)


def test_generated_project_has_no_git_repository_or_environment(
    default_project: Path,
) -> None:
    # Hooks have no side effects: no git init, no installs.
    assert not (default_project / ".git").exists()
    assert not (default_project / ".venv").exists()


@pytest.mark.parametrize("answers", MATRIX)
def test_every_choice_bakes_clean(cookies: Any, answers: dict[str, str]) -> None:
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    assert_fully_rendered(project)
    assert_ruff_clean(project)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    if "description" in answers:
        assert pyproject["project"]["description"] == answers["description"]
    run([uv(), "lock", "--check"], cwd=project)


def test_service_name_derives_a_dns_slug_and_a_package(cookies: Any) -> None:
    result = cookies.bake(extra_context={"service_name": "Payments_API v2"})
    project = Path(result.project_path)
    assert project.name == "payments-api-v2"
    assert (project / "src" / "payments_api_v2" / "__main__.py").is_file()
