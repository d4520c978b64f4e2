"""Every environment variable the service reads, with its default and its check.

Datadog's own variable names are used where one exists (``DD_SERVICE``,
``DD_ENV``, ``DD_TAGS``, ``DD_AGENT_HOST``, …) so that platform teams configure
this service the way they configure every other Datadog-instrumented one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .profile_types import MAX_HEAP_SAMPLE_BYTES, MAX_SAMPLING_INTERVAL_MS, ProfileType
from .setting_types import AgentUrl, DdTags, DogStatsdUrl, without_credentials

DEFAULT_SERVICE = "{{ cookiecutter.service_slug }}"
DEFAULT_REPOSITORY_URL = "{{ cookiecutter.repository_url }}"
# Every profile and span carries team:<TEAM>; DD_TAGS may override it.
TEAM = "{{ cookiecutter.team }}"


class ConfigurationError(Exception):
    """Raised with one line naming the environment variable that is wrong."""


class Settings(BaseSettings):
    """The service's configuration, read once from the environment."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Unified service tagging. The version is not here on purpose: it is baked
    # into the image at build time (see build_info.py) and cannot be overridden.
    dd_service: str = Field(default=DEFAULT_SERVICE, min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.\-/]*$")
    dd_env: str = Field(default="development", min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.\-/]*$")
    dd_tags: DdTags = Field(default_factory=dict, validate_default=False)
    dd_git_repository_url: Annotated[str, AfterValidator(without_credentials)] = DEFAULT_REPOSITORY_URL

    # Profiling and tracing switches.
    dd_profiling_enabled: bool = True
    # Profile types (ddtrace's own variables, profile_types.py). The CPU profile
    # is what this service exists for; the allocation/heap, lock and exception
    # profiles each cost more than a 2% budget on small requests, so they run
    # only when asked for (here, or per pod through the runtime control file).
    dd_profiling_stack_enabled: bool = True
    dd_profiling_memory_enabled: bool = False
    dd_profiling_lock_enabled: bool = False
    dd_profiling_exception_enabled: bool = False
    # The CPU sampler (README, "What the profiles say"): a cap on its adaptive
    # interval (unset: ddtrace's 100 ms; the control file caps for a while), and
    # its budget, a floor in hundredths of a core plus a share of the process's
    # CPU in percent (ddtrace's: none and 1%), at the knee of the README's table.
    profiling_max_sampling_interval_ms: int | None = Field(default=None, ge=1, le=MAX_SAMPLING_INTERVAL_MS)
    profiling_sampler_floor_core_percent: float = Field(default=0.5, ge=0, le=100)
    profiling_sampler_target_percent: float = Field(default=2.0, ge=1, le=100)
    # ddtrace reads these itself; checked here so a bad value stops the service in one line.
    dd_profiling_upload_interval: float = Field(default=60.0, gt=0, le=3600)
    dd_profiling_heap_sample_size: int | None = Field(default=None, ge=0, le=MAX_HEAP_SAMPLE_BYTES)
    dd_trace_enabled: bool = True
    # Runtime metrics (CPU, memory, GC, threads) over DogStatsD every 10 s.
    dd_runtime_metrics_enabled: bool = True
    dd_dogstatsd_url: DogStatsdUrl | None = None
    # Application metrics (OpenTelemetry API) as OTLP: off until the Agent's
    # OTLP receiver is on; the endpoint defaults to the Agent's (port 4318).
    otel_metrics_exporter: Literal["otlp", "none"] = "none"
    otel_exporter_otlp_metrics_endpoint: HttpUrl | None = None
    otel_metric_export_interval: int = Field(default=60_000, ge=100, le=3_600_000)
    # Runtime switch: a JSON file (a mounted ConfigMap) polled for changes; see
    # profiling_control.py. Unset means the environment alone decides.
    profiling_control_file: Path | None = None
    profiling_control_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    dd_agent_host: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9.\-:\[\]]+$")
    dd_trace_agent_url: AgentUrl | None = None

    # The HTTP server.
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen beyond loopback
    port: int = Field(default={{ cookiecutter.http_port }}, ge=1, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # auto: JSON when stdout is not a terminal (containers, CI), plain text when it is.
    log_format: Literal["auto", "json", "plain"] = "auto"
    shutdown_timeout_seconds: int = Field(default=20, ge=1, le=300)

    # The workload endpoints that give profiles something to show.
    workload_enabled: bool = True
    workload_max_concurrency: int = Field(default=2, ge=1, le=64)

    def otlp_metrics_endpoint(self) -> str:
        """Where OTLP metrics go: the setting, else the Agent's OTLP HTTP receiver."""
        if self.otel_exporter_otlp_metrics_endpoint is not None:
            return str(self.otel_exporter_otlp_metrics_endpoint)
        host = self.dd_agent_host or "localhost"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        return f"http://{host}:4318/v1/metrics"

    def profile_types(self) -> frozenset[ProfileType]:
        """The profile types the environment switches on."""
        switched_on: dict[ProfileType, bool] = {
            "cpu": self.dd_profiling_stack_enabled,
            "memory": self.dd_profiling_memory_enabled,
            "lock": self.dd_profiling_lock_enabled,
            "exception": self.dd_profiling_exception_enabled,
        }
        return frozenset(profile for profile, on in switched_on.items() if on)

    def resolved_log_format(self) -> Literal["json", "plain"]:
        """``json`` or ``plain``; ``auto`` decides by whether stdout is a terminal."""
        if self.log_format != "auto":
            return self.log_format
        return "plain" if sys.stdout.isatty() else "json"


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one line per variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'_'.join(map(str, issue['loc'])).upper()}: {issue['msg'].removeprefix('Value error, ')}"
            for issue in error.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None
