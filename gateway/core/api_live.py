"""The console's live routes: camera health, live-view grants and the event stream.

- ``GET  /api/v1/cameras``                       every camera's health (the camera wall);
- ``POST /api/v1/cameras/{camera_id}/live-token`` a short-lived grant for the video
  gateway's WebRTC signalling (``Authorization: Bearer <token>`` on the offer);
- ``POST /api/v1/events/stream-ticket``          a one-time ticket for ``EventSource``;
- ``GET  /api/v1/events/stream``                 Server-Sent Events: ``case`` (a committed
  case change), ``cameras`` (health changed), ``agent_call`` (a hotline call this user
  answered: the screen pop, to that user only), ``queues`` (the agents' queue figures),
  ``hello`` (first, says whether the stream
  resumed from ``Last-Event-ID``; if not, reload), ``dropped``/``expired``/``stopping``
  (last, then the stream ends), and a ``:`` heartbeat comment every ``heartbeat_s``.

The stream accepts ``?ticket=`` (browsers) or ``Authorization: Bearer`` (other clients);
the long-lived token never goes into a URL. A department user receives its own
department's case events only (a community's user: its street office's events about the
cases passed to it, as their summaries say, and the 收回 of one); the session is checked again at every
heartbeat.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from gateway import live_tokens
from gateway.core.agent_desk import QUEUES
from gateway.core.api_base import ApiContext, ApiError, allow
from gateway.core.auth import AuthError
from gateway.core.case_views import CALLBACK_ROLES, case_out, in_scope
from gateway.core.live import CASE, HubClosed, HubFull, LiveEvent, LiveParts
from gateway.core.workflow import USER_ROLES, Actor, Role

log = logging.getLogger(__name__)

#: who sees the camera wall (and may watch a camera live)
CAMERA_WALL = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN})
_CAMERA_ID = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"
_RETRY_MS = 3000


@dataclass(frozen=True)
class StreamAccess:
    actor: Actor
    bearer: str


def _sse(kind: str, data: Any, event_id: str | None = None) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_plain)
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {text}\n\n"


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def live_router(ctx: ApiContext) -> APIRouter:
    """The routes above, on ``ctx.live`` (created from the config when the caller made none)."""
    if ctx.live is None:
        ctx.live = LiveParts.create(ctx.config)
    parts: LiveParts = ctx.live

    def summarize(case_id: str) -> dict[str, Any] | None:
        case = ctx.service.store.get_case(case_id)
        return None if case is None else case_out(ctx, case)

    parts.summarize = summarize
    settings = ctx.config.live_view
    stream_settings = ctx.config.events_stream
    router = APIRouter()

    # ------------------------------------------------------------------ cameras

    @router.get("/api/v1/cameras", tags=["cameras"], summary="camera health (camera wall)")
    def cameras(_actor: Annotated[Actor, Depends(allow(CAMERA_WALL))]) -> dict[str, Any]:
        now = ctx.clock.now()
        return {
            "now": now,
            "stale_after_s": parts.cameras.stale_after.total_seconds(),
            "gateways_offline": parts.cameras.all_gateways_offline,
            "items": [view.as_dict() for view in parts.cameras.cameras(now)],
        }

    @router.post(
        "/api/v1/cameras/{camera_id}/live-token",
        tags=["cameras"],
        summary="a short-lived grant to watch a camera live on the video gateway",
        responses={503: {"description": "no live-view secret is configured"}},
    )
    def live_token(
        camera_id: Annotated[str, PathParam(pattern=_CAMERA_ID)],
        actor: Annotated[Actor, Depends(allow(CAMERA_WALL))],
    ) -> dict[str, Any]:
        secret = settings.token_secret
        if secret is None:
            raise ApiError(
                503,
                "live_view_not_configured",
                "this core issues no live-view grants: set core.live_view.token_secret "
                "(e.g. ${CITYGW_LIVE_VIEW_SECRET}), the same secret as the video gateways'",
            )
        now = ctx.clock.now()
        ttl = timedelta(seconds=settings.token_ttl_s)
        token = live_tokens.issue(
            secret.get_secret_value(), subject=actor.name, camera_id=camera_id, now=now, ttl=ttl
        )
        return {
            "token": token,
            "camera_id": camera_id,
            "expires_at": datetime.fromtimestamp(int((now + ttl).timestamp()), UTC),
            "signalling_url": settings.signalling_url,
        }

    # ------------------------------------------------------------------ event stream

    @router.post(
        "/api/v1/events/stream-ticket",
        tags=["live"],
        summary="a one-time ticket to open the event stream from a browser (EventSource)",
    )
    def stream_ticket(
        _actor: Annotated[Actor, Depends(allow(frozenset(USER_ROLES)))],
        authorization: Annotated[str, Header()],
    ) -> dict[str, Any]:
        ticket, expires_at = parts.tickets.issue(authorization[7:].strip(), ctx.clock.now())
        return {
            "ticket": ticket,
            "expires_at": expires_at,
            "url": f"/api/v1/events/stream?ticket={ticket}",
        }

    def stream_access(
        ticket: Annotated[str | None, Query(max_length=100)] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> StreamAccess:
        bearer: str | None = None
        if ticket:
            bearer = parts.tickets.redeem(ticket, ctx.clock.now())
            if bearer is None:
                raise ApiError(
                    401, "unauthenticated", "the stream ticket is unknown, used or expired"
                )
        elif authorization and authorization.lower().startswith("bearer "):
            bearer = authorization[7:].strip()
        if bearer is None:
            raise ApiError(
                401,
                "unauthenticated",
                "send ?ticket= (POST /api/v1/events/stream-ticket) or Authorization: Bearer",
            )
        try:
            return StreamAccess(ctx.auth.actor_for(bearer), bearer)
        except AuthError as exc:
            raise ApiError(401, "unauthenticated", str(exc)) from exc

    stream_access.allowed_roles = frozenset(USER_ROLES)  # type: ignore[attr-defined]

    @router.get(
        "/api/v1/events/stream",
        tags=["live"],
        summary="Server-Sent Events: committed case changes and camera health",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(
        request: Request,
        access: Annotated[StreamAccess, Depends(stream_access)],
        last_event_id: Annotated[str | None, Header(max_length=64)] = None,
        resume_from: Annotated[
            str | None, Query(max_length=64, description="Last-Event-ID for a new EventSource")
        ] = None,
    ) -> StreamingResponse:
        actor = access.actor
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        org = ctx.service.workflow.organisation
        street_office = org.street_office_of(actor.department) if org is not None else None

        def wants(event: LiveEvent) -> bool:
            if event.user is not None:  # an agent's screen pop: that agent only
                return event.user == actor.name
            if event.kind == QUEUES:  # the hotline desk's figures: those who answer it
                return actor.role in CALLBACK_ROLES
            if actor.role is Role.DEPARTMENT and street_office is not None:  # a community
                if event.kind != CASE or event.department != street_office:
                    return False
                summary = event.data.get("case")
                held = summary is not None and summary.get("community") == actor.department
                return held or event.data.get("from_community") == actor.department
            if actor.role is Role.DEPARTMENT:
                return event.kind == CASE and event.department == actor.department
            if actor.role is Role.INSPECTOR and event.kind == CASE:
                # a bare event (a bulk change) says no more than an id: the client reloads
                # its list, which is scoped; a summarised one is sent in reach only
                summary = event.data.get("case")
                return summary is None or in_scope(actor, summary)
            return True

        name = f"{actor.name}@{request.client.host if request.client else '?'}"
        resume = last_event_id or resume_from
        refusal = parts.hub.refusal()
        if refusal is not None:  # said before the response starts: a 503 the client sees
            raise ApiError(503, *refusal)

        def still_signed_in() -> bool:
            try:
                ctx.auth.actor_for(access.bearer)
            except AuthError:
                return False
            return True

        async def events() -> AsyncIterator[str]:
            # subscribed here, not before the response: a stream that never starts (the
            # client went away first) leaves no subscription behind
            try:
                subscription, missed = parts.hub.subscribe(
                    name, wake, wants=wants, last_event_id=resume
                )
            except (HubFull, HubClosed) as exc:
                yield _sse(
                    "stopping" if isinstance(exc, HubClosed) else "busy", {"reason": str(exc)}
                )
                return
            try:
                yield f"retry: {_RETRY_MS}\n\n"
                # not resumed (a new client, or too far behind): the client loads its lists afresh
                resumed = bool(resume) and missed is not None
                yield _sse("hello", {"epoch": parts.hub.epoch, "resumed": resumed})
                for event in missed or ():
                    yield _sse(event.kind, event.data, event.id)
                while True:
                    woken.clear()
                    for event in subscription.drain():
                        yield _sse(event.kind, event.data, event.id)
                    if subscription.dropped:
                        yield _sse("dropped", {"reason": "this client fell behind; reload"})
                        return
                    if subscription.closed:
                        yield _sse("stopping", {"reason": "the core is stopping"})
                        return
                    try:
                        await asyncio.wait_for(woken.wait(), stream_settings.heartbeat_s)
                    except TimeoutError:
                        if not await anyio.to_thread.run_sync(still_signed_in):
                            yield _sse("expired", {"reason": "signed out or session expired"})
                            return
                        yield ": heartbeat\n\n"
            finally:
                parts.hub.unsubscribe(subscription)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
