"""A small threaded HTTP server on 127.0.0.1: the demo's newsroom and webhook sink, and the tests' peers.

Routes map a path to a handler ``(Request) -> Response``; anything unrouted is a 404. Every request
is recorded, so tests can assert on what a client really sent (headers, bodies, counts).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (slow sites)
    drop: bool = False  # close the connection without answering
    chunked: bool = False  # send the body in chunks with no Content-Length, as streaming servers do
    trickle: float = 0.0  # seconds between single bytes of the body: a server that is never quite done


Handler = Callable[[Request], Response]


def static(body: bytes | str, content_type: str = "text/html; charset=utf-8", status: int = 200,
           **headers: str) -> Handler:
    """A handler that always answers the same bytes."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    hdrs = {"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return lambda _req: Response(status, data, dict(hdrs))


class LocalServer:
    """``with LocalServer() as srv: srv.route('/feed', handler); srv.url('/feed')``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LocalServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="localserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # the client went away (a killed daemon, a timed-out test): not our error

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parts.query,
                              {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(req)
                handler = server.routes.get(parts.path)
                resp = handler(req) if handler else Response(404, b"not found", {"Content-Type": "text/plain"})
                if resp.delay:
                    threading.Event().wait(resp.delay)
                if resp.drop:
                    self.close_connection = True
                    return
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                if resp.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                elif self.command != "HEAD" or "Content-Length" not in resp.headers:
                    self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    if resp.trickle:
                        for i in range(len(resp.body)):
                            self.wfile.write(resp.body[i:i + 1])
                            self.wfile.flush()
                            threading.Event().wait(resp.trickle)
                    elif resp.chunked:
                        for i in range(0, len(resp.body), 4096):
                            part = resp.body[i:i + 4096]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.wfile.write(resp.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_HEAD = do_PUT = _serve

        return _H
