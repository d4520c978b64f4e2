"""``python -m {{ cookiecutter.package_name }}``: serve with uvicorn in this process.

The image runs this as PID 1 (exec form), so SIGTERM reaches uvicorn, which
drains in-flight requests before the lifespan flushes the last profile.
"""

from __future__ import annotations

import logging.config
import sys

import uvicorn

from .build_info import BuildInfoError, load_build_info
from .ddtrace_environment import export_ddtrace_environment
from .identity import resolve_identity
from .logs import logging_config
from .profile_uploads import UploadMonitor
from .settings import ConfigurationError, load_settings
from .stderr_capture import StderrCapture


def capture_native_stderr() -> tuple[StderrCapture, UploadMonitor]:
    """Route the process's stderr (fd 2, the whole process's: so only here)
    through logging: what ddtrace's native code writes there becomes log
    lines, a failed profile upload a rate-limited warning."""
    from . import ddtrace_internals

    capture = StderrCapture()
    uploads = UploadMonitor(
        ddtrace_internals.PROFILE_EXPORT_FAILURES,
        warn_every_seconds=ddtrace_internals.upload_interval_seconds(),
        wait_until_read=capture.wait_until_read,
    )
    capture.start(uploads.on_stderr_line)
    return capture, uploads


def main() -> int:
    try:
        settings = load_settings()
        # Logging first, so start-up warnings (an unbaked build) are formatted.
        logging.config.dictConfig(logging_config(settings.log_level, settings.resolved_log_format()))
        logging.captureWarnings(True)
        identity = resolve_identity(settings, load_build_info())
    except (ConfigurationError, BuildInfoError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Before FastAPI (or ddtrace) is imported: see ddtrace_environment.py.
    export_ddtrace_environment(identity, settings.dd_trace_enabled)
    native_stderr, uploads = capture_native_stderr()
    try:
        from .app import create_app

        uvicorn.run(
            create_app(settings, identity, uploads),
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
