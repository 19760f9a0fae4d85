"""A request body size limit for a router's routes (the phone's uploads): `LimitedBody`.

Starlette reads (and spools to disk) a whole multipart body before a handler sees its
first field, so a limit checked in the handler comes too late. `LimitedBody` is a route
class (FastAPI's documented ``route_class`` hook) that refuses the request with 413
``body_too_large`` before parsing: at once when ``Content-Length`` says too much, and
while reading when a body without one (chunked) goes past the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from gateway.core.api_base import ApiError
from gateway.core.voice_notes import MAX_VOICE_BYTES

#: the largest body a phone sends: 4 photos of at most 12 MiB, a voice note and the form
MAX_BODY_BYTES = 4 * 12 * 1024 * 1024 + MAX_VOICE_BYTES + 1024 * 1024


class _TooLarge(HTTPException):
    """Raised inside the body's reading (FastAPI passes HTTPExceptions through)."""

    def __init__(self) -> None:
        super().__init__(413)


def _refused(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is over {limit} bytes")


class LimitedBody(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            limit = MAX_BODY_BYTES
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                raise _refused(limit)
            seen = 0
            receive = request.receive

            async def counted() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise _TooLarge()
                return message

            try:
                return await handler(Request(request.scope, counted))
            except _TooLarge as exc:
                raise _refused(limit) from exc

        return limited
