"""The pre-generation hook: every bad answer is refused with one clear line,
and nothing is left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TEMPLATE_DIR

INVALID_ANSWERS = [
    pytest.param("service_slug", "Orders", "DNS-1123 label", id="slug-uppercase"),
    pytest.param("service_slug", "9orders", "DNS-1123 label", id="slug-starts-with-digit"),
    pytest.param("service_slug", "orders-", "DNS-1123 label", id="slug-ends-with-hyphen"),
    pytest.param("service_slug", "a" * 64, "DNS-1123 label", id="slug-too-long"),
    pytest.param("service_slug", "orders_service", "DNS-1123 label", id="slug-underscore"),
    pytest.param("package_name", "class", "keyword", id="package-keyword"),
    pytest.param("package_name", "match", "keyword", id="package-soft-keyword"),
    pytest.param("package_name", "json", "standard-library", id="package-shadows-stdlib"),
    pytest.param("package_name", "fastapi", "dependency", id="package-shadows-dependency"),
    pytest.param("package_name", "orders-service", "Python identifier", id="package-hyphen"),
    pytest.param("package_name", "Orders", "Python identifier", id="package-uppercase"),
    pytest.param("http_port", "0", "1 to 65535", id="port-zero"),
    pytest.param("http_port", "65536", "1 to 65535", id="port-too-high"),
    pytest.param("http_port", "http", "1 to 65535", id="port-not-a-number"),
    pytest.param(
        "repository_url",
        "github.com/acme/x",
        "https://host/owner/repo",
        id="repo-no-scheme",
    ),
    pytest.param(
        "repository_url",
        "https://user:token@github.com/acme/x",
        "credentials",
        id="repo-credentials",
    ),
    pytest.param(
        "docker_image",
        "Registry/Orders:latest",
        "Docker image name",
        id="image-with-tag",
    ),
    pytest.param("team", "Team A", "team:<value>", id="team-not-a-tag"),
    pytest.param("description", "two\nlines", "single line", id="description-multiline"),
]


# Derived answers given explicitly, so that one bad answer makes one error
# (a bad slug would otherwise also derive a bad package and image name).
VALID_DERIVED = {
    "service_slug": "orders-service",
    "package_name": "orders_service",
    "docker_image": "registry.example.com/platform/orders-service",
}


def bake_with_cli(output_dir: Path, field: str, value: str) -> subprocess.CompletedProcess[str]:
    """Run the real cookiecutter command a user would run."""
    answers = {**VALID_DERIVED, field: value}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "-o",
            str(output_dir),
            str(TEMPLATE_DIR),
            *(f"{key}={answer}" for key, answer in answers.items()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("field", "value", "allowed"), INVALID_ANSWERS)
def test_invalid_answer_is_refused_naming_the_field_and_leaves_nothing(
    tmp_path: Path, field: str, value: str, allowed: str
) -> None:
    result = bake_with_cli(tmp_path, field, value)
    assert result.returncode != 0, f"{field}={value!r} was accepted"
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"ERROR: {field}: "), errors[0]
    assert allowed in errors[0], errors[0]
    assert list(tmp_path.iterdir()) == [], f"left behind: {list(tmp_path.iterdir())}"


def test_valid_answers_pass_the_hook(tmp_path: Path) -> None:
    result = bake_with_cli(tmp_path, "service_slug", "inventory")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "inventory" / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("python_version", "3.10", id="python-unsupported"),
        pytest.param("datadog_site", "x.io", id="site"),
    ],
)
def test_choice_outside_its_list_is_refused_and_leaves_nothing(tmp_path: Path, field: str, value: str) -> None:
    # Cookiecutter checks choice fields itself, before the hook runs; its last
    # line names the field and the choices.
    result = bake_with_cli(tmp_path, field, value)
    assert result.returncode != 0, f"{field}={value!r} was accepted"
    last_line = result.stderr.strip().splitlines()[-1]
    assert f"choice variable {field}" in last_line, last_line
    assert list(tmp_path.iterdir()) == []
