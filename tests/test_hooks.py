"""Bad answers: one line each, no cascade, nothing left behind.

The command-line cases run the cookiecutter command a user runs and compare
everything it prints. A refused answer shows exactly one line of the template's,
then cookiecutter's own report of a failed hook (a fixed block with a traceback
from its hooks.py, printed whatever the hook does); a choice outside its list is
refused by cookiecutter itself, before the hook. Both are pinned here, so a
change in what the user sees fails a test. The pure cases call ``validate()``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from .conftest import TEMPLATE_DIR

CHOICES = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())


def load_hook() -> Any:
    """The hook as a module: it is valid Python before Jinja fills its one templated line."""
    spec = importlib.util.spec_from_file_location("pre_gen_project", TEMPLATE_DIR / "hooks" / "pre_gen_project.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = load_hook()
validate: Callable[[Mapping[str, object]], list[str]] = HOOK.validate

SLUG_RULE = (
    "must be a DNS-1123 label: lowercase letters, digits and '-', "
    "starting with a letter, not ending with '-', at most 63 characters"
)
PACKAGE_RULE = "must be a lowercase Python identifier (letters, digits, '_'; starting with a letter)"
IMAGE_RULE = (
    "must be a Docker image name without tag: [host[:port]/]path, "
    "path in lowercase letters, digits, '.', '_', '-' and '/'"
)

# One answer given on the command line, and the one line the user then reads.
WRONG_ANSWERS = [
    pytest.param(
        "service_slug=Bad Slug", f"service_slug: 'Bad Slug' {SLUG_RULE}", id="slug-with-space-once-not-four-times"
    ),
    pytest.param("service_slug=Orders", f"service_slug: 'Orders' {SLUG_RULE}", id="slug-uppercase"),
    pytest.param("service_slug=9orders", f"service_slug: '9orders' {SLUG_RULE}", id="slug-starts-with-digit"),
    pytest.param("service_slug=orders-", f"service_slug: 'orders-' {SLUG_RULE}", id="slug-ends-with-hyphen"),
    pytest.param(f"service_slug={'a' * 64}", f"service_slug: '{'a' * 64}' {SLUG_RULE}", id="slug-too-long"),
    pytest.param("service_slug=orders_service", f"service_slug: 'orders_service' {SLUG_RULE}", id="slug-underscore"),
    pytest.param("service_name=", "service_name: '' must be a non-empty single line", id="name-empty"),
    pytest.param("service_name=Orders!", f"service_slug: 'orders!' {SLUG_RULE}", id="name-derives-a-bad-slug"),
    pytest.param("package_name=class", "package_name: 'class' is a Python keyword", id="package-keyword"),
    pytest.param("package_name=match", "package_name: 'match' is a Python keyword", id="package-soft-keyword"),
    pytest.param(
        "package_name=json",
        "package_name: 'json' would shadow the standard-library module of that name",
        id="package-shadows-stdlib",
    ),
    pytest.param(
        "package_name=fastapi",
        "package_name: 'fastapi' would shadow a dependency of the generated service",
        id="package-shadows-dependency",
    ),
    pytest.param("package_name=orders-service", f"package_name: 'orders-service' {PACKAGE_RULE}", id="package-hyphen"),
    pytest.param("package_name=Orders", f"package_name: 'Orders' {PACKAGE_RULE}", id="package-uppercase"),
    pytest.param("http_port=0", "http_port: '0' must be a whole number from 1 to 65535", id="port-zero"),
    pytest.param("http_port=65536", "http_port: '65536' must be a whole number from 1 to 65535", id="port-too-high"),
    pytest.param("http_port=http", "http_port: 'http' must be a whole number from 1 to 65535", id="port-not-a-number"),
    pytest.param(
        "repository_url=github.com/acme/x",
        "repository_url: 'github.com/acme/x' must be empty, https://host/owner/repo or git@host:owner/repo",
        id="repo-no-scheme",
    ),
    pytest.param(
        "repository_url=https://user:token@github.com/acme/x",
        "repository_url: 'https://user:token@github.com/acme/x' "
        "must not carry credentials (it is baked into every image and profile)",
        id="repo-credentials",
    ),
    pytest.param(
        "docker_image=Registry/Orders:latest",
        f"docker_image: 'Registry/Orders:latest' {IMAGE_RULE}",
        id="image-with-tag",
    ),
    pytest.param(
        "docker_registry=Registry/Platform",
        f"docker_registry: 'Registry/Platform' {IMAGE_RULE}",
        id="registry-once-not-again-in-the-image",
    ),
    pytest.param(
        "team=Team A",
        "team: 'Team A' becomes the Datadog tag team:<value>: use lowercase letters, digits, "
        "'_', '.', '-', starting with a letter, at most 100 characters",
        id="team-not-a-tag",
    ),
    pytest.param(
        "description=two\nlines", "description: 'two\\nlines' must be a single line", id="description-multiline"
    ),
]

# Cookiecutter's report of any failed pre_gen_project hook, printed after the
# hook's own lines: its hooks.py logs the exception with its traceback, then
# its command line prints the exception once more.
HOOK_FAILED = "Hook script failed (exit status: 1)"
STOPPING = "ERROR: Stopping generation because pre_gen_project hook script didn't exit successfully"


def run_cookiecutter(tmp_path: Path, *answers: str) -> tuple[int, list[str], Path]:
    """Run the command a user runs; return its exit status, every line it printed
    (stdout and stderr as a terminal interleaves them) and the output directory."""
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    # Cookiecutter's replay file and clones go here, not into this machine's home.
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--config-file",
            str(config),
            "-o",
            str(output_dir),
            str(TEMPLATE_DIR),
            *answers,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout.splitlines(), output_dir


def assert_cookiecutters_failed_hook_report(lines: list[str]) -> None:
    """Exactly cookiecutter's fixed block: its traceback runs through its own hooks.py only."""
    report = "\n".join(lines)
    assert lines[:2] == [STOPPING, "Traceback (most recent call last):"], report
    assert lines[-2:] == [f"cookiecutter.exceptions.FailedHookException: {HOOK_FAILED}", HOOK_FAILED], report
    for line in lines[2:-2]:
        assert line.startswith("    ") or (line.startswith('  File "') and "/cookiecutter/hooks.py" in line), report


