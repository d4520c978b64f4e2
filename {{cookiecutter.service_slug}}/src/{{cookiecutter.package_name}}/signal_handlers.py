"""ddtrace's exit-signal handlers, undone: importing ddtrace and starting a
profiler install SIGTERM/SIGINT handlers that would stop the profiler (and
block for its upload) before uvicorn drains in-flight requests. The lifespan
flushes the last profile after the drain instead."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def keeping_signal_handlers() -> Iterator[None]:
    """Undo any SIGTERM/SIGINT handler installed inside the block (only the
    main thread can install one, so elsewhere there is nothing to undo)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
