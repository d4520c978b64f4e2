"""Profiles reach a real Datadog test agent carrying the identity of the code."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from {{ cookiecutter.package_name }}.build_info import BuildInfo

from .agent import TestAgent, free_port
from .service import ServiceProcess

REPOSITORY_URL = "{{ cookiecutter.repository_url }}"


def drive_workload(base_url: str, rounds: int = 3) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(rounds):
            for path, params in (
                ("/", {}),
                ("/cpu-intensive", {"iterations": 200_000}),
                ("/memory-alloc", {"size_mb": 8}),
            ):
                response = client.get(path, params=params)
                assert response.status_code == 200, f"{path} answered {response.status_code}: {response.text}"


def test_profiles_carry_service_env_version_commit_and_every_dd_tag(
    test_agent: TestAgent, baked_build: BuildInfo, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_PROFILING_UPLOAD_INTERVAL="1",
        DD_ENV="staging",
        DD_TAGS="owner:checkout,tier:gold",
        DD_VERSION="a-stray-runtime-version",
    )
    drive_workload(service.url)
    uploads = test_agent.wait_for_profiles(count=2)

    expected = {
        "service": "{{ cookiecutter.service_slug }}",
        "env": "staging",
        "version": baked_build.version,
        "git.commit.sha": baked_build.git_commit_sha,
        "owner": "checkout",
        "tier": "gold",
        "team": "{{ cookiecutter.team }}",
    }
    if REPOSITORY_URL:
        expected["git.repository_url"] = REPOSITORY_URL
    for upload in uploads:
        received = {key: upload.tags.get(key) for key in expected}
        assert received == expected, f"profile tags: expected {expected}, received {received}"
        assert "profile.pprof" in upload.attachments
        # Datadog shows the service's own code apart from libraries by this list:
        # the service's distribution is the main package (kind ""), FastAPI a library.
        libraries = upload.code_provenance
        assert libraries["{{ cookiecutter.service_slug }}"]["kind"] == "", libraries.get("{{ cookiecutter.service_slug }}")
        assert libraries["fastapi"]["kind"] == "library"


def test_profiles_name_the_endpoints_that_ran(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(DD_TRACE_AGENT_URL=test_agent.url, DD_PROFILING_UPLOAD_INTERVAL="1")
    drive_workload(service.url)
    service.stop()  # the final flush carries whatever the last interval saw
    endpoints: set[str] = set()
    for upload in test_agent.wait_for_profiles(count=1):
        endpoints.update(upload.endpoint_counts)
    assert {"GET /cpu-intensive", "GET /memory-alloc"} <= endpoints, f"endpoints profiled: {sorted(endpoints)}"


def test_service_keeps_serving_when_the_agent_is_down(start_service: Callable[..., ServiceProcess]) -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    service = start_service(DD_TRACE_AGENT_URL=nobody_listens, DD_PROFILING_UPLOAD_INTERVAL="1")
    drive_workload(service.url, rounds=4)
    with httpx.Client(base_url=service.url, timeout=10) as client:
        assert client.get("/healthz").status_code == 200
    service.send_sigterm()
    returncode = service.wait(timeout=30)
    logs = service.logs()
    assert returncode == -15, f"expected a graceful stop (re-raised SIGTERM), got {returncode}\n{logs}"
    assert "Traceback" not in logs, logs
    assert "Application shutdown complete" in logs, logs


def test_a_sampling_cap_reaches_the_uploaded_profiles(
    test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url, DD_PROFILING_UPLOAD_INTERVAL="1", PROFILING_MAX_SAMPLING_INTERVAL_MS="2"
    )
    drive_workload(service.url, rounds=1)
    intervals = [upload.event["internal"]["sampling_interval_us"] for upload in test_agent.wait_for_profiles(count=2)]
    assert all(0 < interval <= 2000 for interval in intervals), intervals
