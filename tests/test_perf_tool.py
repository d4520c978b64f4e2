"""The perf tool (``perf-gate/``, the package ``profiling-perf-gate``) is its
own project: it passes its own lint, types and tests in its own locked
environment, builds a wheel with its command, and every baked service pins the
version this checkout would release."""

from __future__ import annotations

import re
import tomllib
import zipfile
from pathlib import Path

from .conftest import TEMPLATE_DIR, run, uv

PERF_TOOL = TEMPLATE_DIR / "perf-gate"


def tool_version() -> str:
    version: str = tomllib.loads((PERF_TOOL / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_perf_tool_passes_its_own_lint_types_and_tests() -> None:
    run([uv(), "sync", "--locked", "--quiet"], cwd=PERF_TOOL)
    run([uv(), "run", "--locked", "ruff", "check", "--no-cache", "."], cwd=PERF_TOOL)
    run([uv(), "run", "--locked", "ruff", "format", "--check", "--no-cache", "."], cwd=PERF_TOOL)
    run([uv(), "run", "--locked", "mypy", "--no-incremental", "--cache-dir", "/dev/null"], cwd=PERF_TOOL)
    outcome = run([uv(), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"], cwd=PERF_TOOL)
    assert " passed" in outcome.stdout and " failed" not in outcome.stdout, outcome.stdout[-3000:]


def test_perf_tool_builds_a_typed_wheel_with_its_command(tmp_path: Path) -> None:
    run([uv(), "build", "--wheel", "--out-dir", str(tmp_path), "."], cwd=PERF_TOOL)
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.startswith(f"profiling_perf_gate-{tool_version()}-"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
        assert "perf-gate = perf_gate.cli:main" in archive.read(entry_points).decode()
    assert {"perf_gate/py.typed", "perf_gate/gate.py", "perf_gate/config.py"} <= names, sorted(names)


def test_a_baked_service_pins_the_perf_tool_of_this_release(default_project: Path) -> None:
    makefile = (default_project / "Makefile").read_text()
    pins = re.findall(r"^PERF_GATE \?= (\S+)$", makefile, re.MULTILINE)
    assert pins == [f"profiling-perf-gate=={tool_version()}"], pins
    # Only the Makefile names the version; CI and the tests go through it.
    for path in default_project.rglob("*"):
        if path.is_file() and path.name not in ("Makefile", "uv.lock") and path.suffix != ".pyc":
            assert f"=={tool_version()}" not in path.read_text(errors="replace"), path
