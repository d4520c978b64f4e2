"""Refuse bad template answers before anything is written.

Cookiecutter renders this file with the answers, runs it, and deletes the
half-made project directory when it exits non-zero. The checks are a pure
function of the answers: no git, no network, no installs, so re-rendering a
project later (cruft update) runs them again safely.

One mistake is one line: an answer derived from a wrong one (the package name
from a bad slug) is not reported again. Whatever this script prints or exits
with, cookiecutter follows a failed hook with its own report, a traceback
included (its hooks.py logs the failure with logger.exception); the README
shows what the user sees.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Callable, Mapping
from typing import NamedTuple

# Import names the generated service depends on; a package with one of these
# names would shadow the real library.
DEPENDENCY_IMPORT_NAMES = frozenset(
    {
        "anyio",
        "ddapm_test_agent",
        "ddtrace",
        "fastapi",
        "h11",
        "httpx",
        "mypy",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pytest",
        "ruff",
        "starlette",
        "typing_extensions",
        "uvicorn",
    }
)

DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
PACKAGE_NAME = re.compile(r"[a-z][a-z0-9_]*")
TAG_VALUE = re.compile(r"[a-z][a-z0-9_.-]{0,99}")
# Docker reference without tag or digest: optional registry host[:port], then
# lowercase path components separated by '/'.
IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
IMAGE_NAME = re.compile(rf"(?:{IMAGE_HOST}/)?{IMAGE_COMPONENT}(?:/{IMAGE_COMPONENT})*")
HTTPS_REPOSITORY = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]+)?/[A-Za-z0-9._~/-]+")
SSH_REPOSITORY = re.compile(r"git@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+")
# Written unquoted into the service's Makefile: no spaces, quotes, '#' or '$'.
PACKAGE_INDEX = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~%+/-]*)?")


def _check_service_name(value: str) -> str | None:
    if not value.strip() or "\n" in value:
        return "must be a non-empty single line"
    return None


def _check_service_slug(value: str) -> str | None:
    if len(value) > 63 or not DNS_LABEL.fullmatch(value):
        return (
            "must be a DNS-1123 label: lowercase letters, digits and '-', "
            "starting with a letter, not ending with '-', at most 63 characters"
        )
    return None


def _check_package_name(value: str) -> str | None:
    if not PACKAGE_NAME.fullmatch(value) or not value.isidentifier():
        return "must be a lowercase Python identifier (letters, digits, '_'; starting with a letter)"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword"
    if value in sys.stdlib_module_names:
        return "would shadow the standard-library module of that name"
    if value in DEPENDENCY_IMPORT_NAMES:
        return "would shadow a dependency of the generated service"
    return None


def _check_single_line(value: str) -> str | None:
    if "\n" in value or "\r" in value:
        return "must be a single line"
    return None


def _check_team(value: str) -> str | None:
    if not TAG_VALUE.fullmatch(value):
        return (
            "becomes the Datadog tag team:<value>: use lowercase letters, digits, "
            "'_', '.', '-', starting with a letter, at most 100 characters"
        )
    return None


def _check_http_port(value: str) -> str | None:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        return "must be a whole number from 1 to 65535"
    return None


def _check_image(value: str) -> str | None:
    if not IMAGE_NAME.fullmatch(value) or len(value) > 255:
        return (
            "must be a Docker image name without tag: [host[:port]/]path, "
            "path in lowercase letters, digits, '.', '_', '-' and '/'"
        )
    return None


def _carries_credentials(url: str) -> bool:
    """Whether an http(s) URL names a user or token before its host (user:token@host)."""
    scheme, _, rest = url.partition("://")
    return scheme in ("http", "https") and "@" in rest.split("/", 1)[0]


def _check_repository_url(value: str) -> str | None:
    if value == "":
        return None
    if _carries_credentials(value):
        return "must not carry credentials (it is baked into every image and profile)"
    if not (HTTPS_REPOSITORY.fullmatch(value) or SSH_REPOSITORY.fullmatch(value)):
        return "must be empty, https://host/owner/repo or git@host:owner/repo"
    return None


def _check_package_index(value: str) -> str | None:
    if value == "":
        return None
    if _carries_credentials(value):
        return "must not carry credentials (it is committed in the service's Makefile; uv reads them from ~/.netrc)"
    if not PACKAGE_INDEX.fullmatch(value):
        return "must be empty or a package index URL: http(s)://host[:port]/path"
    return None


# Choice fields (python_version, datadog_site) are not here: cookiecutter
# refuses a value outside their list before this hook runs.
CHECKS: dict[str, Callable[[str], str | None]] = {
    "service_name": _check_service_name,
    "service_slug": _check_service_slug,
    "package_name": _check_package_name,
    "description": _check_single_line,
    "team": _check_team,
    "http_port": _check_http_port,
    "docker_registry": _check_image,
    "docker_image": _check_image,
    "repository_url": _check_repository_url,
    "perf_tool_index": _check_package_index,
}


class Derivation(NamedTuple):
    """How cookiecutter.json makes an answer's default from earlier answers."""

    sources: tuple[str, ...]
    default: Callable[[Mapping[str, str]], str]


def _slug_from_name(answers: Mapping[str, str]) -> str:
    # Never empty: an empty slug makes the project directory the output
    # directory itself, which cookiecutter refuses before this hook can say why.
    return answers["service_name"].lower().strip().replace(" ", "-").replace("_", "-") or "unnamed-service"


# The same expressions as cookiecutter.json's defaults (tests/test_hooks.py
# renders both and compares them).
DERIVATIONS: dict[str, Derivation] = {
    "service_slug": Derivation(("service_name",), _slug_from_name),
    "package_name": Derivation(("service_slug",), lambda answers: answers["service_slug"].replace("-", "_")),
    "docker_image": Derivation(
        ("docker_registry", "service_slug"),
        lambda answers: f"{answers['docker_registry']}/{answers['service_slug']}",
    ),
    "repository_url": Derivation(
        ("service_slug",), lambda answers: f"https://github.com/example/{answers['service_slug']}"
    ),
}


def _derived_from_wrong(field: str, answers: Mapping[str, object], wrong: set[str]) -> bool:
    """Whether the answer is its default, made from an answer already found wrong."""
    derivation = DERIVATIONS.get(field)
    if derivation is None or not wrong.intersection(derivation.sources):
        return False
    texts = {key: value for key, value in answers.items() if isinstance(value, str)}
    if not all(source in texts for source in derivation.sources):
        return False
    return answers.get(field) == derivation.default(texts)


def _problem(field: str, value: object, check: Callable[[str], str | None]) -> str | None:
    if not isinstance(value, str):
        return f"{field}: must be text, got {type(value).__name__}"
    reason = check(value)
    return None if reason is None else f"{field}: {value!r} {reason}"


def validate(answers: Mapping[str, object]) -> list[str]:
    """Return one message per wrong answer, naming the field and what is allowed.

    An answer that is its default, made from an answer already found wrong, is
    not reported again: fixing the first one fixes it.
    """
    problems = []
    wrong: set[str] = set()
    for field, check in CHECKS.items():
        problem = _problem(field, answers.get(field, ""), check)
        if problem is None:
            continue
        if not _derived_from_wrong(field, answers, wrong):
            problems.append(problem)
        wrong.add(field)
    return problems


def main() -> int:
    # The answers arrive as a JSON string literal, which is also a valid Python
    # string literal whatever the answers contain.
    answers = json.loads({{ cookiecutter | tojson | tojson }})  # type: ignore[arg-type,name-defined]  # Jinja fills it
    problems = validate(answers)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
