"""The core's HTTP API (FastAPI): cases, transitions, evidence, metrics, users.

JSON everywhere; OpenAPI at ``/openapi.json`` and docs at ``/docs``. Every route has an
access rule: `_allow(...)` names the roles that may call it (``PUBLIC`` for the few
that need no token: health and the OpenAPI document). Department users see and act on
their own department's cases only. Handlers are plain functions: FastAPI runs them on
its bounded worker threads, so blocking database calls never stall the event loop.

Errors are ``{"error": code, "detail": reason}`` with 400/401/403/404/409/422 status
codes; a request never gets a 5xx for bad input.
"""

import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
import pydantic_core
from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from gateway.clock import Clock
from gateway.contract import (
    CandidateCase,
    Evidence,
    EvidenceRole,
    Location,
    Reporter,
    Source,
    SourceKind,
    new_message_id,
)
from gateway.core.api_docs import add_docs
from gateway.core.api_schemas import (
    AttachmentOut,
    CaseDetailOut,
    CaseIn,
    CasePage,
    CaseQuery,
    DepartmentOut,
    ErrorOut,
    LoginIn,
    LoginOut,
    StepOut,
    TransitionIn,
    TransitionOut,
    UserIn,
    UserOut,
)
from gateway.core.auth import Authenticator, AuthError, UserError
from gateway.core.call_records import CallRecordReader
from gateway.core.dead_letter_routes import dead_letters_router
from gateway.core.dispatch import UnitGrid, known_grids
from gateway.core.intake import case_id_for
from gateway.core.metrics import evaluate, role_activity, to_csv
from gateway.core.ports import CaseDetail, CaseFilter, CaseNotFound, ConcurrentUpdate
from gateway.core.service import CaseService
from gateway.core.settings import CoreConfig
from gateway.core.step_log import StepLog
from gateway.core.workflow import (
    STATE_LABELS,
    USER_ROLES,
    Action,
    Actor,
    Case,
    CaseState,
    Command,
    Role,
    TransitionRefused,
)
from gateway.dead_letters import DeadLetterReader
from gateway.object_labels import OBJECT_LABELS

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ALL_USERS = frozenset(USER_ROLES)
_STAFF = frozenset(USER_ROLES) - {Role.ADMIN}
_DESK = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.DISPATCHER})
_REPORTERS = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.INSPECTOR})
_EVALUATORS = frozenset({Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN})


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


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
    dead_letters: DeadLetterReader | None = None  # no route without one
    intake_health: Callable[[], str | None] | None = None  # why intake is unhealthy, or None


# --------------------------------------------------------------------------- helpers


def case_out(ctx: ApiContext, case: Case) -> dict[str, Any]:
    now = ctx.clock.now()
    return {
        "id": case.id,
        "number": case.number,
        "state": str(case.state),
        "state_label": STATE_LABELS[case.state],
        "event_code": case.event_code,
        "event_name": ctx.event_names.get(case.event_code),
        "title": case.title,
        "description": case.description,
        "source_kind": case.source_kind,
        "created_at": case.created_at,
        "grid_code": case.grid_code,
        "district": case.district,
        "address": case.address,
        "camera_id": case.camera_id,
        "zone_id": case.zone_id,
        "lat": case.lat,
        "lon": case.lon,
        "urgent": case.urgent,
        "department": case.department,
        "dispatched_at": case.dispatched_at,
        "deadline": case.deadline,
        "light": ctx.service.workflow.light(case, now),
        "suspended_minutes": case.suspended_minutes,
        "rework_count": case.rework_count,
        "pending": case.pending.to_dict() if case.pending else None,
        "proposed_merge_into": case.proposed_merge_into,
        "merged_into": case.merged_into,
        "closed_at": case.closed_at,
        "satisfaction": case.satisfaction,
        "facts": case.facts,
        "version": case.version,
    }


def step_out(seq: int, step: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": step.at,
        "action": str(step.action),
        "from_state": str(step.from_state) if step.from_state else None,
        "to_state": str(step.to_state),
        "actor": step.actor,
        "role": str(step.role),
        "department": step.department,
        "opinion": step.opinion,
        "attachments": list(step.attachments),
        "facts": step.facts,
    }


