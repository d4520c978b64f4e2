"""The gate's own runs of the service: the CPU profiler writing pprof files,
nothing else on. As a container from an image (the gate, callgrind) or as a
local process in the service's own uv environment (flame graphs for a
developer); how either is started is ``service.py``'s job."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .ddtrace_private import MAX_SAMPLING_INTERVAL_VARIABLE
from .service import RunError, ServiceContainer, ServiceProcess

# The same for every run being compared: profiles go to files, not an agent;
# no tracing or telemetry traffic; the CPU sampler's interval capped at 2 ms.
# ddtrace charges a thread's CPU since its last sample to the stack it finds,
# so at its adaptive 10-100 ms a ~10 ms burst lands mostly on the wait after
# it; at 2 ms ~0.9 of it lands on its own function (see the README). In CI the
# truth of the function table matters more than the profiler's cost.
PROFILING_ENVIRONMENT = {
    "DD_PROFILING_ENABLED": "true",
    "DD_PROFILING_UPLOAD_INTERVAL": "300",
    "DD_TRACE_ENABLED": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    # One hash seed for every run, so dict and set layouts can't differ between runs.
    "PYTHONHASHSEED": "0",
    MAX_SAMPLING_INTERVAL_VARIABLE: "2000",
}


# glibc 2.41 and later produce getrandom()'s bytes in user space, in code the
# kernel maps into the process (the vDSO), which Valgrind does not run: under
# callgrind the same call is a system call, outside the instruction count. One
# rule makes the native windows take that path too (glibc falls back to the
# system call when it cannot map the vDSO's state with MAP_DROPPABLE), so the
# work is counted as kernel time there instead of falling between the two
# measures. Everything else is allowed: this replaces Docker's default filter
# in the gate's measurement containers only.
MAP_DROPPABLE = 0x08
GETRANDOM_AS_SYSTEM_CALL = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {
            "names": ["mmap"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 22,  # EINVAL, as a kernel without MAP_DROPPABLE answers
            "args": [{"index": 3, "value": MAP_DROPPABLE, "valueTwo": MAP_DROPPABLE, "op": "SCMP_CMP_MASKED_EQ"}],
        }
    ],
}


def getrandom_as_system_call(directory: Path) -> list[str]:
    """``docker run`` options that apply GETRANDOM_AS_SYSTEM_CALL (its profile written into ``directory``)."""
    directory.mkdir(parents=True, exist_ok=True)
    profile = directory / "getrandom-seccomp.json"
    profile.write_text(json.dumps(GETRANDOM_AS_SYSTEM_CALL, indent=2) + "\n")
    return ["--security-opt", f"seccomp={profile.resolve()}"]


def profiled_container(
    image: str,
    profile_dir: Path,
    environment: dict[str, str],
    command: list[str] | None = None,
    options: list[str] | None = None,
) -> ServiceContainer:
    """A container with ``profile_dir`` mounted at /profiles (ddtrace's
    profiles, or callgrind's counts) and the gate's profiling settings."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    profile_dir.chmod(0o777)  # the image runs as uid 10001
    return ServiceContainer(
        image,
        {**PROFILING_ENVIRONMENT, **environment, "DD_PROFILING_OUTPUT_PPROF": "/profiles/profile"},
        command=command,
        options=["-v", f"{profile_dir.resolve()}:/profiles", *(options or [])],
    )


def project_python(project: Path) -> str:
    """The interpreter of the service's locked uv environment (synced first)."""
    result = subprocess.run(
        ["uv", "run", "--locked", "--quiet", "python", "-c", "import sys; print(sys.executable)"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RunError(f"uv run in {project} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def profiled_process(project: Path, module: str, profile_dir: Path, environment: dict[str, str]) -> ServiceProcess:
    """``python -m <module>`` in the project's environment, profiles written to
    ``profile_dir``, its output to ``profile_dir/service.log``."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    return ServiceProcess(
        [project_python(project), "-m", module],
        {
            **PROFILING_ENVIRONMENT,
            **environment,
            "DD_PROFILING_OUTPUT_PPROF": str(profile_dir.resolve() / "profile"),
        },
        cwd=project,
        log_path=profile_dir / "service.log",
    )
