"""The perf tool as ``make perf-gate`` runs it: the version the Makefile pins
(``PERF_GATE``), or ``$PERF_GATE`` when set, through ``uv tool run``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
PIN = re.compile(r"^PERF_GATE \?= (\S+)$", re.MULTILINE)


def command() -> list[str]:
    spec = os.environ.get("PERF_GATE")
    if not spec:
        pinned = PIN.search(MAKEFILE.read_text())
        assert pinned, f"no 'PERF_GATE ?= <requirement>' line in {MAKEFILE}"
        spec = pinned.group(1)
    # `uv run` names itself in $UV; otherwise the uv on PATH.
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is not on PATH (the perf tool runs through `uv tool run`)"
    return [uv, "tool", "run", "--from", spec, "perf-gate"]


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), *arguments], capture_output=True, text=True, timeout=300, check=False)


def samples(*arguments: str) -> list[dict[str, Any]]:
    """``perf-gate samples``: every CPU sample as a dict (function, values, labels)."""
    outcome = run("samples", *arguments)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    return [json.loads(line) for line in outcome.stdout.splitlines()]
