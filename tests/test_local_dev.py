"""The everyday tooling of a generated service: compose file, Makefile,
pre-commit hooks, and nothing secret committed."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import TEMPLATE_DIR, run, tool

MAKE_TARGETS = {
    "help",
    "install",
    "run",
    "test",
    "test-quick",
    "lint",
    "image",
    "up",
    "up-test-agent",
    "down",
    "perf-gate",
    "flamegraph",
    "perf-top",
}


def compose(project: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((project / "docker-compose.yml").read_text())
    return document


def test_compose_file_follows_the_compose_spec(default_project: Path) -> None:
    run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"], cwd=default_project
    )


def test_compose_runs_the_service_beside_the_agent_or_the_test_agent_with_healthchecks(default_project: Path) -> None:
    services = compose(default_project)["services"]
    assert services["datadog-agent"]["profiles"] == ["datadog"]
    assert services["test-agent"]["profiles"] == ["test-agent"]
    assert all("healthcheck" in service for service in services.values()), [
        n for n, s in services.items() if "healthcheck" not in s
    ]
    assert services["datadog-agent"]["environment"]["DD_APM_NON_LOCAL_TRAFFIC"] == "true"
    assert services["datadog-agent"]["environment"]["DD_SITE"] == "datadoghq.com"
    assert services["service"]["environment"]["DD_AGENT_HOST"] == "${DD_AGENT_HOST:-datadog-agent}"
    assert services["service"]["read_only"] is True


def test_no_api_key_is_written_down_and_dotenv_is_ignored(default_project: Path) -> None:
    agent = compose(default_project)["services"]["datadog-agent"]["environment"]
    assert agent["DD_API_KEY"] == "${DD_API_KEY:-}", "the API key must come from the environment or .env"
    assert ".env" in (default_project / ".gitignore").read_text().splitlines()
    assert ".env" in (default_project / ".dockerignore").read_text().splitlines()


def test_make_help_lists_the_everyday_targets(default_project: Path) -> None:
    listed = run(["make", "help"], cwd=default_project).stdout
    targets = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert targets == MAKE_TARGETS, f"missing: {MAKE_TARGETS - targets}, unexpected: {targets - MAKE_TARGETS}"


def test_make_image_bakes_the_commit_and_the_version_script_output(default_project: Path) -> None:
    dry_run = subprocess.run(
        ["make", "-n", "image", "GIT_SHA=0123456789abcdef0123456789abcdef01234567"],
        cwd=default_project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--build-arg GIT_SHA=0123456789abcdef0123456789abcdef01234567" in dry_run
    assert "--build-arg VERSION=0.1.0-dev" in dry_run
    assert "BASE_IMAGE" not in dry_run  # the Dockerfile's own base


def test_make_image_and_perf_gate_take_base_image_from_the_environment(default_project: Path) -> None:
    mirror = "mirror.example.com/python:3.13-slim-trixie"
    environment = {**os.environ, "BASE_IMAGE": mirror}
    for target in ("image", "perf-gate"):
        dry_run = subprocess.run(
            ["make", "-n", target], cwd=default_project, env=environment, capture_output=True, text=True, check=True
        ).stdout
        assert mirror in dry_run, (target, dry_run)


def test_pre_commit_config_is_valid_and_runs_the_agreed_checks(default_project: Path) -> None:
    run([tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"], cwd=default_project)
    config = yaml.safe_load((default_project / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"] for repository in config["repos"] for hook in repository["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy", "hadolint", "check-circleci", "cruft-check"} <= hooks


# Stand-ins for the tools a target needs: each does nothing and succeeds, except
# that this docker has no Compose plugin, as Debian's docker.io has none.
TOOL_STUBS = {
    "uv": "exit 0",
    "git": "exit 0",
    "docker": 'if [ "$1" = compose ]; then echo "docker: unknown command: docker compose" >&2; exit 1; fi',
    "docker-with-compose": "exit 0",
}
# (target, the tools on PATH, what make must say is missing)
MISSING_TOOL_CASES = [
    ("install", [], "uv"),
    ("run", [], "uv"),
    ("test", [], "uv"),
    ("lint", [], "uv"),
    ("flamegraph", [], "uv"),
    ("perf-top", [], "uv"),
    ("perf-gate", ["uv"], "git"),
    ("perf-gate", ["uv", "git"], "docker"),
    ("image", [], "docker"),
    ("image", ["docker"], "git"),
    ("up", [], "docker"),
    ("up", ["docker"], "docker compose"),
    ("up-test-agent", ["docker", "git"], "docker compose"),
    ("down", ["docker"], "docker compose"),
]


def path_with_only(tools: list[str], directory: Path) -> str:
    """A PATH holding only stand-ins for ``tools``."""
    directory.mkdir()
    for name in tools:
        stub = directory / ("docker" if name.startswith("docker") else name)
        stub.write_text(f"#!/bin/sh\n{TOOL_STUBS[name]}\nexit 0\n")
        stub.chmod(0o755)
    return str(directory)


def make_with_path(project: Path, path: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make") or pytest.fail("make is not installed")
    environment = {key: value for key, value in os.environ.items() if key not in ("UV", "MAKEFLAGS", "MAKELEVEL")}
    environment["PATH"] = path
    return subprocess.run(
        [make, *arguments], cwd=project, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("target", "present", "missing"),
    MISSING_TOOL_CASES,
    ids=[f"{target}-without-{missing.replace(' ', '-')}" for target, _, missing in MISSING_TOOL_CASES],
)
def test_make_names_the_missing_tool_and_how_to_install_it_in_one_line(
    default_project: Path, tmp_path: Path, target: str, present: list[str], missing: str
) -> None:
    outcome = make_with_path(default_project, path_with_only(present, tmp_path / "bin"), target)
    lines = outcome.stderr.splitlines()
    assert outcome.returncode == 2, (outcome.returncode, outcome.stdout, outcome.stderr)
    assert len(lines) == 1, f"expected one line naming {missing}, got:\n{outcome.stderr}"
    assert f"*** make {target} needs {missing}" in lines[0], lines[0]
    assert "Debian" in lines[0] and "macOS" in lines[0], f"no install hint for both systems: {lines[0]}"
    assert outcome.stdout == "", f"a recipe ran before the check stopped make: {outcome.stdout}"


def test_make_runs_the_recipe_when_the_tools_are_there(default_project: Path, tmp_path: Path) -> None:
    outcome = make_with_path(default_project, path_with_only(["docker-with-compose"], tmp_path / "bin"), "down")
    assert outcome.returncode == 0, outcome.stderr
    assert "docker compose --profile datadog --profile test-agent down" in outcome.stdout


def test_make_dry_run_prints_the_recipe_without_checking_tools(default_project: Path, tmp_path: Path) -> None:
    outcome = make_with_path(default_project, path_with_only([], tmp_path / "bin"), "-n", "up")
    assert outcome.returncode == 0, outcome.stderr
    assert "docker compose --profile datadog up -d --build" in outcome.stdout


def test_compose_builds_from_base_image_when_it_is_set_else_the_dockerfiles_default(default_project: Path) -> None:
    arguments = compose(default_project)["services"]["service"]["build"]["args"]
    # No value: Compose passes BASE_IMAGE from the environment or .env when set and
    # leaves it out otherwise; an empty value would override the Dockerfile's default.
    assert "BASE_IMAGE" in arguments and arguments["BASE_IMAGE"] is None, arguments
    assert "ARG BASE_IMAGE=python:" in (default_project / "Dockerfile").read_text()


def test_compose_config_resolves_base_image_from_the_environment(default_project: Path) -> None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no docker compose plugin here (compose's own reading of the file is not checked)")
    mirror = "mirror.example.com/python:3.13-slim-trixie"
    for value, expected in ((mirror, mirror), (None, None)):
        environment = {key: item for key, item in os.environ.items() if key != "BASE_IMAGE"}
        if value is not None:
            environment["BASE_IMAGE"] = value
        resolved = run(["docker", "compose", "config", "--format", "json"], cwd=default_project, env=environment)
        arguments = json.loads(resolved.stdout)["services"]["service"]["build"]["args"]
        assert arguments.get("BASE_IMAGE") == expected, arguments


def test_compose_runs_the_test_agent_version_the_tests_pin(default_project: Path) -> None:
    image = compose(default_project)["services"]["test-agent"]["image"]
    pinned = re.search(r'"ddapm-test-agent==([0-9.]+)"', (default_project / "tests" / "agent.py").read_text())
    assert pinned, "tests/agent.py pins no ddapm-test-agent version"
    assert image == f"ghcr.io/datadog/dd-apm-test-agent/ddapm-test-agent:v{pinned.group(1)}", image
    template_requirements = (TEMPLATE_DIR / "requirements-dev.txt").read_text().splitlines()
    assert f"ddapm-test-agent=={pinned.group(1)}" in template_requirements


def cruft_hook(project: Path) -> dict[str, Any]:
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repository in config["repos"] for hook in repository["hooks"]]
    found: dict[str, Any] = next(hook for hook in hooks if hook["id"] == "cruft-check")
    return found


def test_pre_commit_install_installs_the_push_hook_too(default_project: Path) -> None:
    config = yaml.safe_load((default_project / ".pre-commit-config.yaml").read_text())
    assert cruft_hook(default_project)["stages"] == ["pre-push"]
    assert "pre-push" in config.get("default_install_hook_types", []), "pre-commit install would leave cruft-check out"


def test_cruft_hook_without_cruft_json_says_so_in_one_line(default_project: Path, tmp_path: Path) -> None:
    entry = shlex.split(cruft_hook(default_project)["entry"])
    outcome = subprocess.run(entry, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert outcome.stdout.splitlines() == [
        "No .cruft.json: run cruft link <template URL> once to track template updates."
    ], outcome.stdout
    assert outcome.stderr == ""


def test_cruft_hook_with_cruft_json_runs_cruft_check(default_project: Path, tmp_path: Path) -> None:
    (tmp_path / ".cruft.json").write_text("{}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cruft").write_text('#!/bin/sh\necho "cruft $*"; exit 1\n')  # out of step: the push stops
    (bin_dir / "cruft").chmod(0o755)
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    entry = shlex.split(cruft_hook(default_project)["entry"])
    outcome = subprocess.run(entry, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False)
    assert (outcome.returncode, outcome.stdout) == (1, "cruft check\n"), outcome
