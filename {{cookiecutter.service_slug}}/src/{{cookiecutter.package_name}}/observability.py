"""The one place that talks to Datadog: the lifecycle of tracing, metrics and
profiling (what they carry is identity.py's; log lines are logs.py's).

Like the Go framework this template comes from, the service calls ``init()``
once while building the app, ``start()`` when it begins serving and ``stop()``
after it has drained; nothing else imports ddtrace. Application code makes
spans with the OpenTelemetry API; ``init()`` makes ddtrace its provider.

Three traps are handled here on purpose:

* ddtrace reads its configuration from the environment when it is first
  imported, so ddtrace is imported only after the environment holds the
  service's identity (including the version and commit baked at build time).
* OpenTelemetry picks its context implementation once, when
  ``opentelemetry.context`` is first imported (FastAPI imports it). Only
  ddtrace's makes an OpenTelemetry span a child of the request's span and the
  active span of its thread (which ties its CPU samples to it), and loading it
  imports ddtrace: so the entry point calls ``prepare_ddtrace_environment()`` before it
  imports FastAPI.
* ddtrace installs SIGTERM/SIGINT handlers that would stop the profiler (and
  block for an upload) *before* uvicorn drains in-flight requests. Those
  handlers are removed again; ``stop()`` flushes after the drain instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from .build_info import BuildInfo
from .identity import Identity, resolve_identity
from .profile_types import ProfileSet
from .profile_uploads import UploadMonitor
from .settings import Settings
from .stderr_capture import StderrCapture

if TYPE_CHECKING:
    from ddtrace.profiling.profiler import Profiler
    from opentelemetry.sdk.metrics import MeterProvider

logger = logging.getLogger(__name__)

TRACER_SHUTDOWN_TIMEOUT_SECONDS = 5.0
# The project's name in pyproject.toml: what ddtrace calls the main package.
DISTRIBUTION_NAME = "{{ cookiecutter.service_slug }}"


@contextlib.contextmanager
def _keeping_signal_handlers() -> Iterator[None]:
    """Undo any SIGTERM/SIGINT handler ddtrace installs inside the block.

    uvicorn's handlers must be the ones that run, so that a stop signal drains
    requests first; the profile is flushed by ``Observability.stop()`` after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# OTEL_PYTHON_CONTEXT names the context OpenTelemetry loads; this one is the
# entry point ddtrace registers for its own.
DDTRACE_OTEL_CONTEXT = "ddcontextvars_context"


def prepare_ddtrace_environment(identity: Identity, tracing: bool) -> None:
    """Set what ddtrace (and OpenTelemetry) read once, at import: the identity,
    the service's own distribution, ddtrace's OpenTelemetry context, and no log
    handler of ddtrace's own. Warns about what is overridden, or too late."""
    for name, baked in (("DD_VERSION", identity.version), ("DD_GIT_COMMIT_SHA", identity.git_commit_sha)):
        runtime = os.environ.get(name)
        if runtime is not None and runtime != baked:
            logger.warning("ignoring %s=%s: this build is %s, baked at build time", name, runtime, baked)
    if (
        tracing
        and "opentelemetry.context" in sys.modules
        and os.environ.get("OTEL_PYTHON_CONTEXT") != DDTRACE_OTEL_CONTEXT
    ):
        logger.warning(
            "OpenTelemetry was imported before the service's identity was exported: spans made with its "
            "API will not join the request's trace nor show in profiles (see __main__.py for the order)"
        )
    os.environ.update(
        {
            "OTEL_PYTHON_CONTEXT": DDTRACE_OTEL_CONTEXT,
            "DD_TRACE_OTEL_ENABLED": "true",
            # ddtrace would add a plain stderr handler to its logger; ours is JSON.
            "DD_TRACE_LOG_STREAM_HANDLER": "false",
            "DD_SERVICE": identity.service,
            "DD_ENV": identity.env,
            "DD_VERSION": identity.version,
            "DD_GIT_COMMIT_SHA": identity.git_commit_sha,
            "DD_GIT_REPOSITORY_URL": identity.git_repository_url,
        }
    )
    # Profiles mark this distribution's files as the service's own code, apart
    # from libraries: installed into site-packages (as in the image), it would
    # otherwise be listed as one more third-party library.
    os.environ.setdefault("DD_MAIN_PACKAGE", DISTRIBUTION_NAME)


def capture_native_stderr() -> tuple[StderrCapture, UploadMonitor]:
    """Route the process's stderr (fd 2) through logging: what ddtrace's native
    code writes there becomes log lines, a failed profile upload a rate-limited
    warning. For the entry point only (fd 2 is the whole process's); call it
    after ``prepare_ddtrace_environment()``, as it imports ddtrace."""
    from . import ddtrace_internals

    capture = StderrCapture()
    uploads = UploadMonitor(
        ddtrace_internals.PROFILE_EXPORT_FAILURES,
        warn_every_seconds=ddtrace_internals.upload_interval_seconds(),
        wait_until_read=capture.wait_until_read,
    )
    capture.start(uploads.on_stderr_line)
    return capture, uploads


