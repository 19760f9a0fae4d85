"""HTTP Digest for ONVIF calls: many cameras answer ``401`` with ``WWW-Authenticate:
Digest`` instead of (or besides) checking the WS-Security UsernameToken.

Every ONVIF request of a session with credentials goes through an aiohttp session with
`aiohttp.DigestAuthMiddleware`: a request goes out as before (WS-Security header only);
when the device answers 401 with a Digest challenge, the middleware answers it and sends
the request again, and later requests carry the Digest answer from the start (preemptive,
same protection space). A device that never challenges sees no difference; a 401 without
a Digest challenge, or one the credentials cannot answer, stays a 401 (``unauthorized``).

`DigestCamera` is onvif-zeep-async's `ONVIFCamera` whose services post through that
session: it hooks `create_onvif_service` (public) and hands each service's transport the
session (``AIOHTTPTransport.session``, the session it is built around); the library's own
sessions stay as they are and are closed by it. `digest_session` makes the session for
our own hand-built SOAP (Media2). A 401 that stays (wrong credentials) is counted
(`DigestCamera.refused`): zeep reads a 401's HTML page as a fault without a reason, and
the caller tells it apart by the count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from onvif import ONVIFCamera
from onvif.client import ONVIFService


def digest_session(
    username: str | None,
    password: str | None,
    timeout_s: float,
    *,
    on_refused: Callable[[], None] | None = None,
) -> aiohttp.ClientSession:
    """An aiohttp session that answers HTTP Digest challenges with these credentials (no
    middleware without a user name); ``on_refused`` is told of each 401 that stays (after
    the challenge was answered, or one without a Digest challenge). TLS certificates are
    not verified, as onvif-zeep-async does not verify them (cameras carry self-signed ones)."""

    async def refused(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        response = await handler(request)
        if response.status == 401 and on_refused is not None:
            on_refused()
        return response

    middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = (refused,)
    if username:
        middlewares += (aiohttp.DigestAuthMiddleware(username, password or ""),)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=False),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        middlewares=middlewares,
    )


class DigestCamera(ONVIFCamera):
    """An `ONVIFCamera` whose SOAP requests answer HTTP Digest challenges."""

    def __init__(self, *args: Any, timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeout_s = timeout_s
        self._digest: aiohttp.ClientSession | None = None
        self.refused = 0  # HTTP 401s that stayed (the credentials do not open the device)

    async def create_onvif_service(
        self,
        name: str,
        port_type: str | None = None,
        read_timeout: int | None = None,
        write_timeout: int | None = None,
    ) -> ONVIFService:
        service = await super().create_onvif_service(name, port_type, read_timeout, write_timeout)
        if self.user:
            if self._digest is None or self._digest.closed:
                self._digest = digest_session(
                    self.user, self.passwd, self._timeout_s, on_refused=self._count_refused
                )
            # each request keeps the timeout the library gave the transport
            service.transport.session = self._digest
        return service

    def _count_refused(self) -> None:
        self.refused += 1

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._digest is not None:
                digest, self._digest = self._digest, None
                await digest.close()
