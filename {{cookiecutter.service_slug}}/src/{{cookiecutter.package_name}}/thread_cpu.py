"""The CPU one call burned, exactly: its thread's own CPU clock read around it.

ddtrace's sampler charges a short CPU burst to whatever its thread runs at
the next sample (README, "What the profiles say"), so a profile may credit a
~10 ms call with a small part of its CPU. A thread's CPU clock has no such
bias and counts nothing of the other threads (nor waits for the GIL). The
figure goes on the call's span, for Datadog's trace search, and into a
histogram by function and route, for comparing versions (the version is on
the metrics' resource, ``service.version``: identity.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import metrics, trace

# Datadog keeps a numeric span attribute as a measure: `@thread.cpu_time_ms:>50`.
SPAN_ATTRIBUTE = "thread.cpu_time_ms"
METRIC = "worker_thread.cpu_time"
# OpenTelemetry's semantic-convention names, which Datadog also uses for spans.
FUNCTION_ATTRIBUTE = "code.function.name"
ROUTE_ATTRIBUTE = "http.route"

meter = metrics.get_meter(__name__)
cpu_time = meter.create_histogram(
    METRIC, unit="ms", description="CPU a call burned in its worker thread (the thread's own CPU clock)"
)


@contextmanager
def recording_thread_cpu(span: trace.Span, function: str, route: str) -> Iterator[None]:
    """Put the CPU this thread burns inside the block on ``span`` and into the
    histogram, labelled with ``function`` and ``route``; also when it raises.
    Enter and leave it in the thread that runs the work."""
    started = time.thread_time_ns()
    try:
        yield
    finally:
        milliseconds = (time.thread_time_ns() - started) / 1e6
        span.set_attribute(SPAN_ATTRIBUTE, milliseconds)
        cpu_time.record(milliseconds, {FUNCTION_ATTRIBUTE: function, ROUTE_ATTRIBUTE: route})
