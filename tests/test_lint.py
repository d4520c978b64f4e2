"""The template's own Python is held to the standard it sets for services:
ruff-clean, formatted, and strictly typed."""

from __future__ import annotations

from .conftest import TEMPLATE_DIR, run, tool


def test_template_code_is_ruff_clean() -> None:
    run([tool("ruff"), "check", "--no-cache", "."], cwd=TEMPLATE_DIR)
    run([tool("ruff"), "format", "--check", "--no-cache", "."], cwd=TEMPLATE_DIR)


def test_template_code_passes_strict_mypy() -> None:
    # mypy.ini: dev.py, the hook, scripts, tests and benchmarks, strict.
    run([tool("mypy"), "--no-incremental", "--cache-dir", "/dev/null"], cwd=TEMPLATE_DIR)
