"""Both CircleCI configs, checked offline: CircleCI's own schema, the structure
the schema can't see, the version script, and a replay of the generated image
job that proves GIT_SHA and VERSION reach the image, /version and profiles."""

from __future__ import annotations

import copy
import os
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness import docker
from harness.agent import TestAgent
from harness.docker import Container

from .circleci_support import (
    orb_parameter_problems,
    replay_image_job,
    tag_path_problems,
    undefined_requires,
    unpinned_orbs,
)
from .conftest import DEFAULT_SLUG, TEMPLATE_DIR, run, serve_container, tool

CIRCLE_SHA1 = "9e107d9d372bb6826bd81d3542a419d6e0a1b2c3"
PIPELINE_NUMBER = 42
TEMPLATE_CONFIG = TEMPLATE_DIR / ".circleci" / "config.yml"


def load(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


@pytest.fixture(scope="module")
def generated_config_path(default_project: Path) -> Path:
    return default_project / ".circleci" / "config.yml"


@pytest.mark.parametrize("which", ["generated", "template"])
def test_config_validates_against_circleci_schema(generated_config_path: Path, which: str) -> None:
    path = generated_config_path if which == "generated" else TEMPLATE_CONFIG
    run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.circle-ci", str(path)],
        cwd=path.parent,
    )


@pytest.mark.parametrize("which", ["generated", "template"])
def test_config_structure_holds_what_the_schema_cannot_check(generated_config_path: Path, which: str) -> None:
    config = load(generated_config_path if which == "generated" else TEMPLATE_CONFIG)
    problems = unpinned_orbs(config) + undefined_requires(config) + tag_path_problems(config)
    problems += orb_parameter_problems(config)
    assert problems == []


def test_generated_pipeline_tests_then_pushes_from_main_and_release_tags_only(
    generated_config_path: Path,
) -> None:
    config = load(generated_config_path)
    jobs = {
        name: settings
        for name, settings in (next(iter(e.items())) for e in config["workflows"]["test-build-push"]["jobs"])
    }
    image_job = jobs["build-and-push-image"]
    assert image_job["requires"] == ["test"]
    assert image_job["filters"]["branches"] == {"only": "main"}
    assert image_job["filters"]["tags"]["only"].startswith("/^v")
    assert image_job["context"] == "docker-registry"
    assert config["orbs"]["docker"] == "circleci/docker@4.0.1"
    assert config["executors"]["python"]["docker"][0]["image"] == "cimg/python:3.13"
    test_steps = [step for step in config["jobs"]["test"]["steps"] if isinstance(step, dict)]
    assert any("store_test_results" in step for step in test_steps)
    assert any('uv-v1-{{ checksum "uv.lock" }}' in str(step.get("restore_cache")) for step in test_steps)


def entry(config: dict[str, Any], job: str) -> dict[str, Any]:
    """A job's settings in the generated workflow."""
    for item in config["workflows"]["test-build-push"]["jobs"]:
        if job in item:
            settings: dict[str, Any] = item[job]
            return settings
    raise KeyError(job)


def step(config: dict[str, Any], job: str, command: str) -> dict[str, Any]:
    """The parameters of a job's step that runs ``command``."""
    for item in config["jobs"][job]["steps"]:
        if isinstance(item, dict) and command in item:
            parameters: dict[str, Any] = item[command]
            return parameters
    raise KeyError(command)


