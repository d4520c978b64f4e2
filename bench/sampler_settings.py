"""The stack sampler settings the benches compare: one name, one environment.

ddtrace 4.16 takes its stack sampler's settings from private variables, read
when ddtrace is imported and handed to the native sampler at each profiler
start (``ddtrace/profiling/collector/stack.py``, ``_init``). Units, from
dd-trace-py's ``stack/include/sampler.hpp`` and ``stack/src/stack.cpp``:

- ``_DD_PROFILING_STACK_ADAPTIVE_SAMPLING_BASELINE``: a floor under the
  sampler's CPU budget, in core-percent (1 = 0.01 core: 2.5 ms of sampler CPU
  per 250 ms adaptation window); ddtrace's default 0;
- ``_DD_PROFILING_STACK_ADAPTIVE_SAMPLING_TARGET_OVERHEAD``: the budget's share
  of the process's own CPU (the larger of now and its p95 over 600 s), in
  percent; default 1, range 1-100;
- ``_DD_PROFILING_STACK_MAX_THREADS``: threads sampled per cycle (reservoir
  sampling above it); default 25, 0 = all. AnyIO's worker pool has 40 threads;
- ``_DD_PROFILING_STACK_ADAPTIVE_SAMPLING_ENABLED``: false keeps the interval
  fixed at 10 ms, whatever the load (no budget, no floor, no cap).

The service sets the floor and the target itself at every profiler start, from
its own settings (``PROFILING_SAMPLER_FLOOR_CORE_PERCENT``,
``PROFILING_SAMPLER_TARGET_PERCENT``), which win over ddtrace's variables; the
interval's cap is its ``PROFILING_MAX_SAMPLING_INTERVAL_MS``. So every row names
its floor and target through the service's variables and means the same on any
bake: ``default`` is ddtrace's own budget, ``shipped`` whatever the bake ships.
(The runs of 2026-11-29 in ``bench/results/`` were taken on a bake from before
the service had those settings, with ddtrace's private variables, which it then
honoured: each JSON line records the environment it ran with.)
"""

from __future__ import annotations

MAX_THREADS = "_DD_PROFILING_STACK_MAX_THREADS"
ADAPTIVE = "_DD_PROFILING_STACK_ADAPTIVE_SAMPLING_ENABLED"
FLOOR = "PROFILING_SAMPLER_FLOOR_CORE_PERCENT"
TARGET = "PROFILING_SAMPLER_TARGET_PERCENT"
CAP = "PROFILING_MAX_SAMPLING_INTERVAL_MS"


def budget(floor: float = 0, target: float = 1, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A row: the sampler's floor (hundredths of a core) and target (percent), and more."""
    return {FLOOR: f"{floor:g}", TARGET: f"{target:g}", **(extra or {})}


SAMPLER_SETTINGS: dict[str, dict[str, str]] = {
    "default": budget(),
    "baseline-1": budget(floor=1),
    "baseline-3": budget(floor=3),
    "baseline-5": budget(floor=5),
    "target-3": budget(target=3),
    "target-5": budget(target=5),
    "threads-64": budget(extra={MAX_THREADS: "64"}),
    "cap-10ms": budget(extra={CAP: "10"}),
    "cap-5ms": budget(extra={CAP: "5"}),
    "cap-2ms": budget(extra={CAP: "2"}),
    "baseline-3+threads-64": budget(floor=3, extra={MAX_THREADS: "64"}),
    "baseline-3+target-3": budget(floor=3, target=3),
    "baseline-5+threads-64": budget(floor=5, extra={MAX_THREADS: "64"}),
    # Added after the first pass: the per-request budget (2%) bounds the
    # target, the idle budget (1% of a core) the floor.
    "target-2": budget(target=2),
    "baseline-0.5": budget(floor=0.5),
    "baseline-0.5+target-2": budget(floor=0.5, target=2),
    "baseline-1+target-2": budget(floor=1, target=2),
    # The one lever not in the first pass: no adaptation at all.
    "fixed-10ms": budget(extra={ADAPTIVE: "false"}),
    # The service's own default, whatever the bake ships.
    "shipped": {},
}
