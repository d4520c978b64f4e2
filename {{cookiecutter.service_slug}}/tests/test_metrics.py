"""Metrics as the Agent receives them: runtime metrics on a real DogStatsD
socket, tagged like the profiles (service, env, version, commit, team), with the
service serving on when nothing listens; application metrics as OTLP at a real
receiver, carrying the same identity and the amounts of work done."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from {{ cookiecutter.package_name }}.build_info import BuildInfo
from {{ cookiecutter.package_name }}.otlp_exporter import EXPORT_TIMEOUT_SECONDS
from {{ cookiecutter.package_name }}.settings import TEAM

from .agent import TestAgent, free_port
from .service import ServiceProcess

# ddtrace flushes runtime metrics every 10 s (no setting changes it); the first
# flush comes one interval after start.
FLUSH_INTERVAL_SECONDS = 10.0
FLUSH_WAIT_SECONDS = 2.5 * FLUSH_INTERVAL_SECONDS
EXPECTED_METRICS = {
    "runtime.python.cpu.percent",
    "runtime.python.mem.rss",
    "runtime.python.thread_count",
    "runtime.python.gc.count.gen0",
}


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    kind: str
    tags: dict[str, str]


def parse_datagram(datagram: bytes) -> list[Metric]:
    """DogStatsD lines, ``name:value|type|#key:value,...`` (one per line)."""
    metrics = []
    for line in datagram.decode().splitlines():
        head, *fields = line.split("|")
        name, _, value = head.partition(":")
        tags: dict[str, str] = {}
        for field in fields[1:]:
            if field.startswith("#"):
                for tag in field[1:].split(","):
                    key, _, tag_value = tag.partition(":")
                    tags[key] = tag_value
        metrics.append(Metric(name, float(value), fields[0], tags))
    return metrics


@pytest.fixture
def dogstatsd() -> Iterator[socket.socket]:
    """A UDP socket on loopback standing in for the Agent's DogStatsD port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(0.5)
        yield listener


def receive_until(listener: socket.socket, wanted: set[str], timeout: float) -> dict[str, Metric]:
    received: dict[str, Metric] = {}
    deadline = time.monotonic() + timeout
    while not wanted <= received.keys() and time.monotonic() < deadline:
        try:
            datagram = listener.recv(65535)
        except TimeoutError:
            continue
        received.update((metric.name, metric) for metric in parse_datagram(datagram))
    return received


def test_runtime_metrics_arrive_tagged_and_a_missing_listener_harms_nothing(
    dogstatsd: socket.socket,
    test_agent: TestAgent,
    baked_build: BuildInfo,
    start_service: Callable[..., ServiceProcess],
) -> None:
    port = dogstatsd.getsockname()[1]
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url, DD_DOGSTATSD_URL=f"udp://127.0.0.1:{port}", DD_ENV="metrics-test"
    )
    received = receive_until(dogstatsd, EXPECTED_METRICS, FLUSH_WAIT_SECONDS)
    assert received.keys() >= EXPECTED_METRICS, f"missing {sorted(EXPECTED_METRICS - received.keys())}"
    expected_tags = {
        "service": "{{ cookiecutter.service_slug }}",
        "env": "metrics-test",
        "version": baked_build.version,
        "git.commit.sha": baked_build.git_commit_sha,
        "team": TEAM,
    }
    for name in EXPECTED_METRICS:
        tags = received[name].tags
        assert {key: tags.get(key) for key in expected_tags} == expected_tags, (name, tags)
    assert received["runtime.python.mem.rss"].value > 10 * 1024 * 1024

    # Nothing listens any more (the port answers ICMP unreachable): the next
    # flush, one interval after the one just received, must not disturb serving.
    dogstatsd.close()
    deadline = time.monotonic() + FLUSH_INTERVAL_SECONDS + 1.5
    with httpx.Client(base_url=service.url, timeout=10) as client:
        while time.monotonic() < deadline:
            assert client.get("/").status_code == 200
            time.sleep(0.5)
        assert client.get("/readyz").status_code == 200
    service.send_sigterm()
    assert service.wait() in (0, -15)
    assert "Traceback" not in service.logs()


def attribute_values(attributes: list[dict[str, Any]]) -> dict[str, str]:
    """OTLP key/value attributes (as the test agent decodes them) as a dict."""
    return {item["key"]: next(iter(item["value"].values()), "") for item in attributes}


def received_points(requests: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """The last resource seen, and every data point by metric name."""
    resource: dict[str, str] = {}
    points: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        for resource_metrics in request.get("resource_metrics", []):
            resource = attribute_values(resource_metrics["resource"]["attributes"])
            for scope in resource_metrics.get("scope_metrics", []):
                for metric in scope.get("metrics", []):
                    data = metric.get("sum") or metric.get("histogram") or {}
                    points.setdefault(metric["name"], []).extend(data.get("data_points", []))
    return resource, points


def test_application_metrics_reach_an_otlp_receiver_with_the_services_identity(
    test_agent: TestAgent, baked_build: BuildInfo, start_service: Callable[..., ServiceProcess]
) -> None:
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_ENV="metrics-test",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"{test_agent.otlp_http_url}/v1/metrics",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    rounds = [1_000, 2_000, 3_000]
    sizes_mb = [1, 3]
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for iterations in rounds:
            assert client.get("/cpu-intensive", params={"iterations": iterations}).status_code == 200
            time.sleep(0.3)  # spread over several exports: delta sums must add up
        for size in sizes_mb:
            assert client.get("/memory-alloc", params={"size_mb": size}).status_code == 200
    service.stop()  # the last export happens at shutdown

    resource, points = received_points(test_agent.otlp_metrics())
    expected = {
        "service.name": "{{ cookiecutter.service_slug }}",
        "deployment.environment.name": "metrics-test",
        "service.version": baked_build.version,
        "git.commit.sha": baked_build.git_commit_sha,
        "team": TEAM,
    }
    assert {key: resource.get(key) for key in expected} == expected, resource
    # What the metrics say, against the work that was asked for.
    assert sum(int(point["as_int"]) for point in points["workload.hash.rounds"]) == sum(rounds)
    allocations = points["workload.allocation.size"]
    assert sum(int(point["count"]) for point in allocations) == len(sizes_mb)
    assert sum(float(point["sum"]) for point in allocations) == sum(sizes_mb) * 1024 * 1024


def test_an_unreachable_otlp_receiver_harms_nothing(start_service: Callable[..., ServiceProcess]) -> None:
    nobody_listens = f"http://127.0.0.1:{free_port()}/v1/metrics"
    service = start_service(
        DD_TRACE_ENABLED="false",
        DD_PROFILING_ENABLED="false",
        LOG_FORMAT="json",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=nobody_listens,
        OTEL_METRIC_EXPORT_INTERVAL="200",
    )
    deadline = time.monotonic() + 3
    with httpx.Client(base_url=service.url, timeout=10) as client:
        while time.monotonic() < deadline:
            assert client.get("/cpu-intensive", params={"iterations": 1000}).status_code == 200
        assert client.get("/readyz").status_code == 200
    started = time.monotonic()
    service.send_sigterm()
    assert service.wait() == -15
    stop_seconds = time.monotonic() - started
    lines = [line for line in service.logs().splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), [line for line in lines if not line.startswith("{")][:3]
    # The last export, at shutdown, gives up within the exporter's timeout
    # instead of holding the stop for OpenTelemetry's default 10 s.
    assert stop_seconds < EXPORT_TIMEOUT_SECONDS + 3, f"shutdown took {stop_seconds:.1f} s"
