"""The soak's traffic: closed-loop HTTP clients in a process of their own,
switched between phases, counted per sample window.

Why not wrk, as the other benches use: the soak needs, every 10 s for hours,
the 503s apart from other failures and the latency of successful requests
alone (a fast 503 would pull a burst's p99 down), and phases that change
without a gap. A small asyncio HTTP/1.1 client gives all of that per request.
It runs in its own process so that the bench's own work (reading the agent's
uploads, parsing JSON) never holds the clients' GIL and shows up as latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from urllib.parse import urlsplit

CPU_PATH = "/cpu-intensive?iterations=20000"  # ~6-15 ms of CPU, as the other benches use
MEMORY_PATH = "/memory-alloc?size_mb=2"
LIGHT_PAUSE_SECONDS = 0.2  # between requests of one light client: a few requests a second
BACKOFF_AFTER_503_SECONDS = 0.1  # a client's short backoff: saturates the slots without a spin loop
REQUEST_TIMEOUT_SECONDS = 30.0
RECONNECT_PAUSE_SECONDS = 0.5

# Phase name -> (path, clients, pause between requests). The service has 2
# workload slots by default (WORKLOAD_MAX_CONCURRENCY): "closed" keeps 2
# workload clients busy back to back (no 503 expected), "burst" runs 6 and so
# gets 503s by design.
PHASES: dict[str, tuple[tuple[str, int, float], ...]] = {
    "light": (("/", 1, LIGHT_PAUSE_SECONDS), (CPU_PATH, 1, LIGHT_PAUSE_SECONDS), (MEMORY_PATH, 1, LIGHT_PAUSE_SECONDS)),
    "closed": (("/", 1, 0.0), (CPU_PATH, 1, 0.0), (MEMORY_PATH, 1, 0.0)),
    "burst": (("/", 1, 0.0), (CPU_PATH, 4, 0.0), (MEMORY_PATH, 2, 0.0)),
}


@dataclass
class Window:
    """What the clients saw since the previous window: 200s (with their
    latencies, ms), 503s, and every other outcome as an error by kind."""

    ok: int = 0
    unavailable: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


class StaleConnection(ConnectionError):
    """A kept-alive connection the server had closed before our request."""


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bool]:
    """Send one request; (status, whether the server closes the connection)."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise StaleConnection("closed before a response")
    status = int(status_line.split()[1])
    length, closing = 0, False
    while (header := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = header.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            closing = value.strip().lower() == b"close"
    await reader.readexactly(length)
    return status, closing


class Clients:
    """The clients of the phase in force, on one event loop."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.window = Window()
        self._phase_stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def start_phase(self, name: str) -> None:
        # The old phase's clients finish the request they are in, then leave:
        # nothing is cut off mid-request, so a switch costs no error.
        self._phase_stop.set()
        self._phase_stop = stop = asyncio.Event()
        for path, clients, pause in PHASES[name]:
            for _ in range(clients):
                task = asyncio.get_running_loop().create_task(self._client(path, pause, stop))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """End every client after the request it is in, so the last window counts it."""
        self._phase_stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=REQUEST_TIMEOUT_SECONDS)

    def take_window(self) -> Window:
        window, self.window = self.window, Window()
        return window

    async def _client(self, path: str, pause: float, stop: asyncio.Event) -> None:
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while not stop.is_set():
            started = time.perf_counter()
            try:
                fresh = connection is None
                if connection is None:
                    connection = await asyncio.wait_for(
                        asyncio.open_connection(self.host, self.port), REQUEST_TIMEOUT_SECONDS
                    )
                status, closing = await asyncio.wait_for(_exchange(*connection, request), REQUEST_TIMEOUT_SECONDS)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as error:
                _close(connection)
                connection = None
                # An idle keep-alive connection the server closed is retried at
                # once on a new one, as HTTP clients do; anything else counts.
                if isinstance(error, StaleConnection) and not fresh:
                    continue
                self.window.errors[type(error).__name__] += 1
                await _pause(stop, RECONNECT_PAUSE_SECONDS)
                continue
            self._count(status, (time.perf_counter() - started) * 1000)
            if closing:
                _close(connection)
                connection = None
            wait = BACKOFF_AFTER_503_SECONDS if status == 503 else pause
            if wait:
                await _pause(stop, wait)
        _close(connection)

    def _count(self, status: int, milliseconds: float) -> None:
        if status == 200:
            self.window.ok += 1
            self.window.latencies_ms.append(milliseconds)
        elif status == 503:
            self.window.unavailable += 1
        else:
            self.window.errors[f"HTTP {status}"] += 1


def _close(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    if connection is not None:
        connection[1].close()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _serve_commands(commands: Connection, url: str) -> None:
    """Obey ("phase", name), ("window",) and ("stop",) from the parent."""
    clients = Clients(url)
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(commands.fileno(), ready.set)
    while True:
        await ready.wait()
        ready.clear()
        while commands.poll():
            command = commands.recv()
            if command[0] == "phase":
                clients.start_phase(command[1])
            elif command[0] == "window":
                commands.send(clients.take_window())
            else:
                await clients.stop()
                commands.send(clients.take_window())
                return


def _run(commands: Connection, url: str, cores: set[int] | None) -> None:
    if cores is not None:
        os.sched_setaffinity(0, cores)
    asyncio.run(_serve_commands(commands, url))


class Load:
    """The load process, driven from the bench: ``phase()``, ``window()``, ``stop()``."""

    def __init__(self, url: str, cores: set[int] | None = None) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of the bench's threads or state
        self._commands, child_end = context.Pipe()
        self._process = context.Process(target=_run, args=(child_end, url, cores), daemon=True)
        self._process.start()
        child_end.close()

    def phase(self, name: str) -> None:
        self._commands.send(("phase", name))

    def window(self) -> Window:
        self._commands.send(("window",))
        window: Window = self._commands.recv()
        return window

    def stop(self) -> Window:
        """End every client (each finishes its request first); the last window.
        Once stopped, stopping again returns an empty window."""
        if not self._process.is_alive():
            return Window()
        self._commands.send(("stop",))
        window: Window = self._commands.recv()
        self._process.join(timeout=REQUEST_TIMEOUT_SECONDS + 10)
        if self._process.is_alive():
            self._process.terminate()
        return window
