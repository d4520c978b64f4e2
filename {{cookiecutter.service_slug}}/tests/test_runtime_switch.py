"""Profiling switched through the control file while the service serves load,
with a real test agent: no restart, no failed request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from .agent import TestAgent
from .service import ServiceProcess, rss_mib

POLL_SECONDS = "0.2"
# Endurance of the switch: ddtrace 4.16 left one more wrapper on thread start
# per change, and after ~500 no thread could start.
WARMUP_CHANGES = 10
CHANGES = 1000
BURST = 16
RSS_GROWTH_LIMIT_MIB = 20


def wait_for_state(
    url: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20, poll_seconds: float = 0.1
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = httpx.get(f"{url}/version", timeout=5).json()["profiling"]
        if predicate(state):
            return state
        time.sleep(poll_seconds)
    raise AssertionError(f"profiling state never matched; last: {state}")


@contextmanager
def steady_load(url: str) -> Iterator[list[int]]:
    """Requests back to back in a thread; yields the failures seen."""
    failures: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                response = client.get("/cpu-intensive", params={"iterations": 20_000})
                if response.status_code != 200:
                    failures.append(response.status_code)

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        yield failures
    finally:
        stop.set()
        worker.join()


def test_profiling_switches_off_and_back_on_with_a_reduced_set_without_a_restart(
    tmp_path: Path, test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    control = tmp_path / "profiling.json"
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_PROFILING_UPLOAD_INTERVAL="1",
        PROFILING_CONTROL_FILE=str(control),
        PROFILING_CONTROL_POLL_SECONDS=POLL_SECONDS,
    )
    pid = service.pid
    with steady_load(service.url) as failures:
        test_agent.wait_for_profiles(count=1)

        control.write_text('{"enabled": false}')
        wait_for_state(service.url, lambda state: not state["enabled"])
        time.sleep(0.5)  # the switch's own final flush may still be in flight
        test_agent.clear()
        time.sleep(3)  # three upload intervals
        assert test_agent.profiles() == [], "profiles kept arriving after profiling was switched off"

        control.write_text('{"enabled": true, "profiles": ["cpu"]}')
        state = wait_for_state(service.url, lambda state: state["enabled"])
        assert state["profiles"] == ["cpu"] and state["source"] == "control file", state
        uploads = test_agent.wait_for_profiles(count=1)

    profiler_config = uploads[0].tags["profiler_config"]
    assert profiler_config.startswith("stack_v2_"), profiler_config
    assert "_lock_" not in profiler_config and "_mem_" not in profiler_config, profiler_config
    assert failures == [], f"requests failed during the switches: {failures}"
    assert service.pid == pid and service.process is not None and service.process.poll() is None


def test_bad_control_files_leave_the_state_in_force_and_log_the_problem(
    tmp_path: Path, test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    control = tmp_path / "profiling.json"
    control.write_text('{"profiles": ["cpu", "lock"]}')
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        PROFILING_CONTROL_FILE=str(control),
        PROFILING_CONTROL_POLL_SECONDS=POLL_SECONDS,
    )
    good = wait_for_state(service.url, lambda state: state["profiles"] == ["cpu", "lock"])
    for text, complaint in (
        ("{not json", "not valid JSON"),
        ('{"profiles": ["cpu"], "rate": 5}', "unknown key 'rate'"),
        ('{"heap_sample_bytes": -4}', "'heap_sample_bytes' must be a whole number"),
    ):
        control.write_text(text)
        deadline = time.monotonic() + 10
        while complaint not in service.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert complaint in service.logs(), f"no error logged for {text!r}:\n{service.logs()}"
        assert httpx.get(f"{service.url}/version", timeout=5).json()["profiling"] == good


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError(f"no thread count for pid {pid}")


def profiles_are(profiles: list[str], state: dict[str, Any]) -> bool:
    return bool(state["profiles"] == profiles)


def burst(url: str, size: int) -> list[int]:
    """``size`` workload requests at once; the status codes."""
    with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(max_workers=size) as pool:
        return list(
            pool.map(lambda _: client.get("/cpu-intensive", params={"iterations": 50_000}).status_code, range(size))
        )


def test_a_thousand_switches_leave_the_process_able_to_start_threads_and_profiling_on(
    tmp_path: Path, test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    control = tmp_path / "profiling.json"
    sets = (["cpu"], ["cpu", "lock"])
    control.write_text(json.dumps({"enabled": True, "profiles": sets[0]}))
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_PROFILING_UPLOAD_INTERVAL="1",
        PROFILING_CONTROL_FILE=str(control),
        PROFILING_CONTROL_POLL_SECONDS="0.005",
        WORKLOAD_MAX_CONCURRENCY=str(BURST),
    )

    def switch(times: int, first: int) -> None:
        for change in range(first, first + times):
            profiles = sets[change % 2]
            control.write_text(json.dumps({"enabled": True, "profiles": profiles}))
            wait_for_state(service.url, partial(profiles_are, profiles), poll_seconds=0.002)

    # The first changes create the threads every later one reuses (the one
    # that applies changes, the readiness probe's): measure after them.
    switch(WARMUP_CHANGES, first=1)
    threads, rss = thread_count(service.pid), rss_mib(service.pid)
    switch(CHANGES, first=1 + WARMUP_CHANGES)
    threads_after, rss_after = thread_count(service.pid), rss_mib(service.pid)

    assert threads_after == threads, f"threads: {threads} before {CHANGES} changes, {threads_after} after"
    assert rss_after - rss < RSS_GROWTH_LIMIT_MIB, f"RSS grew from {rss:.0f} to {rss_after:.0f} MiB"
    # The burst needs new worker threads: AnyIO's pool started none yet.
    codes = burst(service.url, BURST)
    assert codes == [200] * BURST, f"after {CHANGES} changes the burst answered {codes}"
    assert httpx.get(f"{service.url}/readyz", timeout=5).status_code == 200

    # Profiles keep arriving, from the set now in force.
    in_force = sets[(WARMUP_CHANGES + CHANGES) % 2]
    test_agent.clear()
    upload = test_agent.wait_for_profiles(count=1)[0]
    profiler_config = upload.tags["profiler_config"]
    assert ("_lock_" in profiler_config) == ("lock" in in_force), (in_force, profiler_config)
    assert upload.tags["service"] == "{{ cookiecutter.service_slug }}"
