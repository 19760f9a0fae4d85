"""Requests carrying a NUL character (U+0000) are refused at the door: `NulGuard`.

PostgreSQL stores no NUL in a text column, so an opinion, a description or a name holding
one would pass validation and then fail in the database (a 500 on PostgreSQL, stored as is
on SQLite: the two stores would disagree). The MQTT contract refuses NUL the same way
(``nul_character``, gateway/contract/parsing.py). This ASGI middleware looks at what a
request can carry text in: its query string (``%00``), a JSON body (the escape ``\\u0000``)
and a form body (``%00``); a multipart body is left to its routes (its files are binary):
they pass its text fields (and the file names they keep) to `refuse_nul`. A body over
`MAX_CHECKED_BYTES` is passed on unchecked (the routes' own size limits apply). The
answer is the API's error shape: 422 ``{"error": "nul_character", ...}``; under
``/open311/`` GeoReport's error list.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.api_base import ApiError

#: a NUL as JSON writes it, not a backslash written before ``u0000`` (an even run of
#: backslashes ahead of the escape, or none); the same rule as the MQTT contract's
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_NUL = re.compile(rb"%00")
#: bodies larger than this are not buffered here (the API's JSON bodies are far smaller)
MAX_CHECKED_BYTES = 1024 * 1024
DETAIL = "a text holds a NUL character (U+0000), which cannot be stored"


def refuse_nul(*texts: str | None) -> None:
    """A multipart route's check of its text fields: ApiError 422 ``nul_character`` (the
    middleware's answer) when one holds a NUL."""
    if any(text and "\x00" in text for text in texts):
        raise ApiError(422, "nul_character", DETAIL)


def _content_type(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


class NulGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _FORM_NUL.search(scope.get("query_string", b"")):
            await self._refuse(scope, send)
            return
        kind = _content_type(scope)
        pattern = (
            _JSON_NUL
            if kind == b"application/json" or kind.endswith(b"+json")
            else _FORM_NUL
            if kind == b"application/x-www-form-urlencoded"
            else None
        )
        if pattern is None:
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        body = bytearray()
        more = True
        while more and len(body) <= MAX_CHECKED_BYTES:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if len(body) <= MAX_CHECKED_BYTES and pattern.search(body):
            await self._refuse(scope, send)
            return

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send) -> None:
        if str(scope.get("path", "")).startswith("/open311/"):
            payload: object = [{"code": 400, "description": DETAIL}]
            status = 400
        else:
            payload = {"error": "nul_character", "detail": DETAIL}
            status = 422
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
