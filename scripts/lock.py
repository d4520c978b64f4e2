"""Refresh the generated service's ``uv.lock`` after changing its dependencies.

Bakes a service with the default answers (its lock rendered from the
template's), runs ``uv lock`` there, which changes only what the new
``pyproject.toml`` needs, and writes the result back as the template's lock,
with the project's name turned back into the template variable. Extra
arguments go to ``uv lock`` (``--upgrade-package ddtrace``, ``--upgrade``).

Run it through ``python3 dev.py lock``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_LOCK = ROOT / "{{cookiecutter.service_slug}}" / "uv.lock"
SLUG_VARIABLE = "{{ cookiecutter.service_slug }}"


def templated(lock: str, slug: str) -> str:
    """The baked lock with its own project's name made a template variable again."""
    baked_name = f'name = "{slug}"\n'
    if lock.count(baked_name) != 1:
        raise SystemExit(f"error: expected one {baked_name.strip()!r} in the new uv.lock")
    return lock.replace(baked_name, f'name = "{SLUG_VARIABLE}"\n')


def main(uv_arguments: list[str]) -> int:
    uv = shutil.which("uv")
    if uv is None:
        print("error: uv is not on PATH (run through python3 dev.py lock)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lock-") as workspace:
        project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=workspace))
        before = (project / "uv.lock").read_text(encoding="utf-8")
        environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        result = subprocess.run([uv, "lock", *uv_arguments], cwd=project, env=environment, check=False)
        if result.returncode != 0:
            print("error: uv lock failed; the template's uv.lock is unchanged", file=sys.stderr)
            return result.returncode
        after = (project / "uv.lock").read_text(encoding="utf-8")
        if after == before:
            print("uv.lock is already current")
            return 0
        # Write beside the target and rename: never a half-written lock.
        staged = TEMPLATE_LOCK.with_name("uv.lock.new")
        staged.write_text(templated(after, project.name), encoding="utf-8")
        staged.replace(TEMPLATE_LOCK)
    print(f"updated {TEMPLATE_LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
