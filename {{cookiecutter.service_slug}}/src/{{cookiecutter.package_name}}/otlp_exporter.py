"""The OTLP metrics exporter: what the OpenTelemetry metrics API records goes
as OTLP to the Datadog Agent's OTLP receiver.

Code records through ``opentelemetry.metrics`` (routes/workload.py shows a
counter and a histogram); until ``install_otlp_exporter`` installs a provider,
those calls do nothing. The provider is OpenTelemetry's own SDK: ddtrace sets
up the same SDK only when it is started by ``ddtrace-run`` or ``ddtrace.auto``
(``DD_METRICS_OTEL_ENABLED``), and its way to do so by hand is private.
"""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

# Datadog recommends delta temporality for OTLP counters and histograms: each
# export carries what happened since the previous one.
DELTA: dict[type, AggregationTemporality] = {
    Counter: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
}

# Histograms of times (unit ms) get base-2 exponential buckets, which Datadog
# maps to distributions: their percentiles stay within a few percent at any
# scale, where the default boundaries (5, 10, 25, 50 ms...) would blur a
# 12 ms figure anywhere between 10 and 25.
TIMES_IN_EXPONENTIAL_BUCKETS = View(
    instrument_type=Histogram, instrument_unit="ms", aggregation=ExponentialBucketHistogramAggregation()
)


# An export retries until this many seconds have passed: the one at shutdown
# must not hold the process much past its drain when the Agent is unreachable.
EXPORT_TIMEOUT_SECONDS = 5.0


def install_otlp_exporter(resource_attributes: dict[str, str], endpoint: str, interval_ms: int) -> MeterProvider:
    """Install the global meter provider: every ``interval_ms`` it sends what
    was recorded to ``endpoint``, labelled with ``resource_attributes``.
    ``shutdown()`` on it exports what is left and stops."""
    exporter = OTLPMetricExporter(endpoint=endpoint, preferred_temporality=DELTA, timeout=EXPORT_TIMEOUT_SECONDS)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create(resource_attributes), views=[TIMES_IN_EXPONENTIAL_BUCKETS]
    )
    metrics.set_meter_provider(provider)
    return provider
