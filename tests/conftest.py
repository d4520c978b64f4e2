"""Shared fixtures for the template's tests: baking, and the generated project's
own tooling run in its own environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import agent as agent_support
from harness import docker
from harness.bake import uv_environment

from . import template_release

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SLUG = "orders-service"
DEFAULT_PACKAGE = "orders_service"
DEFAULT_PYTHON_VERSION = "3.13"
RELEASE_SCRATCH = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    # pytest-cookies bakes from --template (default "."): point it at this
    # checkout released as a tagged git repository, as a team's bake comes from
    # the template's git URL; baked services install the perf tool from there.
    scratch = Path(tempfile.mkdtemp(prefix="template-release-"))
    config.stash[RELEASE_SCRATCH] = scratch
    config.option.template = str(template_release.release(scratch / "profiling-template.git"))


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(RELEASE_SCRATCH, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def released_template(pytestconfig: pytest.Config) -> Path:
    """This checkout as a git repository tagged with its release (``v<perf tool version>``)."""
    return Path(pytestconfig.option.template)


def run(command: list[str], cwd: Path, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=kwargs.pop("env", uv_environment()),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


def owner_environment(**extra: str) -> dict[str, str]:
    """A service owner's shell: ``uv_environment()`` with uv on PATH, plus ``extra``."""
    environment = uv_environment()
    environment["PATH"] = f"{Path(uv()).parent}{os.pathsep}{environment.get('PATH', '')}"
    return environment | extra


def make(
    project: Path, *arguments: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``make -s <arguments>`` in a baked project, as its owner runs it
    (``owner_environment()`` unless ``env`` is given); the caller judges the outcome."""
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *arguments],
        cwd=project,
        env=owner_environment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tool(name: str) -> str:
    """A command from this environment (next to the running Python) or PATH."""
    executable = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if executable is None:
        pytest.fail(f"{name} is not installed; install the template's requirements-dev.txt")
    return executable


def uv() -> str:
    return tool("uv")


@pytest.fixture(scope="session")
def default_project(cookies_session: Any) -> Iterator[Path]:
    """One bake with the default answers, shared by the tests that only read it."""
    result = cookies_session.bake()
    assert result.exception is None, result.exception
    yield Path(result.project_path)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A reachable Docker engine; a skip with the reason otherwise, or a
    failure when REQUIRE_DOCKER=1 (CI sets it, so the lane can't vanish)."""
    reason = docker.engine_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def base_image(docker_engine: None) -> str:
    """The official python slim image if it can be had, else a stand-in built
    from Debian packages (no image registry is reachable here)."""
    return docker.base_image_for(DEFAULT_PYTHON_VERSION)


@pytest.fixture
def test_agent(tmp_path: Path) -> Iterator[agent_support.TestAgent]:
    """A real ddapm-test-agent on free loopback ports."""
    agent = agent_support.TestAgent(tmp_path / "test-agent.log").start()
    yield agent
    agent.stop()


@pytest.fixture
def start_container() -> Iterator[Callable[..., docker.Container]]:
    """Run containers; every one is removed afterwards, its logs kept on failure."""
    started: list[docker.Container] = []

    def start(image: str, environment: dict[str, str], extra: list[str] | None = None) -> docker.Container:
        container = docker.Container(image, environment, extra)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()


def serve_container(
    start_container: Callable[..., docker.Container],
    image: str,
    environment: dict[str, str],
    extra: list[str] | None = None,
) -> tuple[docker.Container, str]:
    """Run ``image`` on a free port and wait for /healthz; fail with its logs otherwise."""
    port = agent_support.free_port()
    container = start_container(image, {"PORT": str(port), **environment}, extra)
    url = f"http://127.0.0.1:{port}"
    try:
        agent_support.wait_for_http(f"{url}/healthz", 60)
    except TimeoutError:
        pytest.fail(f"container never answered /healthz:\n{container.logs()}")
    return container, url
