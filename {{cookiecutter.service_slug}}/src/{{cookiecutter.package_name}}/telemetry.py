"""What reports while the service serves, started and stopped with serving
(lifespan.py): ddtrace's runtime metrics over DogStatsD, the OTLP metrics
exporter, and at the end the tracer's pending spans. ddtrace and the
OpenTelemetry SDK are imported inside the methods (why: ddtrace_environment.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .identity import Identity
from .settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

logger = logging.getLogger(__name__)

TRACER_SHUTDOWN_TIMEOUT_SECONDS = 5.0


class Telemetry:
    """Runtime metrics, application metrics and the tracer's last flush, for one process."""

    def __init__(self, settings: Settings, identity: Identity) -> None:
        self.settings = settings
        self.identity = identity
        self._meter_provider: MeterProvider | None = None

    def start(self) -> None:
        """Log the identity, and start the metrics the settings ask for."""
        identity, settings = self.identity, self.settings
        logger.info(
            "observability started: service=%s env=%s version=%s git.commit.sha=%s tracing=%s",
            identity.service,
            identity.env,
            identity.version,
            identity.git_commit_sha,
            "on" if settings.dd_trace_enabled else "off",
        )
        if settings.dd_runtime_metrics_enabled:
            from ddtrace.runtime import RuntimeMetrics

            # CPU, memory, GC and threads every 10 s over DogStatsD, tagged like
            # the spans (DD_DOGSTATSD_URL, else DD_AGENT_HOST:8125).
            RuntimeMetrics.enable()
        if settings.otel_metrics_exporter == "otlp" and self._meter_provider is None:
            from .otlp_exporter import install_otlp_exporter

            self._meter_provider = install_otlp_exporter(
                identity.resource_attributes(), settings.otlp_metrics_endpoint(), settings.otel_metric_export_interval
            )

    def stop(self) -> None:
        """Send the last metrics and pending spans. Blocks for the exports, so
        call it after requests have drained (and off the event loop)."""
        if self.settings.dd_runtime_metrics_enabled:
            from ddtrace.runtime import RuntimeMetrics

            RuntimeMetrics.disable()
        if self._meter_provider is not None:
            self._meter_provider.shutdown()
            self._meter_provider = None
        if self.settings.dd_trace_enabled:
            from ddtrace.trace import tracer

            tracer.shutdown(timeout=TRACER_SHUTDOWN_TIMEOUT_SECONDS)
