"""Instructions per request, counted by Valgrind's callgrind inside the
service's own image: the gate's default measure.

CPU time per request on a shared machine moves by 5-15% between windows a
second apart (other tenants, frequency, caches); the instructions a request
executes do not depend on what else the machine is doing. Measured in the
template repository (bench/gate_instructions.py): windows of 20 requests
repeat to within 0.2-0.3% (CV), two processes of the same code settle up to
0.6% apart, and 2.5/5/7.5/10% more hashing in the workload shows as
+2.5/+4.9/+7.6/+10.2% instructions, where CPU time, in the same run, could not
tell any of them from noise.
What instructions miss: cache and memory effects, time in the kernel, waiting
on locks. The CPU measure (``--measure cpu``) still sees those, noisily.

Valgrind is added to a copy of each side's image (one cached layer), and the
service runs under callgrind with its instrumentation off until the first
measured window (start-up and warm-up run at near-native speed). Each window
zeroes the counters, sends the seeded requests one at a time (under Valgrind
threads take turns anyway), and dumps the totals into the mounted folder.
Profiler, runtime metrics and telemetry are off: anything on a timer would
add instructions that depend on how long the window took.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import load
from .runners import profiled_container
from .service import RunError, docker

VALGRIND_LAYER = """\
FROM {image}
USER root
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null \\
    && rm -rf /var/lib/apt/lists/*
USER {user}
"""
DUMP_NAME = "callgrind.out"
# The instruction count (Ir) callgrind writes at the end of each dump.
TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)
QUIET_ENVIRONMENT = {
    "DD_PROFILING_ENABLED": "false",
    "DD_RUNTIME_METRICS_ENABLED": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
}
# Under Valgrind, even uninstrumented, start-up takes a few times longer.
START_TIMEOUT_SECONDS = 300
WINDOW_DEADLINE_SECONDS = 900


def image_config(image: str) -> dict[str, Any]:
    """The image's run configuration (user, command, ...) as Docker records it."""
    config: dict[str, Any] = json.loads(docker("image", "inspect", image))[0]["Config"]
    return config


def add_valgrind(image: str, tag: str) -> None:
    """``tag``: ``image`` plus Valgrind, as the image's own user."""
    user = image_config(image).get("User") or "root"
    dockerfile = VALGRIND_LAYER.format(image=image, user=user)
    docker("build", "--network", "host", "-t", tag, "-", stdin=dockerfile, timeout=1200)


def read_totals(dump_dir: Path) -> int:
    """The instructions in callgrind's dumps in ``dump_dir`` (one per thread group)."""
    totals = [int(match) for dump in dump_dir.glob(f"{DUMP_NAME}.*") for match in TOTALS.findall(dump.read_text())]
    if not totals:
        raise RunError(f"callgrind wrote no totals into {dump_dir}")
    return sum(totals)


class CallgrindRun:
    """One side's service under callgrind, in a container of its image plus Valgrind."""

    def __init__(self, image: str, dump_dir: Path, environment: dict[str, str]) -> None:
        command: list[str] = image_config(image)["Cmd"]
        callgrind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file=/profiles/{DUMP_NAME}",
        ]
        self.dump_dir = dump_dir
        # callgrind_control reaches a process blocked in a system call through
        # ptrace; hosts that restrict ptrace (Yama) need the capability for it.
        self.container = profiled_container(
            image,
            dump_dir,
            {**environment, **QUIET_ENVIRONMENT},
            command=[*callgrind, *command],
            options=["--cap-add=SYS_PTRACE"],
        )
        self.url = self.container.url

    def start_counting(self) -> None:
        self._control("--instr=on")

    def _control(self, *arguments: str) -> None:
        # PID 1: Valgrind runs the image's command in its own process.
        output = self.container.execute("callgrind_control", *arguments, "1")
        if "OK." not in output:
            raise RunError(f"callgrind_control {' '.join(arguments)} failed: {output.strip()[-500:]}")

    def instructions_per_request(self, requests: list[load.Planned]) -> float:
        """Zero the counters, send ``requests`` one at a time, dump: instructions per request."""
        for old in self.dump_dir.glob(f"{DUMP_NAME}.*"):
            old.unlink()
        self._control("--zero")
        result = load.run(self.url, requests, 1, WINDOW_DEADLINE_SECONDS)
        if result.failed or result.sent != len(requests):
            raise RunError(f"{result.failed} of {result.sent} requests failed under callgrind")
        self._control("--dump")
        return read_totals(self.dump_dir) / len(requests)

    def wait_until_serving(self, health_path: str) -> None:
        """Wait for the health path to answer; on timeout, fail with the container's logs (the
        caller's stop() removes the container afterwards)."""
        try:
            self.container.wait_until_serving(health_path, timeout=START_TIMEOUT_SECONDS, poll=1)
        except RunError as error:
            raise RunError(f"under callgrind: {error}") from None

    def stop(self) -> None:
        self.container.stop()
