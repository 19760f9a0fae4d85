"""The core's HTTP API (FastAPI), assembled: error handlers, health, reference data, and
the routers of each concept (accounts, cases, evaluation, Open311, live, call records,
dead letters, camera checks), the docs and the console.

JSON everywhere; OpenAPI at ``/openapi.json`` and docs at ``/docs``. Every route has an
access rule: `api_base.allow(...)` names the roles that may call it (``PUBLIC`` for the
few that need no token: health and the OpenAPI document). Department users see and act on
their own department's cases only. Handlers are plain functions: FastAPI runs them on
its bounded worker threads, so blocking database calls never stall the event loop.

Errors are ``{"error": code, "detail": reason}`` with 400/401/403/404/409/422 status
codes; a request never gets a 5xx for bad input.
"""

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from gateway.core.account_routes import accounts_router
from gateway.core.api_base import ALL_USERS, ApiContext, ApiError, allow
from gateway.core.api_docs import add_docs
from gateway.core.api_live import live_router
from gateway.core.api_schemas import DepartmentOut, ErrorOut
from gateway.core.call_record_routes import call_records_router
from gateway.core.case_component_routes import case_components_router
from gateway.core.case_routes import cases_router
from gateway.core.dead_letter_routes import dead_letters_router
from gateway.core.desk_routes import desk_router
from gateway.core.dispatch import known_grids
from gateway.core.evaluation_routes import evaluation_router
from gateway.core.gis_routes import gis_router
from gateway.core.http_metrics import HttpMetrics, metrics_router
from gateway.core.mobile_routes import mobile_router
from gateway.core.nul_guard import NulGuard
from gateway.core.open311 import open311_router
from gateway.core.organisation_routes import organisation_router
from gateway.core.ports import CaseNotFound, ConcurrentUpdate
from gateway.core.ptz_routes import ptz_router
from gateway.core.publication_routes import publication_router
from gateway.core.recordings import RecordingFolder
from gateway.core.security_headers import SecurityHeaders
from gateway.core.verification_routes import camera_checks_router
from gateway.core.workflow import STATE_LABELS, Actor, TransitionRefused
from gateway.object_labels import OBJECT_LABELS
from gateway.observability import Metrics

__all__ = ["WEB_DIR", "ApiContext", "ApiError", "create_app"]

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
#: Debian's libjs-leaflet, served to the console's map at /vendor/leaflet (nothing from the internet)
LEAFLET_DIR = Path("/usr/share/javascript/leaflet")