@pytest.mark.parametrize(
    ("mutate", "expected_problem"),
    [
        pytest.param(
            lambda c: entry(c, "test").pop("filters"),
            "no tag workflow",
            id="tag-filter-missing",
        ),
        pytest.param(
            lambda c: entry(c, "build-and-push-image").update(requires=["tests"]),
            "does not run",
            id="requires-unknown-job",
        ),
        pytest.param(
            lambda c: c["orbs"].update(docker="circleci/docker@4"),
            "circleci/docker@4",
            id="orb-not-pinned",
        ),
        pytest.param(
            lambda c: step(c, "build-and-push-image", "docker/build").update(**{"extra-build-args": "x"}),
            "no parameter 'extra-build-args'",
            id="orb-parameter-typo",
        ),
    ],
)
def test_structural_checks_catch_broken_configs(
    generated_config_path: Path,
    mutate: Callable[[dict[str, Any]], object],
    expected_problem: str,
) -> None:
    config = copy.deepcopy(load(generated_config_path))
    mutate(config)
    problems = unpinned_orbs(config) + undefined_requires(config) + tag_path_problems(config)
    problems += orb_parameter_problems(config)
    assert any(expected_problem in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("tag", "pipeline", "expected"),
    [
        ("v1.2.3", "7", "1.2.3"),
        ("v2.0.0-rc.1", "", "2.0.0-rc.1"),
        ("", "42", "0.1.0-build.42"),
        ("", "", "0.1.0-dev"),
    ],
)
def test_version_script_derives_a_docker_safe_version(
    default_project: Path, tag: str, pipeline: str, expected: str
) -> None:
    result = run(["bash", "scripts/version.sh", tag, pipeline], cwd=default_project)
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("tag", "pipeline", "complaint"),
    [("1.2.3", "", "not a release tag"), ("", "4x", "not a whole number")],
)
def test_version_script_refuses_what_it_cannot_use(
    default_project: Path, tag: str, pipeline: str, complaint: str
) -> None:
    result = subprocess.run(
        ["bash", "scripts/version.sh", tag, pipeline],
        cwd=default_project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert complaint in result.stderr and result.stdout == ""


def replay_and_build(
    config: dict[str, Any], project: Path, base_image: str, circle_tag: str | None
) -> tuple[str, list[str]]:
    circle_environment = {"CIRCLE_SHA1": CIRCLE_SHA1, "CIRCLECI": "true"}
    if circle_tag is not None:
        circle_environment["CIRCLE_TAG"] = circle_tag
    replayed = replay_image_job(config, "build-and-push-image", project, circle_environment, PIPELINE_NUMBER)
    tag_arguments = [f"--tag={tag}" for tag in replayed.tags]
    # Only the base differs from CI: where the official image can't be pulled.
    docker.docker(
        "build",
        "--network",
        "host",
        *replayed.build_args,
        f"--build-arg=BASE_IMAGE={base_image}",
        *tag_arguments,
        str(project),
        timeout=900,
    )
    return replayed.tags[0], replayed.tags


@pytest.mark.parametrize(
    ("circle_tag", "expected_version"),
    [
        pytest.param("v1.2.3", "1.2.3", id="release-tag"),
        pytest.param(None, "0.1.0-build.42", id="main-branch"),
    ],
)
def test_replayed_image_job_bakes_sha_and_version_into_labels_version_route_and_profiles(
    generated_config_path: Path,
    default_project: Path,
    base_image: str,
    start_container: Callable[..., Container],
    test_agent: TestAgent,
    circle_tag: str | None,
    expected_version: str,
) -> None:
    image, tags = replay_and_build(load(generated_config_path), default_project, base_image, circle_tag)
    try:
        assert tags == [
            f"registry.example.com/platform/{DEFAULT_SLUG}:{expected_version}",
            f"registry.example.com/platform/{DEFAULT_SLUG}:{CIRCLE_SHA1}",
        ]
        labels = docker.image_labels(image)
        assert (
            labels["org.opencontainers.image.revision"],
            labels["org.opencontainers.image.version"],
        ) == (CIRCLE_SHA1, expected_version)

        _, url = serve_container(
            start_container,
            image,
            {"DD_TRACE_AGENT_URL": test_agent.url, "DD_PROFILING_UPLOAD_INTERVAL": "1"},
        )
        version = httpx.get(f"{url}/version", timeout=5).json()
        assert (version["version"], version["git_commit_sha"]) == (
            expected_version,
            CIRCLE_SHA1,
        )
        httpx.get(f"{url}/cpu-intensive", params={"iterations": 200_000}, timeout=30)
        for upload in test_agent.wait_for_profiles(count=1):
            assert (upload.tags.get("version"), upload.tags.get("git.commit.sha")) == (
                expected_version,
                CIRCLE_SHA1,
            )
    finally:
        for tag in tags:
            docker.docker("rmi", "-f", tag, check=False)


def test_replay_notices_a_config_that_drops_the_build_args(
    generated_config_path: Path, default_project: Path, base_image: str
) -> None:
    text = generated_config_path.read_text()
    assert "--build-arg=GIT_SHA=$GIT_SHA --build-arg=VERSION=$VERSION " in text
    broken = yaml.safe_load(text.replace("--build-arg=GIT_SHA=$GIT_SHA --build-arg=VERSION=$VERSION ", ""))
    image, tags = replay_and_build(broken, default_project, base_image, "v1.2.3")
    try:
        labels = docker.image_labels(image)
        assert labels["org.opencontainers.image.revision"] != CIRCLE_SHA1
        assert labels["org.opencontainers.image.version"] == "dev"
    finally:
        for tag in tags:
            docker.docker("rmi", "-f", tag, check=False)


def test_generated_pipeline_runs_the_perf_gate_on_branches_other_than_main(generated_config_path: Path) -> None:
    config = load(generated_config_path)
    gate = entry(config, "perf-gate")
    assert gate["requires"] == ["test"]
    assert gate["filters"]["branches"] == {"ignore": "main"}
    commands = [s["run"]["command"] for s in config["jobs"]["perf-gate"]["steps"] if isinstance(s, dict) and "run" in s]
    # The gate runs as the Makefile pins it (PERF_GATE), the same as `make perf-gate` locally.
    assert any(command.startswith("make perf-gate") for command in commands), commands
    assert step(config, "perf-gate", "store_artifacts")["path"] == "perf-report"


def test_template_pipeline_runs_the_same_entry_point_as_ci() -> None:
    """The template's own pipeline goes through .ci/run, which installs wrk and
    debootstrap and requires Docker and wrk, so no lane silently skips there."""
    commands = [
        step["run"]["command"]
        for job in load(TEMPLATE_CONFIG)["jobs"].values()
        for step in job["steps"]
        if isinstance(step, dict) and "run" in step
    ]
    assert any(command.startswith("bash .ci/run") for command in commands), commands
    assert "REQUIRE_WRK=1" in (TEMPLATE_DIR / ".ci" / "run").read_text()


def test_template_release_tags_publish_the_perf_tool_at_the_tags_version() -> None:
    """A tag vX.Y.Z publishes profiling-perf-gate X.Y.Z (the version services baked
    from that tag pin), after the tests, and refuses a tag the package does not match."""
    config = load(TEMPLATE_CONFIG)
    workflow = next(iter(config["workflows"].values()))
    publish = next(job["publish-perf-tool"] for job in workflow["jobs"] if "publish-perf-tool" in job)
    assert publish["requires"] == ["template-tests"]
    assert publish["filters"] == {"tags": {"only": "/^v.*/"}, "branches": {"ignore": "/.*/"}}
    commands = [s["run"]["command"] for s in config["jobs"]["publish-perf-tool"]["steps"] if "run" in s]
    check = commands[0]
    version = tomllib.loads((TEMPLATE_DIR / "perf-gate" / "pyproject.toml").read_text())["project"]["version"]
    for tag, expected in ((f"v{version}", 0), ("v99.0.0", 1)):
        outcome = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", check],
            cwd=TEMPLATE_DIR,
            env={**os.environ, "CIRCLE_TAG": tag},
            capture_output=True,
            text=True,
            check=False,
        )
        assert outcome.returncode == expected, (tag, outcome.stdout, outcome.stderr)
    assert any("uv publish" in command for command in commands), commands
