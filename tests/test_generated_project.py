"""The generated project's own checks pass in its own uv environment for
answers other than the defaults: locked install, ruff, mypy, and its pytest
suite against a real test agent, run from a shell that sets every variable the
service reads to a hostile value (the defaults' whole suite runs in
tests/test_day_one.py, through the generated CircleCI test job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.bake import uv_environment

from .conftest import run, uv
from .settings_class import settings_variables

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


def hostile_environment(project: Path, scratch: Path) -> dict[str, str]:
    """Every variable the settings class reads, set as a developer's shell might
    hold it, each enough to fail a test if it leaked into one: the suite must
    isolate itself from all of them (its isolation is derived from that class)."""
    profiling_off = scratch / "profiling-off.json"
    profiling_off.write_text('{"enabled": false}')
    harmful = {
        "PROFILING_CONTROL_FILE": str(profiling_off),
        "PROFILING_CONTROL_POLL_SECONDS": "300",
        "PROFILING_MAX_SAMPLING_INTERVAL_MS": "100",
        "LOG_FORMAT": "plain",
        "DD_PROFILING_ENABLED": "false",
        "DD_TRACE_ENABLED": "false",
        "WORKLOAD_MAX_CONCURRENCY": "1",
    }
    hostile = {name: harmful.get(name, "!hostile!") for name in settings_variables(project)}
    # And what ddtrace reads for itself.
    return hostile | {"DD_PROFILING_UPLOAD_INTERVAL": "!hostile!", "DD_PROFILING_OUTPUT_PPROF": "/nonexistent/profile"}


@pytest.mark.parametrize("answers", VARIANTS)
def test_generated_project_passes_its_own_lint_types_and_tests(
    cookies: Any, answers: dict[str, str], tmp_path: Path
) -> None:
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
        env=uv_environment() | hostile_environment(project, tmp_path),
    )
    assert " passed" in outcome.stdout and " failed" not in outcome.stdout, outcome.stdout[-3000:]
    assert f"{len(ANSWER_INDEPENDENT_SLOW_TESTS)} deselected" in outcome.stdout, outcome.stdout[-3000:]