def _error(status: int, code: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


_REFUSAL_STATUS = {
    "forbidden_role": 403,
    "not_your_case": 403,
    "not_your_level": 403,
    "department_not_in_level": 403,
    "no_district": 409,
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
    # 四级联动 (gateway.core.community_linkage)
    "not_your_community": 403,
    "street_office_only": 403,
    "not_a_street_office": 403,
    "with_community": 409,
    "not_with_community": 409,
    "community_required": 422,
    "community_not_in_street": 422,
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


def create_app(
    ctx: ApiContext,
    *,
    metrics: Metrics | None = None,
    metrics_route: bool = False,
    metrics_token: str | None = None,
) -> FastAPI:
    """The app; with ``metrics``, every request is timed by route (`http_metrics`) and,
    with ``metrics_route``, ``/metrics`` serves them (``metrics_token``: bearer wanted)."""

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
    if ctx.recordings is None and ctx.config.recordings.folder is not None:
        ctx.recordings = RecordingFolder(ctx.config.recordings)
    app.add_middleware(NulGuard)  # inside SecurityHeaders: its refusals get the headers too
    app.add_middleware(
        SecurityHeaders,
        signalling_url=ctx.config.live_view.signalling_url,
        tile_url=ctx.config.map_tile_url,
        hsts_max_age_s=ctx.config.http_tls.hsts_max_age_s if ctx.config.http_tls else 0,
    )
    if metrics is not None:
        app.add_middleware(HttpMetrics, metrics=metrics)  # outermost: times the headers too
        if metrics_route:
            app.include_router(metrics_router(metrics, metrics_token))
    grids = ctx.grids if ctx.grids is not None else known_grids(ctx.config)

    @app.exception_handler(ApiError)
    def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        response = _error(exc.status, exc.code, exc.detail)
        response.headers.update(exc.headers)
        return response

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

    # ------------------------------------------------------------------ public

    @app.get("/healthz", tags=["meta"], summary="liveness (public)")
    def healthz() -> Any:
        """200, or 503 with the reason when intake is stalled (messages wait, none stored);
        ``warnings`` (while any): a year deadlines will soon reach whose holidays are not
        known, e.g. counted provisionally (evaluated now, not at start-up)."""
        problem = ctx.intake_health() if ctx.intake_health is not None else None
        if problem is not None:
            return _error(503, "intake_stalled", problem)
        said = ctx.service.workflow.calendar.warnings(ctx.clock.now())
        return {"status": "ok", **({"warnings": [w.to_dict() for w in said]} if said else {})}

    # ------------------------------------------------------------------ reference data

    @app.get("/api/v1/departments", response_model=list[DepartmentOut], tags=["reference"])
    def departments(_actor: Annotated[Actor, Depends(allow(ALL_USERS))]) -> list[dict[str, str]]:
        # the city's, then the districts' departments and street offices (organisation)
        names = ctx.service.workflow.table.departments
        return [{"id": d, "name": name} for d, name in names.items()]

    @app.get("/api/v1/event-codes", tags=["reference"], summary="CJ/T 214 event codes")
    def event_codes(_actor: Annotated[Actor, Depends(allow(ALL_USERS))]) -> dict[str, str]:
        return ctx.event_names

    @app.get("/api/v1/locale", tags=["reference"], summary="time zone and object names")
    def locale(_actor: Annotated[Actor, Depends(allow(ALL_USERS))]) -> dict[str, Any]:
        """What the console shows times in (the centre's calendar time zone) and the
        Chinese names of detector labels (gateway.object_labels)."""
        return {"time_zone": ctx.config.calendar.timezone, "object_labels": OBJECT_LABELS}

    @app.get("/api/v1/grids", tags=["reference"], summary="the city's unit grids")
    def unit_grids(_actor: Annotated[Actor, Depends(allow(ALL_USERS))]) -> list[dict[str, str]]:
        return [dataclasses.asdict(g) for g in sorted(grids.values(), key=lambda g: g.code)]

    @app.get("/api/v1/states", tags=["reference"])
    def states(_actor: Annotated[Actor, Depends(allow(ALL_USERS))]) -> dict[str, str]:
        return {str(s): label for s, label in STATE_LABELS.items()}

    app.include_router(accounts_router(ctx, grids))
    app.include_router(cases_router(ctx, grids))
    app.include_router(evaluation_router(ctx))
    app.include_router(organisation_router(ctx))
    app.include_router(publication_router(ctx))
    app.include_router(open311_router(ctx))
    app.include_router(live_router(ctx))
    app.include_router(call_records_router(ctx.call_records, ctx.recordings))
    app.include_router(desk_router(ctx))
    if ctx.dead_letters is not None:
        app.include_router(dead_letters_router(ctx.dead_letters))
    app.include_router(camera_checks_router(ctx, ctx.verifications))
    app.include_router(ptz_router(ctx))
    if ctx.gis is not None:
        app.include_router(gis_router(ctx, ctx.gis))
    app.include_router(case_components_router(ctx, ctx.gis))
    app.include_router(mobile_router(ctx))
    add_docs(app)
    app.add_route("/", _to_console, include_in_schema=False)
    app.mount(
        "/vendor/leaflet", StaticFiles(directory=LEAFLET_DIR, check_dir=False), name="leaflet"
    )
    app.mount(
        "/console", StaticFiles(directory=WEB_DIR, html=True, check_dir=False), name="console"
    )
    return app


async def _to_console(_request: Request) -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)
