"""A tiny local HTTP server for download tests (127.0.0.1, random port, one thread)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the server answers for one path; ``length`` overrides Content-Length."""

    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    length: int | None = None
    fail_first: int = 0  # answer 500 to this many requests before the real answer


@dataclass
class Server:
    """The running server: its base URL and how often each path was requested."""

    base_url: str
    routes: dict[str, Route]
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            server.hits[self.path] += 1
            route = server.routes.get(self.path, Route(b"not found", status=404))
            status = route.status
            if server.hits[self.path] <= route.fail_first:
                status = 500
            self.send_response(status)
            self.send_header("Content-Type", route.content_type)
            length = route.length if route.length is not None else len(route.body)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(route.body)

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
        httpd.shutdown()
        httpd.server_close()
        thread.join()
