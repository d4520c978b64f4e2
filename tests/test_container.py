"""The generated image, built and run on a real Docker engine: provenance baked
from build args reaches labels, /version and every profile, and an image that
cannot name its commit says so (or is not built); the container runs read-only
as non-root, turns healthy, and stops gracefully with a final profile."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from harness import docker
from harness.agent import TestAgent
from harness.docker import Container, DockerError

from .conftest import DEFAULT_PACKAGE, DEFAULT_SLUG, serve_container

GIT_SHA = "3f9c2a7be1d04c58a6e2f7b9d0c1e2f3a4b5c6d7"
VERSION = "1.2.3"
IMAGE = f"profiling-template-test/{DEFAULT_SLUG}"
STOP_TIMEOUT_SECONDS = 30
GRACEFUL_EXIT_CODES = {
    0,
    143,
}  # 143: uvicorn re-raised SIGTERM; 0: PID 1 ignores that default action


@pytest.fixture(scope="module")
def stamped_image(base_image: str, default_project: Path) -> Iterator[str]:
    tag = f"{IMAGE}:{VERSION}"
    docker.build_image(
        default_project,
        tag,
        {
            "BASE_IMAGE": base_image,
            "GIT_SHA": GIT_SHA,
            "VERSION": VERSION,
            "BUILD_DATE": "2026-01-02T03:04:05Z",
        },
    )
    yield tag
    docker.docker("rmi", "-f", tag, check=False)


@pytest.fixture(scope="module")
def unstamped_image(base_image: str, default_project: Path) -> Iterator[str]:
    tag = f"{IMAGE}:unstamped"
    docker.build_image(default_project, tag, {"BASE_IMAGE": base_image})
    yield tag
    docker.docker("rmi", "-f", tag, check=False)


@pytest.fixture(scope="module")
def commit_unknown_image(base_image: str, default_project: Path) -> Iterator[str]:
    """Built with a version and no GIT_SHA (`make image GIT_SHA=unknown` outside
    git, or a `docker build` that forgot it). The bake step's build-time WARNING
    is test_build_info's: a cached layer does not print it again."""
    tag = f"{IMAGE}:commit-unknown"
    docker.build_image(default_project, tag, {"BASE_IMAGE": base_image, "VERSION": VERSION})
    yield tag
    docker.docker("rmi", "-f", tag, check=False)


