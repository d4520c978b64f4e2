"""What ddtrace and OpenTelemetry read once, at import, exported before FastAPI
is imported. The service's import-order rule is written here and nowhere else:

ddtrace reads its configuration (the identity among it) from the environment
when it is first imported. OpenTelemetry picks its context when
``opentelemetry.context`` is first imported (FastAPI imports it), and only
ddtrace's makes an OpenTelemetry span a child of the request's span and the
active span of its thread (which ties its CPU samples to it); loading it
imports ddtrace. So ``__main__`` exports before it imports FastAPI
(``create_app`` does it when nothing did: tests, an ASGI server importing the
factory), and ddtrace is imported inside functions, never when a module of the
service is imported.
"""

from __future__ import annotations

import logging
import os
import sys

from .identity import Identity

logger = logging.getLogger(__name__)

# The project's name in pyproject.toml: what ddtrace calls the main package.
DISTRIBUTION_NAME = "{{ cookiecutter.service_slug }}"
# OTEL_PYTHON_CONTEXT names the context OpenTelemetry loads; this one is the
# entry point ddtrace registers for its own.
DDTRACE_OTEL_CONTEXT = "ddcontextvars_context"


def export_ddtrace_environment(identity: Identity, tracing: bool) -> None:
    """Set what ddtrace (and OpenTelemetry) read once, at import: the identity,
    the service's own distribution, ddtrace's OpenTelemetry context, and no log
    handler of ddtrace's own. Warns about a build that is not exactly one
    commit, about what is overridden, and about an export that comes too late."""
    if identity.provenance_warning is not None:
        logger.warning("%s", identity.provenance_warning)
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
            "API will not join the request's trace nor show in profiles (see ddtrace_environment.py)"
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
