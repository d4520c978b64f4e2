"""What a run leaves behind: the per-function table, a JSON report and SVG
flame graphs, all in one folder (``perf-report/`` by default)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import flamegraph
from .pprof import CPU, Frame, Profile, Stack, function_costs

# The standard library's idle waits, by module file and function name. ddtrace
# charges the CPU a thread burned since its last sample to whatever frame it
# finds the thread in, often the wait it went back to (see the README):
# their figures move at random between runs and are never a change's cause.
IDLE_WAIT_FILES = frozenset({"threading.py", "queue.py", "queues.py", "tasks.py", "selectors.py", "locks.py"})
IDLE_WAIT_FUNCTIONS = frozenset({"wait", "get", "sleep", "select", "poll", "acquire", "join", "_wait_for_tstate_lock"})


@dataclass(frozen=True)
class FunctionChange:
    function: str
    file: str
    baseline_self_ms: float
    candidate_self_ms: float
    baseline_inclusive_ms: float
    candidate_inclusive_ms: float

    @property
    def self_change_ms(self) -> float:
        return self.candidate_self_ms - self.baseline_self_ms

    @property
    def idle_wait(self) -> bool:
        """A standard-library wait (see IDLE_WAIT_FILES), not a function's own work."""
        return (
            Path(self.file).name in IDLE_WAIT_FILES
            and "site-packages" not in self.file
            and self.function.rsplit(".", 1)[-1] in IDLE_WAIT_FUNCTIONS
        )

    @property
    def self_change_percent(self) -> float | None:
        if self.baseline_self_ms == 0:
            return None
        return self.self_change_ms / self.baseline_self_ms * 100


def per_request_ms(profile: Profile, cpu_seconds_per_request: float) -> dict[Frame, tuple[float, float]]:
    """Each function's (self, inclusive) CPU per request in ms: its share of the
    profile's CPU times the CPU per request measured by the kernel. Shares, not
    raw sample sums, so sampling-rate differences between runs cancel out."""
    total = profile.total(CPU) or 1
    scale = cpu_seconds_per_request * 1000 / total
    return {
        frame: (cost.self_value * scale, cost.inclusive_value * scale)
        for frame, cost in function_costs(profile, CPU).items()
    }


def function_changes(
    baseline: Profile, candidate: Profile, baseline_cpu: float, candidate_cpu: float
) -> list[FunctionChange]:
    """Functions ordered by how much their own CPU per request changed, most
    first; the standard library's idle waits last (see IDLE_WAIT_FILES)."""
    before = per_request_ms(baseline, baseline_cpu)
    after = per_request_ms(candidate, candidate_cpu)
    changes = [
        FunctionChange(
            function=frame.function,
            file=frame.filename,
            baseline_self_ms=before.get(frame, (0.0, 0.0))[0],
            candidate_self_ms=after.get(frame, (0.0, 0.0))[0],
            baseline_inclusive_ms=before.get(frame, (0.0, 0.0))[1],
            candidate_inclusive_ms=after.get(frame, (0.0, 0.0))[1],
        )
        for frame in set(before) | set(after)
    ]
    return sorted(changes, key=lambda change: (change.idle_wait, -abs(change.self_change_ms)))


def format_table(changes: list[FunctionChange], limit: int = 15) -> str:
    header = f"{'function':<40} {'file':<28} {'baseline':>10} {'candidate':>10} {'change':>10} {'change%':>8}"
    lines = [header, "-" * len(header)]
    working = [change for change in changes if not change.idle_wait]
    for change in working[:limit]:
        percent = change.self_change_percent
        lines.append(
            f"{change.function[:40]:<40} {Path(change.file).name[:28]:<28} "
            f"{change.baseline_self_ms:>8.3f}ms {change.candidate_self_ms:>8.3f}ms "
            f"{change.self_change_ms:>+8.3f}ms {'new' if percent is None else f'{percent:+.0f}%':>8}"
        )
    lines.append("(self CPU per request, C calls charged to their Python caller; inclusive figures in report.json)")
    idle = [change for change in changes if change.idle_wait]
    if idle:
        moved = sum(change.self_change_ms for change in idle)
        names = ", ".join(sorted({change.function for change in idle})[:4])
        lines.append(
            f"(idle waits left out: {names}: {moved:+.3f}ms together; the profiler charges CPU to the frame a "
            "thread waits in, so these move at random between runs)"
        )
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, FunctionChange):
        return {**asdict(value), "self_change_ms": value.self_change_ms, "idle_wait": value.idle_wait}
    raise TypeError(f"not serialisable: {type(value).__name__}")


def write_flamegraph(
    path: Path, stacks: Counter[Stack], title: str, unit: str, baseline: Counter[Stack] | None = None
) -> Path:
    path.write_text(flamegraph.render(stacks, title=title, unit=unit, baseline=baseline))
    return path
