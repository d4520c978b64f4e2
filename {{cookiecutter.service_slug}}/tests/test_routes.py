"""The HTTP surface: answers, validation bounds, the workload switch and cap."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.build_info import BuildInfo
from {{ cookiecutter.package_name }}.settings import load_settings
from {{ cookiecutter.package_name }}.workload import MAX_ALLOCATION_MB, MAX_CPU_ITERATIONS


def test_root_answers_ok(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "OK"


def test_liveness_and_readiness_answer_while_serving(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_version_reports_identity_and_nothing_secret(make_client: Callable[..., TestClient]) -> None:
    client = make_client(DD_ENV="staging", DD_API_KEY="secret-api-key")
    body = client.get("/version").json()
    assert body == {
        "service": "{{ cookiecutter.service_slug }}",
        "env": "staging",
        "version": "dev",
        "git_commit_sha": "unknown",
        "git_repository_url": "{{ cookiecutter.repository_url }}",
        "provenance_warning": BuildInfo("dev", "unknown").provenance_warning,
        "profiling": {
            "enabled": False,
            "profiles": [],
            "heap_sample_bytes": body["profiling"]["heap_sample_bytes"],
            "source": "environment",
            "max_sampling_interval_ms": None,
            "until": None,
        },
    }
    assert "secret-api-key" not in client.get("/version").text


def test_cpu_intensive_returns_the_chained_digest(client: TestClient) -> None:
    response = client.get("/cpu-intensive", params={"iterations": 1000})
    assert response.status_code == 200
    assert response.json()["iterations"] == 1000
    assert len(response.json()["digest"]) == 64


def test_memory_alloc_reports_what_it_allocated(client: TestClient) -> None:
    response = client.get("/memory-alloc", params={"size_mb": 2})
    assert response.status_code == 200
    assert response.json()["allocated_mb"] == 2


@pytest.mark.parametrize(
    ("path", "params", "expected_in_message"),
    [
        ("/cpu-intensive", {"iterations": 0}, "greater than or equal to 1"),
        ("/cpu-intensive", {"iterations": MAX_CPU_ITERATIONS + 1}, f"less than or equal to {MAX_CPU_ITERATIONS}"),
        ("/cpu-intensive", {"iterations": "many"}, "valid integer"),
        ("/memory-alloc", {"size_mb": 0}, "greater than or equal to 1"),
        ("/memory-alloc", {"size_mb": MAX_ALLOCATION_MB + 1}, f"less than or equal to {MAX_ALLOCATION_MB}"),
        ("/memory-alloc", {"size_mb": -5}, "greater than or equal to 1"),
    ],
    ids=["cpu-zero", "cpu-over-max", "cpu-not-a-number", "mem-zero", "mem-over-max", "mem-negative"],
)
def test_workload_parameters_out_of_bounds_are_refused_with_422(
    client: TestClient, path: str, params: dict[str, object], expected_in_message: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    messages = [error["msg"] for error in response.json()["detail"]]
    assert any(expected_in_message in message for message in messages), messages


def test_workload_routes_are_absent_when_switched_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(WORKLOAD_ENABLED="false")
    assert client.get("/cpu-intensive").status_code == 404
    assert client.get("/memory-alloc").status_code == 404
    assert client.get("/healthz").status_code == 200


@pytest.mark.anyio
async def test_workload_beyond_capacity_gets_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKLOAD_MAX_CONCURRENCY", "1")
    app = create_app(load_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        async with app.state.service.workload_slots:  # the one slot is busy
            busy = await client.get("/cpu-intensive", params={"iterations": 10})
            health = await client.get("/healthz")
        free = await client.get("/cpu-intensive", params={"iterations": 10})
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert health.status_code == 200
    assert free.status_code == 200
