"""Readiness tells the truth: a process that can no longer start the worker
threads its workload needs is taken out of rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.profile_types import ProfileType

# Without the service's restore, every profiler start wraps ddtrace's thread
# start-up once more; past ~500 wrappers no thread can start.
NESTED_STARTS = 700
CPU: frozenset[ProfileType] = frozenset({"cpu"})


# The probe's thread dies in its start-up, as every thread did: that is the point.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_readiness_fails_once_no_thread_can_start_while_liveness_holds(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_PROFILING_OUTPUT_PPROF", str(tmp_path / "profile"))
    from {{ cookiecutter.package_name }} import ddtrace_internals

    assert client.get("/readyz").json() == {"status": "ready"}
    try:
        # Break thread start-up the way it broke for real: ddtrace's own
        # wrappers, nested by starts and stops that are never cleaned up.
        for _ in range(NESTED_STARTS):
            profiler = ddtrace_internals.start_profiler(
                service="readiness-test", env="test", version="0", tags={}, profiles=CPU, heap_sample_bytes=0
            )
            profiler.stop(flush=False)
        response = client.get("/readyz")
        assert (response.status_code, response.json()) == (503, {"status": "not ready: cannot start a thread"})
        assert client.get("/healthz").status_code == 200, "liveness must not restart a pod for this"
    finally:
        ddtrace_internals.restore_thread_methods()
    # The attempt that hung never returns, so the pod stays out of rotation
    # (a rollout replaces it) rather than start more threads into the trap.
    assert client.get("/readyz").status_code == 503
