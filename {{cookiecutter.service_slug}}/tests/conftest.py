"""Shared fixtures: a clean environment, the app in-process, a real test agent,
the service as a real process, and provenance baked as an image build would."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.build_info import BUILD_INFO_FILE, BuildInfo, render_build_info
from {{ cookiecutter.package_name }}.settings import load_settings

from .agent import TestAgent
from .service import ServiceProcess, read_by_the_service

PACKAGE = "{{ cookiecutter.package_name }}"
BAKED_SHA = "0123456789abcdef0123456789abcdef01234567"
BAKED_VERSION = "1.4.2"
PROCESS_FIXTURES = {"start_service", "test_agent"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without anything the service reads
    (every settings variable, ddtrace's and OpenTelemetry's); in-process apps
    neither trace, profile nor send metrics (the process tests do)."""
    for key in list(os.environ):
        if read_by_the_service(key):
            monkeypatch.delenv(key)
    for key in ("DD_TRACE_ENABLED", "DD_PROFILING_ENABLED", "DD_RUNTIME_METRICS_ENABLED"):
        monkeypatch.setenv(key, "false")


@pytest.fixture
def make_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., TestClient]]:
    """Build the app from environment overrides and run its lifespan."""
    clients: list[TestClient] = []

    def build(**environment: str) -> TestClient:
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        app: FastAPI = create_app(load_settings())
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def test_agent(tmp_path: Path) -> Iterator[TestAgent]:
    agent = TestAgent(tmp_path / "test-agent.log").start()
    yield agent
    agent.stop()


@pytest.fixture
def baked_build() -> Iterator[BuildInfo]:
    """Write the build-info file as the image build does, and remove it after."""
    previous = BUILD_INFO_FILE.read_bytes() if BUILD_INFO_FILE.exists() else None
    BUILD_INFO_FILE.write_text(render_build_info(BAKED_VERSION, BAKED_SHA), encoding="utf-8")
    yield BuildInfo(version=BAKED_VERSION, git_commit_sha=BAKED_SHA)
    if previous is None:
        BUILD_INFO_FILE.unlink()
    else:
        BUILD_INFO_FILE.write_bytes(previous)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start the service as a real process; every one is stopped afterwards.
    ``own_stderr=True`` keeps its stderr apart from its log (``errors()``)."""
    started: list[ServiceProcess] = []

    def start(*, own_stderr: bool = False, **environment: str) -> ServiceProcess:
        log_path = tmp_path / f"service-{len(started)}.log"
        stderr_path = log_path.with_suffix(".stderr") if own_stderr else None
        service = ServiceProcess(PACKAGE, environment, log_path, stderr_path)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start a real process (the service, a test agent) are marked
    ``process``; ``make test-quick`` leaves them out for an edit-and-test loop."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)
