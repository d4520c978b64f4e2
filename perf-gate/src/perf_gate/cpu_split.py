"""A container's CPU split the way the gate's verdict needs it: the service
process's own user time, which callgrind's instruction count stands for, and
the CPU outside it, which instructions never see:

* time in the kernel: system calls, page faults, the network stack, file and
  directory reads (the container's cgroup: every process in it);
* child processes, which callgrind does not follow: their user time, once the
  service has waited for them (PID 1's ``cutime``).

Both come from the kernel's tick-sampled accounting, so the split of a short
window is coarse (one tick is 1-10 ms, depending on the kernel's HZ); the gate
reads many native windows and pairs them, and the interval says how coarse.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from .service import RunError

# cgroup v2 (microseconds), then cgroup v1 (nanoseconds); /proc/1/stat last.
CGROUP_V2_STAT = "/sys/fs/cgroup/cpu.stat"
CGROUP_V1_USER = "/sys/fs/cgroup/cpuacct/cpuacct.usage_user"
CGROUP_V1_SYSTEM = "/sys/fs/cgroup/cpuacct/cpuacct.usage_sys"
SERVICE_STAT = "/proc/1/stat"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds: the service's own user time, the kernel's, and reaped children's user time."""

    service_user: float
    system: float
    children_user: float

    @property
    def outside_instructions(self) -> float:
        """What callgrind's count of the service's instructions does not include."""
        return self.system + self.children_user

    @property
    def total(self) -> float:
        return self.service_user + self.outside_instructions

    def __sub__(self, earlier: CpuSplit) -> CpuSplit:
        return CpuSplit(
            self.service_user - earlier.service_user,
            self.system - earlier.system,
            self.children_user - earlier.children_user,
        )

    def per(self, requests: int) -> CpuSplit:
        return CpuSplit(self.service_user / requests, self.system / requests, self.children_user / requests)

    @staticmethod
    def mean(splits: Sequence[CpuSplit]) -> CpuSplit:
        """Each part's mean over ``splits`` (at least one)."""
        return CpuSplit(
            statistics.fmean(split.service_user for split in splits),
            statistics.fmean(split.system for split in splits),
            statistics.fmean(split.children_user for split in splits),
        )


def parse(output: str) -> CpuSplit:
    """The split from ``cat`` of the cgroup files that exist and PID 1's stat, in that order."""
    user = system = None
    bare_numbers: list[int] = []
    stat_line = None
    for line in output.splitlines():
        name, _, value = line.partition(" ")
        if name == "user_usec":
            user = int(value) * 1e-6
        elif name == "system_usec":
            system = int(value) * 1e-6
        elif line.strip().isdigit():
            bare_numbers.append(int(line))
        elif ")" in line:
            stat_line = line
    if (user is None or system is None) and len(bare_numbers) == 2:
        user, system = bare_numbers[0] * 1e-9, bare_numbers[1] * 1e-9
    if user is None or system is None or stat_line is None:
        raise RunError(f"no cgroup CPU accounting (user and system) and PID 1 stat readable: {output[-500:]!r}")
    # Fields after the command name: utime is the 12th, cutime the 14th.
    fields = stat_line.rsplit(")", 1)[1].split()
    children_user = int(fields[13]) / CLOCK_TICKS
    return CpuSplit(service_user=user - children_user, system=system, children_user=children_user)


def read(container_id: str) -> CpuSplit:
    """The container's CPU so far. ``cat`` is not a child of PID 1, so reading
    adds nothing to the children's figure (its own few ms land in the cgroup's
    CPU, the same for every window)."""
    files = [CGROUP_V2_STAT, CGROUP_V1_USER, CGROUP_V1_SYSTEM, SERVICE_STAT]
    # cat prints the files that exist and fails for the others: the output decides, not the exit code.
    result = subprocess.run(
        ["docker", "exec", container_id, "cat", *files], capture_output=True, text=True, check=False, timeout=60
    )
    return parse(result.stdout)
