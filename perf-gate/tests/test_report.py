"""The gate's per-function table: which function's own CPU per request changed,
ranked by how much, with the standard library's idle waits set apart."""

from __future__ import annotations

from collections import Counter

from perf_gate.pprof import CPU, Frame, Profile, Stack
from perf_gate.report import format_table, function_changes

WORKER = Frame("_worker", "/usr/lib/python3.13/concurrent/futures/thread.py")
HASH_CHAIN = Frame("hash_chain", "/app/.venv/lib/python3.13/site-packages/service/workload.py")
ROUTE = Frame("cpu_intensive", "/app/.venv/lib/python3.13/site-packages/service/routes/workload.py")
CONDITION_WAIT = Frame("Condition.wait", "/usr/lib/python3.13/threading.py")
ASYNCIO_SLEEP = Frame("sleep", "/usr/lib/python3.13/asyncio/tasks.py")
# A function of the service's own that happens to be called "get": not a wait.
OWN_GET = Frame("Cache.get", "/app/.venv/lib/python3.13/site-packages/service/cache.py")


def profile(samples: dict[Stack, int]) -> Profile:
    return Profile(sample_types=[CPU], stacks={CPU: Counter(samples)})


def test_a_grown_function_ranks_above_idle_waits_that_moved_more() -> None:
    baseline = profile(
        {
            (WORKER, HASH_CHAIN): 900,
            (ROUTE,): 50,
            (WORKER, CONDITION_WAIT): 20,
            (ASYNCIO_SLEEP,): 120,
            (OWN_GET,): 10,
        }
    )
    # hash_chain grew 10%; the profiler's charge to idle waits moved by more.
    candidate = profile(
        {
            (WORKER, HASH_CHAIN): 990,
            (ROUTE,): 50,
            (WORKER, CONDITION_WAIT): 250,
            (ASYNCIO_SLEEP,): 5,
            (OWN_GET,): 10,
        }
    )
    changes = function_changes(baseline, candidate, baseline_cpu=0.0110, candidate_cpu=0.0130)

    ranked = [change.function for change in changes]
    assert ranked[0] == "hash_chain", ranked
    assert {change.function for change in changes if change.idle_wait} == {"Condition.wait", "sleep"}
    assert ranked[-2:] in (["Condition.wait", "sleep"], ["sleep", "Condition.wait"]), ranked
    assert not next(change for change in changes if change.function == "Cache.get").idle_wait

    table = format_table(changes).splitlines()
    assert table[2].startswith("hash_chain"), table
    assert not any(row.startswith(("Condition.wait", "sleep ")) for row in table[2:-2]), table
    assert "idle waits left out: Condition.wait, sleep" in table[-1], table[-1]