class Observability:
    """Tracing, metrics and continuous profiling for one process."""

    def __init__(self, settings: Settings, build: BuildInfo, uploads: UploadMonitor | None = None) -> None:
        self.settings = settings
        self.build = build
        self.identity = resolve_identity(settings, build)
        # What the stop of a profiler says about its last upload: observed when
        # the entry point captures stderr (capture_native_stderr), else not.
        self.uploads = uploads or UploadMonitor()
        self.profile_set = ProfileSet(enabled=False, profiles=frozenset(), heap_sample_bytes=0)
        self._profiler: Profiler | None = None
        self._meter_provider: MeterProvider | None = None
        # The control-file watcher applies changes from a worker thread while
        # shutdown may be stopping: one change at a time.
        self._lock = threading.Lock()

    @property
    def profiling_active(self) -> bool:
        return self._profiler is not None

    def init(self) -> None:
        """Configure tracing. Call before the FastAPI app is built, so that its
        middleware stack is traced and profiles can name endpoints."""
        prepare_ddtrace_environment(self.identity, self.settings.dd_trace_enabled)
        provenance_warning = self.build.provenance_warning
        if provenance_warning is not None:
            logger.warning("%s", provenance_warning)
        with _keeping_signal_handlers():
            import ddtrace

            # logging: every record made inside a span carries dd.trace_id and
            # dd.span_id (DD_LOGS_INJECTION, on by default), tying logs to traces.
            ddtrace.patch(fastapi=True, logging=True)
        if self.settings.dd_trace_enabled:
            from ddtrace.trace import tracer

            tracer.set_tags(self.identity.tracer_tags())
            _provide_opentelemetry_tracing()

    def baseline_profile_set(self) -> ProfileSet:
        """The profile set the environment asks for (see the settings' defaults)."""
        from . import ddtrace_internals

        return ProfileSet(
            enabled=self.settings.dd_profiling_enabled,
            profiles=self.settings.profile_types(),
            heap_sample_bytes=ddtrace_internals.heap_sample_bytes(),
        )

    def start(self, profile_set: ProfileSet | None = None) -> None:
        """Log the identity, start the profiler with ``profile_set`` (default:
        the environment's) and the metrics the settings ask for."""
        identity = self.identity
        logger.info(
            "observability started: service=%s env=%s version=%s git.commit.sha=%s tracing=%s",
            identity.service,
            identity.env,
            identity.version,
            identity.git_commit_sha,
            "on" if self.settings.dd_trace_enabled else "off",
        )
        self.apply(profile_set or self.baseline_profile_set())
        if self.settings.dd_runtime_metrics_enabled:
            from ddtrace.runtime import RuntimeMetrics

            # CPU, memory, GC and threads every 10 s over DogStatsD, tagged like
            # the spans (DD_DOGSTATSD_URL, else DD_AGENT_HOST:8125).
            RuntimeMetrics.enable()
        if self.settings.otel_metrics_exporter == "otlp" and self._meter_provider is None:
            from .app_metrics import start_otlp_metrics

            self._meter_provider = start_otlp_metrics(
                self.identity.resource_attributes(),
                self.settings.otlp_metrics_endpoint(),
                self.settings.otel_metric_export_interval,
            )

    def apply(self, profile_set: ProfileSet) -> None:
        """Make the profiler run ``profile_set``: flush and stop the current one,
        then start a new one. Blocks for the flush: call it off the event loop
        once serving. Any number of changes leave the process as it was (see
        ddtrace_internals.stop_profiler)."""
        from . import ddtrace_internals

        unavailable = profile_set.profiles & ddtrace_internals.UNAVAILABLE_PROFILE_TYPES.keys()
        for profile in sorted(unavailable):
            reason = ddtrace_internals.UNAVAILABLE_PROFILE_TYPES[profile]
            logger.warning("%s profiling %s; running without it", profile, reason)
        profile_set = replace(profile_set, profiles=profile_set.profiles - unavailable)
        with self._lock:
            self._stop_profiler()
            if profile_set.enabled:
                with _keeping_signal_handlers():
                    self._profiler = ddtrace_internals.start_profiler(
                        service=self.identity.service,
                        env=self.identity.env,
                        version=self.identity.version,
                        tags=self.identity.profiler_tags(),
                        profiles=profile_set.profiles,
                        heap_sample_bytes=profile_set.heap_sample_bytes,
                        max_sampling_interval_us=self._max_sampling_interval_us(),
                    )
            self.profile_set = profile_set
        logger.info("%s", profile_set.describe())

    def _max_sampling_interval_us(self) -> int | None:
        milliseconds = self.settings.profiling_max_sampling_interval_ms
        return None if milliseconds is None else milliseconds * 1000

    def _stop_profiler(self) -> None:
        from . import ddtrace_internals

        profiler, self._profiler = self._profiler, None
        if profiler is not None:
            with self.uploads.final_flush():
                ddtrace_internals.stop_profiler(profiler)

    def stop(self) -> None:
        """Flush the last profile, metrics and pending spans. Blocks for the
        uploads, so call it after requests have drained (and off the event loop)."""
        with self._lock:
            self._stop_profiler()
        if self.settings.dd_runtime_metrics_enabled:
            from ddtrace.runtime import RuntimeMetrics

            RuntimeMetrics.disable()
        if self._meter_provider is not None:
            from .app_metrics import stop_otlp_metrics

            stop_otlp_metrics(self._meter_provider)
            self._meter_provider = None
        if self.settings.dd_trace_enabled:
            from ddtrace.trace import tracer

            tracer.shutdown(timeout=TRACER_SHUTDOWN_TIMEOUT_SECONDS)
        # The process may end right after (uvicorn re-raises SIGTERM): log what
        # native code wrote to stderr until now while the reader still can.
        self.uploads.catch_up()


def _provide_opentelemetry_tracing() -> None:
    """Make ddtrace the OpenTelemetry API's tracer provider (once per process):
    spans made with ``opentelemetry.trace`` become ddtrace spans in the
    request's trace, sent to the Agent and linked to the profiles."""
    from ddtrace.opentelemetry import TracerProvider
    from opentelemetry import trace

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
