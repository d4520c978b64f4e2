"""Profiling switched through the control file while the service serves load,
with a real test agent: no restart, no failed request; a sampling cap that
ends by itself."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from {{ cookiecutter.package_name }}.profile_types import rfc3339

from . import perf_gate
from .agent import ProfileUpload, TestAgent
from .service import ServiceProcess, rss_mib

POLL_SECONDS = "0.2"
# Endurance of the switch: without the service's restore, each change leaves one
# more ddtrace wrapper on thread start, and after ~500 no thread can start.
WARMUP_CHANGES = 10
CHANGES = 1000
BURST = 16
RSS_GROWTH_LIMIT_MIB = 20
# The truthful sampler, from the control file for a few seconds.
CAP_MS = 2
CAP_SECONDS = 6
# ddtrace's own cap on its adaptive interval (100 ms), in force without one of ours.
ADAPTIVE_MAX_INTERVAL_US = 100_000
# Light traffic of short CPU bursts (~16 ms of hash_chain, then 0.2 s idle),
# the shape ddtrace's adaptive interval credits worst: 0.15-0.22 of
# hash_chain's CPU lands on it (the rest on the worker's idle wait) without a
# cap, 0.82-0.91 with 2 ms (this test's shape, 2026-11-29, 2 runs each).
BURST_ITERATIONS = 50_000
PAUSE_SECONDS = 0.2
LIGHT_TRAFFIC_SECONDS = 6
CAPPED_SHARE_FLOOR = 0.6


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


class WindowClaimedBeforeProfilingResumed(AssertionError):
    """The first profile after off -> on claims time before profiling was back on."""


OFF_SECONDS = 4
# The profiler starts within a poll of the file's change; the clocks are this machine's.
RESUME_TOLERANCE_SECONDS = 0.5


def started_with_control_file(
    tmp_path: Path, test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> tuple[Path, ServiceProcess]:
    """The service profiling CPU under a control file it polls often, uploading every second."""
    control = tmp_path / "profiling.json"
    control.write_text('{"profiles": ["cpu"]}')
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_PROFILING_UPLOAD_INTERVAL="1",
        PROFILING_CONTROL_FILE=str(control),
        PROFILING_CONTROL_POLL_SECONDS=POLL_SECONDS,
    )
    return control, service


@pytest.mark.xfail(
    raises=WindowClaimedBeforeProfilingResumed,
    strict=True,
    reason=(
        f"ddtrace {metadata.version('ddtrace')}: a profiler started after a stop continues the process's one native "
        "profile, whose window began at the stop's final flush (README, 'Switch profiling at run time'); "
        "when this passes, an upgrade fixed it: drop the mark and the README's caveat"
    ),
)
def test_the_first_profile_after_switching_back_on_claims_only_time_profiled(
    tmp_path: Path, test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    """Datadog computes CPU per second and cores used from a profile's start and
    end: a profile claiming the time profiling was off understates the service."""
    control, service = started_with_control_file(tmp_path, test_agent, start_service)
    test_agent.wait_for_profiles(count=1)
    control.write_text('{"enabled": false}')
    wait_for_state(service.url, lambda state: not state["enabled"])
    time.sleep(OFF_SECONDS)
    switched_on = time.time()
    control.write_text('{"profiles": ["cpu"]}')
    wait_for_state(service.url, lambda state: state["enabled"])
    # The first profile after the switch: the earliest to end after it (the
    # stop's own flush ended before it).
    deadline = time.monotonic() + 10
    while not (after := [u for u in test_agent.profiles() if seconds(u.event["end"]) > switched_on]):
        assert time.monotonic() < deadline, "no profile arrived after profiling was switched back on"
        time.sleep(0.25)
    first = min(after, key=lambda upload: seconds(upload.event["end"]))
    start, end = seconds(first.event["start"]), seconds(first.event["end"])
    if start < switched_on - RESUME_TOLERANCE_SECONDS:
        raise WindowClaimedBeforeProfilingResumed(
            f"the first profile after the switch claims {end - start:.2f} s from {switched_on - start:.2f} s before "
            f"profiling was switched back on; at most {end - switched_on:.2f} s of it was profiled"
        )


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
        ('{"max_sampling_interval_ms": 2}', "'max_sampling_interval_ms' needs 'until'"),
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


def shows(expected: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether ``/version``'s profiling state shows every key of ``expected``
    (the control file's keys; ``until`` as the file writes it)."""
    return all(state[key] == value for key, value in expected.items())


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
    # The 2 ms cap comes and goes with the lock profile; its end is far enough
    # ahead to hold through the run.
    until = rfc3339(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))
    sets: tuple[dict[str, Any], ...] = (
        {"profiles": ["cpu", "lock"], "max_sampling_interval_ms": CAP_MS, "until": until},
        {"profiles": ["cpu"], "max_sampling_interval_ms": None, "until": None},
    )

    def control_file(profile_set: dict[str, Any]) -> str:
        return json.dumps({"enabled": True, **{key: value for key, value in profile_set.items() if value is not None}})

    control.write_text(control_file(sets[0]))
    service = start_service(
        DD_TRACE_AGENT_URL=test_agent.url,
        DD_PROFILING_UPLOAD_INTERVAL="1",
        PROFILING_CONTROL_FILE=str(control),
        PROFILING_CONTROL_POLL_SECONDS="0.005",
        WORKLOAD_MAX_CONCURRENCY=str(BURST),
    )

    def switch(times: int, first: int) -> None:
        for change in range(first, first + times):
            profile_set = sets[change % 2]
            control.write_text(control_file(profile_set))
            wait_for_state(service.url, partial(shows, profile_set), poll_seconds=0.002)

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

    # Profiles keep arriving, from the set now in force: the lock profile and the cap.
    in_force = sets[(WARMUP_CHANGES + CHANGES) % 2]
    assert in_force["max_sampling_interval_ms"] == CAP_MS, "the run should end on the capped set"
    uploads = wait_for_uploads_after(test_agent, time.time())
    assert uploads, "no profile was uploaded after the last change"
    upload = uploads[0]
    profiler_config = upload.tags["profiler_config"]
    assert "_lock_" in profiler_config, (in_force, profiler_config)
    cap, interval = sampler(upload)
    assert cap == CAP_MS * 1000 and 0 < interval <= cap, f"(cap, interval) {cap, interval} µs; expected {CAP_MS * 1000}"
    assert upload.tags["service"] == "{{ cookiecutter.service_slug }}"


