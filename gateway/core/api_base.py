"""What every router of the core's HTTP API shares: its context, its error, its access rule.

- `ApiContext`: the parts the routes work on (service, authenticator, config, clock, ...),
  built in bootstrap and kept on ``app.state.ctx``;
- `ApiError`: raised by a handler, answered as ``{"error": code, "detail": reason}``;
- `allow(...)`: the dependency that lets the named roles through (and says which, as its
  ``allowed_roles``, for the route-by-route access tests) and refuses the rest with 403,
  a missing or unknown token with 401; the role sets the routes name;
- `FastJSON`: the response the busy read routes return;
- `period`: the ``start``..``end`` of a figures route (30 days to now by default);
- `evaluated_node`: the organisation node a figures route evaluates, in the user's reach;
  `evaluated_unit`: the same for an optional ``node``, the user's own centre without it.

The routers (``*_routes.py``, `api_live`, `open311`) import from here; `gateway.core.api`
assembles the app from them. Nothing here imports a router.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
import pydantic_core
from fastapi import Depends, Header, Request
from fastapi.responses import Response

from gateway.clock import Clock
from gateway.core.auth import Authenticator, AuthError
from gateway.core.call_records import CallRecordReader
from gateway.core.dispatch import UnitGrid
from gateway.core.organisation import NodeKind, OrgNode
from gateway.core.service import CaseService
from gateway.core.settings import CoreConfig
from gateway.core.workflow import USER_ROLES, Actor, Role
from gateway.dead_letters import DeadLetterReader

ALL_USERS = frozenset(USER_ROLES)
STAFF = frozenset(USER_ROLES) - {Role.ADMIN}
DESK = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.DISPATCHER})
REPORTERS = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.INSPECTOR})
EVALUATORS = frozenset({Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN})


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def period(
    now: datetime,
    start: datetime | None,
    end: datetime | None,
    *,
    max_days: int | None = None,
) -> tuple[datetime, datetime]:
    """A figures route's period: ``end`` now and ``start`` 30 days before unless given;
    422 ``timezone_required`` for a time without a zone, ``bad_period`` for an end not after
    the start, ``period_too_long`` past ``max_days``."""
    end = end or now
    start = start or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        raise ApiError(
            422, "timezone_required", "times need a timezone (e.g. 2026-01-05T00:00:00Z)"
        )
    if end <= start:
        raise ApiError(422, "bad_period", "the period must end after it starts")
    if max_days is not None and end - start > timedelta(days=max_days):
        raise ApiError(422, "period_too_long", f"at most {max_days} days")
    return start, end


@dataclass
class ApiContext:
    service: CaseService
    auth: Authenticator
    config: CoreConfig
    clock: Clock
    event_names: dict[str, str]
    live: Any = None  # gateway.core.live.LiveParts; api_live makes one when None
    call_records: CallRecordReader | None = None
    grids: dict[str, UnitGrid] | None = None  # None: known_grids(config), read at create_app
    verifications: Any = None  # gateway.core.verification.VerificationService (camera checks)
    ptz: Any = None  # gateway.core.ptz.PtzCommands (the live view's PTZ buttons)
    dead_letters: DeadLetterReader | None = None  # no route without one
    intake_health: Callable[[], str | None] | None = None  # why intake is unhealthy, or None
    report_files: Any = None  # gateway.core.publication.ReportFiles: Excel and PDF reports
    gis: Any = None  # gateway.core.gis_routes.MapData: the map's routes (none without it)
    patrols: Any = None  # gateway.core.patrols.PatrolStore: the patrol routes (none without)
    desk: Any = None  # gateway.core.agent_desk.AgentDesk: the agents' screen pops
    recordings: Any = None  # gateway.core.recordings.RecordingFolder (agent calls' recordings)
    #: gateway.core.login_limits.LoginFailureStore: the database's, shared by the cores
    #: (None: counted in this process only)
    login_failures: Any = None


def event_name(ctx: ApiContext, code: str) -> str:
    """The name of a CJ/T 214 event code; ApiError 422 ``unknown_event_code`` for a code of
    the right shape that the event table does not hold (Open311 refuses it the same way),
    so no case is made with no name."""
    name = ctx.event_names.get(code)
    if name is None:
        raise ApiError(422, "unknown_event_code", f"no event {code!r} in the event table")
    return name


class FastJSON(Response):
    """JSON by pydantic-core's serializer (the same text for datetimes as the response
    models'), with no validation pass over data the handlers built to those models:
    the busy read routes return it; their `response_model` still documents the body."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    return authorization[7:].strip()


