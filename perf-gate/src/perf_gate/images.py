"""The Docker images a gate run makes, and their removal when it ends.

A run builds the baseline and candidate images and, measuring instructions, a
copy of each with Valgrind; Docker's classic builder also leaves each build's
builder stage behind as an untagged ("dangling") image. With the template's
service that is about 0.7 GB beyond the base image (``docker system df``;
``docker images`` lists ~2.5 GB because it counts shared layers once per image).

Unless the run keeps them (``--keep-images``), it removes when it ends, pass,
fail or error: the tags it made (``docker image rm`` takes their untagged
parent layers along, the Valgrind layers included) and the dangling images
that appeared while it ran. It keeps the base image (pulled or the user's,
never built here), the images that were there before it started (a kept run's
among them: each run tags its own), other tags on the same image, and
BuildKit's build cache, which BuildKit's garbage collection bounds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from .service import RunError, docker


def dangling_images() -> set[str]:
    """The ids of untagged images that no other image is built on."""
    return set(docker("images", "--filter", "dangling=true", "--quiet", "--no-trunc").split())


def images_disk_usage() -> str:
    """What Docker's images take on disk, shared layers counted once (``docker system df``)."""
    for line in docker("system", "df", "--format", "{{.Type}}\t{{.Size}}").splitlines():
        kind, _, size = line.partition("\t")
        if kind == "Images":
            return size
    return "?"


def remove_image(image: str) -> str | None:
    """``docker image rm``; None when removed or already gone, else docker's reason."""
    result = subprocess.run(["docker", "image", "rm", image], capture_output=True, text=True, check=False)
    if result.returncode == 0 or "No such image" in result.stderr:
        return None
    return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"


class BuiltImages:
    """The images one gate run adds to the Docker engine; created before its first build."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.tags: list[str] = []
        self.dangling_before = dangling_images()
        self.disk_before = images_disk_usage()

    def add(self, tag: str) -> None:
        """A tag this run builds (recorded before the build, so an interrupted one is removed too)."""
        self.tags.append(tag)

    def finish(self, log: Callable[[str], object]) -> None:
        """Remove what the run built, or say what it kept: one line, and one per image it could not remove."""
        try:
            if self.keep:
                log(
                    f"kept the gate's images for the next run ({', '.join(self.tags)}, and untagged build layers): "
                    f"Docker's images take {images_disk_usage()} (before the run: {self.disk_before}); "
                    f"free them with `docker image rm {' '.join(self.tags)}` and `docker image prune`"
                )
                return
            # The Valgrind copies were added after the images they are built on: newest first.
            problems = [f"{tag}: {reason}" for tag in reversed(self.tags) if (reason := remove_image(tag))]
            layers = dangling_images() - self.dangling_before
            for layer in sorted(layers):
                remove_image(layer)  # one a container uses is not the gate's: left alone
            log(
                f"removed the gate's images ({len(self.tags)} tags, {len(layers)} untagged build layers; "
                f"--keep-images keeps them): Docker's images take {images_disk_usage()} "
                f"(before the run: {self.disk_before})"
            )
            for problem in problems:
                log(f"could not remove {problem}")
        except (RunError, subprocess.SubprocessError) as error:
            # Never hide the run's own outcome (or error) behind a failed clean-up.
            log(f"could not clean up the gate's images ({', '.join(self.tags)}): {error}")
