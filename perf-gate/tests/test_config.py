"""A service tells the gate its image, module and request mix in
``[tool.perf-gate]``; a bad value is named in one line, and the gate exits 3
without building anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from perf_gate import config, load

GOOD = """
[project]
name = "orders-service"

[tool.perf-gate]
image = "orders-service"
module = "orders_service"
environment = { WORKLOAD_MAX_CONCURRENCY = "2" }

[[tool.perf-gate.requests]]
path = "/cpu-intensive"
query = { iterations = 20000 }
weight = 8

[[tool.perf-gate.requests]]
path = "/"
"""


def table(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "image": "orders-service",
        "module": "orders_service",
        "requests": [{"path": "/cpu-intensive", "query": {"iterations": 20000}, "weight": 8}],
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def test_a_service_table_reads_with_its_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(GOOD)
    service = config.load(tmp_path)
    assert (service.image, service.module, service.health_path, service.threshold) == (
        "orders-service",
        "orders_service",
        "/healthz",
        0.05,
    )
    assert service.mix == (
        config.Request("/cpu-intensive", {"iterations": 20000}, 8),
        config.Request("/", {}, 1),
    )
    assert service.environment == {"WORKLOAD_MAX_CONCURRENCY": "2"}


def test_the_plan_follows_the_weights_and_repeats_for_a_seed() -> None:
    mix = config.parse(table(requests=[{"path": "/a", "weight": 9}, {"path": "/b", "weight": 1}])).mix
    planned = load.plan(mix, 2000, seed=7)
    assert planned == load.plan(mix, 2000, seed=7)
    share_a = sum(path == "/a" for path, _ in planned) / len(planned)
    assert 0.87 < share_a < 0.93, share_a


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"image": None}, "[tool.perf-gate].image must be a non-empty string"),
        ({"module": ""}, "[tool.perf-gate].module must be a non-empty string"),
        ({"requests": []}, "needs requests"),
        ({"requests": [{"path": "cpu"}]}, "requests[0].path must be a URL path starting with /"),
        ({"requests": [{"path": "/x?a=1"}]}, "requests[0].path must be a URL path"),
        ({"requests": [{"path": "/", "weight": 0}]}, "requests[0].weight must be a whole number of at least 1"),
        ({"requests": [{"path": "/", "weight": True}]}, "requests[0].weight must be a whole number"),
        ({"requests": [{"path": "/", "query": {"n": 1.5}}]}, "requests[0].query must be a table of whole numbers"),
        ({"requests": [{"path": "/", "method": "POST"}]}, "requests[0] has an unknown key 'method'"),
        ({"threshold": 5}, "threshold must be between 0 and 1"),
        ({"environment": {"A": 1}}, "environment must be a table of strings"),
        ({"health-path": "healthz"}, "health-path must be a URL path starting with /"),
        ({"treshold": 0.1}, "unknown key 'treshold'"),
    ],
)
def test_a_bad_value_is_named(changes: dict[str, Any], complaint: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.parse(table(**changes))
    message = str(raised.value)
    assert complaint in message and "\n" not in message, message


@pytest.mark.parametrize(
    ("pyproject", "complaint"),
    [
        (None, "no pyproject.toml in"),
        ("[project\n", "pyproject.toml is not valid TOML"),
        ('[project]\nname = "x"\n', "pyproject.toml has no [tool.perf-gate] table"),
    ],
)
def test_the_gate_stops_on_a_missing_or_bad_table_before_building(
    tmp_path: Path, pyproject: str | None, complaint: str
) -> None:
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    outcome = subprocess.run(
        [sys.executable, "-m", "perf_gate", "gate", "--baseline", "HEAD"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome.returncode == 3, outcome.stdout + outcome.stderr
    last = outcome.stderr.strip().splitlines()[-1]
    assert last.startswith("perf-gate: ") and complaint in last, outcome.stderr
