"""A place for traces to go while the flame graph's service runs with tracing
on (as it runs in production, so its profiles carry endpoints and span ids):
an HTTP server on loopback that accepts every request and keeps nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Accept(BaseHTTPRequestHandler):
    def _accept(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _accept

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per trace flush would drown the tool's own output."""


@contextmanager
def trace_sink() -> Iterator[str]:
    """The sink's URL (``http://127.0.0.1:<port>``) while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    thread = threading.Thread(target=server.serve_forever, name="trace-sink", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
