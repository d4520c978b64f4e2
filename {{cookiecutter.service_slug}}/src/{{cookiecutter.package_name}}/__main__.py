"""``python -m {{ cookiecutter.package_name }}``: serve with uvicorn in this process.

The image runs this as PID 1 (exec form), so SIGTERM reaches uvicorn, which
drains in-flight requests before the lifespan flushes the last profile.
"""

from __future__ import annotations

import logging.config
import sys

import uvicorn

from .build_info import BuildInfoError, load_build_info
from .identity import resolve_identity
from .logs import logging_config
from .observability import capture_native_stderr, prepare_ddtrace_environment
from .settings import ConfigurationError, load_settings


def main() -> int:
    try:
        settings = load_settings()
        # Logging first, so start-up warnings (an unbaked build) are formatted.
        logging.config.dictConfig(logging_config(settings.log_level, settings.resolved_log_format()))
        logging.captureWarnings(True)
        build = load_build_info()
        # Before FastAPI is imported: it imports OpenTelemetry, whose context
        # is ddtrace's, which imports ddtrace, which reads the identity once.
        prepare_ddtrace_environment(resolve_identity(settings, build), settings.dd_trace_enabled)
    except (ConfigurationError, BuildInfoError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # From here on, what native code writes to stderr comes out as log lines too.
    native_stderr, uploads = capture_native_stderr()
    try:
        from .main import create_app

        uvicorn.run(
            create_app(settings, build, uploads),
            host=settings.host,
            port=settings.port,
            log_config=None,  # configured above
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            server_header=False,
        )
    finally:
        native_stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
