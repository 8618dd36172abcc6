"""A small counting HTTP proxy in front of a real server, for tests that must see the
requests a client sends: which ones, in what order, how many at once, with what headers.

It relays each request whole (bodies are small in these tests) over a fresh connection,
and can hold requests until the test releases them (``hold(predicate, event)``).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["CountingProxy"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class CountingProxy:
    """``url`` relays to ``target``; ``log`` lists ``(method, path, headers)`` as requests
    arrive; ``in_flight``/``max_in_flight`` count the requests being relayed."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.log: list[tuple[str, str, dict]] = []
        self.sent: list[tuple[str, str]] = []  # relayed to the server, answer pending
        self.done: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cond = threading.Condition()
        self._holds: list[tuple[Callable[[str, str], bool], threading.Event]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _relay(self) -> None:
                proxy._relay(self)

            do_GET = do_PUT = do_POST = _relay

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def hold(self, predicate: Callable[[str, str], bool], release: threading.Event) -> None:
        """Requests for which ``predicate(method, path)`` is true wait for ``release``
        (60 s at most: the bound is for a failing test) before they are relayed."""
        self._holds.append((predicate, release))

    def count(self, method: str, path: str) -> int:
        with self.cond:
            return sum(1 for m, p, _ in self.log if m == method and p == path)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def _relay(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length", 0) or 0)
        body = handler.rfile.read(length) if length else b""
        with self.cond:
            self.log.append((method, path, headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.cond.notify_all()
        try:
            for predicate, release in self._holds:
                if predicate(method, path):
                    release.wait(60)
            status, reply_headers, reply = self._forward(method, path, headers, body)
        finally:
            with self.cond:
                self.in_flight -= 1
                self.done.append((method, path))
                self.cond.notify_all()
        handler.send_response(status)
        for key, value in reply_headers:
            if key.lower() not in _HOP:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)

    def _forward(self, method: str, path: str, headers: dict, body: bytes):
        connection = http.client.HTTPConnection(*self.target, timeout=600)
        try:
            sent = {k: v for k, v in headers.items() if k not in _HOP}
            connection.request(method, path, body=body, headers=sent)
            with self.cond:
                self.sent.append((method, path))
                self.cond.notify_all()
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