@pytest.mark.parametrize(("answer", "expected"), WRONG_ANSWERS)
def test_a_wrong_answer_is_one_line_then_cookiecutters_report_and_nothing_is_left(
    tmp_path: Path, answer: str, expected: str
) -> None:
    status, lines, output_dir = run_cookiecutter(tmp_path, answer)
    assert status == 1, f"{answer!r} was accepted:\n" + "\n".join(lines)
    assert STOPPING in lines, "\n".join(lines)
    ours = lines[: lines.index(STOPPING)]
    assert ours == [f"ERROR: {expected}"], f"expected the one line\n  ERROR: {expected}\ngot\n" + "\n".join(ours)
    assert_cookiecutters_failed_hook_report(lines[lines.index(STOPPING) :])
    assert list(output_dir.iterdir()) == [], f"left behind: {list(output_dir.iterdir())}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("python_version", "3.10", id="python-unsupported"),
        pytest.param("datadog_site", "datadoghq.us", id="site-misspelt"),
    ],
)
def test_a_choice_outside_its_list_is_refused_by_cookiecutter_naming_the_choices(
    tmp_path: Path, field: str, value: str
) -> None:
    # Cookiecutter refuses it while reading the answers, before any template
    # code runs, with a traceback whose last line names the field and choices.
    # The choice lists stay: the interactive menu cannot take a wrong value.
    status, lines, output_dir = run_cookiecutter(tmp_path, f"{field}={value}")
    assert status == 1, f"{field}={value!r} was accepted"
    expected = f"ValueError: {value} provided for choice variable {field}, but the choices are {CHOICES[field]}."
    assert lines[-1] == expected, "\n".join(lines)
    assert not [line for line in lines if line.startswith("ERROR:")], "the hook ran:\n" + "\n".join(lines)
    assert list(output_dir.iterdir()) == []


def test_an_explicitly_empty_slug_is_refused_by_cookiecutter_as_an_existing_directory(tmp_path: Path) -> None:
    # The project directory renders as the output directory itself, which
    # cookiecutter refuses before the hook runs: one line, no traceback.
    status, lines, output_dir = run_cookiecutter(tmp_path, "service_slug=")
    assert (status, lines) == (1, [f'Error: "{output_dir}" directory already exists']), "\n".join(lines)
    assert list(output_dir.iterdir()) == []


def test_good_answers_pass_the_hook_and_bake(tmp_path: Path) -> None:
    status, lines, output_dir = run_cookiecutter(tmp_path, "service_name=Inventory")
    assert status == 0, "\n".join(lines)
    assert lines == [], "\n".join(lines)
    assert (output_dir / "inventory" / "pyproject.toml").is_file()


