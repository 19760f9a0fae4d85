"""The core's HTTP server and metrics: latency by route, and ``GET /metrics``.

`HttpMetrics` is a pure ASGI middleware timing each request from its arrival to the
start of its response (an event stream counts until its headers, not for its whole
life), in ``citygw_http_request_seconds`` labelled by method, the route's *template*
(``/api/v1/cases/{case_id}``, never the raw path: ids would make a series each) and the
status class. A request that matched no route is ``route="unmatched"``, an unusual
method ``method="other"``, so a scanner cannot grow the series.

`metrics_router` serves the exposition text at ``/metrics`` without a user session (a
scraper has none); when ``metrics.token`` is configured it wants
``Authorization: Bearer <token>`` and answers 401 otherwise.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core.api_base import ApiError, bearer_token
from gateway.observability import Histogram, Metrics

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class HttpMetrics:
    """Times every HTTP request into ``citygw_http_request_seconds``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self._metrics = metrics
        self._bound: dict[tuple[str, str, str], Histogram] = {}

    def _histogram(self, method: str, route: str, status: int) -> Histogram:
        key = (method, route, f"{status // 100}xx")
        histogram = self._bound.get(key)
        if histogram is None:
            histogram = self._metrics.histogram(
                "citygw_http_request_seconds",
                "Time from a request's arrival to the start of its response, by route template",
                {"method": key[0], "route": key[1], "status": key[2]},
            )
            self._bound[key] = histogram
        return histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        timed = False

        def observe(status: int) -> None:
            nonlocal timed
            timed = True
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self._histogram(method, route, status).observe(time.perf_counter() - started)

        async def timing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not timed:
                observe(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, timing_send)
        finally:
            if not timed:  # failed before any response: the server answers 500
                observe(500)


def metrics_router(metrics: Metrics, token: str | None) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def exposition(authorization: Annotated[str | None, Header()] = None) -> Response:
        """Prometheus text format; a plain function: the readers may query the database."""
        if token is not None:
            given = bearer_token(authorization) or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise ApiError(401, "unauthenticated", "send Authorization: Bearer <metrics token>")
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return router
