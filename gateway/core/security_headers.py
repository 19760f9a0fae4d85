"""Security headers on every response of the core's HTTP server (console, API, docs).

- ``Content-Security-Policy``: scripts and styles from the core only (the console has no
  inline script, inline handler or inline style), images also from ``data:``/``blob:``
  (evidence is fetched with the token and shown as a blob) and from the map's configured
  tile server, connections to the core and
  to the video gateway's live-view signalling (its configured origin, else port 8091 of
  the host the browser asked for, as the console guesses it), no plugins, no ``<base>``,
  and ``frame-ancestors 'none'``;
- ``X-Frame-Options: DENY`` (for browsers that ignore ``frame-ancestors``),
  ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options: nosniff``.
- ``Strict-Transport-Security: max-age=N`` on responses served over HTTPS when the core
  serves TLS itself (``core.http_tls.hsts_max_age_s``; behind a TLS proxy the proxy says
  it): a browser that saw it goes to that host name only over HTTPS.

A response that sets its own policy keeps it (the docs page allows its inline script by
hash). A pure ASGI middleware: it only adds headers to ``http.response.start``, so the
event stream is not buffered.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the console's guess of the live-view signalling port when none is configured
LIVE_VIEW_PORT = 8091
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(:\d{1,5})?$")

_FIXED = [
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]


def content_security_policy(connect: list[str], images: list[str] | None = None) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src " + " ".join(["'self'", "data:", "blob:", *(images or [])]),
            "media-src 'self' blob:",
            "connect-src " + " ".join(["'self'", *connect]),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def signalling_origin(url: str | None) -> str | None:
    """The origin of a configured absolute signalling URL (None: relative or unset)."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class SecurityHeaders:
    def __init__(
        self,
        app: ASGIApp,
        *,
        signalling_url: str | None = None,
        tile_url: str | None = None,
        hsts_max_age_s: int = 0,
    ) -> None:
        self.app = app
        self._hsts = (
            (b"strict-transport-security", f"max-age={hsts_max_age_s}".encode())
            if hsts_max_age_s > 0
            else None
        )
        self._configured = signalling_origin(signalling_url)
        tiles = signalling_origin(tile_url)  # the map's tile server (core.map_tile_url)
        self._images = [tiles] if tiles else []

    def _policy(self, scope: Scope) -> bytes:
        connect: list[str] = []
        if self._configured:
            connect.append(self._configured)
        else:
            host = dict(scope.get("headers") or ()).get(b"host", b"").decode("latin-1")
            match = _HOST.fullmatch(host)
            if match:
                scheme = "https" if scope.get("scheme") == "https" else "http"
                connect.append(f"{scheme}://{match.group(1)}:{LIVE_VIEW_PORT}")
        return content_security_policy(connect, self._images).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", self._policy(scope)))
                headers.extend(h for h in _FIXED if h[0] not in present)
                if self._hsts and scope.get("scheme") == "https" and self._hsts[0] not in present:
                    headers.append(self._hsts)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
