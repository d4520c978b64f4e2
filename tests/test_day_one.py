"""Day one, as a team meets it. The template is a git repository with a release
tag (a ``file://`` URL stands in for ``gh:<org>/<template>``); a service is baked
from its URL with cruft, and with cookiecutter to the same tree; it is committed
and pushed; then, with nothing set that only these tests know (no ``PERF_GATE``,
no package index, no tool on PATH but what the jobs install), the generated
CircleCI jobs run step by step as CircleCI would run them: ``test`` (lint, types,
template drift, the service's own suite) on main and ``perf-gate`` on a branch,
and an engineer's ``make flamegraph`` and ``make perf-top`` on its profiles.

The one setting these runs take from the machine is ``BASE_IMAGE``: no image
registry is reachable here, so the images build on a stand-in base, as a team
behind a registry mirror sets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from .circleci_support import replay_job
from .conftest import DEFAULT_SLUG, make, tool
from .template_release import git

# What a CircleCI machine or a laptop has before the jobs install anything.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def user_environment(home: Path, base_image: str) -> dict[str, str]:
    """A user's shell: their own HOME (``pip install --user`` lands there and is on
    PATH, as in CircleCI's images), the machine's Python and system tools, the
    shared download caches, and nothing of this repository's environment."""
    python_bin = str(Path(sys.base_prefix) / "bin")  # the machine's Python, not this suite's venv
    environment = {
        "HOME": str(home),
        "PATH": os.pathsep.join([str(home / ".local" / "bin"), python_bin, SYSTEM_PATH]),
        "LANG": "C.UTF-8",
        # Downloads already made on this machine are reused (a CI cache does the same).
        "XDG_CACHE_HOME": str(Path.home() / ".cache"),
        "BASE_IMAGE": base_image,
        "CI": "true",
    }
    # This machine's trust store (a TLS-inspecting proxy), and no Python downloads (none reachable).
    if Path("/etc/ssl/certs/ca-certificates.crt").exists():
        environment["SSL_CERT_FILE"] = "/etc/ssl/certs/ca-certificates.crt"
        environment["PIP_CERT"] = "/etc/ssl/certs/ca-certificates.crt"
    environment["UV_PYTHON_DOWNLOADS"] = "never"
    for key in (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "UV_INDEX_URL",
        "UV_DEFAULT_INDEX",
        "UV_INDEX",
        "PIP_CONFIG_FILE",
    ):
        if key in os.environ:  # how this machine reaches the public index, which a user's has too
            environment[key] = os.environ[key]
    return environment


def bake(command: list[str], environment: dict[str, str], output: Path) -> Path:
    output.mkdir(parents=True)
    outcome = subprocess.run(
        [*command, "--no-input", "--output-dir", str(output)],
        cwd=output,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stdout[-3000:] + outcome.stderr[-3000:]
    return output / DEFAULT_SLUG


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts and path.name != ".cruft.json"
    }


def make_ok(project: Path, environment: dict[str, str], *arguments: str) -> str:
    outcome = make(project, *arguments, env=environment)
    assert outcome.returncode == 0, f"make {' '.join(arguments)}:\n{outcome.stdout[-4000:]}\n{outcome.stderr[-4000:]}"
    return outcome.stdout


def test_a_service_baked_from_the_template_url_is_green_on_its_first_push(
    released_template: Path, base_image: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    environment = user_environment(home, base_image)
    url = f"file://{released_template}"

    # The README's two ways to create a service give the same tree.
    service = bake([tool("cruft"), "create", url], environment, tmp_path / "with-cruft")
    plain = bake([tool("cookiecutter"), url], environment, tmp_path / "with-cookiecutter")
    assert tree(service) == tree(plain), "cruft and cookiecutter baked different trees"
    assert json.loads((service / ".cruft.json").read_text())["commit"] == git(released_template, "rev-parse", "HEAD")

    # Committed and pushed, as the generated README says.
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "Service as generated")
    git(service, "remote", "add", "origin", str(origin))
    git(service, "push", "-q", "origin", "main")

    config = yaml.safe_load((service / ".circleci" / "config.yml").read_text())
    identity = {"GIT_AUTHOR_NAME": "CI", "GIT_AUTHOR_EMAIL": "ci@example.invalid"}
    identity |= {"GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.invalid"}
    circle = {**environment, **identity, "CIRCLE_BRANCH": "main", "CIRCLE_SHA1": git(service, "rev-parse", "HEAD")}

    # `test` on main: lint, types, cruft check and the whole suite (the
    # attribution test runs the perf tool the Makefile pins).
    steps = replay_job(config, "test", service, circle, timeout=900)
    suite = steps[-1].stdout
    assert " passed" in suite and " failed" not in suite and " error" not in suite, suite[-3000:]

    # `perf-gate` on a branch that changes nothing the service runs: PASS.
    git(service, "checkout", "-q", "-b", "docs-only")
    readme = service / "README.md"
    readme.write_text(readme.read_text() + "\nOwned by the payments team.\n")
    git(service, "commit", "-q", "-am", "README: owners")
    circle |= {"CIRCLE_BRANCH": "docs-only", "CIRCLE_SHA1": git(service, "rev-parse", "HEAD")}
    steps = replay_job(config, "perf-gate", service, circle, timeout=1200)
    assert "PASS" in steps[-1].stdout, steps[-1].stdout[-3000:]
    report = json.loads((service / "perf-report" / "report.json").read_text())
    assert (report["decision"], report["measure"]) == ("pass", "instructions"), report["decision"]
    low, high = report["interval"]
    # No change measures as none: instruction counts repeat, and the kernel side's
    # tick-sampled CPU widens the interval to about ±2%, far inside the threshold.
    assert 0.97 < low <= high < 1.03, report["interval"]

    # An engineer's look at where the CPU goes: make flamegraph, then make perf-top on its profiles.
    make_ok(service, environment, "flamegraph")
    assert list((service / "perf-report" / "flamegraph-profiles").glob("*.pprof")), "make flamegraph left no profile"
    top = make_ok(service, environment, "perf-top")
    rows = [line.split() for line in top.splitlines()[2:] if line.strip()]
    workload = [row for row in rows if row[2] == "hash_chain"]
    assert workload, top
    # The flame graph's service runs traced, as in production: its CPU carries the endpoint.
    assert workload[0][-2:] == ["GET", "/cpu-intensive"], top
