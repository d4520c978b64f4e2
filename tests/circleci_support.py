"""Offline checks of CircleCI configs that the schema does not make, and a
replay of the image job's steps as CircleCI and the docker orb would run them."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Parameters of the orb commands the generated config uses, as defined by the
# pinned orb version (circleci/docker src/commands/*.yml; snake_case since 3.0).
ORB_COMMAND_PARAMETERS: dict[str, dict[str, set[str]]] = {
    "circleci/docker@4.0.1": {
        "check": {
            "registry",
            "docker_username",
            "docker_password",
            "use_docker_credentials_store",
        },
        "build": {
            "step_name",
            "dockerfile",
            "path",
            "lint_dockerfile",
            "treat_warnings_as_errors",
            "registry",
            "image",
            "tag",
            "extra_build_args",
            "cache_from",
            "debug",
            "attach_at",
            "docker_context",
            "no_output_timeout",
            "use_buildkit",
        },
        "push": {"step_name", "registry", "image", "tag", "digest_path"},
    }
}
PINNED_ORB = re.compile(r"[a-z0-9-]+/[a-z0-9-]+@\d+\.\d+\.\d+")


def workflow_jobs(
    workflow: dict[str, Any],
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name in the workflow, job it runs, its settings) for each entry."""
    for entry in workflow.get("jobs", []):
        if isinstance(entry, str):
            yield entry, entry, {}
        else:
            ((job, settings),) = entry.items()
            settings = settings or {}
            yield settings.get("name", job), job, settings


def unpinned_orbs(config: dict[str, Any]) -> list[str]:
    return [f"{alias}: {ref}" for alias, ref in config.get("orbs", {}).items() if not PINNED_ORB.fullmatch(str(ref))]


def undefined_requires(config: dict[str, Any]) -> list[str]:
    problems = []
    for workflow_name, workflow in config.get("workflows", {}).items():
        if not isinstance(workflow, dict):
            continue
        names = {name for name, _, _ in workflow_jobs(workflow)}
        for name, job, settings in workflow_jobs(workflow):
            if "/" not in job and job not in config.get("jobs", {}):
                problems.append(f"{workflow_name}: job {job!r} is not defined")
            for required in settings.get("requires", []):
                if required not in names:
                    problems.append(f"{workflow_name}: {name} requires {required!r}, which the workflow does not run")
    return problems


def tag_path_problems(config: dict[str, Any]) -> list[str]:
    """A job that runs on tags needs every job it requires to run on those tags too."""
    problems = []
    for workflow_name, workflow in config.get("workflows", {}).items():
        if not isinstance(workflow, dict):
            continue
        entries = {name: settings for name, _, settings in workflow_jobs(workflow)}
        tag_filters = {name: settings.get("filters", {}).get("tags") for name, settings in entries.items()}
        for name, settings in entries.items():
            tags = tag_filters[name]
            if tags is None:
                continue
            for required in settings.get("requires", []):
                if tag_filters.get(required) != tags:
                    problems.append(
                        f"{workflow_name}: {name} runs on tags {tags} but requires {required}, "
                        f"which has tag filters {tag_filters.get(required)}: CircleCI would run no tag workflow"
                    )
    return problems


def orb_parameter_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    orbs = config.get("orbs", {})
    for job_name, job in config.get("jobs", {}).items():
        for step in job.get("steps", []):
            if not isinstance(step, dict):
                continue
            ((command, parameters),) = step.items()
            alias, _, orb_command = command.partition("/")
            if not orb_command or alias not in orbs:
                continue
            known = ORB_COMMAND_PARAMETERS.get(orbs[alias], {}).get(orb_command)
            if known is None:
                problems.append(f"{job_name}: {command} of {orbs[alias]} is not in the known parameter list")
                continue
            for parameter in sorted(set(parameters or {}) - known):
                problems.append(f"{job_name}: {command} has no parameter {parameter!r} in {orbs[alias]}")
    return problems


