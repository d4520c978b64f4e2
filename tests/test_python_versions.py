"""Every Python the template offers for the image actually profiles: each
``python_version`` choice other than the default (the container lane's own) is
baked, built on an interpreter of that version, run, and read back: the process
runs that Python, and its profiles put the CPU workload's samples on
``hash_chain`` under ``GET /cpu-intensive``. A choice no image can be had for
here is skipped, saying so."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import docker
from harness.agent import TestAgent
from harness.docker import Container, DockerError

from .conftest import DEFAULT_PYTHON_VERSION, TEMPLATE_DIR, make, serve_container

CHOICES = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["python_version"]
STOP_TIMEOUT_SECONDS = 30


@pytest.mark.parametrize("python_version", [version for version in CHOICES if version != DEFAULT_PYTHON_VERSION])
def test_each_python_choice_builds_runs_and_profiles_its_workload(
    python_version: str,
    docker_engine: None,
    cookies: Any,
    default_project: Path,
    start_container: Callable[..., Container],
    test_agent: TestAgent,
) -> None:
    try:
        base_image = docker.base_image_for(python_version)
    except DockerError as error:
        pytest.skip(f"Python {python_version} cannot be tried here: {error}")
    result = cookies.bake(extra_context={"python_version": python_version})
    assert result.exception is None, result.exception
    tag = f"profiling-template-test/python-{python_version}:latest"
    docker.build_image(Path(result.project_path), tag, {"BASE_IMAGE": base_image, "VERSION": "1.0.0"})
    try:
        container, url = serve_container(start_container, tag, {"DD_TRACE_AGENT_URL": test_agent.url})
        interpreter = container.exec("python", "-c", "import platform; print(platform.python_version())").strip()
        assert interpreter.startswith(f"{python_version}."), interpreter
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(6):
                assert client.get("/cpu-intensive", params={"iterations": 300_000}).status_code == 200
        container.stop(STOP_TIMEOUT_SECONDS)  # flushes the final profile
        uploads = test_agent.wait_for_profiles(count=1)
        assert uploads[-1].tags.get("version") == "1.0.0"
    finally:
        docker.docker("rmi", "-f", tag, check=False)

    # What the profile says, read by the perf tool as the service's Makefile runs it.
    outcome = make(default_project, "perf-top", f"PERF_TOP_ARGS=--agent {test_agent.url} --limit 3", timeout=300)
    assert outcome.returncode == 0, outcome.stderr
    first_row = outcome.stdout.splitlines()[2]
    assert "hash_chain" in first_row and "GET /cpu-intensive" in first_row, outcome.stdout
