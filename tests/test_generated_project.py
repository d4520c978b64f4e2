"""The generated project's own checks pass in its own uv environment for
answers other than the defaults: locked install, ruff, mypy, and its pytest
suite against a real test agent (the defaults' whole suite runs in
tests/test_day_one.py, through the generated CircleCI test job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import run, uv

# The slowest of the generated suite's tests exercise ddtrace and the process,
# not anything an answer renders: the day-one test runs them on the default
# bake, the other bake here leaves them out (about a minute of the suite).
ANSWER_INDEPENDENT_SLOW_TESTS = (
    "tests/test_runtime_switch.py::test_a_thousand_switches_leave_the_process_able_to_start_threads_and_profiling_on",
    "tests/test_runtime_switch.py::test_profiling_switches_off_and_back_on_with_a_reduced_set_without_a_restart",
    "tests/test_readiness.py::test_readiness_fails_once_no_thread_can_start_while_liveness_holds",
    "tests/test_metrics.py::test_an_unreachable_otlp_receiver_harms_nothing",
    "tests/test_ddtrace_internals.py::test_hundreds_of_profile_set_changes_leave_thread_start_as_it_was",
)
# The default answers' suite runs in tests/test_day_one.py, as the generated
# CircleCI test job runs it in a service baked from the template's git URL.
VARIANTS = [
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
    left_out: list[str] = []
    for test_id in ANSWER_INDEPENDENT_SLOW_TESTS:
        path, _, name = test_id.partition("::")
        assert f"def {name}(" in (project / path).read_text(), f"{test_id} is gone: update the list"
        left_out += ["--deselect", test_id]
    outcome = run(
        [uv(), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", *left_out],
        cwd=project,
        timeout=900,
    )
    assert " passed" in outcome.stdout and " failed" not in outcome.stdout, outcome.stdout[-3000:]
    assert f"{len(ANSWER_INDEPENDENT_SLOW_TESTS)} deselected" in outcome.stdout, outcome.stdout[-3000:]