def _error(status: int, code: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


class FastJSON(Response):
    """JSON by pydantic-core's serializer (the same text for datetimes as the response
    models'), with no validation pass over data the handlers built to those models:
    the busy read routes return it; their `response_model` still documents the body."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


_REFUSAL_STATUS = {
    "forbidden_role": 403,
    "not_your_case": 403,
    "wrong_state": 409,
    "pending_request": 409,
    "no_pending_request": 409,
    "not_a_user_action": 403,
    "opinion_required": 422,
    "merge_target_required": 422,
    "merge_target_not_open": 422,
    "merge_target_not_found": 422,
    "unknown_department": 422,
    "bad_extension": 422,
}


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where, what (pydantic's stable error ``type``) and its JSON-safe limits (``ctx``,
    e.g. ``max_length``): enough for the console to say it in Chinese."""
    out = []
    for e in exc.errors():
        ctx = {
            k: v for k, v in (e.get("ctx") or {}).items() if isinstance(v, str | int | float | bool)
        }
        out.append(
            {
                "loc": list(e.get("loc", ())),
                "type": str(e.get("type", "")),
                "msg": str(e.get("msg", "")),
                "ctx": ctx,
            }
        )
    return out


# --------------------------------------------------------------------------- the app


def create_app(ctx: ApiContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # blocking handlers run on at most this many worker threads
        anyio.to_thread.current_default_thread_limiter().total_tokens = ctx.config.http_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # api_docs serves it with local assets
        redoc_url=None,
        title="citygw core",
        version="1.0",
        description=(
            "The city-management centre's case workflow: 信息收集 → 立案 → 派遣 → 处置 → "
            "处理反馈 → 核查 → 结案 → 综合评价. Authenticate with POST /api/v1/auth/login and "
            "send `Authorization: Bearer <token>`."
        ),
        responses={
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
            422: {"model": ErrorOut},
        },
    )
    app.state.ctx = ctx
    grids = ctx.grids if ctx.grids is not None else known_grids(ctx.config)

    @app.exception_handler(ApiError)
    def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", _validation_detail(exc))

    @app.exception_handler(TransitionRefused)
    def _refused(_request: Request, exc: TransitionRefused) -> JSONResponse:
        return _error(_REFUSAL_STATUS.get(exc.code, 409), exc.code, exc.reason)

    @app.exception_handler(CaseNotFound)
    def _not_found(_request: Request, exc: CaseNotFound) -> JSONResponse:
        return _error(404, "case_not_found", str(exc))

    @app.exception_handler(ConcurrentUpdate)
    def _conflict(_request: Request, exc: ConcurrentUpdate) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    # The auth dependencies are async: a token verified in the last few seconds is
    # answered on the event loop; only a lookup in the database goes to a worker thread
    # (a sync dependency would cost a thread hand-over on every request).
    async def current_actor(authorization: Annotated[str | None, Header()] = None) -> Actor:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
        token = authorization[7:].strip()
        actor = ctx.auth.cached_actor(token)
        if actor is not None:
            return actor
        try:
            return await anyio.to_thread.run_sync(ctx.auth.actor_for, token)
        except AuthError as exc:
            raise ApiError(401, "unauthenticated", str(exc)) from exc

    def allow(*roles: frozenset[Role] | Role) -> Callable[..., Any]:  # an async dependency
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

    def visible_case(case_id: str, actor: Actor) -> Case:
        case = ctx.service.store.get_case(case_id)
        if case is None or (actor.role is Role.DEPARTMENT and case.department != actor.department):
            raise ApiError(404, "case_not_found", f"no case {case_id}")
        return case

    def visible_detail(case_id: str, actor: Actor) -> CaseDetail:
        """The case with its candidates and evidence, read in one go; 404 as `visible_case`."""
        found = ctx.service.store.case_detail(case_id)
        if found is None or (
            actor.role is Role.DEPARTMENT and found.case.department != actor.department
        ):
            raise ApiError(404, "case_not_found", f"no case {case_id}")
        return found

    # ------------------------------------------------------------------ public

    @app.get("/healthz", tags=["meta"], summary="liveness (public)")
    def healthz() -> Any:
        """200, or 503 with the reason when intake is stalled (messages wait, none stored)."""
        problem = ctx.intake_health() if ctx.intake_health is not None else None
        if problem is not None:
            return _error(503, "intake_stalled", problem)
        return {"status": "ok"}

    # ------------------------------------------------------------------ auth

    @app.post(
        "/api/v1/auth/login", response_model=LoginOut, tags=["auth"], summary="get a token (public)"
    )
    def login(body: LoginIn) -> dict[str, Any]:
        try:
            token, actor = ctx.auth.login(body.name, body.password)
        except AuthError as exc:
            raise ApiError(401, "unauthenticated", str(exc)) from exc
        return {
            "token": token,
            "expires_at": ctx.clock.now() + ctx.auth.ttl,
            "user": {"name": actor.name, "role": str(actor.role), "department": actor.department},
        }

    @app.post("/api/v1/auth/logout", status_code=204, tags=["auth"])
    def logout(
        _actor: Annotated[Actor, Depends(allow(_ALL_USERS))],
        authorization: Annotated[str, Header()],
    ) -> Response:
        ctx.auth.logout(authorization[7:].strip())
        return Response(status_code=204)

    @app.get("/api/v1/me", response_model=UserOut, tags=["auth"])
    def me(actor: Annotated[Actor, Depends(allow(_ALL_USERS))]) -> dict[str, Any]:
        return {"name": actor.name, "role": str(actor.role), "department": actor.department}

    # ------------------------------------------------------------------ reference data

    @app.get("/api/v1/departments", response_model=list[DepartmentOut], tags=["reference"])
    def departments(_actor: Annotated[Actor, Depends(allow(_ALL_USERS))]) -> list[dict[str, str]]:
        return [{"id": d.id, "name": d.name} for d in ctx.config.departments]

    @app.get("/api/v1/event-codes", tags=["reference"], summary="CJ/T 214 event codes")
    def event_codes(_actor: Annotated[Actor, Depends(allow(_ALL_USERS))]) -> dict[str, str]:
        return ctx.event_names

    @app.get("/api/v1/locale", tags=["reference"], summary="time zone and object names")
    def locale(_actor: Annotated[Actor, Depends(allow(_ALL_USERS))]) -> dict[str, Any]:
        """What the console shows times in (the centre's calendar time zone) and the
        Chinese names of detector labels (gateway.object_labels)."""
        return {"time_zone": ctx.config.calendar.timezone, "object_labels": OBJECT_LABELS}

    @app.get("/api/v1/grids", tags=["reference"], summary="the city's unit grids")
    def unit_grids(_actor: Annotated[Actor, Depends(allow(_ALL_USERS))]) -> list[dict[str, str]]:
        return [dataclasses.asdict(g) for g in sorted(grids.values(), key=lambda g: g.code)]

    @app.get("/api/v1/states", tags=["reference"])
    def states(_actor: Annotated[Actor, Depends(allow(_ALL_USERS))]) -> dict[str, str]:
        return {str(s): label for s, label in STATE_LABELS.items()}

    # ------------------------------------------------------------------ cases

    @app.get("/api/v1/cases", response_model=CasePage, tags=["cases"])
    def list_cases(
        actor: Annotated[Actor, Depends(allow(_STAFF, Role.ADMIN))],
        q: Annotated[CaseQuery, Query()],
    ) -> Response:
        for moment in (q.created_from, q.created_to):
            if moment is not None and moment.tzinfo is None:
                raise ApiError(
                    422, "timezone_required", "times need a timezone (e.g. 2026-01-05T00:00:00Z)"
                )
        light, offset, limit = q.light, q.offset, q.limit
        query = CaseFilter(
            states=tuple(str(s) for s in q.state or ()),
            event_code=q.event_code,
            grid_prefix=q.grid,
            department=actor.department if actor.role is Role.DEPARTMENT else q.department,
            created_from=q.created_from,
            created_to=q.created_to,
            offset=offset,
            limit=limit,
        )
        if light is None:
            cases, total = ctx.service.store.list_cases(query)
        else:  # the light depends on now: filter the cases that have a deadline
            wide = CaseFilter(**{**query.__dict__, "offset": 0, "limit": 10_000})
            everything, _ = ctx.service.store.list_cases(wide)
            now = ctx.clock.now()
            matching = [c for c in everything if ctx.service.workflow.light(c, now) == light]
            total = len(matching)
            cases = matching[offset : offset + limit]
        return FastJSON(
            {
                "total": total,
                "offset": offset,
                "limit": limit,
                "items": [case_out(ctx, c) for c in cases],
            }
        )

    @app.post("/api/v1/cases", response_model=CaseDetailOut, status_code=201, tags=["cases"])
    def create_case(
        body: CaseIn, actor: Annotated[Actor, Depends(allow(_REPORTERS))]
    ) -> dict[str, Any]:
        kind = SourceKind.INSPECTOR if actor.role is Role.INSPECTOR else SourceKind.API
        grid = grids.get(body.grid_code) if body.grid_code else None
        if body.grid_code and grid is None:
            raise ApiError(422, "unknown_grid", f"no unit grid {body.grid_code} in the grid table")
        candidate = CandidateCase.create(
            source=Source(kind=kind, id=re.sub(r"[^A-Za-z0-9_\-]", "-", actor.name)[:64] or "api"),
            id=body.request_id or new_message_id("api"),
            ts=ctx.clock.now(),
            event_code=body.event_code,
            title=body.title,
            description=body.description,
            location=Location(
                grid_code=body.grid_code,
                district=body.district or (grid.district if grid else None) or None,
                address=body.address,
                lat=body.lat,
                lon=body.lon,
            ),
            reporter=Reporter(name=body.reporter_name, callback_number=body.callback_number)
            if body.reporter_name or body.callback_number
            else None,
            urgent=body.urgent,
            facts={"reported_by": actor.name, "role": str(actor.role)},
        )
        ctx.service.store_candidates([candidate])
        case = ctx.service.store.get_case(case_id_for(candidate.id))
        if case is None:  # a re-detection merged it elsewhere: not for API candidates
            raise ApiError(409, "no_case_opened", "the report was stored but no case was opened")
        return detail_out(case, actor)

    def detail_out(case: Case | CaseDetail, actor: Actor) -> dict[str, Any]:
        found = case if isinstance(case, CaseDetail) else ctx.service.store.case_detail(case.id)
        if found is None:  # gone since it was read (cases are never deleted)
            raise ApiError(404, "case_not_found", "no such case")
        case = found.case
        out = case_out(ctx, case)
        out["allowed_actions"] = [str(a) for a in ctx.service.workflow.allowed_actions(case, actor)]
        out["candidate_ids"] = found.candidate_ids
        out["reporter_name"] = case.reporter_name
        out["callback_number"] = case.callback_number
        out["evidence"] = [
            {
                "sha256": e.sha256,
                "media_type": e.media_type,
                "size": e.size,
                "role": e.role,
                "name": e.name,
                "available": e.stored,
                "url": f"/api/v1/cases/{case.id}/evidence/{e.sha256}",
            }
            for e in found.evidence
        ]
        return out

    @app.get("/api/v1/cases/by-number/{number}", response_model=CaseDetailOut, tags=["cases"])
    def case_by_number(
        number: Annotated[str, PathParam(max_length=32)],
        actor: Annotated[Actor, Depends(allow(_STAFF, Role.ADMIN))],
    ) -> dict[str, Any]:
        case = ctx.service.store.case_by_number(number)
        if case is None:
            raise ApiError(404, "case_not_found", f"no case number {number}")
        return detail_out(visible_case(case.id, actor), actor)

    @app.get("/api/v1/cases/overdue", response_model=CasePage, tags=["cases"])
    def overdue(
        actor: Annotated[Actor, Depends(allow(_STAFF, Role.ADMIN))],
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        query = CaseFilter(
            states=(str(CaseState.PROCESSING), str(CaseState.REPORTED)),
            deadline_before=ctx.clock.now(),
            department=actor.department if actor.role is Role.DEPARTMENT else None,
            offset=offset,
            limit=limit,
        )
        cases, total = ctx.service.store.list_cases(query)
        return {
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": [case_out(ctx, c) for c in cases],
        }

    @app.get("/api/v1/cases/{case_id}", response_model=CaseDetailOut, tags=["cases"])
    def get_case(
        case_id: str, actor: Annotated[Actor, Depends(allow(_STAFF, Role.ADMIN))]
    ) -> Response:
        return FastJSON(detail_out(visible_detail(case_id, actor), actor))

    @app.get("/api/v1/cases/{case_id}/steps", response_model=list[StepOut], tags=["cases"])
    def case_steps(
        case_id: str, actor: Annotated[Actor, Depends(allow(_STAFF, Role.ADMIN))]
    ) -> Response:
        visible_case(case_id, actor)
        return FastJSON([step_out(s.seq, s.step) for s in ctx.service.store.steps(case_id)])

    @app.post(
        "/api/v1/cases/{case_id}/transitions",
        response_model=TransitionOut,
        tags=["cases"],
        responses={409: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    )
    def transition(
        case_id: str, body: TransitionIn, actor: Annotated[Actor, Depends(allow(_STAFF))]
    ) -> dict[str, Any]:
        case = visible_case(case_id, actor)
        if body.expected_version is not None and body.expected_version != case.version:
            raise ApiError(
                409, "conflict", f"case is at version {case.version}, not {body.expected_version}"
            )
        if body.action in (Action.FEEDBACK, Action.CREATE, Action.REDETECTED):
            raise ApiError(403, "forbidden_role", f"{body.action} is the core's own step")
        for sha in body.attachments:
            if ctx.service.store.evidence_meta(sha) is None:
                raise ApiError(422, "attachment_not_uploaded", f"attachment {sha} was not uploaded")
        command = Command(
            body.action,
            opinion=body.opinion,
            department=body.department,
            merge_into=body.merge_into,
            extension_hours=body.extension_hours,
            attachments=tuple(body.attachments),
            facts={"reason": body.reason} if body.reason else {},
        )
        result = ctx.service.transition(case_id, command, actor)
        seq = ctx.service.store.steps(case_id)[-1].seq
        return {"case": case_out(ctx, result.case), "step": step_out(seq, result.step)}

    @app.post(
        "/api/v1/cases/{case_id}/attachments",
        response_model=AttachmentOut,
        status_code=201,
        tags=["cases"],
        summary="upload a photo or document for a later step (处理反馈 photos)",
    )
    def upload(
        case_id: str,
        actor: Annotated[Actor, Depends(allow(_STAFF))],
        file: Annotated[UploadFile, File()],
        role: Annotated[Literal["photo", "snapshot", "clip", "recording"], Form()] = "photo",
    ) -> dict[str, Any]:
        case = visible_case(case_id, actor)
        data = file.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(422, "too_large", f"an attachment is at most {MAX_UPLOAD_BYTES} bytes")
        if not data:
            raise ApiError(422, "empty_file", "the file is empty")
        media_type = _sniff_media_type(data, file.content_type)
        evidence = Evidence.from_bytes(
            data, media_type=media_type, role=EvidenceRole(role), name=(file.filename or "")[:200]
        )
        ctx.service.attach(case, evidence)
        return {"sha256": evidence.sha256, "media_type": media_type, "size": len(data)}

    @app.get(
        "/api/v1/cases/{case_id}/evidence/{sha256}",
        tags=["cases"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "audio/wav": {}, "video/mp4": {}}}},
    )
    def evidence_bytes(
        case_id: str, sha256: str, actor: Annotated[Actor, Depends(allow(_STAFF, Role.ADMIN))]
    ) -> Response:
        visible_case(case_id, actor)
        if not _SHA256.fullmatch(sha256):
            raise ApiError(404, "evidence_not_found", "no such evidence")
        link = next((e for e in ctx.service.store.evidence_of(case_id) if e.sha256 == sha256), None)
        if link is None:
            raise ApiError(404, "evidence_not_found", "no such evidence on this case")
        try:
            data = ctx.service.evidence.read(sha256)
        except FileNotFoundError as exc:
            raise ApiError(
                404, "not_available", "the bytes of this evidence never arrived"
            ) from exc
        return Response(
            data,
            media_type=link.media_type,
            headers={
                "Cache-Control": "private, max-age=86400",
                "ETag": f'"{sha256}"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    # ------------------------------------------------------------------ metrics

    def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        end = end or ctx.clock.now()
        start = start or end - timedelta(days=30)
        if start.tzinfo is None or end.tzinfo is None:
            raise ApiError(
                422, "timezone_required", "times need a timezone (e.g. 2026-01-05T00:00:00Z)"
            )
        if end <= start:
            raise ApiError(422, "bad_period", "the period must end after it starts")
        return start, end

    step_log = StepLog(ctx.service.store, ctx.clock.monotonic)

    def _steps() -> list[Any]:
        return step_log.steps()  # the new steps only, not the whole log each time

    @app.get("/api/v1/metrics", tags=["evaluation"])
    def metrics(
        _actor: Annotated[Actor, Depends(allow(_EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
        group_by: Annotated[
            Literal["none", "department", "district", "grid", "event_code"], Query()
        ] = "none",
    ) -> dict[str, Any]:
        s, e = _period(start, end)
        groups = evaluate(_steps(), s, e, ctx.config.metric_weights, group_by)
        return {"start": s, "end": e, "group_by": group_by, "groups": [g.as_dict() for g in groups]}

    @app.get("/api/v1/metrics.csv", tags=["evaluation"], response_class=PlainTextResponse)
    def metrics_csv(
        _actor: Annotated[Actor, Depends(allow(_EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
        group_by: Annotated[
            Literal["none", "department", "district", "grid", "event_code"], Query()
        ] = "none",
    ) -> Response:
        s, e = _period(start, end)
        text = to_csv(evaluate(_steps(), s, e, ctx.config.metric_weights, group_by))
        name = f"citygw-metrics-{group_by}-{s:%Y%m%d}-{e:%Y%m%d}.csv"
        return Response(
            text.encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/api/v1/metrics/roles", tags=["evaluation"])
    def metrics_roles(
        _actor: Annotated[Actor, Depends(allow(_EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any]:
        s, e = _period(start, end)
        return {"start": s, "end": e, "roles": role_activity(_steps(), s, e)}

    # ------------------------------------------------------------------ users

    @app.get("/api/v1/users", response_model=list[UserOut], tags=["users"])
    def list_users(_actor: Annotated[Actor, Depends(allow(Role.ADMIN))]) -> list[dict[str, Any]]:
        return [
            {
                "name": u["name"],
                "role": u["role"],
                "department": u["department"],
                "active": u["active"],
            }
            for u in ctx.auth.users()
        ]

    @app.post("/api/v1/users", response_model=UserOut, status_code=201, tags=["users"])
    def add_user(
        body: UserIn, _actor: Annotated[Actor, Depends(allow(Role.ADMIN))]
    ) -> dict[str, Any]:
        try:
            ctx.auth.add_user(body.name, body.role, body.password, body.department)
        except UserError as exc:
            raise ApiError(422, "bad_user", str(exc)) from exc
        return {"name": body.name, "role": body.role, "department": body.department, "active": True}

    @app.post("/api/v1/users/{name}/deactivate", status_code=204, tags=["users"])
    def deactivate(name: str, actor: Annotated[Actor, Depends(allow(Role.ADMIN))]) -> Response:
        if name == actor.name:
            raise ApiError(409, "cannot_deactivate_self", "an admin cannot deactivate themselves")
        if not ctx.auth.deactivate(name):
            raise ApiError(404, "user_not_found", f"no user {name}")
        return Response(status_code=204)

    # ------------------------------------------------------------------ Open311 and console

    from gateway.core.call_record_routes import call_records_router
    from gateway.core.open311 import open311_router

    app.include_router(open311_router(ctx))
    from gateway.core.api_live import live_router

    app.include_router(live_router(ctx, allow))
    app.include_router(call_records_router(ctx, allow, ctx.call_records))
    if ctx.dead_letters is not None:
        app.include_router(dead_letters_router(allow, ctx.dead_letters))
    from gateway.core.verification_routes import camera_checks_router

    app.include_router(camera_checks_router(ctx, allow, ctx.verifications))
    add_docs(app)
    app.add_route("/", _to_console, include_in_schema=False)
    app.mount(
        "/console", StaticFiles(directory=WEB_DIR, html=True, check_dir=False), name="console"
    )
    return app


async def _to_console(_request: Request) -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


_MAGIC = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"RIFF", "audio/wav"),
    (b"%PDF", "application/pdf"),
]


def _sniff_media_type(data: bytes, declared: str | None) -> str:
    """The media type from the bytes where we know the signature; else the declared one."""
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    if len(data) > 12 and data[4:8] == b"ftyp":
        return "video/mp4"
    if (
        declared
        and re.fullmatch(r"[a-z]+/[A-Za-z0-9.+\-]+", declared)
        and not declared.startswith("text/html")
    ):
        return declared
    return "application/octet-stream"
