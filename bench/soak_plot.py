"""The soak's samples as a picture: RSS, threads, fds, p99 and CPU per
request over time, with the traffic phases, the agent-down windows and the
profile-set changes marked."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.soak_report import Sample

PANELS = (
    ("rss_mib", "RSS (MiB)"),
    ("threads", "threads"),
    ("open_fds", "open fds"),
    ("p99_ms", "p99 of 200s (ms)"),
    ("cpu_ms_per_request", "CPU ms / request"),
)
PHASE_COLOURS = {"closed": ("tab:blue", 0.08), "burst": ("tab:red", 0.12)}


def _spans(samples: Sequence[Sample], key: str, value: str, step: float) -> list[tuple[float, float]]:
    """Consecutive windows whose ``key`` is ``value``, as (start, end) minutes."""
    spans: list[tuple[float, float]] = []
    for sample in samples:
        if getattr(sample, key) != value:
            continue
        start = (sample.elapsed_s - step) / 60
        if spans and abs(spans[-1][1] - start) < 1e-6:
            spans[-1] = (spans[-1][0], sample.elapsed_s / 60)
        else:
            spans.append((start, sample.elapsed_s / 60))
    return spans


def plot(samples: Sequence[Sample], step: float, title: str, path: Path) -> str | None:
    """The samples over time, phases and agent-down windows shaded; None when
    matplotlib is missing (it is imported by name only: the template's dev
    requirements need not carry it for the rest of the bench to type-check)."""
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
    except ImportError:
        return "no plot: matplotlib is not installed (pip install matplotlib)"
    matplotlib.use("Agg")
    pyplot: Any = importlib.import_module("matplotlib.pyplot")
    patches: Any = importlib.import_module("matplotlib.patches")
    figure, axes = pyplot.subplots(len(PANELS), 1, figsize=(12, 13), sharex=True)
    minutes = [sample.elapsed_s / 60 for sample in samples]
    for axis, (key, label) in zip(axes, PANELS, strict=True):
        axis.plot(minutes, [getattr(sample, key) for sample in samples], marker=".", linewidth=1)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        for phase, (colour, alpha) in PHASE_COLOURS.items():
            for start, end in _spans(samples, "phase", phase, step):
                axis.axvspan(start, end, color=colour, alpha=alpha, linewidth=0)
        for start, end in _spans(samples, "agent", "down", step):
            axis.axvspan(start, end, facecolor="none", edgecolor="grey", hatch="//", linewidth=0)
    axes[-1].set_xlabel("minutes")
    _label_profile_sets(axes[0], samples, step)
    legend = [
        patches.Patch(color="tab:blue", alpha=0.2, label="closed loop"),
        patches.Patch(color="tab:red", alpha=0.25, label="burst (503s)"),
        patches.Patch(facecolor="none", edgecolor="grey", hatch="//", label="agent down"),
    ]
    axes[0].legend(handles=legend, loc="lower right", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot.close(figure)
    return None


def _label_profile_sets(axis: Any, samples: Sequence[Sample], step: float) -> None:
    """A dotted line and the set's name where the control file changed it."""
    previous = None
    for sample in samples:
        if sample.profiles_asked != previous:
            start = (sample.elapsed_s - step) / 60
            axis.axvline(start, color="black", linestyle=":", linewidth=1)
            axis.annotate(
                sample.profiles_asked,
                (start, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize="small",
                rotation=30,
                va="bottom",
            )
            previous = sample.profiles_asked
