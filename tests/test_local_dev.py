"""The everyday tooling of a generated service: compose file, Makefile,
pre-commit hooks, and nothing secret committed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .conftest import run, tool

MAKE_TARGETS = {
    "help",
    "install",
    "run",
    "test",
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


def test_make_runs_the_pinned_perf_tool_unless_perf_gate_names_another(default_project: Path) -> None:
    pinned = re.search(r"^PERF_GATE \?= (\S+)$", (default_project / "Makefile").read_text(), re.MULTILINE)
    assert pinned, "no PERF_GATE pin in the Makefile"
    for override in (None, "/checkouts/template/perf-gate"):
        environment = {key: value for key, value in os.environ.items() if key != "PERF_GATE"}
        if override:
            environment["PERF_GATE"] = override
        for target in ("perf-gate", "flamegraph", "perf-top"):
            dry_run = subprocess.run(
                ["make", "-n", target], cwd=default_project, env=environment, capture_output=True, text=True, check=True
            ).stdout
            assert f'uv tool run --from "{override or pinned.group(1)}" perf-gate' in dry_run, (target, dry_run)


def test_pre_commit_config_is_valid_and_runs_the_agreed_checks(default_project: Path) -> None:
    run([tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"], cwd=default_project)
    config = yaml.safe_load((default_project / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"] for repository in config["repos"] for hook in repository["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy", "hadolint", "check-circleci", "cruft-check"} <= hooks
