"""The generated project's own checks pass in its own uv environment:
locked install, ruff, mypy, and its full pytest suite against a real test agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import run, uv

VARIANTS = [
    pytest.param({}, id="defaults"),
    pytest.param(
        {
            "service_name": "Ledger Sync",
            "http_port": "9090",
            "team": "finance",
            "repository_url": "",
        },
        id="other-name-port-team-no-repo",
    ),
]


@pytest.mark.parametrize("answers", VARIANTS)
def test_generated_project_passes_its_own_lint_types_and_tests(cookies: Any, answers: dict[str, str]) -> None:
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    run([uv(), "sync", "--locked"], cwd=project)
    run([uv(), "run", "--locked", "ruff", "check", "."], cwd=project)
    run([uv(), "run", "--locked", "mypy"], cwd=project)
    outcome = run(
        [uv(), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        timeout=900,
    )
    assert " passed" in outcome.stdout and " failed" not in outcome.stdout, outcome.stdout[-3000:]
