"""``/api/v1/cases``: the case list, reports, the case page, its steps, transitions and evidence.

Who sees which case is `case_views`' rule; who may call which route, `allow`'s. The list
filters by state, event code, grid, department, creation time and light (the light
depends on now, so it is computed over the matching cases with a deadline); a report
(``POST``) goes through the same intake as MQTT candidates, its source the reporting
user: a grid code it names is its grid, else its point (lat and lon, both or neither:
the console's place picker, `views/report_place.js`) is placed on the imported grids,
and a point outside every grid gets no grid and ``outside_managed_area``. Attachments
are sniffed for their media type; evidence bytes are served with their stored type and
``nosniff``.
"""

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

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
from gateway.core.api_base import (
    REPORTERS,
    STAFF,
    ApiContext,
    ApiError,
    FastJSON,
    allow,
    event_name,
)
from gateway.core.api_schemas import (
    AttachmentOut,
    CaseDetailOut,
    CaseIn,
    CasePage,
    CaseQuery,
    ErrorOut,
    StepOut,
    TransitionIn,
    TransitionOut,
)
from gateway.core.case_views import (
    case_out,
    detail_out,
    reporter_id,
    scope_of,
    step_out,
    unit_filter,
    visible_case,
    visible_detail,
)
from gateway.core.dispatch import UnitGrid
from gateway.core.intake import case_id_for
from gateway.core.nul_guard import refuse_nul
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action, Actor, CaseState, Command, Role

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def cases_router(ctx: ApiContext, grids: dict[str, UnitGrid]) -> APIRouter:
    """The routes above; ``grids`` are the unit grids a report may name."""
    router = APIRouter()

    @router.get("/api/v1/cases", response_model=CasePage, tags=["cases"])
    def list_cases(
        actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
        q: Annotated[CaseQuery, Query()],
    ) -> Response:
        for moment in (q.created_from, q.created_to):
            if moment is not None and moment.tzinfo is None:
                raise ApiError(
                    422, "timezone_required", "times need a timezone (e.g. 2026-01-05T00:00:00Z)"
                )
        light, offset, limit = q.light, q.offset, q.limit
        department, community = unit_filter(ctx, actor, q.department)
        query = CaseFilter(
            states=tuple(str(s) for s in q.state or ()),
            event_code=q.event_code,
            grid_prefix=q.grid,
            department=department,
            community=community,
            scope=scope_of(actor),
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
                "items": [case_out(ctx, c, actor) for c in cases],
            }
        )

    @router.post("/api/v1/cases", response_model=CaseDetailOut, status_code=201, tags=["cases"])
    def create_case(
        body: CaseIn, actor: Annotated[Actor, Depends(allow(REPORTERS))]
    ) -> dict[str, Any]:
        event_name(ctx, body.event_code)  # unknown_event_code: no case without a class
        kind = SourceKind.INSPECTOR if actor.role is Role.INSPECTOR else SourceKind.API
        if (body.lat is None) != (body.lon is None):
            raise ApiError(422, "position_incomplete", "send both lat and lon, or neither")
        grid = grids.get(body.grid_code) if body.grid_code else None
        if body.grid_code and grid is None:
            raise ApiError(422, "unknown_grid", f"no unit grid {body.grid_code} in the grid table")
        candidate = CandidateCase.create(
            source=Source(kind=kind, id=reporter_id(actor.name)),
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
            facts={
                "reported_by": actor.name,
                "role": str(actor.role),
                **({"call_uniqueid": body.call_uniqueid} if body.call_uniqueid else {}),
            },
        )
        ctx.service.store_candidates([candidate])
        case = ctx.service.store.get_case(case_id_for(candidate.id))
        if case is None:  # a re-detection merged it elsewhere: not for API candidates
            raise ApiError(409, "no_case_opened", "the report was stored but no case was opened")
        return detail_out(ctx, case, actor)

    @router.get("/api/v1/cases/by-number/{number}", response_model=CaseDetailOut, tags=["cases"])
    def case_by_number(
        number: Annotated[str, PathParam(max_length=32)],
        actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
    ) -> dict[str, Any]:
        case = ctx.service.store.case_by_number(number)
        if case is None:
            raise ApiError(404, "case_not_found", f"no case number {number}")
        return detail_out(ctx, visible_case(ctx, case.id, actor), actor)

    @router.get("/api/v1/cases/overdue", response_model=CasePage, tags=["cases"])
    def overdue(
        actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        department, community = unit_filter(ctx, actor, None)
        query = CaseFilter(
            states=(str(CaseState.PROCESSING), str(CaseState.REPORTED)),
            deadline_before=ctx.clock.now(),
            department=department,
            community=community,
            scope=scope_of(actor),
            offset=offset,
            limit=limit,
        )
        cases, total = ctx.service.store.list_cases(query)
        return {
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": [case_out(ctx, c, actor) for c in cases],
        }

    @router.get("/api/v1/cases/{case_id}", response_model=CaseDetailOut, tags=["cases"])
    def get_case(
        case_id: str, actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))]
    ) -> Response:
        return FastJSON(detail_out(ctx, visible_detail(ctx, case_id, actor), actor))

    @router.get("/api/v1/cases/{case_id}/steps", response_model=list[StepOut], tags=["cases"])
    def case_steps(
        case_id: str, actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))]
    ) -> Response:
        visible_case(ctx, case_id, actor)
        return FastJSON([step_out(s.seq, s.step) for s in ctx.service.store.steps(case_id)])

    @router.post(
        "/api/v1/cases/{case_id}/transitions",
        response_model=TransitionOut,
        tags=["cases"],
        responses={409: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    )
    def transition(
        case_id: str, body: TransitionIn, actor: Annotated[Actor, Depends(allow(STAFF))]
    ) -> dict[str, Any]:
        case = visible_case(ctx, case_id, actor)
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
            community=body.community,
            merge_into=body.merge_into,
            extension_hours=body.extension_hours,
            attachments=tuple(body.attachments),
            facts={"reason": body.reason} if body.reason else {},
        )
        result = ctx.service.transition(case_id, command, actor)
        seq = ctx.service.store.steps(case_id)[-1].seq
        return {"case": case_out(ctx, result.case, actor), "step": step_out(seq, result.step)}

    @router.post(
        "/api/v1/cases/{case_id}/attachments",
        response_model=AttachmentOut,
        status_code=201,
        tags=["cases"],
        summary="upload a photo or document for a later step (处理反馈 photos)",
    )
    def upload(
        case_id: str,
        actor: Annotated[Actor, Depends(allow(STAFF))],
        file: Annotated[UploadFile, File()],
        role: Annotated[Literal["photo", "snapshot", "clip", "recording"], Form()] = "photo",
    ) -> dict[str, Any]:
        refuse_nul(file.filename)  # the name is kept with the evidence
        case = visible_case(ctx, case_id, actor)
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

    @router.get(
        "/api/v1/cases/{case_id}/evidence/{sha256}",
        tags=["cases"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "audio/wav": {}, "video/mp4": {}}}},
    )
    def evidence_bytes(
        case_id: str, sha256: str, actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))]
    ) -> Response:
        visible_case(ctx, case_id, actor)
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

    return router


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
