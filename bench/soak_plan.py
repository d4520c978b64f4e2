"""The soak's schedule: which traffic phase, profile set and agent state
hold at each moment of a run, in seconds from its start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STEP_SECONDS = 10  # one sample, one CSV row; every change happens on a step


# The profile set of each cycle after the first, as the control file asks for
# it; None removes the file, which puts the environment's set (the shipped
# default: the CPU profile alone) back in force.
ControlDocument = dict[str, Any] | None
CPU_STEP: tuple[str, ControlDocument] = ("cpu", None)
# Truth on demand: the sampler's interval capped for a while. The soak adds
# the file's "until" when it writes it, TRUTH_ENDS_EARLY_S before the cycle
# ends (a quarter of a shorter cycle, two samples at least), so the run sees
# the cap lapse by itself while the file still asks for it.
TRUTH_STEP = "cpu+truth"
TRUTH_CAP_MS = 2
TRUTH_ENDS_EARLY_S = 60
ROTATION: tuple[tuple[str, ControlDocument], ...] = (
    ("cpu+lock", {"profiles": ["cpu", "lock"]}),
    CPU_STEP,
    ("cpu+memory", {"profiles": ["cpu", "memory"]}),
    CPU_STEP,
    ("off", {"enabled": False}),
    CPU_STEP,
    (TRUTH_STEP, {"max_sampling_interval_ms": TRUTH_CAP_MS}),
    CPU_STEP,
    ("cpu+exception", {"profiles": ["cpu", "exception"]}),
    CPU_STEP,
)
# Cycles the agent may be down in: not while the profiler is off (nothing to
# lose) or next to it (its uploads' gap would merge with the off one), nor in
# a memory window or next to it (their RSS is compared, and ddtrace buffers
# what it cannot send).
AGENT_DOWN_ALLOWED = frozenset({"cpu", "cpu+lock", "cpu+exception"})
MEMORY_STEP = "cpu+memory"
NOT_NEXT_TO_AGENT_DOWN = frozenset({MEMORY_STEP, "off"})


@dataclass(frozen=True)
class Plan:
    """What happens when, in seconds from the start; all multiples of a step."""

    duration: int
    cycle: int
    warmup: int
    agent_down: tuple[tuple[int, int], ...]

    def phase_at(self, t: int) -> str:
        offset = t % self.cycle
        # Half the cycle light, a third closed, a sixth burst.
        if offset < self.cycle // 2:
            return "light"
        return "closed" if offset < self.cycle // 2 + self.cycle // 3 else "burst"

    def step_at(self, t: int) -> tuple[str, ControlDocument]:
        index = t // self.cycle
        if index == 0 or index >= self.duration // self.cycle - 1:
            return CPU_STEP  # start and end as shipped
        return ROTATION[(index - 1) % len(ROTATION)]

    def agent_up_at(self, t: int) -> bool:
        return not any(start <= t < end for start, end in self.agent_down)

    def truth_cap_end(self, start: int) -> int:
        """When the cap of the truth cycle starting at ``start`` lapses by itself."""
        quarter = self.cycle // 4 // STEP_SECONDS * STEP_SECONDS
        return start + self.cycle - max(2 * STEP_SECONDS, min(TRUTH_ENDS_EARLY_S, quarter))

    def spans_of(self, name: str) -> list[tuple[float, float]]:
        """The (start, end) seconds of the cycles whose profile set is ``name``."""
        starts = range(0, self.duration, self.cycle)
        return [(start, start + self.cycle) for start in starts if self.step_at(start)[0] == name]


def _round_down(seconds: float, unit: int) -> int:
    return int(seconds // unit) * unit


def plan_for(minutes: float) -> Plan:
    """The schedule for a run of about ``minutes``: 60 s cycles for a smoke run,
    up to 8 minutes for hours; warm-up the first 10 minutes (a quarter of a
    short run); the agent down for 1-2 minutes, once or twice."""
    cycle = min(480, max(60, _round_down(minutes * 60 / 15, 60)))
    duration = max(3, round(minutes * 60 / cycle)) * cycle
    plan = Plan(duration, cycle, min(600, _round_down(duration / 4, STEP_SECONDS)), ())
    length = min(120, max(60, _round_down(duration / 20, STEP_SECONDS)))
    shares = (0.55,) if duration < 1800 else (0.35, 0.75)
    windows: list[tuple[int, int]] = []
    for share in shares:
        start = _agent_down_start(plan, share * duration, length, windows)
        if start is not None:
            windows.append((start, start + length))
    return Plan(duration, cycle, plan.warmup, tuple(windows))


def _agent_down_start(plan: Plan, wanted: float, length: int, taken: list[tuple[int, int]]) -> int | None:
    """The step nearest ``wanted`` where the agent may be down for ``length``."""
    last_cycle = plan.duration - plan.cycle
    candidates = sorted(range(0, last_cycle - length + 1, STEP_SECONDS), key=lambda s: abs(s - wanted))
    for start in candidates:
        times = range(start, start + length, STEP_SECONDS)
        steps = {plan.step_at(t)[0] for t in times}
        neighbours = {plan.step_at(max(0, t + shift))[0] for t in times for shift in (-plan.cycle, plan.cycle)}
        clear = all(start >= end or start + length <= begin for begin, end in taken)
        if steps <= AGENT_DOWN_ALLOWED and not neighbours & NOT_NEXT_TO_AGENT_DOWN and clear:
            return start
    return None