@dataclass(frozen=True)
class ReplayedBuild:
    """What the docker orb's build step would pass to `docker build`."""

    build_args: list[str]
    tags: list[str]


def replay_image_job(
    config: dict[str, Any],
    job_name: str,
    project: Path,
    circle_environment: dict[str, str],
    pipeline_number: int,
) -> ReplayedBuild:
    """Run the job's `run` steps before docker/build with bash, as CircleCI does
    (each step a fresh `bash -eo pipefail` that sources $BASH_ENV), then expand
    the build step's parameters the way the orb's build script does (`eval echo`)."""
    job = config["jobs"][job_name]
    bash_env = project / ".circleci-replay-bash-env"
    bash_env.write_text("")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CIRCLE")}
    for key, value in job.get("environment", {}).items():
        environment[key] = str(value).replace("<< pipeline.number >>", str(pipeline_number))
    environment.update(circle_environment)
    environment["BASH_ENV"] = str(bash_env)
    try:
        for step in job["steps"]:
            if step == "checkout" or not isinstance(step, dict):
                continue  # the project is already here
            # docker/check logs in to the registry: it needs the context's
            # credentials and changes nothing the build sees, so it is skipped.
            if "run" in step:
                command = step["run"] if isinstance(step["run"], str) else step["run"]["command"]
                subprocess.run(
                    ["bash", "-eo", "pipefail", "-c", command],
                    cwd=project,
                    env=environment,
                    check=True,
                    timeout=60,
                )
            elif "docker/build" in step:
                parameters = step["docker/build"]
                registry = parameters.get("registry", "docker.io")

                def expand(text: str) -> str:
                    result = subprocess.run(
                        ["bash", "-c", 'eval echo "$TEXT"'],
                        env={**environment, "TEXT": text},
                        capture_output=True,
                        text=True,
                        check=True,
                        timeout=30,
                    )
                    return result.stdout.strip()

                extra = expand(parameters.get("extra_build_args", ""))
                tags = [expand(f"{registry}/{parameters['image']}:{tag}") for tag in parameters["tag"].split(",")]
                return ReplayedBuild(build_args=extra.split(), tags=tags)
    finally:
        bash_env.unlink(missing_ok=True)
    raise AssertionError(f"job {job_name} has no docker/build step")


# Steps that only move files in and out of CircleCI's own storage: nothing a
# job's result depends on when its working directory is already in place.
STORAGE_STEPS = {"checkout", "restore_cache", "save_cache", "store_test_results", "store_artifacts"}


def replay_job(
    config: dict[str, Any], job_name: str, project: Path, environment: dict[str, str], timeout: float
) -> list[subprocess.CompletedProcess[str]]:
    """Run every ``run`` step of a job in order, as CircleCI does: each a fresh
    ``bash -eo pipefail`` in the project with the job's environment, stopping at
    the first that fails. Storage steps are skipped; any other orb step is refused
    (this replay cannot stand in for it)."""
    job = config["jobs"][job_name]
    environment = {**environment, **{key: str(value) for key, value in job.get("environment", {}).items()}}
    outcomes = []
    for step in job["steps"]:
        name = step if isinstance(step, str) else next(iter(step))
        if name in STORAGE_STEPS:
            continue
        if name != "run":
            raise AssertionError(f"{job_name}: cannot replay step {name!r}")
        run = step["run"]
        command = run if isinstance(run, str) else run["command"]
        step_environment = {
            **environment,
            **{k: str(v) for k, v in (run.get("environment", {}) if isinstance(run, dict) else {}).items()},
        }
        outcome = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", command],
            cwd=project,
            env=step_environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        outcomes.append(outcome)
        if outcome.returncode != 0:
            label = run.get("name", command) if isinstance(run, dict) else command
            raise AssertionError(
                f"{job_name}: step {label!r} exited {outcome.returncode}\n"
                f"--- stdout ---\n{outcome.stdout[-6000:]}\n--- stderr ---\n{outcome.stderr[-6000:]}"
            )
    return outcomes
