"""The perf tool as ``make perf-top`` runs it: the command line the Makefile
builds (the version it pins, from the template's repository or your package
index, or ``$PERF_GATE`` when set), so these tests meet the tool exactly as
an engineer does."""

from __future__ import annotations

import json
import shlex
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]


@cache
def command() -> tuple[str, ...]:
    printed = subprocess.run(
        ["make", "--no-print-directory", "-s", "perf-gate-command"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert printed.returncode == 0, f"make perf-gate-command failed: {printed.stderr.strip()}"
    return tuple(shlex.split(printed.stdout))


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), *arguments], capture_output=True, text=True, timeout=300, check=False)


def samples(*arguments: str) -> list[dict[str, Any]]:
    """``perf-gate samples``: every CPU sample as a dict (function, values, labels)."""
    outcome = run("samples", *arguments)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    return [json.loads(line) for line in outcome.stdout.splitlines()]
