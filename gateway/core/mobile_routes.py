"""``/api/v1/mobile``: the inspector's phone app (issue 19) in one request per thing done.

- ``POST /api/v1/mobile/reports``: a problem found in the street, as one multipart form
  (event code, text, the phone's position and its accuracy, photos, an optional voice
  note) that becomes a
  candidate of kind ``inspector`` through the same intake as every channel, its photos
  linked to the new case in the same transaction. The client makes ``request_id``: the
  same id again (a resend after a lost answer, the offline queue) answers with the case
  it made, never a second one. The grid comes from the point (intake's grid lookup).
- ``POST /api/v1/mobile/tasks/{case_id}/answer``: a task answered on site (pass/fail,
  opinion, photos, an optional voice note, position): the photos and the note are attached
  (the step's ``attachments`` name them, its fact ``voice_note_s`` the note's length) and,
  for a report still 信息收集,
  ``confirm_pass`` / ``confirm_fail`` (核实: 属实 / 不属实) applied, for a case reported
  done ``verify_pass`` / ``verify_fail`` (核查); an answer whose ``request_id`` this
  inspector already put on the case's log answers with that step again.

Photos are checked by `gateway.core.photos.check_photo` (a file that is not an image is
refused with ``bad_photo``; EXIF, anything appended and any oversize dropped; what the
phone app sends keeps its JPEG frame, anything else is decoded, turned upright, shrunk
to `MAX_PHOTO_EDGE` px and re-encoded); a photo's EXIF GPS position is kept as a fact
(``photo_positions``: ``[{"photo": 1, "lat", "lon"}]``) on the case or the answer step.
A report's voice note (``voice``, at most `MAX_VOICE_BYTES` and `MAX_VOICE_SECONDS`) is
checked by `gateway.core.voice_notes.check_voice` (``bad_voice``, ``voice_too_large``,
``voice_too_long``) and kept as evidence of role ``voice_note``, its length as the fact
``voice_note_s``; an answer's note is checked the same way and is evidence of the case
named in the answer step's ``attachments``, its length the step's ``voice_note_s``. A
report's or an answer's photos and note are all checked (an answer's step too, by the
workflow) before any is stored; a report's go to the evidence store before its
transaction, so the candidate carries their hashes, not their bytes. The task list is ``GET /api/v1/mobile/tasks`` (`task_routes`);
``GET /api/v1/mobile/event-classes`` gives the class picker the event codes by big class.

A text field (or a photo's file name) holding a NUL character is refused with
``nul_character`` (`nul_guard.refuse_nul`: PostgreSQL stores no NUL in text).

The request body as a whole is bounded by the routes' class (`body_limit.LimitedBody`):
413 ``body_too_large`` before Starlette spools a multipart file past it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile

from gateway.contract import (
    CandidateCase,
    Evidence,
    EvidenceRole,
    Location,
    Source,
    SourceKind,
)
from gateway.contract.envelope import EVENT_CODE_PATTERN
from gateway.core.api_base import REPORTERS, ApiContext, ApiError, allow, event_name
from gateway.core.api_schemas import CaseDetailOut, TransitionOut
from gateway.core.body_limit import LimitedBody
from gateway.core.case_views import case_out, detail_out, reporter_id, step_out, visible_case
from gateway.core.codes import load_event_groups
from gateway.core.inspector_routes import inspector_router
from gateway.core.intake import case_id_for, distance_m
from gateway.core.nul_guard import refuse_nul
from gateway.core.patrol_routes import patrols_router
from gateway.core.photos import MAX_PHOTO_EDGE, check_photo
from gateway.core.task_routes import task_case, tasks_router
from gateway.core.voice_notes import (
    MAX_VOICE_BYTES,
    MAX_VOICE_SECONDS,
    VoiceCheck,
    check_voice,
)
from gateway.core.workflow import Action, Actor, CaseState, Command, Role, TransitionRefused

#: bytes of one photo as sent (phones resize before sending; this bounds a bad client)
MAX_PHOTO_BYTES = 12 * 1024 * 1024
#: photos in one report or answer
MAX_PHOTOS = 4
REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{7,127}$"
__all__ = [
    "MAX_PHOTO_EDGE",
    "MAX_VOICE_BYTES",
    "MAX_VOICE_SECONDS",
    "clean_photo",
    "mobile_router",
]


def clean_photo(data: bytes) -> bytes:
    """The photo as stored (`gateway.core.photos.check_photo`): at most `MAX_PHOTO_EDGE`
    px, upright, no EXIF; ApiError ``bad_photo`` when it is no image."""
    return check_photo(data).jpeg


def _placed_by_hand(
    source: str,
    lat: float | None,
    lon: float | None,
    gps_lat: float | None,
    gps_lon: float | None,
    gps_accuracy_m: float | None,
) -> dict[str, Any]:
    """The facts of a point the inspector moved on the phone's map (position_source map):
    where the phone's GPS had put them and how far the point was moved, so an auditor sees a
    report filed away from where the phone stood. Nothing for a GPS point."""
    if source != "map":
        return {}
    if lat is None or lon is None:
        raise ApiError(422, "position_incomplete", "a point placed on the map needs lat and lon")
    facts: dict[str, Any] = {"position_source": "map"}
    if gps_lat is not None and gps_lon is not None:
        fix: dict[str, float] = {"lat": gps_lat, "lon": gps_lon}
        if gps_accuracy_m is not None:
            fix["accuracy_m"] = round(gps_accuracy_m, 1)
        facts["gps_fix"] = fix
        facts["position_moved_m"] = round(distance_m(lat, lon, gps_lat, gps_lon))
    return facts


def _photos(files: list[UploadFile]) -> tuple[list[tuple[bytes, str]], list[dict[str, Any]]]:
    """The uploads checked: (the JPEG to keep, its name) each, and the EXIF positions
    found in them (``{"photo": n, "lat", "lon"}``, n counting from 1)."""
    if len(files) > MAX_PHOTOS:
        raise ApiError(422, "too_many_photos", f"at most {MAX_PHOTOS} photos")
    out = []
    positions: list[dict[str, Any]] = []
    for i, upload in enumerate(files):
        data = upload.file.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise ApiError(422, "photo_too_large", f"photo {i + 1}: at most {MAX_PHOTO_BYTES} B")
        try:
            checked = check_photo(data)
        except ApiError as exc:
            exc.detail = f"photo {i + 1}: {exc.detail}"
            raise
        if checked.position is not None:
            positions.append({"photo": i + 1, **checked.position})
        out.append((checked.jpeg, (upload.filename or f"photo-{i + 1}.jpg")[:200]))
    return out, positions


def _voice(upload: UploadFile | None) -> VoiceCheck | None:
    """The voice note checked (`check_voice`: the audio alone, remuxed into a fresh WebM or
    MP4); None without one."""
    if upload is None:
        return None
    return check_voice(upload.file.read(MAX_VOICE_BYTES + 1))  # voice_too_large past it


def _stored_voice(ctx: ApiContext, note: VoiceCheck) -> Evidence:
    digest = ctx.service.evidence.put(note.data)
    return Evidence(
        sha256=digest,
        media_type=note.media_type,
        role=EvidenceRole.VOICE_NOTE,
        size=len(note.data),
        name=f"voice-note.{note.extension}",
    )


def _stored(ctx: ApiContext, jpeg: bytes, name: str) -> Evidence:
    """The photo put in the evidence store now; the evidence names it by hash (no bytes
    inline: intake links what the store holds)."""
    digest = ctx.service.evidence.put(jpeg)
    return Evidence(
        sha256=digest, media_type="image/jpeg", role=EvidenceRole.PHOTO, size=len(jpeg), name=name
    )


def event_classes(
    names: dict[str, str], groups: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """The event codes by CJ/T 214 big class (the code's first two digits), for the picker:
    ``[{"code": "05", "name": "街面秩序", "events": [{"code": "0501", "name": ...}]}]``;
    a class without a name in the table has ``name`` None."""
    classes: dict[str, dict[str, Any]] = {}
    for code in sorted(names):
        entry = classes.setdefault(code[:2], {"code": code[:2], "name": None, "events": []})
        entry["events"].append({"code": code, "name": names[code]})
        if entry["name"] is None and code in groups:
            entry["name"] = groups[code][0]
    return list(classes.values())


def mobile_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(route_class=LimitedBody)  # 413 body_too_large past its limit
    router.include_router(tasks_router(ctx))
    if ctx.patrols is not None:
        router.include_router(patrols_router(ctx, ctx.patrols))
    router.include_router(inspector_router(ctx))  # the evaluation's inspector figures
    classes = event_classes(ctx.event_names, load_event_groups())

    @router.get("/api/v1/mobile/event-classes", tags=["mobile"], summary="event codes by class")
    def event_class_list(
        _actor: Annotated[Actor, Depends(allow(REPORTERS))],
    ) -> list[dict[str, Any]]:
        return classes

    @router.post(
        "/api/v1/mobile/reports",
        response_model=CaseDetailOut,
        status_code=201,
        tags=["mobile"],
        summary="an inspector's report with its photos and voice note, in one request (idempotent)",
    )
    def report(
        actor: Annotated[Actor, Depends(allow(REPORTERS))],
        request_id: Annotated[str, Form(pattern=REQUEST_ID)],
        event_code: Annotated[str, Form(pattern=EVENT_CODE_PATTERN)],
        description: Annotated[str, Form(max_length=4000)] = "",
        address: Annotated[str | None, Form(max_length=500)] = None,
        lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
        accuracy_m: Annotated[float | None, Form(ge=0, le=100_000)] = None,
        position_source: Annotated[Literal["gps", "map"], Form()] = "gps",
        gps_lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
        gps_lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
        gps_accuracy_m: Annotated[float | None, Form(ge=0, le=100_000)] = None,
        photos: Annotated[list[UploadFile] | None, File()] = None,
        voice: Annotated[UploadFile | None, File()] = None,
    ) -> dict[str, Any]:
        refuse_nul(description, address, *(p.filename for p in photos or []))
        existing = ctx.service.store.get_case(case_id_for(request_id))
        if existing is not None:  # a resend: the case it made, photos and note not read again
            return detail_out(ctx, visible_case(ctx, existing.id, actor), actor)
        title = event_name(ctx, event_code)  # unknown_event_code
        if (lat is None) != (lon is None):
            raise ApiError(422, "position_incomplete", "send both lat and lon, or neither")
        checked, positions = _photos(photos or [])
        note = _voice(voice)  # everything checked before anything is stored
        evidence = [_stored(ctx, jpeg, name) for jpeg, name in checked]
        facts: dict[str, Any] = {"reported_by": actor.name, "role": str(actor.role)}
        facts["channel"] = "mobile"
        if note is not None:
            evidence.append(_stored_voice(ctx, note))
            facts["voice_note_s"] = note.seconds
        if positions:
            facts["photo_positions"] = positions
        if accuracy_m is not None:
            facts["position_accuracy_m"] = round(accuracy_m, 1)
        facts.update(_placed_by_hand(position_source, lat, lon, gps_lat, gps_lon, gps_accuracy_m))
        kind = SourceKind.INSPECTOR if actor.role is Role.INSPECTOR else SourceKind.API
        candidate = CandidateCase.create(
            source=Source(kind=kind, id=reporter_id(actor.name)),
            id=request_id,
            ts=ctx.clock.now(),
            event_code=event_code,
            title=title,
            description=description,
            location=Location(address=address or None, lat=lat, lon=lon),
            evidence=evidence,
            facts=facts,
        )
        try:
            ctx.service.store_candidates([candidate])
        except Exception:
            # the same id sent twice at once (a resend while the first was being stored):
            # the loser's insert fails on the winner's row; answer with the winner's case
            if ctx.service.store.get_case(case_id_for(candidate.id)) is None:
                raise
        case = ctx.service.store.get_case(case_id_for(candidate.id))
        if case is None:
            raise ApiError(409, "no_case_opened", "the report was stored but no case was opened")
        return detail_out(ctx, case, actor)

    @router.post(
        "/api/v1/mobile/tasks/{case_id}/answer",
        response_model=TransitionOut,
        tags=["mobile"],
        summary="a 核实 or 核查 answered on site: pass or fail, photos, voice note (idempotent)",
    )
    def answer(
        case_id: str,
        actor: Annotated[Actor, Depends(allow(Role.INSPECTOR))],
        request_id: Annotated[str, Form(pattern=REQUEST_ID)],
        verdict: Annotated[Literal["pass", "fail"], Form()],
        opinion: Annotated[str, Form(max_length=4000)] = "",
        lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
        photos: Annotated[list[UploadFile] | None, File()] = None,
        voice: Annotated[UploadFile | None, File()] = None,
    ) -> dict[str, Any]:
        refuse_nul(opinion, *(p.filename for p in photos or []))
        earlier = _answered(ctx, case_id, request_id, actor)
        if earlier is not None:  # a resend: its step, photos and note not read again
            return earlier
        case = task_case(ctx, case_id, actor)
        checked, positions = _photos(photos or [])
        note = _voice(voice)  # everything checked before anything is stored
        evidence = [
            Evidence.from_bytes(jpeg, media_type="image/jpeg", role=EvidenceRole.PHOTO, name=name)
            for jpeg, name in checked
        ]
        facts: dict[str, Any] = {"request_id": request_id, "channel": "mobile"}
        if note is not None:  # the same upload is the same bytes: a resend links it once
            evidence.append(
                Evidence.from_bytes(
                    note.data,
                    media_type=note.media_type,
                    role=EvidenceRole.VOICE_NOTE,
                    name=f"voice-note.{note.extension}",
                )
            )
            facts["voice_note_s"] = note.seconds
        if lat is not None and lon is not None:
            facts.update(lat=lat, lon=lon)
        if positions:
            facts["photo_positions"] = positions
        # 核实 of a report not yet registered, 核查 of one reported done
        confirm = case.state is CaseState.CANDIDATE
        passing = (Action.CONFIRM_PASS, Action.VERIFY_PASS)[not confirm]
        failing = (Action.CONFIRM_FAIL, Action.VERIFY_FAIL)[not confirm]
        command = Command(
            passing if verdict == "pass" else failing,
            opinion=opinion,
            attachments=tuple(e.sha256 for e in evidence),
            facts=facts,
        )
        try:
            # the workflow's refusal (no opinion, the case moved on) before anything is kept
            ctx.service.workflow.apply(case, command, actor, ctx.clock.now())
            for item in evidence:
                ctx.service.attach(case, item)
            result = ctx.service.transition(case_id, command, actor)
        except TransitionRefused:
            # the same answer sent twice at once: the first moved the case on
            earlier = _answered(ctx, case_id, request_id, actor)
            if earlier is None:
                raise
            return earlier
        seq = ctx.service.store.steps(case_id)[-1].seq
        return {"case": case_out(ctx, result.case, actor), "step": step_out(seq, result.step)}

    return router


def _answered(
    ctx: ApiContext, case_id: str, request_id: str, actor: Actor
) -> dict[str, Any] | None:
    """The answer this inspector already gave under ``request_id``, as the route answers it."""
    for stored in ctx.service.store.steps(case_id):
        step = stored.step
        if step.facts.get("request_id") == request_id and step.actor == actor.name:
            case = ctx.service.store.get_case(case_id)
            if case is None:  # pragma: no cover (cases are never deleted)
                return None
            return {"case": case_out(ctx, case, actor), "step": step_out(stored.seq, step)}
    return None