def sampler(upload: ProfileUpload) -> tuple[int, int]:
    """The CPU sampler's cap on its interval, as the profiler's settings report
    it, and its interval when the profile was uploaded, in µs."""
    cap = upload.event["info"]["profiler"]["settings"]["stack.adaptive_sampling_max_interval"]
    return int(cap), int(upload.event["internal"]["sampling_interval_us"])


def seconds(stamp: str) -> float:
    """An upload's ``start`` or ``end`` (RFC 3339, nanoseconds) as a Unix time."""
    whole, _, fraction = stamp.removesuffix("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction or 0}")


def uploads_between(test_agent: TestAgent, first: float, last: float) -> list[ProfileUpload]:
    """The uploads whose profile starts at ``first`` or later and ends by ``last``."""
    return [
        upload
        for upload in test_agent.profiles()
        if seconds(upload.event["start"]) >= first and seconds(upload.event["end"]) <= last
    ]


def wait_for_uploads_after(test_agent: TestAgent, first: float, timeout: float = 10) -> list[ProfileUpload]:
    """The uploads whose profile starts at ``first`` or later, once there is one (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while not (uploads := uploads_between(test_agent, first, math.inf)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return uploads


def test_a_sampling_cap_from_the_control_file_holds_until_its_end_then_reverts_by_itself(
    tmp_path: Path, test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    """An engineer chasing a regression: the truthful sampler within a poll, for
    a bounded time, then back to ddtrace's adaptive interval with no one's help."""
    control, service = started_with_control_file(tmp_path, test_agent, start_service)
    wait_for_state(service.url, lambda state: state["profiles"] == ["cpu"])
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=CAP_SECONDS)
    control.write_text(json.dumps({"profiles": ["cpu"], "max_sampling_interval_ms": CAP_MS, "until": rfc3339(until)}))

    capped = wait_for_state(service.url, lambda state: state["max_sampling_interval_ms"] == CAP_MS)
    capped_at = time.time()
    assert capped["until"] == rfc3339(until) and capped["profiles"] == ["cpu"], capped
    reverted = wait_for_state(
        service.url, lambda state: state["max_sampling_interval_ms"] is None, timeout=CAP_SECONDS + 10
    )
    reverted_at = time.time()
    late = reverted_at - until.timestamp()
    assert 0 <= late < 5, f"the cap ended {late:+.1f} s after its 'until' (poll every {POLL_SECONDS} s)"
    assert reverted["until"] is None and reverted["profiles"] == ["cpu"], f"the rest of the file stays: {reverted}"
    ended = [line for line in service.logs().splitlines() if "from the profiling control file ended at" in line]
    assert len(ended) == 1 and rfc3339(until) in ended[0], ended

    # (cap, interval) in µs, as each upload reports them.
    held = [sampler(upload) for upload in uploads_between(test_agent, capped_at, until.timestamp())]
    assert held, f"no profile was uploaded while the cap held ({capped_at:.1f} to {until.timestamp():.1f})"
    assert all(cap == CAP_MS * 1000 and 0 < interval <= cap for cap, interval in held), (
        f"while the cap held, uploads reported (cap, interval) {held}; expected {CAP_MS * 1000} and at most that"
    )
    after = [sampler(upload) for upload in wait_for_uploads_after(test_agent, reverted_at)]
    assert after, "no profile was uploaded after the cap ended"
    assert all(cap == ADAPTIVE_MAX_INTERVAL_US and interval > CAP_MS * 1000 for cap, interval in after), (
        f"after the cap ended, uploads reported (cap, interval) {after}; expected ddtrace's {ADAPTIVE_MAX_INTERVAL_US}"
    )


def test_the_control_files_cap_puts_short_cpu_bursts_on_their_own_function(
    tmp_path: Path, test_agent: TestAgent, start_service: Callable[..., ServiceProcess]
) -> None:
    """Coarse, but what the cap is for: most of hash_chain's CPU, read against
    its worker thread's CPU (exact per thread), lands on hash_chain."""
    control = tmp_path / "profiling.json"
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    control.write_text(json.dumps({"max_sampling_interval_ms": CAP_MS, "until": rfc3339(until)}))
    service = start_service(DD_TRACE_AGENT_URL=test_agent.url, PROFILING_CONTROL_FILE=str(control))
    deadline = time.monotonic() + LIGHT_TRAFFIC_SECONDS
    with httpx.Client(base_url=service.url, timeout=30) as client:
        while time.monotonic() < deadline:
            response = client.get("/cpu-intensive", params={"iterations": BURST_ITERATIONS})
            assert response.status_code == 200, response.text
            time.sleep(PAUSE_SECONDS)
    service.stop()  # the final flush holds the whole run

    samples = perf_gate.samples("--agent", test_agent.url)
    workers = {sample["labels"].get("thread id") for sample in samples if sample["function"] == "hash_chain"}
    assert workers, "no CPU sample of hash_chain in any uploaded profile"
    on_workers = [sample for sample in samples if sample["labels"].get("thread id") in workers]
    worker_cpu = sum(int(sample["values"]["cpu-time"]) for sample in on_workers)
    burst_cpu = sum(int(sample["values"]["cpu-time"]) for sample in on_workers if sample["function"] == "hash_chain")
    share = burst_cpu / worker_cpu
    assert share >= CAPPED_SHARE_FLOOR, (
        f"with a {CAP_MS} ms cap hash_chain got {share:.2f} of its worker thread's CPU, expected at least "
        f"{CAPPED_SHARE_FLOOR} (ddtrace's adaptive interval gives about 0.2 here)"
    )
