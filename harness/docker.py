"""A real Docker engine for the container tests and the benchmarks:
availability, a base image that works offline, builds, and containers that
clean up after themselves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

# The official images this template's Dockerfile defaults to are Debian trixie based.
DEBIAN_SUITE = "trixie"
# Debian suites whose python3 stands in for the official image of a Python
# version when no registry is reachable: trixie's is 3.13, forky's (testing)
# 3.14. No Debian suite's python3 is 3.12, so that choice has no stand-in.
STANDIN_SUITES = {"3.13": "trixie", "3.14": "forky"}
# debootstrap's script for every current suite (its bookworm release has no
# "forky" entry of its own).
DEBOOTSTRAP_SCRIPT = Path("/usr/share/debootstrap/scripts/sid")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


class DockerError(RuntimeError):
    pass


def docker(*arguments: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        raise DockerError(f"docker {' '.join(arguments)} exited {result.returncode}:\n{output}")
    return result


def engine_unavailable_reason() -> str | None:
    """None when a Docker engine answers, else one line saying why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "docker info timed out: no engine answering"
    if result.returncode != 0:
        last_line = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "docker info failed"
        return f"no Docker engine reachable: {last_line}"
    return None


def image_exists(name: str) -> bool:
    return docker("image", "inspect", name, check=False, timeout=30).returncode == 0


def official_base_image(python_version: str) -> str:
    return f"python:{python_version}-slim-{DEBIAN_SUITE}"


def standin_image(suite: str) -> str:
    return f"profiling-template-standin/python:{suite}"


def build_standin_base(suite: str = DEBIAN_SUITE) -> str:
    """A base with ``suite``'s python3, made from Debian packages, trusting the
    host's CAs (TLS-inspecting proxies). Tagged with a name of its own, never an
    official image's."""
    image = standin_image(suite)
    if image_exists(image):
        return image
    if shutil.which("debootstrap") is None:
        raise DockerError(
            "the official base image cannot be pulled and debootstrap is not installed to build a stand-in"
        )
    script = [str(DEBOOTSTRAP_SCRIPT)] if DEBOOTSTRAP_SCRIPT.exists() else []
    with tempfile.TemporaryDirectory(prefix="standin-rootfs-") as rootfs:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                suite,
                rootfs,
                DEBIAN_MIRROR,
                *script,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        if HOST_CA_BUNDLE.exists():
            shutil.copyfile(HOST_CA_BUNDLE, Path(rootfs) / "etc/ssl/certs/ca-certificates.crt")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [
                "docker",
                "import",
                "-c",
                "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                "-c",
                'LABEL org.opencontainers.image.description="stand-in base for offline tests"',
                "-",
                image,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        tar.wait()
        if imported.returncode != 0:
            raise DockerError(f"docker import failed: {imported.stderr}")
    return image


def base_image_for(python_version: str) -> str:
    """The official base when it is present or can be pulled; else the Debian
    stand-in for that Python version."""
    official = official_base_image(python_version)
    if image_exists(official):
        return official
    if docker("pull", official, timeout=300, check=False).returncode == 0:
        return official
    suite = STANDIN_SUITES.get(python_version)
    if suite is None:
        raise DockerError(f"{official} cannot be pulled and no Debian suite's python3 is {python_version}")
    return build_standin_base(suite)


def build_image(context: Path, tag: str, build_args: dict[str, str], timeout: float = 900) -> None:
    arguments = ["build", "--network", "host", "-t", tag]
    for name, value in build_args.items():
        arguments.append(f"--build-arg={name}={value}")
    docker(*arguments, str(context), timeout=timeout)


def image_labels(image: str) -> dict[str, str]:
    result = docker("image", "inspect", "--format", "{{json .Config.Labels}}", image)
    labels: dict[str, str] = json.loads(result.stdout) or {}
    return labels


class Container:
    """A detached container on the host network (test traffic stays on loopback)."""

    def __init__(self, image: str, environment: dict[str, str], extra: list[str] | None = None) -> None:
        arguments = ["run", "-d", "--network", "host"]
        for name, value in environment.items():
            arguments += ["-e", f"{name}={value}"]
        arguments += [*(extra or []), image]
        self.id = docker(*arguments).stdout.strip()

    def inspect(self) -> dict[str, Any]:
        state: list[dict[str, Any]] = json.loads(docker("inspect", self.id).stdout)
        return state[0]

    def logs(self) -> str:
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str) -> str:
        return docker("exec", self.id, *command).stdout

    def stop(self, timeout_seconds: int) -> None:
        docker("stop", "-t", str(timeout_seconds), self.id, timeout=timeout_seconds + 60)

    def wait_for_health(self, status: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        current = ""
        while time.monotonic() < deadline:
            current = str(self.inspect()["State"].get("Health", {}).get("Status", ""))
            if current == status:
                return current
            time.sleep(1)
        return current

    def remove(self) -> None:
        docker("rm", "-f", self.id, check=False)
