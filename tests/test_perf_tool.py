"""The perf tool (``perf-gate/``, the package ``profiling-perf-gate``) is its
own project: it passes its own lint, types and tests in its own locked
environment, builds a wheel with its command, and every baked service pins the
version this checkout would release, installed from the template's repository at
its release tag (wherever the service was baked from) or from a team's package
index that the template's release job published it to."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.generate import generate_context, generate_files
from cookiecutter.prompt import prompt_for_config

from harness import agent as agent_support

from .conftest import TEMPLATE_DIR, make, owner_environment, run, tool, uv

PERF_TOOL = TEMPLATE_DIR / "perf-gate"
# A profile recorded with ddtrace whose CPU is all in ``burn``.
SPANS_FIXTURE = PERF_TOOL / "tests" / "fixtures" / "ddtrace-4.16-py3.11-spans.pprof"


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


def makefile_value(project: Path, name: str) -> str:
    found = re.findall(rf"^{name} [:?]= ?(.*)$", (project / "Makefile").read_text(), re.MULTILINE)
    assert len(found) == 1, f"{name} is defined {len(found)} times in the Makefile"
    return str(found[0]).strip()


def perf_tool_command(project: Path, **variables: str) -> str:
    """The command line the Makefile's perf targets run, with ``variables`` set on make's command line."""
    printed = make(project, "perf-gate-command", *(f"{k}={v}" for k, v in variables.items()))
    return printed.stdout.strip() + printed.stderr.strip()


def test_a_baked_service_pins_the_perf_tool_of_this_release(default_project: Path, released_template: Path) -> None:
    assert makefile_value(default_project, "PERF_GATE_VERSION") == tool_version()
    source = f"git+file://{released_template}@v{tool_version()}#subdirectory=perf-gate"
    assert shlex.split(perf_tool_command(default_project)) == ["uv", "tool", "run", "--from", source, "perf-gate"]
    # Only the Makefile names the version; CI and the tests go through it.
    for path in default_project.rglob("*"):
        if path.is_file() and path.name not in ("Makefile", "uv.lock") and path.suffix != ".pyc":
            assert f"=={tool_version()}" not in path.read_text(errors="replace"), path


TEMPLATE_SOURCES = [
    pytest.param("gh:acme/profiling-template", "https://github.com/acme/profiling-template", id="github-abbreviation"),
    pytest.param("gl:acme/profiling-template", "https://gitlab.com/acme/profiling-template", id="gitlab-abbreviation"),
    pytest.param(
        "https://git.example.com/acme/profiling-template.git",
        "https://git.example.com/acme/profiling-template.git",
        id="https",
    ),
    pytest.param(
        "git+https://code.example.com/acme/profiling-template",
        "https://code.example.com/acme/profiling-template",
        id="git-plus-https",
    ),
    pytest.param(
        "git@github.com:acme/profiling-template.git", "ssh://git@github.com/acme/profiling-template.git", id="ssh"
    ),
    pytest.param("/srv/templates/profiling", "file:///srv/templates/profiling", id="absolute-path"),
    pytest.param("../profiling-template", "", id="relative-path"),
]


@pytest.mark.parametrize(("source", "repository"), TEMPLATE_SOURCES)
def test_the_perf_tool_comes_from_the_repository_the_service_was_baked_from(
    tmp_path: Path, source: str, repository: str
) -> None:
    # Rendered as cookiecutter renders it, with the template location the user typed.
    context = generate_context(context_file=str(TEMPLATE_DIR / "cookiecutter.json"))
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    context["cookiecutter"]["_template"] = source
    project = Path(
        generate_files(repo_dir=str(TEMPLATE_DIR), context=context, output_dir=str(tmp_path), accept_hooks=False)
    )
    assert makefile_value(project, "TEMPLATE_REPOSITORY") == repository
    command = perf_tool_command(project)
    if repository:
        source = f"git+{repository}@v{tool_version()}#subdirectory=perf-gate"
        assert shlex.split(command)[-3:] == ["--from", source, "perf-gate"], command
    else:
        # Baked from a path only this machine knows: the perf targets say what to set, in one line.
        assert command.endswith(
            "The perf tool has no source: set TEMPLATE_REPOSITORY to the template's git URL "
            "or PERF_GATE_INDEX to an index carrying profiling-perf-gate.  Stop."
        ), command
        assert len(command.splitlines()) == 1, command


def test_perf_gate_names_another_build_of_the_tool_and_make_runs_it(default_project: Path) -> None:
    """``PERF_GATE`` (a checkout here, this repository's ``perf-gate/``) wins over the pin, for real."""
    outcome = make(default_project, "perf-top", f"PERF_TOP_ARGS={SPANS_FIXTURE} --limit 1", f"PERF_GATE={PERF_TOOL}")
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.stdout.splitlines()[2].split()[2] == "burn", outcome.stdout


@pytest.fixture
def package_index(tmp_path: Path) -> Iterator[str]:
    """A real PyPI-compatible index (pypiserver) on a free loopback port, open for uploads."""
    port = agent_support.free_port()
    packages = tmp_path / "packages"
    packages.mkdir()
    log = (tmp_path / "pypiserver.log").open("w")
    server = subprocess.Popen(
        [tool("pypi-server"), "run", "--host", "127.0.0.1", "--port", str(port), "-a", ".", "-P", ".", str(packages)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        agent_support.wait_for_http(f"http://127.0.0.1:{port}/simple/", 30, process=server)
        yield f"http://127.0.0.1:{port}"
    finally:
        agent_support.terminate(server, 10)
        log.close()


def test_a_team_index_serves_the_perf_tool_published_by_the_release_job(
    cookies: Any, package_index: str, tmp_path: Path
) -> None:
    # The template's release job, replayed for tag v<version> against the index.
    config = yaml.safe_load((TEMPLATE_DIR / ".circleci" / "config.yml").read_text())
    steps = [
        step["run"] for step in config["jobs"]["publish-perf-tool"]["steps"] if isinstance(step, dict) and "run" in step
    ]
    publish = next(step["command"] for step in steps if "uv publish" in step["command"])
    environment = owner_environment(
        CIRCLE_TAG=f"v{tool_version()}", UV_PUBLISH_URL=f"{package_index}/", UV_PUBLISH_TOKEN="ci"
    )
    workspace = tmp_path / "checkout"
    shutil.copytree(PERF_TOOL, workspace / "perf-gate", ignore=shutil.ignore_patterns(".venv", "dist"))
    run(["bash", "-eo", "pipefail", "-c", publish], cwd=workspace, env=environment)

    # A service baked with that index finds the tool there (no public index carries it).
    result = cookies.bake(extra_context={"perf_tool_index": f"{package_index}/simple/"})
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    assert shlex.split(perf_tool_command(project))[3:7] == [
        "--index",
        f"{package_index}/simple/",
        "--from",
        f"profiling-perf-gate=={tool_version()}",
    ]
    outcome = make(project, "perf-top", f"PERF_TOP_ARGS={SPANS_FIXTURE} --limit 1")
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.stdout.splitlines()[2].split()[2] == "burn", outcome.stdout
