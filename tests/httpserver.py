"""A tiny local HTTP server for download tests (127.0.0.1, random port, one thread).

Routes can misbehave on purpose: answer 500 first, drop the connection half-way through the body,
announce a wrong length, or send part of the body and then stall until the test releases them.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_LIMIT_S = 60.0  # a stalled answer gives up by itself after this long


@dataclass
class Route:
    """What the server answers for one path; ``length`` overrides Content-Length."""

    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    length: int | None = None
    fail_first: int = 0  # answer 500 to this many requests before the real answer
    drop_first: int = 0  # then send half the body and close the connection, this many times
    send_length: bool = True  # False: no Content-Length, the body ends when the connection does
    stall_at: int | None = None  # send this many bytes, then hold the connection until released


@dataclass
class Server:
    """The running server: its base URL and how often each path was requested."""

    base_url: str
    routes: dict[str, Route]
    hits: Counter[str] = field(default_factory=Counter)
    stalled: threading.Event = field(default_factory=threading.Event)  # a stall point reached
    release: threading.Event = field(default_factory=threading.Event)  # end stalls, stop stalling

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            server.hits[self.path] += 1
            hit = server.hits[self.path]
            route = server.routes.get(self.path, Route(b"not found", status=404))
            status = 500 if hit <= route.fail_first else route.status
            self.send_response(status)
            self.send_header("Content-Type", route.content_type)
            if route.send_length:
                length = route.length if route.length is not None else len(route.body)
                self.send_header("Content-Length", str(length))
            self.end_headers()
            body = route.body
            if status == route.status and hit <= route.fail_first + route.drop_first:
                body = body[: len(body) // 2]
            elif route.stall_at is not None and not server.release.is_set():
                self.wfile.write(body[: route.stall_at])
                self.wfile.flush()
                server.stalled.set()
                server.release.wait(STALL_LIMIT_S)
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@contextlib.contextmanager
def serve(routes: dict[str, Route]) -> Iterator[Server]:
    """Serve ``routes`` on 127.0.0.1 in a background thread for the duration of the block."""
    server = Server(base_url="", routes=routes)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