# The auth dependencies are async: a token verified in the last few seconds is answered
# on the event loop; only a lookup in the database goes to a worker thread (a sync
# dependency would cost a thread hand-over on every request).
async def current_actor(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Actor:
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
    auth: Authenticator = request.app.state.ctx.auth
    actor = auth.cached_actor(token)
    if actor is not None:
        return actor
    try:
        return await anyio.to_thread.run_sync(auth.actor_for, token)
    except AuthError as exc:
        raise ApiError(401, "unauthenticated", str(exc)) from exc


def allow(*roles: frozenset[Role] | Role) -> Callable[..., Any]:
    """An async dependency letting the given roles (sets or single roles) through."""
    permitted: set[Role] = set()
    for r in roles:
        permitted |= r if isinstance(r, frozenset) else {r}

    async def dependency(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in permitted:
            raise ApiError(
                403,
                "forbidden_role",
                f"a {actor.role} may not use this (only {sorted(permitted)})",
            )
        return actor

    dependency.allowed_roles = frozenset(permitted)  # type: ignore[attr-defined]
    return dependency


_EVALUATED = (NodeKind.CITY, NodeKind.DISTRICT, NodeKind.STREET)


def evaluated_node(ctx: ApiContext, actor: Actor, node_id: str) -> OrgNode:
    """The city, district or street ``node_id`` a figures route evaluates: 404
    ``no_organisation`` without a tree, ``unknown_node`` for another id; 403
    ``not_your_level`` when a district centre's user asks outside their district."""
    org = ctx.service.workflow.organisation
    if org is None:
        raise ApiError(404, "no_organisation", "no organisation is configured")
    found = org.get(node_id)
    if found is None or found.kind not in _EVALUATED:
        raise ApiError(404, "unknown_node", f"no city, district or street {node_id}")
    mine = org.centre_of(actor.org_node)
    if mine.kind is not NodeKind.CITY and org.centre_of(found.id).id != mine.id:
        raise ApiError(403, "not_your_level", f"{mine.id} evaluates only inside itself")
    return found


def evaluated_unit(ctx: ApiContext, actor: Actor, node_id: str | None) -> OrgNode | None:
    """The unit a figures route counts: ``node_id`` (as `evaluated_node` checks it), else
    the user's own centre (a district centre's users: their district; the city's: the
    city); None, every case, without an organisation tree and without ``node_id``."""
    org = ctx.service.workflow.organisation
    if node_id is None:
        if org is None:
            return None
        node_id = org.centre_of(actor.org_node).id
    return evaluated_node(ctx, actor, node_id)


def is_whole_city(unit: OrgNode | None) -> bool:
    """Whether `evaluated_unit`'s answer counts everything: the city, or no tree."""
    return unit is None or unit.kind is NodeKind.CITY


def unit_answer(unit: OrgNode | None) -> dict[str, str | None]:
    """How a figures answer names the unit it counted: ``node`` and ``node_name``."""
    return {
        "node": unit.id if unit is not None else None,
        "node_name": unit.name if unit is not None else None,
    }


def unit_file_part(unit: OrgNode | None) -> str:
    """A file name's unit part: ``320706-`` for a district or street, '' for the city."""
    if unit is None or unit.kind is NodeKind.CITY:
        return ""
    return f"{unit.id}-"
