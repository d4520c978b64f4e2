"""Shared fixtures for the template's tests: baking, and the generated project's
own tooling run in its own environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
SERVICE_TEMPLATE_DIR = TEMPLATE_DIR / "{{cookiecutter.service_slug}}"
DEFAULT_SLUG = "orders-service"
DEFAULT_PACKAGE = "orders_service"


def pytest_configure(config: pytest.Config) -> None:
    # pytest-cookies bakes from --template (default "."): pin it to this checkout
    # so the suite works from any working directory.
    config.option.template = str(TEMPLATE_DIR)


def uv_environment() -> dict[str, str]:
    """uv must use this machine's Python and trust its CA bundle (TLS-inspecting proxies)."""
    environment = dict(os.environ)
    environment.setdefault("UV_PYTHON_DOWNLOADS", "never")
    if Path("/etc/ssl/certs/ca-certificates.crt").exists():
        environment.setdefault("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    # A baked project gets its own virtual environment, never the caller's.
    environment.pop("VIRTUAL_ENV", None)
    return environment


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
