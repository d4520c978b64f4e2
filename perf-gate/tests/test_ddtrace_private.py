"""The private ddtrace setting the gate relies on still does what the gate
expects; when an upgrade drops it, this fails naming the ddtrace version."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

from perf_gate.ddtrace_private import MAX_SAMPLING_INTERVAL_VARIABLE

READ_BACK = "from ddtrace.internal.settings.profiling import config\nprint(config.stack.adaptive_sampling_max_interval)"


def test_the_sampling_cap_is_still_read_by_ddtrace() -> None:
    # A fresh interpreter: ddtrace reads its settings once, at import.
    outcome = subprocess.run(
        [sys.executable, "-c", READ_BACK],
        env={**os.environ, MAX_SAMPLING_INTERVAL_VARIABLE: "12345"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome.stdout.strip() == "12345", (
        f"ddtrace {version('ddtrace')}: {MAX_SAMPLING_INTERVAL_VARIABLE}=12345 no longer sets the stack sampler's "
        f"maximum interval (read back: {outcome.stdout.strip() or outcome.stderr.strip()[-300:]}). "
        "perf_gate/ddtrace_private.py relies on it; adapt it to this ddtrace."
    )
