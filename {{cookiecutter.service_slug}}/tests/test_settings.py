"""Configuration from the environment: defaults, and one clear line when wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest

from {{ cookiecutter.package_name }}.build_info import BuildInfo
from {{ cookiecutter.package_name }}.ddtrace_environment import export_ddtrace_environment
from {{ cookiecutter.package_name }}.identity import resolve_identity
from {{ cookiecutter.package_name }}.profile_types import PROFILE_TYPE_VARIABLES, PROFILE_TYPES, ProfileType
from {{ cookiecutter.package_name }}.profiling import baseline_profile_set
from {{ cookiecutter.package_name }}.setting_types import parse_dd_tags
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, load_settings

from .service import isolated_environment


def test_defaults_name_the_service_after_its_slug() -> None:
    settings = load_settings()
    assert settings.dd_service == "{{ cookiecutter.service_slug }}"
    assert settings.dd_env == "development"
    assert settings.port == {{ cookiecutter.http_port }}
    assert settings.workload_enabled is True


def test_profile_set_defaults_to_the_types_within_the_overhead_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_PROFILING_ENABLED", "true")
    settings = load_settings()
    export_ddtrace_environment(resolve_identity(settings, BuildInfo("dev", "unknown")), tracing=False)
    baseline = baseline_profile_set(settings)
    assert baseline.enabled
    assert baseline.profiles == {"cpu"}, "memory, lock and exception profiles break the 2% budget: off unless asked for"


def test_profile_types_are_switched_on_by_their_ddtrace_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("DD_PROFILING_MEMORY_ENABLED", "DD_PROFILING_LOCK_ENABLED", "DD_PROFILING_EXCEPTION_ENABLED"):
        monkeypatch.setenv(variable, "true")
    settings = load_settings()
    export_ddtrace_environment(resolve_identity(settings, BuildInfo("dev", "unknown")), tracing=False)
    assert baseline_profile_set(settings).profiles == {"cpu", "exception", "memory", "lock"}


def test_the_heap_sample_size_is_the_settings_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_PROFILING_HEAP_SAMPLE_SIZE", "4096")
    assert baseline_profile_set(load_settings()).heap_sample_bytes == 4096


@pytest.mark.parametrize("profile", PROFILE_TYPES)
def test_each_profile_type_has_its_own_variable(profile: ProfileType, monkeypatch: pytest.MonkeyPatch) -> None:
    variable = PROFILE_TYPE_VARIABLES[profile]
    assert variable.lower() in Settings.model_fields, f"{variable} is not a setting"
    for other in PROFILE_TYPE_VARIABLES.values():
        monkeypatch.setenv(other, "true" if other == variable else "false")
    assert load_settings().profile_types() == {profile}


def test_the_sampler_budget_is_the_measured_knee_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    # The README's truth-against-cost table ("What the profiles say") chose these.
    assert (settings.profiling_sampler_floor_core_percent, settings.profiling_sampler_target_percent) == (0.5, 2.0)
    monkeypatch.setenv("PROFILING_SAMPLER_FLOOR_CORE_PERCENT", "0")
    monkeypatch.setenv("PROFILING_SAMPLER_TARGET_PERCENT", "1")
    settings = load_settings()
    assert (settings.profiling_sampler_floor_core_percent, settings.profiling_sampler_target_percent) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {}),
        ("team:core,tier:gold", {"team": "core", "tier": "gold"}),
        ("team:core tier:gold", {"team": "core", "tier": "gold"}),
        ("url:https://x.example/a", {"url": "https://x.example/a"}),
    ],
)
def test_dd_tags_accept_datadogs_separators(raw: str, expected: dict[str, str]) -> None:
    assert parse_dd_tags(raw) == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "70000"),
        ("PORT", "http"),
        ("DD_ENV", "Prod Env"),
        ("DD_SERVICE", ""),
        ("DD_TAGS", "novalue"),
        ("DD_PROFILING_ENABLED", "perhaps"),
        ("DD_TRACE_AGENT_URL", "ftp://agent:8126"),
        ("DD_DOGSTATSD_URL", "agent:8125"),
        ("DD_DOGSTATSD_URL", "udp://agent"),
        ("DD_RUNTIME_METRICS_ENABLED", "sometimes"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "agent:4318"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "10"),
        ("WORKLOAD_MAX_CONCURRENCY", "0"),
        ("PROFILING_MAX_SAMPLING_INTERVAL_MS", "0"),
        ("PROFILING_MAX_SAMPLING_INTERVAL_MS", "250"),
        ("PROFILING_MAX_SAMPLING_INTERVAL_MS", "fast"),
        ("PROFILING_SAMPLER_FLOOR_CORE_PERCENT", "-1"),
        ("PROFILING_SAMPLER_FLOOR_CORE_PERCENT", "lots"),
        ("PROFILING_SAMPLER_TARGET_PERCENT", "0.5"),
        ("PROFILING_SAMPLER_TARGET_PERCENT", "101"),
        ("LOG_LEVEL", "loud"),
        ("DD_PROFILING_UPLOAD_INTERVAL", "abc"),
        ("DD_PROFILING_UPLOAD_INTERVAL", "0"),
        ("DD_PROFILING_HEAP_SAMPLE_SIZE", "-5"),
    ],
)
def test_bad_setting_fails_naming_the_variable(variable: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert variable in message, message
    assert "\n" not in message


def test_service_refuses_to_start_with_bad_configuration() -> None:
    environment = isolated_environment({"DD_ENV": "Bad Env"})
    result = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: invalid configuration: DD_ENV"), lines[0]


@pytest.mark.parametrize(
    ("environment", "endpoint"),
    [
        ({}, "http://localhost:4318/v1/metrics"),
        ({"DD_AGENT_HOST": "10.0.0.7"}, "http://10.0.0.7:4318/v1/metrics"),
        ({"DD_AGENT_HOST": "fd00::7"}, "http://[fd00::7]:4318/v1/metrics"),
        (
            {"DD_AGENT_HOST": "10.0.0.7", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://otel.example/v1/metrics"},
            "https://otel.example/v1/metrics",
        ),
    ],
)
def test_otlp_metrics_go_to_the_agent_unless_told_otherwise(
    environment: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert load_settings().otlp_metrics_endpoint() == endpoint
