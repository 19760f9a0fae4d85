"""`MetricsListener`: ``GET /metrics`` on a small HTTP server of its own (the gateways).

One thread (``metrics.http``) serves it; every request has a read timeout. With a token
configured, a request must carry ``Authorization: Bearer <token>`` (401 otherwise);
anything but ``GET /metrics`` is 404.
"""

from __future__ import annotations

import hmac
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gateway.observability import Metrics

log = logging.getLogger(__name__)

#: seconds a client may take to send its request
REQUEST_TIMEOUT_S = 10.0


def token_ok(expected: str | None, authorization: str | None) -> bool:
    """Whether an ``Authorization`` header passes (always, when no token is configured)."""
    if expected is None:
        return True
    if not authorization or not authorization.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(authorization[7:].strip().encode(), expected.encode())


class MetricsListener:
    """``start()``/``stop()`` are idempotent; ``port`` is the bound one after ``start()``."""

    def __init__(self, metrics: Metrics, host: str, port: int, *, token: str | None = None) -> None:
        self.host, self.port = host, port
        self._metrics = metrics
        self._token = token
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is not None:
            return
        metrics, token = self._metrics, self._token

        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S

            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self._answer(404, b"not found\n", "text/plain")
                    return
                if not token_ok(token, self.headers.get("Authorization")):
                    self._answer(401, b"bearer token required\n", "text/plain")
                    return
                body, content_type = metrics.render()
                self._answer(200, body, content_type)

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # one line per scrape is noise

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="metrics.http"
        )
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
