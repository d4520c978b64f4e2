"""Where the service runs while it is measured: as a container from an image
(the gate, CPU from the container's own accounting) or as a local process in
the service's own uv environment (flame graphs for a developer). Both write
ddtrace's profiles to files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from .ddtrace_private import MAX_SAMPLING_INTERVAL_VARIABLE

# The same for every run being compared: profiles go to files, not an agent;
# no tracing or telemetry traffic; stack sampling at least every 10 ms (the
# adaptive interval otherwise stretches to 100 ms), for more samples per run.
# It does not make short bursts land on their own function: ddtrace charges a
# thread's CPU since its last sample to the stack it finds (see the README).
PROFILING_ENVIRONMENT = {
    "DD_PROFILING_ENABLED": "true",
    "DD_PROFILING_UPLOAD_INTERVAL": "300",
    "DD_TRACE_ENABLED": "false",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    # One hash seed for every run, so dict and set layouts can't differ between runs.
    "PYTHONHASHSEED": "0",
    MAX_SAMPLING_INTERVAL_VARIABLE: "10000",
}
CGROUP_CPU_FILES = (
    ("/sys/fs/cgroup/cpu.stat", "usage_usec", 1e-6),  # cgroup v2
    ("/sys/fs/cgroup/cpuacct/cpuacct.usage", None, 1e-9),  # cgroup v1
)


class RunError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def docker(*arguments: str, timeout: float = 120, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["docker", *arguments], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RunError(f"docker {arguments[0]} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


class ContainerRun:
    """One side's container: host network, ``profile_dir`` mounted at /profiles
    (ddtrace's profiles, or callgrind's counts), the image's command unless
    ``command`` replaces it."""

    def __init__(
        self,
        image: str,
        profile_dir: Path,
        environment: dict[str, str],
        command: list[str] | None = None,
        options: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        profile_dir.mkdir(parents=True, exist_ok=True)
        profile_dir.chmod(0o777)  # the image runs as uid 10001
        self.profile_dir = profile_dir
        variables = {**PROFILING_ENVIRONMENT, **environment, "PORT": str(self.port)}
        variables["DD_PROFILING_OUTPUT_PPROF"] = "/profiles/profile"
        # No HEALTHCHECK: each one starts a Python process in the container every
        # 10 s, CPU (and requests) that would land in whichever window it hits.
        arguments = ["run", "-d", "--no-healthcheck", "--network", "host", "-v", f"{profile_dir.resolve()}:/profiles"]
        for name, value in variables.items():
            arguments += ["-e", f"{name}={value}"]
        self.id = docker(*arguments, *(options or []), image, *(command or [])).strip()

    def cpu_seconds(self) -> float:
        """CPU used by everything in the container so far (the kernel's account)."""
        for path, key, scale in CGROUP_CPU_FILES:
            result = subprocess.run(
                ["docker", "exec", self.id, "cat", path], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                continue
            if key is None:
                return int(result.stdout.strip()) * scale
            for line in result.stdout.splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value) * scale
        raise RunError("no cgroup CPU accounting readable in the container")

    def stop(self) -> None:
        """SIGTERM, drain, final profile flush; then remove the container."""
        try:
            docker("stop", "-t", "30", self.id, timeout=90)
        finally:
            subprocess.run(["docker", "rm", "-f", self.id], capture_output=True, check=False)

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.id], capture_output=True, text=True, check=False)
        return result.stdout + result.stderr

    def execute(self, *command: str, timeout: float = 300) -> str:
        """Run ``command`` inside the container; its output."""
        return docker("exec", self.id, *command, timeout=timeout)


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


class LocalRun:
    """The service as a local process: ``python -m <module>`` in its project's
    environment, started directly (not under ``uv run``) so SIGTERM reaches it."""

    def __init__(self, project: Path, module: str, profile_dir: Path, environment: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        profile_dir.mkdir(parents=True, exist_ok=True)
        self.profile_dir = profile_dir
        variables = {
            **os.environ,
            **PROFILING_ENVIRONMENT,
            **environment,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DD_PROFILING_OUTPUT_PPROF": str(profile_dir.resolve() / "profile"),
        }
        self.log_path = profile_dir / "service.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [project_python(project), "-m", module], cwd=project, env=variables, stdout=log, stderr=log
            )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise RunError("the service did not stop within 60 s of SIGTERM") from None
