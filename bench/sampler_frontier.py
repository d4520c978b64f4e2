"""The stack sampler's truth against its cost, one row per setting tried.

Joins what the two benches wrote for the settings of ``sampler_settings.py``:

- truth: ``profile_truth.py --settings ... --results M.jsonl`` (credited/true of
  the CPU workload per load shape, each run in a fresh process, and the share
  of profile CPU on wait frames);
- idle cost: ``profile_truth.py --idle --settings ... --results I.jsonl`` (the
  idle process's CPU as a share of one core, after a light warm-up);
- cost under load: ``profiler_overhead.py --warm --endpoints /cpu-intensive
  --configs shipped,shipped-<setting>,... --json C.json`` (CPU per request as
  shipped with the setting, over tracing alone, paired per round).

    .venv/bin/python -m bench.sampler_frontier --truth M.jsonl --idle I.jsonl --cost C.json [C2.json ...]

The 2026-11-29 table in the generated README:

    .venv/bin/python -m bench.sampler_frontier --shipped-is default \\
        --truth bench/results/sampler-matrix-2026-11-29.jsonl --idle bench/results/sampler-idle-2026-11-29.jsonl \\
        --cost bench/results/sampler-cost-warm-focused-2026-11-29.json

Budgets (issue #24): idle at most 1% of a core; at most +2% CPU per request on
``/cpu-intensive``. Goal: light-load credited/true at least 0.5, closed-loop at
least 0.6.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench.profiler_overhead import median_interval
from bench.sampler_settings import SAMPLER_SETTINGS

SHAPES = ("light", "closed", "saturating")
ENDPOINT = "/cpu-intensive"
IDLE_BUDGET = 0.01
REQUEST_BUDGET = 0.02
GOAL = {"light": 0.5, "closed": 0.6}


def read_lines(paths: list[Path]) -> list[dict[str, object]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]


def cost_ratios(path: Path, shipped_is: str) -> dict[str, list[float]]:
    """Per setting: CPU per request on /cpu-intensive over tracing alone, per round.
    The configuration "shipped" (the bake's own default) counts as ``shipped_is``;
    "traced-control" (tracing alone against itself) as "control"."""
    ratios: dict[str, list[float]] = {}
    for target in json.loads(path.read_text()):
        runs = target["runs"]
        reference = runs["traced"]
        for key, setting_runs in runs.items():
            name = {"shipped": shipped_is, "traced-control": "control"}.get(key, key.removeprefix("shipped-"))
            if name not in SAMPLER_SETTINGS and name != "control":
                continue

            def per_request(run: dict[str, dict[str, dict[str, float]]]) -> float:
                window = run["endpoints"][ENDPOINT]
                return window["cpu_seconds"] / window["requests"]

            ratios.setdefault(name, []).extend(
                per_request(run) / per_request(base) for run, base in zip(setting_runs, reference, strict=True)
            )
    return ratios


def number(record: dict[str, object], key: str) -> float:
    return float(str(record[key]))


def cost_cell(ratios: list[float] | None) -> str:
    if not ratios:
        return ""
    interval = median_interval(ratios)
    mark = "**" if interval.median <= 1 + REQUEST_BUDGET else ""
    spread = (
        f" [{interval.low - 1:+.1%}, {interval.high - 1:+.1%}]"
        if interval.low is not None and interval.high is not None
        else ""
    )
    return f"{mark}{interval.median - 1:+.1%}{mark}{spread} ({len(ratios)})"


def table(
    truth: list[dict[str, object]], idle: list[dict[str, object]], costs: list[tuple[str, dict[str, list[float]]]]
) -> str:
    shapes = [shape for shape in SHAPES if any(r["shape"] == shape for r in truth)]
    header = ["setting"]
    for shape in shapes:
        header += [f"{shape}: credited/true, median (min-max, runs)", f"{shape}: on waits"]
    header += ["idle CPU (share of a core)"]
    header += [f"CPU per request on `/cpu-intensive` vs tracing alone [95% interval], {name}" for name, _ in costs]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in SAMPLER_SETTINGS:
        cells = [f"`{name}`"]
        if not any(r["setting"] == name for r in truth):
            continue
        for shape in shapes:
            runs = [r for r in truth if r["setting"] == name and r["shape"] == shape]
            if not runs:
                cells += ["", ""]
                continue
            ratios = [number(r, "credited_over_true") for r in runs]
            middle = statistics.median(ratios)
            mark = "**" if shape in GOAL and middle >= GOAL[shape] else ""
            cells.append(f"{mark}{middle:.2f}{mark} ({min(ratios):.2f}-{max(ratios):.2f}, {len(runs)})")
            cells.append(f"{statistics.median(number(r, 'waits') for r in runs):.0%}")
        shares = [number(r, "idle_core_share") for r in idle if r["setting"] == name]
        if shares:
            share = statistics.median(shares)
            mark = "**" if share <= IDLE_BUDGET else ""
            cells.append(f"{mark}{share:.2%}{mark} ({len(shares)})")
        else:
            cells.append("")
        cells += [cost_cell(cost.get(name)) for _, cost in costs]
        lines.append("| " + " | ".join(cells) + " |")
    if any("control" in cost for _, cost in costs):
        cells = ["tracing alone against itself (the noise)"] + [""] * (2 * len(shapes) + 1)
        cells += [cost_cell(cost.get("control")).replace("**", "") for _, cost in costs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, nargs="+", required=True)
    parser.add_argument("--idle", type=Path, nargs="*", default=[])
    parser.add_argument("--cost", type=Path, nargs="*", default=[])
    parser.add_argument(
        "--shipped-is",
        default="shipped",
        help="the row the cost files' 'shipped' configuration stands for: 'default' for a bake that shipped "
        "ddtrace's own budget (the 2026-11-29 files)",
    )
    arguments = parser.parse_args(argv)
    truth = [r for r in read_lines(arguments.truth) if r["shape"] != "idle"]
    idle = [r for r in read_lines([*arguments.truth, *arguments.idle]) if r["shape"] == "idle"]
    costs = [(path.stem, cost_ratios(path, arguments.shipped_is)) for path in arguments.cost]
    print(table(truth, idle, costs))
    print(
        "\nBold: within the goal (light >= 0.5, closed-loop >= 0.6) or the budget (idle <= 1% of a core, "
        "<= +2% CPU per request)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