def drive(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(3):
            for path, params in (
                ("/", {}),
                ("/cpu-intensive", {"iterations": 200_000}),
                ("/memory-alloc", {"size_mb": 8}),
            ):
                assert client.get(path, params=params).status_code == 200


def test_image_labels_carry_the_baked_sha_and_version(stamped_image: str) -> None:
    labels = docker.image_labels(stamped_image)
    expected = {
        "org.opencontainers.image.revision": GIT_SHA,
        "org.opencontainers.image.version": VERSION,
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        "org.opencontainers.image.source": f"https://github.com/example/{DEFAULT_SLUG}",
        "com.datadoghq.tags.service": DEFAULT_SLUG,
        "com.datadoghq.tags.version": VERSION,
    }
    received = {key: labels.get(key) for key in expected}
    assert received == expected


def test_container_runs_read_only_as_non_root_reports_its_build_and_turns_healthy(
    stamped_image: str, start_container: Callable[..., Container]
) -> None:
    container, url = serve_container(
        start_container,
        stamped_image,
        {"DD_TRACE_ENABLED": "false", "DD_PROFILING_ENABLED": "false"},
        extra=["--read-only", "--tmpfs", "/tmp"],
    )
    version = httpx.get(f"{url}/version", timeout=5).json()
    assert (version["version"], version["git_commit_sha"]) == (VERSION, GIT_SHA)
    assert container.exec("python", "-c", "import os; print(os.getuid())").strip() == "10001"
    health = container.wait_for_health("healthy", timeout=60)
    assert health == "healthy", f"HEALTHCHECK status {health!r}:\n{container.logs()}"


def test_profiles_from_the_container_carry_the_baked_provenance(
    stamped_image: str, start_container: Callable[..., Container], test_agent: TestAgent
) -> None:
    container, url = serve_container(
        start_container,
        stamped_image,
        {
            "DD_TRACE_AGENT_URL": test_agent.url,
            "DD_PROFILING_UPLOAD_INTERVAL": "1",
            "DD_ENV": "staging",
            "DD_VERSION": "a-runtime-override",
        },
    )
    drive(url)
    uploads = test_agent.wait_for_profiles(count=2)
    expected = {
        "service": DEFAULT_SLUG,
        "env": "staging",
        "version": VERSION,
        "git.commit.sha": GIT_SHA,
    }
    for upload in uploads:
        received = {key: upload.tags.get(key) for key in expected}
        assert received == expected, f"profile tags: expected {expected}, received {received}"
    assert "ignoring DD_VERSION=a-runtime-override" in container.logs()

    # Installed into site-packages, the service would be one more library to
    # Datadog; as the main package its files are marked as the service's code,
    # and the CPU workload's frames point into them.
    service = uploads[-1].code_provenance[DEFAULT_SLUG]
    assert service["kind"] == "", service
    package_dirs = [path for path in service["paths"] if path.endswith(f"/site-packages/{DEFAULT_PACKAGE}")]
    assert package_dirs, service["paths"]
    workload_file = f"{package_dirs[0]}/workload.py".encode()
    assert any(workload_file in upload.attachment("profile.pprof") for upload in uploads), workload_file


def test_docker_stop_drains_in_flight_requests_then_flushes_a_final_profile(
    stamped_image: str, start_container: Callable[..., Container], test_agent: TestAgent
) -> None:
    in_flight = 4
    # A long upload interval: what arrives after the stop is the final flush.
    container, url = serve_container(
        start_container,
        stamped_image,
        {
            "DD_TRACE_AGENT_URL": test_agent.url,
            "DD_PROFILING_UPLOAD_INTERVAL": "60",
            "WORKLOAD_MAX_CONCURRENCY": str(in_flight),
        },
    )
    test_agent.clear()

    def slow_request(_: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as client:
            return client.get("/cpu-intensive", params={"iterations": 1_500_000}).status_code

    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        futures = [pool.submit(slow_request, index) for index in range(in_flight)]
        time.sleep(0.5)
        started = time.monotonic()
        container.stop(STOP_TIMEOUT_SECONDS)
        stopped_after = time.monotonic() - started
        statuses = [future.result(timeout=60) for future in futures]

    state = container.inspect()["State"]
    assert statuses == [200] * in_flight, f"in-flight requests answered {statuses}\n{container.logs()}"
    assert state["ExitCode"] in GRACEFUL_EXIT_CODES, f"exit code {state['ExitCode']}:\n{container.logs()}"
    assert stopped_after < STOP_TIMEOUT_SECONDS, "docker stop had to wait for the kill timeout"
    uploads = test_agent.wait_for_profiles(count=1, timeout=15)
    drained = sum(upload.endpoint_counts.get("GET /cpu-intensive", 0) for upload in uploads)
    assert drained == in_flight, f"the final profile counted {drained} of {in_flight} drained requests"


def test_image_built_without_build_args_reports_dev_and_unknown(
    unstamped_image: str, start_container: Callable[..., Container]
) -> None:
    container, url = serve_container(
        start_container,
        unstamped_image,
        {"DD_TRACE_ENABLED": "false", "DD_PROFILING_ENABLED": "false"},
    )
    version = httpx.get(f"{url}/version", timeout=5).json()
    assert (version["version"], version["git_commit_sha"]) == ("dev", "unknown")
    assert version["provenance_warning"].startswith("no build info baked in"), version
    assert container.logs().count("no build info baked in") == 1, container.logs()
    labels = docker.image_labels(unstamped_image)
    assert labels["org.opencontainers.image.revision"] == "unknown"


def test_an_image_whose_commit_is_unknown_says_so_once_at_start_and_in_version(
    commit_unknown_image: str, start_container: Callable[..., Container]
) -> None:
    container, url = serve_container(
        start_container, commit_unknown_image, {"DD_TRACE_ENABLED": "false", "DD_PROFILING_ENABLED": "false"}
    )
    version = httpx.get(f"{url}/version", timeout=5).json()
    assert (version["version"], version["git_commit_sha"]) == (VERSION, "unknown"), version
    assert version["provenance_warning"].startswith(f"commit unknown: version {VERSION} was built without GIT_SHA")
    lines = [json.loads(line) for line in container.logs().splitlines() if line.strip()]
    warnings = [line for line in lines if line["message"].startswith("commit unknown")]
    assert [line["level"] for line in warnings] == ["WARNING"], f"expected one warning at start, got {warnings}"
    assert warnings[0]["message"] == version["provenance_warning"]


def test_a_build_given_an_empty_git_sha_stops_with_one_line_saying_what_to_do(
    base_image: str, default_project: Path
) -> None:
    # What `--build-arg GIT_SHA=$(git rev-parse HEAD)` passes outside a git repository.
    tag = f"{IMAGE}:empty-sha"
    with pytest.raises(DockerError) as refused:
        docker.build_image(default_project, tag, {"BASE_IMAGE": base_image, "GIT_SHA": "", "VERSION": VERSION})
    docker.docker("rmi", "-f", tag, check=False)
    said = [line for line in str(refused.value).splitlines() if "GIT_SHA is empty" in line]
    assert len(said) == 1, str(refused.value)
    assert "commit the code and build with `make image`" in said[0].lower(), said[0]
    assert "GIT_SHA=unknown" in said[0], said[0]