def rendered_answers(**answers: str) -> dict[str, Any]:
    """The answers as cookiecutter renders them with --no-input: defaults derived from the given ones."""
    context = generate_context(context_file=str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=answers)
    return dict(prompt_for_config(context, no_input=True))


def fields_of(problems: list[str]) -> list[str]:
    return [problem.split(":", 1)[0] for problem in problems]


def test_the_default_answers_are_valid() -> None:
    assert validate(rendered_answers()) == []


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"service_name": "Payments_API v2"}, id="name-with-underscore-and-space"),
        pytest.param({"service_name": "  Bad Name! "}, id="name-with-padding-and-punctuation"),
        pytest.param({"service_name": ""}, id="name-empty"),
        pytest.param({"service_name": "two\nlines"}, id="name-multiline"),
        pytest.param({"service_slug": "Bad Slug", "docker_registry": "localhost:5000/team-a"}, id="slug-and-registry"),
    ],
)
def test_the_hook_derives_defaults_as_cookiecutter_json_does(answers: dict[str, str]) -> None:
    rendered = rendered_answers(**answers)
    for field, derivation in HOOK.DERIVATIONS.items():
        if field in answers:
            continue  # given, not derived
        assert derivation.default(rendered) == rendered[field], (
            f"{field}: cookiecutter.json derives {rendered[field]!r}, the hook {derivation.default(rendered)!r}"
        )


def test_an_empty_name_never_renders_the_project_directory_as_the_output_directory() -> None:
    assert rendered_answers(service_name="")["service_slug"] == "unnamed-service"


@pytest.mark.parametrize(
    ("answers", "reported"),
    [
        pytest.param({"service_slug": "Bad Slug"}, ["service_slug"], id="slug-not-package-image-repository"),
        pytest.param({"service_name": "two\nlines"}, ["service_name"], id="name-not-slug-and-what-follows"),
        pytest.param({"service_name": ""}, ["service_name"], id="name-empty"),
        pytest.param({"service_name": "Orders!"}, ["service_slug"], id="good-name-bad-slug"),
        pytest.param({"docker_registry": "Registry/Platform"}, ["docker_registry"], id="registry-not-image"),
        pytest.param(
            {"service_slug": "Bad Slug", "package_name": "json"},
            ["service_slug", "package_name"],
            id="explicit-package-still-checked",
        ),
        pytest.param(
            {"docker_registry": "Registry/Platform", "docker_image": "Registry/Orders:latest"},
            ["docker_registry", "docker_image"],
            id="explicit-image-still-checked",
        ),
    ],
)
def test_a_mistake_is_reported_once_not_again_in_the_answers_derived_from_it(
    answers: dict[str, str], reported: list[str]
) -> None:
    problems = validate(rendered_answers(**answers))
    assert fields_of(problems) == reported, problems


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param("", None, id="empty"),
        pytest.param("https://pypi.example.com/simple/", None, id="https"),
        pytest.param("http://localhost:8081/repository/pypi/simple", None, id="http-with-port"),
        pytest.param(
            "https://user:token@pypi.example.com/simple/",
            "perf_tool_index: 'https://user:token@pypi.example.com/simple/' must not carry credentials "
            "(it is committed in the service's Makefile; uv reads them from ~/.netrc)",
            id="credentials",
        ),
        pytest.param(
            "https://token@pypi.example.com/simple/",
            "perf_tool_index: 'https://token@pypi.example.com/simple/' must not carry credentials "
            "(it is committed in the service's Makefile; uv reads them from ~/.netrc)",
            id="token",
        ),
        pytest.param(
            "pypi.example.com/simple",
            "perf_tool_index: 'pypi.example.com/simple' must be empty or a package index URL: "
            "http(s)://host[:port]/path",
            id="no-scheme",
        ),
        pytest.param(
            "ftp://pypi.example.com/simple",
            "perf_tool_index: 'ftp://pypi.example.com/simple' must be empty or a package index URL: "
            "http(s)://host[:port]/path",
            id="not-http",
        ),
        pytest.param(
            "https://pypi.example.com/simple #x",
            "perf_tool_index: 'https://pypi.example.com/simple #x' must be empty or a package index URL: "
            "http(s)://host[:port]/path",
            id="breaks-the-makefile",
        ),
    ],
)
def test_perf_tool_index_is_empty_or_an_http_url_without_credentials(value: str, problem: str | None) -> None:
    answers = {**rendered_answers(), "perf_tool_index": value}
    assert validate(answers) == ([] if problem is None else [problem])
