"""Whether the process can still do its work, for the readiness probe.

The workload runs in worker threads, so a process that can no longer start a
thread answers /healthz but fails every workload request. Kubernetes should
take such a pod out of rotation rather than keep sending it traffic.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import threading

THREAD_START_TIMEOUT_SECONDS = 2.0


class ThreadStartProbe:
    """Starts, runs and joins a fresh ``threading.Thread``, off the event loop.

    ``Thread.start()`` waits without a timeout for the new thread to signal
    that it runs; a thread that dies during its own start-up never does, and
    the caller hangs for good. So the attempt runs in a bare ``_thread`` (never
    joined at interpreter exit, unlike executor threads), the event loop waits
    for it with a timeout, and while one attempt hangs no other is made: a
    broken process answers "not ready" without piling up stuck threads.
    """

    def __init__(self, timeout_seconds: float = THREAD_START_TIMEOUT_SECONDS) -> None:
        self.timeout_seconds = timeout_seconds
        self._attempt_finished = threading.Event()
        self._attempt_finished.set()

    def _attempt(self, loop: asyncio.AbstractEventLoop, answer: asyncio.Future[bool]) -> None:
        started = threading.Event()
        try:
            worker = threading.Thread(target=started.set, name="readiness-probe", daemon=True)
            worker.start()
            worker.join(self.timeout_seconds)
            ok = started.is_set()
        except (RuntimeError, RecursionError, MemoryError):
            ok = False
        self._attempt_finished.set()
        # RuntimeError: the event loop closed meanwhile, and nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lambda: None if answer.done() else answer.set_result(ok))

    async def can_start_a_thread(self) -> bool:
        if not self._attempt_finished.is_set():
            return False  # the last attempt is still stuck
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        self._attempt_finished.clear()
        try:
            _thread.start_new_thread(self._attempt, (loop, answer))
        except RuntimeError:
            self._attempt_finished.set()
            return False
        try:
            return await asyncio.wait_for(asyncio.shield(answer), self.timeout_seconds)
        except TimeoutError:
            return False
