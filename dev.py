#!/usr/bin/env python3
"""The template's two everyday commands, needing only Python 3 and pip.

    python3 dev.py demo   bake a service, run it beside a local Datadog test
                          agent, and print what its profiles carried
    python3 dev.py test   the template's whole test suite
    python3 dev.py lock   refresh the generated service's uv.lock after a
                          dependency change (extra arguments go to uv lock)

Both first make ``.venv`` here and install ``requirements-dev.txt`` into it
(once; again when that file changes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements-dev.txt"
# Installed editable from requirements-dev.txt; its dependencies count too.
PERF_GATE_PROJECT = ROOT / "perf-gate" / "pyproject.toml"
STAMP = VENV / ".requirements.sha256"


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_environment() -> None:
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + PERF_GATE_PROJECT.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and venv_python().exists():
        return
    if not venv_python().exists():
        print(f"creating {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    # pip's own lines are the progress: the first install takes about half a minute.
    print("installing requirements-dev.txt (about 30 s the first time)", flush=True)
    subprocess.run(
        [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        cwd=ROOT,  # the file's relative paths (-e ./perf-gate) are read from here
        check=True,
    )
    STAMP.write_text(wanted + "\n")


def tool_environment() -> dict[str, str]:
    """The venv's tools (uv, ruff, ddapm-test-agent) first on PATH."""
    environment = dict(os.environ)
    environment["PATH"] = f"{VENV / 'bin'}{os.pathsep}{environment.get('PATH', '')}"
    environment["VIRTUAL_ENV"] = str(VENV)
    return environment


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "lock"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ensure_environment()
    python = str(venv_python())
    if argv[0] in ("demo", "lock"):
        command = [python, "-m", f"scripts.{argv[0]}", *argv[1:]]
    else:
        command = [python, "-m", "pytest", *argv[1:]]
    return subprocess.run(command, cwd=ROOT, env=tool_environment(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
