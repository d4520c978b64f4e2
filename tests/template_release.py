"""This checkout as a released template: a git repository of its own with a
release tag, the way a team finds the template behind ``gh:<org>/<template>``.

Baked services install the perf tool from the template's repository at the
release tag (``git+<template URL>@v<version>#subdirectory=perf-gate``), so the
template's tests bake from such a repository, never from the bare checkout,
and no test needs a setting a user would not have."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
GIT_IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid"]


def perf_tool_version() -> str:
    """The version of ``perf-gate/``, which is also the template's release tag (``v<version>``)."""
    version: str = tomllib.loads((TEMPLATE_DIR / "perf-gate" / "pyproject.toml").read_text())["project"]["version"]
    return version


def git(repository: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", *GIT_IDENTITY, *arguments], cwd=repository, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(arguments)} in {repository}: {result.stderr.strip()}")
    return result.stdout.strip()


def working_tree_files() -> list[str]:
    """What this checkout holds now, committed or not (edits under test count), minus what git ignores."""
    listed = git(TEMPLATE_DIR, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    names = [name for name in listed.split("\0") if name]
    return [name for name in names if (TEMPLATE_DIR / name).is_symlink() or (TEMPLATE_DIR / name).exists()]


def release(destination: Path, tag: str | None = None) -> Path:
    """Copy this checkout's working tree to ``destination``, commit it on main and
    tag it (``v<perf tool version>`` unless ``tag`` says otherwise)."""
    for name in working_tree_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        # Symlinks stay links (harness/agent.py points into the service template).
        shutil.copy2(TEMPLATE_DIR / name, target, follow_symlinks=False)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "template release")
    git(destination, "tag", tag or f"v{perf_tool_version()}")
    return destination
