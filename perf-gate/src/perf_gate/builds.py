"""The two images a gate run compares: the baseline commit (default: where HEAD
left main) and the working tree, both built from the working tree's Dockerfile."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from .service import RunError, docker


def git(project: Path, *arguments: str) -> str:
    result = subprocess.run(["git", "-C", str(project), *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RunError(f"git {' '.join(arguments)}: {result.stderr.strip()}")
    return result.stdout.strip()


def resolve_baseline(project: Path, ref: str | None) -> str:
    """The commit to compare against: ``ref``, else where HEAD left main."""
    if ref is not None:
        # "^{commit}" peels a tag to its commit.
        return git(project, "rev-parse", "--verify", ref + "^{commit}")
    for main in ("main", "origin/main"):
        try:
            return git(project, "merge-base", "HEAD", main)
        except RunError:
            continue
    raise RunError("no baseline: pass --baseline REF (no main or origin/main to take the merge-base with)")


def export_commit(project: Path, commit: str, destination: Path) -> None:
    """The commit's files, without touching the repository (no worktree, no checkout)."""
    archive = destination.with_suffix(".tar")
    git(project, "archive", "--format=tar", f"--output={archive}", commit)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    archive.unlink()


def build(project: Path, context: Path, tag: str, git_sha: str, version: str, base_image: str | None = None) -> None:
    """``tag`` from ``context`` with ``project``'s Dockerfile, provenance baked in."""
    arguments = ["build", "--network", "host", "-f", str(project / "Dockerfile"), "-t", tag]
    arguments += [f"--build-arg=GIT_SHA={git_sha}", f"--build-arg=VERSION={version}"]
    if base_image:
        arguments.append(f"--build-arg=BASE_IMAGE={base_image}")
    docker(*arguments, str(context), timeout=1200)
