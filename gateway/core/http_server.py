"""The API's HTTP server: uvicorn in one named thread, with an explicit lifecycle.

With ``tls`` (`core.http_tls`) it serves HTTPS on the same port: uvicorn's own
``ssl_certfile``/``ssl_keyfile`` (a certificate it cannot load fails `start`)."""

from __future__ import annotations

import logging
import threading
from enum import StrEnum

import uvicorn
from fastapi import FastAPI

from gateway.core.http_tls_settings import HttpTlsConfig

log = logging.getLogger(__name__)


class ServerState(StrEnum):
    NEW = "new"
    STARTING = "starting"
    SERVING = "serving"
    STOPPED = "stopped"
    FAILED = "failed"


class ApiServer:
    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        tls: HttpTlsConfig | None = None,
        trusted_proxies: list[str] | None = None,
    ) -> None:
        """``trusted_proxies``: the addresses or networks whose X-Forwarded-For and
        X-Forwarded-Proto are believed (None: uvicorn's default, loopback only)."""
        self.host = host
        self.port = port
        self.scheme = "https" if tls is not None else "http"
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=10,
            timeout_graceful_shutdown=5,
            lifespan="on",
            ssl_certfile=str(tls.cert_file) if tls is not None else None,
            ssl_keyfile=str(tls.key_file) if tls is not None else None,
            proxy_headers=True,
            forwarded_allow_ips=trusted_proxies,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.state = ServerState.NEW

    def _set_state(self, state: ServerState) -> None:
        if state != self.state:
            log.info(
                "api[%s://%s:%d] %s -> %s", self.scheme, self.host, self.port, self.state, state
            )
            self.state = state

    def start(self, timeout: float = 15.0) -> None:
        """Start serving; returns once the socket listens (raises if it cannot)."""
        if self._thread is not None:
            return
        self._set_state(ServerState.STARTING)
        self._thread = threading.Thread(target=self._run, name=f"api[{self.port}]", daemon=True)
        self._thread.start()
        ready = threading.Event()
        while not ready.wait(0.02):
            if self._server.started:
                self._set_state(ServerState.SERVING)
                return
            if not self._thread.is_alive():
                self._set_state(ServerState.FAILED)
                raise RuntimeError(f"the API could not listen on {self.host}:{self.port}")
            timeout -= 0.02
            if timeout <= 0:
                raise TimeoutError(f"the API did not start on {self.host}:{self.port}")

    def _run(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # uvicorn exits when it cannot bind
            log.error("api server on %s:%d stopped at start", self.host, self.port)
        except Exception:
            log.exception("api server failed")

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            self._set_state(ServerState.STOPPED)
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        self._thread = None
        self._set_state(ServerState.STOPPED)
