"""A service made from an older template release takes a later one with
`cruft update`: the change arrives cleanly, the team's own change survives, and
the result is exactly what a fresh bake of the later release plus that change
would be (so the service's tests pass wherever a fresh bake's do, which
tests/test_generated_project.py proves). The hooks have no side effects, so
re-rendering is safe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from . import template_release
from .conftest import run, tool, uv

GIT_IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid"]
NEW_FILE = "{{cookiecutter.service_slug}}/docs/runbook.md"
# A change of the team's own, made after generation, that the update must keep.
OWN_CHANGE = ("src/orders_service/settings.py", "\n# Settings owned by the payments team from here on.\n")
TEAM_INDEX = "https://pypi.example.com/simple/"


def makefile_line(service: Path, name: str) -> str:
    return next(line for line in (service / "Makefile").read_text().splitlines() if line.startswith(f"{name} "))


def git(repository: Path, *arguments: str) -> str:
    return run(["git", *GIT_IDENTITY, *arguments], cwd=repository).stdout.strip()


def cruft_create(template: Path, release: str, output_dir: Path) -> Path:
    answers = json.dumps({"perf_tool_index": TEAM_INDEX})
    run(
        [
            *(tool("cruft"), "create", "--no-input", "--checkout", release),
            *("--output-dir", str(output_dir), "--extra-context", answers, str(template)),
        ],
        cwd=output_dir.parent,
    )
    return output_dir / "orders-service"


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but git's own and cruft's record, by path."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts and path.name != ".cruft.json"
    }


def test_cruft_update_brings_a_later_template_release_into_a_generated_service(tmp_path: Path) -> None:
    template = template_release.release(tmp_path / "template", tag="v1")
    service = cruft_create(template, "v1", tmp_path / "services")
    cruft_state = json.loads((service / ".cruft.json").read_text())
    assert cruft_state["commit"] == git(template, "rev-parse", "v1")
    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "generated from template v1")
    own_file, own_line = OWN_CHANGE
    with (service / own_file).open("a") as handle:
        handle.write(own_line)
    git(service, "commit", "-q", "-am", "a change of our own")

    # The template moves on: a new file, and a changed line in one the service has.
    (template / NEW_FILE).parent.mkdir(parents=True, exist_ok=True)
    (template / NEW_FILE).write_text("# {{ cookiecutter.service_name }} runbook\n")
    readme = template / "{{cookiecutter.service_slug}}" / "README.md"
    readme.write_text(readme.read_text().replace("## Run it and test it", "## Run it and test it (updated)"))
    # ... and releases a new perf tool, which the Makefile pins.
    makefile = template / "{{cookiecutter.service_slug}}" / "Makefile"
    released = makefile_line(template / "{{cookiecutter.service_slug}}", "PERF_GATE_VERSION")
    makefile.write_text(makefile.read_text().replace(released, "PERF_GATE_VERSION := 99.0.0"))
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "template release v2")
    git(template, "tag", "v2")

    drift = subprocess.run([tool("cruft"), "check"], cwd=service, capture_output=True, text=True, check=False)
    assert drift.returncode != 0, "cruft check must report the service out of step with the template"
    run([tool("cruft"), "update", "--skip-apply-ask", "--checkout", "v2"], cwd=service)

    assert (service / "docs" / "runbook.md").read_text() == "# Orders Service runbook\n"
    assert "## Run it and test it (updated)" in (service / "README.md").read_text()
    # The perf tool's pin moves; where it comes from (the team's index, the template's URL) stays.
    assert makefile_line(service, "PERF_GATE_VERSION") == "PERF_GATE_VERSION := 99.0.0"
    assert makefile_line(service, "PERF_GATE_INDEX") == f"PERF_GATE_INDEX ?= {TEAM_INDEX}"
    assert makefile_line(service, "TEMPLATE_REPOSITORY") == f"TEMPLATE_REPOSITORY ?= file://{template}"
    assert not list(service.rglob("*.rej")), "the update left rejected hunks"
    assert json.loads((service / ".cruft.json").read_text())["commit"] == git(template, "rev-parse", "v2")
    run([tool("cruft"), "check"], cwd=service)
    assert (service / own_file).read_text().endswith(own_line), "the update dropped the team's own change"

    fresh = cruft_create(template, "v2", tmp_path / "fresh")
    with (fresh / own_file).open("a") as handle:
        handle.write(own_line)
    updated, expected = tree(service), tree(fresh)
    differing = sorted(name for name in updated.keys() | expected.keys() if updated.get(name) != expected.get(name))
    assert not differing, f"the updated service differs from a fresh bake of v2 plus its own change in {differing}"
    # The lock it carries still matches its project, so `uv sync --locked` works.
    run([uv(), "lock", "--check"], cwd=service)
