"""Runtime metrics reach a real DogStatsD socket, tagged like the profiles
(service, env, version, commit, team), and the service keeps serving when
nothing listens."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from {{ cookiecutter.package_name }}.build_info import BuildInfo
from {{ cookiecutter.package_name }}.settings import TEAM

from .agent import TestAgent
from .service import ServiceProcess

# ddtrace flushes runtime metrics every 10 s (fixed in 4.16).
FLUSH_WAIT_SECONDS = 25.0
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
    # flushes must not disturb serving.
    dogstatsd.close()
    deadline = time.monotonic() + FLUSH_WAIT_SECONDS - 10
    with httpx.Client(base_url=service.url, timeout=10) as client:
        while time.monotonic() < deadline:
            assert client.get("/").status_code == 200
            time.sleep(0.5)
        assert client.get("/readyz").status_code == 200
    service.send_sigterm()
    assert service.wait() in (0, -15)
    assert "Traceback" not in service.logs()
