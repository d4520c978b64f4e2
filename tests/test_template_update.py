"""A service made from an older template release takes a later one with
`cruft update`: the change arrives cleanly and the service's tests still pass.
(The hooks have no side effects, so re-rendering is safe.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .conftest import TEMPLATE_DIR, run, tool, uv

GIT_IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid"]
NEW_FILE = "{{cookiecutter.service_slug}}/docs/runbook.md"


def git(repository: Path, *arguments: str) -> str:
    return run(["git", *GIT_IDENTITY, *arguments], cwd=repository).stdout.strip()


def copy_of_the_template(destination: Path) -> Path:
    """The tracked files of this checkout as a template repository of its own."""
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=TEMPLATE_DIR, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE_DIR / name, target)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "template release v1")
    git(destination, "tag", "v1")
    return destination


def test_cruft_update_brings_a_later_template_release_into_a_generated_service(tmp_path: Path) -> None:
    template = copy_of_the_template(tmp_path / "template")
    run(
        [
            tool("cruft"),
            "create",
            "--no-input",
            "--checkout",
            "v1",
            "--output-dir",
            str(tmp_path / "services"),
            str(template),
        ],
        cwd=tmp_path,
    )
    service = tmp_path / "services" / "orders-service"
    cruft_state = json.loads((service / ".cruft.json").read_text())
    assert cruft_state["commit"] == git(template, "rev-parse", "v1")
    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "generated from template v1")

    # The template moves on: a new file, and a changed line in one the service has.
    (template / NEW_FILE).parent.mkdir(parents=True, exist_ok=True)
    (template / NEW_FILE).write_text("# {{ cookiecutter.service_name }} runbook\n")
    readme = template / "{{cookiecutter.service_slug}}" / "README.md"
    readme.write_text(readme.read_text().replace("## Run it and test it", "## Run it and test it (updated)"))
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "template release v2")
    git(template, "tag", "v2")

    drift = subprocess.run([tool("cruft"), "check"], cwd=service, capture_output=True, text=True, check=False)
    assert drift.returncode != 0, "cruft check must report the service out of step with the template"
    run([tool("cruft"), "update", "--skip-apply-ask", "--checkout", "v2"], cwd=service)

    assert (service / "docs" / "runbook.md").read_text() == "# Orders Service runbook\n"
    assert "## Run it and test it (updated)" in (service / "README.md").read_text()
    assert not list(service.rglob("*.rej")), "the update left rejected hunks"
    assert json.loads((service / ".cruft.json").read_text())["commit"] == git(template, "rev-parse", "v2")
    run([tool("cruft"), "check"], cwd=service)

    run([uv(), "sync", "--locked"], cwd=service)
    outcome = run([uv(), "run", "--locked", "pytest", "-q", "-x", "-p", "no:cacheprovider"], cwd=service, timeout=900)
    assert " passed" in outcome.stdout and " failed" not in outcome.stdout
