"""Open311 GeoReport v2 facade over the case store (JSON).

- ``GET /open311/v2/services.json``: one service per CJ/T 214 event code;
- ``GET /open311/v2/requests.json`` (filters: service_request_id, service_code,
  start_date, end_date, status) and ``GET /open311/v2/requests/{id}.json``;
- ``POST /open311/v2/requests.json`` (form fields of the spec; ``api_key`` is an API
  token of an operator, shift lead or inspector) opens a case through the same intake
  as MQTT candidates.

Mapping: ``service_request_id`` = case number; our states map to ``open``/``closed``;
``expected_datetime`` = the deadline; ``agency_responsible`` = the department. Reads are
public, as GeoReport intends; they never show the reporter's name or phone.
"""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import JSONResponse

from gateway.contract import CandidateCase, Location, Reporter, Source, SourceKind, new_message_id
from gateway.core.api_base import ApiContext
from gateway.core.auth import AuthError
from gateway.core.intake import case_id_for
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Case, CaseState, Role

CLOSED_STATES = frozenset(
    {CaseState.CLOSED, CaseState.EVALUATED, CaseState.REJECTED, CaseState.MERGED, CaseState.VOIDED}
)
_REPORTER_ROLES = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.INSPECTOR})


def open311_status(state: CaseState) -> str:
    return "closed" if state in CLOSED_STATES else "open"


def _error(status: int, code: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": code, "description": description}], status_code=status)


def open311_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/open311/v2", tags=["open311"])

    def request_out(case: Case) -> dict[str, Any]:
        last_change = case.closed_at or case.dispatched_at or case.created_at
        return {
            "service_request_id": case.number,
            "status": open311_status(case.state),
            "status_notes": case.state.value,
            "service_name": ctx.event_names.get(case.event_code, case.event_code),
            "service_code": case.event_code,
            "description": case.description or case.title,
            "agency_responsible": case.department,
            "service_notice": "",
            "requested_datetime": case.created_at.isoformat(),
            "updated_datetime": last_change.isoformat(),
            "expected_datetime": case.deadline.isoformat() if case.deadline else None,
            "address": case.address,
            "address_id": case.grid_code,
            "zipcode": None,
            "lat": case.lat,
            "long": case.lon,
            "media_url": None,
        }

    @router.get("/services.json", summary="the service list: CJ/T 214 event codes (public)")
    def services() -> list[dict[str, Any]]:
        return [
            {
                "service_code": code,
                "service_name": name,
                "description": name,
                "metadata": False,
                "type": "realtime",
                "keywords": "",
                "group": code[:2],
            }
            for code, name in sorted(ctx.event_names.items())
        ]

    @router.get("/requests.json", summary="service requests (public, no personal data)")
    def requests(
        service_request_id: Annotated[str | None, Query(max_length=400)] = None,
        service_code: Annotated[str | None, Query(pattern=r"^\d{4}(,\d{4})*$")] = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        status: Literal["open", "closed"] | None = None,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        for moment in (start_date, end_date):
            if moment is not None and moment.tzinfo is None:
                return _error(
                    400, 400, "dates need a timezone (W3C format, e.g. 2026-01-05T00:00:00Z)"
                )
        if service_request_id:
            found = [
                ctx.service.store.case_by_number(n.strip()) for n in service_request_id.split(",")
            ]
            return [request_out(c) for c in found if c is not None]
        codes = service_code.split(",") if service_code else [None]
        states: tuple[str, ...] = ()
        if status == "closed":
            states = tuple(str(s) for s in CLOSED_STATES)
        elif status == "open":
            states = tuple(str(s) for s in CaseState if s not in CLOSED_STATES)
        out: list[dict[str, Any]] = []
        for code in codes:
            cases, _ = ctx.service.store.list_cases(
                CaseFilter(
                    states=states,
                    event_code=code,
                    created_from=start_date,
                    created_to=end_date,
                    limit=page_size,
                )
            )
            out.extend(request_out(c) for c in cases)
        return out[:page_size]

    @router.get("/requests/{request_id}.json", summary="one service request (public)")
    def one_request(request_id: Annotated[str, Path(max_length=64)]) -> Any:
        case = ctx.service.store.case_by_number(request_id)
        if case is None:
            return _error(404, 404, f"no service request {request_id}")
        return [request_out(case)]

    @router.post(
        "/requests.json", summary="report a problem (api_key: an operator's/inspector's token)"
    )
    def post_request(
        api_key: Annotated[str, Form(max_length=200)],
        service_code: Annotated[str, Form(pattern=r"^\d{4}$")],
        lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
        long: Annotated[float | None, Form(ge=-180, le=180)] = None,
        address_string: Annotated[str | None, Form(max_length=500)] = None,
        address_id: Annotated[str | None, Form(pattern=r"^\d{14}$")] = None,
        description: Annotated[str, Form(max_length=4000)] = "",
        first_name: Annotated[str | None, Form(max_length=50)] = None,
        last_name: Annotated[str | None, Form(max_length=50)] = None,
        phone: Annotated[str | None, Form(pattern=r"^[0-9+*#]{1,32}$")] = None,
        device_id: Annotated[str | None, Form(max_length=100)] = None,
    ) -> Any:
        try:
            actor = ctx.auth.actor_for(api_key)
        except AuthError:
            return _error(403, 403, "invalid api_key")
        if actor.role not in _REPORTER_ROLES:
            return _error(403, 403, "this api_key may not report problems")
        if service_code not in ctx.event_names:
            return _error(400, 400, f"unknown service_code {service_code}")
        if (lat is None or long is None) and not address_string and not address_id:
            return _error(
                400, 400, "a location is required: lat & long, address_string or address_id"
            )
        name = " ".join(p for p in (first_name, last_name) if p) or None
        request_id = new_message_id("open311")
        candidate = CandidateCase.create(
            source=Source(
                kind=SourceKind.API, id=re.sub(r"[^A-Za-z0-9_\-]", "-", actor.name)[:64] or "api"
            ),
            id=request_id,
            ts=ctx.clock.now(),
            event_code=service_code,
            title=ctx.event_names[service_code],
            description=description,
            location=Location(grid_code=address_id, address=address_string, lat=lat, lon=long),
            reporter=Reporter(name=name, callback_number=phone) if name or phone else None,
            facts={"open311": True, "device_id": device_id} if device_id else {"open311": True},
        )
        ctx.service.store_candidates([candidate])
        case = ctx.service.store.get_case(case_id_for(request_id))
        if case is None:
            return _error(409, 409, "the request was stored but no case was opened")
        return [{"service_request_id": case.number, "service_notice": "", "account_id": None}]

    return router
