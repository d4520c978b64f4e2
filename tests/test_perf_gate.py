"""The generated service's CPU regression gate, run for real: two images from
the same Dockerfile, alternating rounds under the same load, profiles decoded
from ddtrace's own files. A deliberate regression fails and is named; no
change passes."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import run, uv, uv_environment

GIT_IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid"]
# A regression of this size is decided in one look; passing needs the noise
# measured tightly, so the no-change run uses the defaults (up to 48 x 100).
FEW_ROUNDS = ["--rounds", "12", "--requests", "100"]
MORE_ROUNDS = 96  # the rerun's cap: twice the default


def git(project: Path, *arguments: str) -> None:
    run(["git", *GIT_IDENTITY, *arguments], cwd=project)


def gate(project: Path, base_image: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``make perf-gate`` as a team behind a registry mirror runs it: BASE_IMAGE
    set once in the environment."""
    environment = uv_environment()
    environment["PATH"] = f"{Path(uv()).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["BASE_IMAGE"] = base_image
    return subprocess.run(
        ["make", "perf-gate", f"PERF_GATE_ARGS={' '.join(extra)}"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def repository(cookies_session: Any, base_image: str) -> Iterator[Path]:
    """A baked service committed on main, as a team's repository would be."""
    result = cookies_session.bake()
    assert result.exception is None, result.exception
    project = Path(result.project_path)
    run([uv(), "sync", "--locked"], cwd=project)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "service as generated")
    yield project


def decision(repository: Path) -> str:
    """The gate's decision as its report states it (make turns every non-zero
    exit of a recipe into its own 2, so the exit code alone cannot tell a fail
    from an inconclusive run)."""
    report: dict[str, Any] = json.loads((repository / "perf-report" / "report.json").read_text())
    return str(report["decision"])


def test_gate_passes_a_change_that_costs_nothing(repository: Path, base_image: str) -> None:
    outcome = gate(repository, base_image, "--baseline", "main")
    if decision(repository) == "inconclusive":
        # What the gate tells its users to do when noise hides the answer: more rounds.
        outcome = gate(repository, base_image, "--baseline", "main", "--rounds", str(MORE_ROUNDS))
    assert outcome.returncode == 0, outcome.stdout[-4000:] + outcome.stderr[-4000:]
    assert "PASS" in outcome.stdout
    assert decision(repository) == "pass"


def test_gate_fails_a_cpu_regression_and_names_the_function_first(repository: Path, base_image: str) -> None:
    workload = next((repository / "src").glob("*/workload.py"))
    original = workload.read_text()
    loop_body = "        digest = hashlib.sha256(digest).digest()\n"
    assert loop_body in original
    git(repository, "checkout", "-q", "-b", "regression")
    try:
        # Extra hashing inside the CPU workload's loop: the kind of change the gate is for.
        workload.write_text(original.replace(loop_body, loop_body * 2))
        git(repository, "commit", "-q", "-am", "hash twice per iteration")
        outcome = gate(repository, base_image, "--baseline", "main", *FEW_ROUNDS)
    finally:
        git(repository, "checkout", "-q", "main")

    assert outcome.returncode != 0, outcome.stdout[-4000:] + outcome.stderr[-4000:]
    assert "FAIL" in outcome.stdout
    report = json.loads((repository / "perf-report" / "report.json").read_text())
    assert report["decision"] == "fail", outcome.stdout[-4000:]
    top = report["functions"][0]
    assert (top["function"], Path(top["file"]).name) == ("hash_chain", "workload.py"), report["functions"][:3]
    table_rows = (repository / "perf-report" / "functions.txt").read_text().splitlines()
    assert table_rows[2].startswith("hash_chain"), table_rows[:4]
    svg = ElementTree.fromstring((repository / "perf-report" / "cpu-diff.svg").read_text())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
