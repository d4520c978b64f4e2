"""Blocking work off the event loop, each call in a span of its own that
records the CPU the call burned.

The span is made with the OpenTelemetry API, as any application code here
should make spans (ddtrace is the provider, see tracing.py). It is
opened *in the worker thread* on purpose: the profiler ties a thread's CPU
samples to a span only when that span is activated in that thread. Work handed
to a worker thread inherits the request's context but activates nothing, so
without this span its CPU would carry no endpoint and no span id. The thread's
own CPU clock, read around the call, gives the exact figure the profile can
miss (thread_cpu.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from opentelemetry import trace
from starlette.concurrency import run_in_threadpool

from .thread_cpu import recording_thread_cpu

T = TypeVar("T")

tracer = trace.get_tracer(__name__)


async def run_in_worker_thread(function: Callable[..., T], *args: object, route: str) -> T:
    """``function(*args)`` in AnyIO's worker threads, inside a child span of
    the current one named ``<module>.<function>`` (e.g. ``workload.hash_chain``)
    that carries the CPU the call burned. ``route``: the route template of the
    request that asked (``dependencies.RouteDep``), a label of the CPU histogram."""
    return await run_in_threadpool(_in_span, function, route, *args)


def _in_span(function: Callable[..., T], route: str, *args: object) -> T:
    module = function.__module__.rsplit(".", 1)[-1]
    name = f"{module}.{function.__name__}"
    # The CPU is recorded before the span ends, so the histogram's exemplar
    # points at this span.
    with tracer.start_as_current_span(name) as span, recording_thread_cpu(span, name, route):
        return function(*args)
