"""Tracing, installed while the app is built (app.py), so that its middleware
stack is traced and profiles can name endpoints: ddtrace's FastAPI and logging
integrations, the identity's tags on spans, and ddtrace as the OpenTelemetry
API's tracer provider. ddtrace is imported inside the function (why:
ddtrace_environment.py)."""

from __future__ import annotations

from .identity import Identity
from .signal_handlers import keeping_signal_handlers


def install_tracing(identity: Identity, tracing: bool) -> None:
    """Patch the integrations; with ``tracing`` on, tag the tracer and make it
    OpenTelemetry's provider (once per process)."""
    with keeping_signal_handlers():
        import ddtrace

        # logging: every record made inside a span carries dd.trace_id and
        # dd.span_id (DD_LOGS_INJECTION, on by default), tying logs to traces.
        ddtrace.patch(fastapi=True, logging=True)
    if not tracing:
        return
    from ddtrace.opentelemetry import TracerProvider
    from ddtrace.trace import tracer
    from opentelemetry import trace

    tracer.set_tags(identity.tracer_tags())
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
