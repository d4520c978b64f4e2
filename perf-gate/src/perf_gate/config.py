"""What the gate needs to know about one service, from ``[tool.perf-gate]`` in
its ``pyproject.toml``: the image name, how to run it locally, the request mix.

Everything else (the measure, rounds, threshold) has a default and a flag.
A bad value stops the tool with one line naming the key and what is allowed."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Query = dict[str, int | str]
TABLE = "[tool.perf-gate]"


class ConfigError(ValueError):
    """The service's ``[tool.perf-gate]`` table is missing or has a bad value."""


@dataclass(frozen=True)
class Request:
    """One kind of request in the mix, drawn ``weight`` times in every ``sum(weights)``."""

    path: str
    query: Query
    weight: int


Mix = tuple[Request, ...]


@dataclass(frozen=True)
class ServiceConfig:
    image: str
    module: str
    mix: Mix
    health_path: str
    threshold: float
    environment: dict[str, str]


KEYS = frozenset({"image", "module", "requests", "health-path", "threshold", "environment"})


def _text(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key} must be a non-empty string, not {value!r}")
    return value


def _path(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = _text(table, key, where, default)
    if not value.startswith("/") or any(character.isspace() or character in "?#" for character in value):
        raise ConfigError(f"{where}.{key} must be a URL path starting with / (no query, no spaces), not {value!r}")
    return value


def _request(entry: Any, where: str) -> Request:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table with path, query and weight, not {entry!r}")
    unknown = sorted(set(entry) - {"path", "query", "weight"})
    if unknown:
        raise ConfigError(f"{where} has an unknown key {unknown[0]!r} (known: path, query, weight)")
    query = entry.get("query", {})
    if not isinstance(query, dict) or not all(
        isinstance(value, int | str) and not isinstance(value, bool) for value in query.values()
    ):
        raise ConfigError(f"{where}.query must be a table of whole numbers or strings, not {query!r}")
    weight = entry.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise ConfigError(f"{where}.weight must be a whole number of at least 1, not {weight!r}")
    return Request(path=_path(entry, "path", where), query=dict(query), weight=weight)


def parse(table: dict[str, Any]) -> ServiceConfig:
    """The gate's settings from the ``[tool.perf-gate]`` table, checked."""
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"{TABLE} has an unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    requests = table.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ConfigError(f"{TABLE} needs requests: at least one [[tool.perf-gate.requests]] with a path")
    mix = tuple(_request(entry, f"{TABLE} requests[{index}]") for index, entry in enumerate(requests))
    threshold = table.get("threshold", 0.05)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 < threshold < 1:
        raise ConfigError(f"{TABLE} threshold must be between 0 and 1 (0.05 means 5%), not {threshold!r}")
    environment = table.get("environment", {})
    if not isinstance(environment, dict) or not all(isinstance(value, str) for value in environment.values()):
        raise ConfigError(f"{TABLE} environment must be a table of strings, not {environment!r}")
    return ServiceConfig(
        image=_text(table, "image", TABLE),
        module=_text(table, "module", TABLE),
        mix=mix,
        health_path=_path(table, "health-path", TABLE, "/healthz"),
        threshold=float(threshold),
        environment=dict(environment),
    )


def load(project: Path) -> ServiceConfig:
    """``[tool.perf-gate]`` from ``project``'s pyproject.toml."""
    path = project / "pyproject.toml"
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no pyproject.toml in {project}: run the gate from the service's directory") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path.name} is not valid TOML: {error}") from None
    table = document.get("tool", {}).get("perf-gate")
    if not isinstance(table, dict):
        raise ConfigError(f"{path.name} has no {TABLE} table: the gate needs the service's image and request mix")
    return parse(table)
