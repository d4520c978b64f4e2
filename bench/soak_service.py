"""The baked service under the soak, as a local process or as its image,
started through perf_gate.service's starters; its runtime control file; its
SIGTERM stop and exit status."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from perf_gate.service import RunError, Service, ServiceContainer, ServiceProcess, docker, free_port

from bench.soak_observe import RestartableAgent, follow_container_log
from bench.soak_plan import ControlDocument
from harness.bake import BakedService
from harness.docker import base_image_for, build_image

UPLOAD_INTERVAL_SECONDS = 10
STOP_TIMEOUT_SECONDS = 60
IMAGE_TAG = "soak-bench:latest"
CONTAINER_CONTROL_DIR = "/etc/soak-profiling"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ControlFile:
    """The runtime control file, in a directory of its own (bind-mounted into
    the container: a directory, so that a replaced file shows through)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        directory.chmod(0o755)  # the image's user (uid 10001) reads it
        self.path = directory / "profiling.json"

    def write(self, document: ControlDocument) -> None:
        if document is None:
            self.path.unlink(missing_ok=True)
            return
        staged = self.path.with_suffix(".new")
        staged.write_text(json.dumps(document))
        staged.chmod(0o644)
        os.replace(staged, self.path)  # never a half-written file at a poll


@dataclass
class Target:
    """How to start the baked service one way, and what it runs on.
    ``logs_complete`` waits until the log file holds everything the stopped
    service wrote; ``cleanup`` removes what the target made."""

    name: str
    python: str
    start: Callable[[dict[str, str], ControlFile], Service]
    log_path: Path
    logs_complete: Callable[[], None] = lambda: None
    cleanup: Callable[[], None] = lambda: None


def prepare_target(name: str, baked: BakedService, workdir: Path, cores: set[int] | None, template: Path) -> Target:
    """The ``process`` or ``image`` target of ``baked``."""
    if name == "image":
        python_version = json.loads((template / "cookiecutter.json").read_text())["python_version"][0]
        return image_target(baked.project, workdir, cores, python_version)
    return process_target(baked, workdir, cores)


def process_target(baked: BakedService, workdir: Path, cores: set[int] | None) -> Target:
    baked.sync(dev=False)
    python, package = str(baked.python), baked.package
    log_path = workdir / "service.log"
    # The service's own settings only: nothing of this shell's DD_/OTEL_/... ones.
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DD_", "OTEL_", "WORKLOAD_", "PROFILING_")) and key != "VIRTUAL_ENV"
    }

    def start(environment: dict[str, str], control: ControlFile) -> Service:
        environment = {**environment, "PROFILING_CONTROL_FILE": str(control.path)}
        return ServiceProcess([python, "-m", package], environment, log_path=log_path, cores=cores, inherited=inherited)

    return Target("process", _python_version([python]), start, log_path)


def image_target(project: Path, workdir: Path, cores: set[int] | None, python_version: str) -> Target:
    base = base_image_for(python_version)
    log(f"building the image on {base}")
    build_image(project, IMAGE_TAG, {"BASE_IMAGE": base, "GIT_SHA": "0" * 40, "VERSION": "0.0.0-soak"})
    log_path = workdir / "service.log"
    followers: list[subprocess.Popen[bytes]] = []

    def start(environment: dict[str, str], control: ControlFile) -> Service:
        environment = {**environment, "PROFILING_CONTROL_FILE": f"{CONTAINER_CONTROL_DIR}/{control.path.name}"}
        options = ["-v", f"{control.path.parent}:{CONTAINER_CONTROL_DIR}:ro"]
        # docker keeps its own copy of the log: capped, ours is followed live.
        options += ["--log-opt", "max-size=50m", "--log-opt", "max-file=2"]
        container = ServiceContainer(IMAGE_TAG, environment, options=options, cores=cores)
        followers.append(follow_container_log(container.id, log_path))
        return container

    def logs_complete() -> None:
        # `docker logs -f` ends when its container stops.
        for follower in followers:
            follower.wait(timeout=30)

    def cleanup() -> None:
        for follower in followers:
            if follower.poll() is None:
                follower.terminate()
        with contextlib.suppress(RunError):  # cleaning up: never hide the run's own error
            docker("rmi", "-f", IMAGE_TAG)

    python = _python_version(["docker", "run", "--rm", "--network", "none", IMAGE_TAG, "python"])
    return Target("image", python, start, log_path, logs_complete, cleanup)


def _python_version(python: list[str]) -> str:
    command = [*python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def service_environment(agent: RestartableAgent) -> dict[str, str]:
    """As shipped, plus where the Agent is and a short upload interval."""
    return {
        "DD_TRACE_AGENT_URL": agent.url,
        "DD_PROFILING_UPLOAD_INTERVAL": str(UPLOAD_INTERVAL_SECONDS),
        # Runtime metrics to a port of our own, not to whatever listens on 8125 here.
        "DD_DOGSTATSD_URL": f"udp://127.0.0.1:{free_port()}",
        "LOG_FORMAT": "json",
    }


def stop_service(service: Service) -> tuple[str, bool]:
    """SIGTERM (docker stop), wait; the exit status and whether it is a clean stop.
    uvicorn re-raises the SIGTERM it drained on, so -15 (143 in docker) is clean."""
    if isinstance(service, ServiceContainer):
        docker("stop", "-t", str(STOP_TIMEOUT_SECONDS), service.id, timeout=STOP_TIMEOUT_SECONDS + 60)
        code = int(docker("inspect", "--format", "{{.State.ExitCode}}", service.id))
        service.stop()  # removes it
        return f"exit code {code}", code in (0, 143)
    service.stop(timeout=STOP_TIMEOUT_SECONDS)
    status = service.process.returncode if isinstance(service, ServiceProcess) else None
    return f"exit status {status}", status in (0, -signal.SIGTERM)
