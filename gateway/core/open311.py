"""Open311 GeoReport v2 facade over the case store, in JSON and XML.

Routes (``{fmt}``: ``json`` or ``xml``, the spec's extensions):

- ``GET /open311/v2/services.{fmt}``: one service per CJ/T 214 event code (``group``: its
  class, e.g. 街面秩序; ``keywords``: its other name); those with
  attributes (``config/core/open311-services.yaml``) have ``metadata`` true and
- ``GET /open311/v2/services/{service_code}.{fmt}``: their service definition;
- ``GET /open311/v2/requests.{fmt}`` (filters: service_request_id, service_code,
  start_date, end_date, status; by default the last 90 days, a range of at most 90) and
  ``GET /open311/v2/requests/{service_request_id}.{fmt}``;
- ``POST /open311/v2/requests.{fmt}`` (the spec's form fields, ``attribute[code]``
  answers and ``media_url``; ``api_key`` is an API token of an operator, shift lead or
  inspector) opens a case through the same intake as MQTT candidates.

Reads are public, as GeoReport intends, so they show reviewed cases only: a case the
operator registered (and all that follows) or merged into such a case; never a
candidate nobody has looked at yet, a rejected false alarm or a voided case (answered as
if it did not exist), and never the reporter's name, phone, the attribute answers, or a
phone or ID-card number written in a description (masked).

Mapping: ``service_request_id`` = case number; our states map to ``open``/``closed``
with the state's Chinese name as ``status_notes``; ``expected_datetime`` = the deadline;
``agency_responsible`` = the department; ``address_id`` = the unit grid. Every refusal is
a GeoReport error list (`open311_format`), never the REST API's body: parameters are
declared as plain text and checked here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import Response
from pydantic import ValidationError

from gateway.contract import CandidateCase, Location, Reporter, Source, SourceKind, new_message_id
from gateway.core.api_base import REPORTERS, ApiContext
from gateway.core.auth import AuthError
from gateway.core.case_views import mask_phone, reporter_id
from gateway.core.codes import load_event_groups
from gateway.core.dispatch import UnitGrid, known_grids
from gateway.core.intake import case_id_for
from gateway.core.open311_format import (
    Format,
    Open311Error,
    error_response,
    parse_format,
    render,
    require_none,
)
from gateway.core.open311_services import (
    Answers,
    Attribute,
    definition_out,
    load_service_attributes,
    read_answers,
)
from gateway.core.ports import CaseFilter
from gateway.core.workflow import STATE_LABELS, Actor, Case, CaseState, Role

#: reviewed cases: the operator registered them (a merged one only if its target is: `request_out`)
PUBLIC_STATES = frozenset(CaseState) - {CaseState.CANDIDATE, CaseState.REJECTED, CaseState.VOIDED}
#: closed for Open311 once the centre closed the case (结案); a case verified on site but
#: not yet closed (待结案) is still open
CLOSED_STATES = frozenset({CaseState.CLOSED, CaseState.EVALUATED, CaseState.MERGED})
MAX_SPAN = timedelta(days=90)
MAX_IDS = 50
MAX_PAGE = 1000
#: what a reporting app shows its user (people read it: Chinese)
NOTICES = {
    "received": "已收到，受理员审核后公开并派遣处置",
    "merged": "与 {number} 为同一问题，已合并处理",
}
#: phone and ID-card numbers in free text: a reporter may write their own
_PERSONAL = re.compile(
    r"(?<![\dA-Za-z])(?:"
    r"(?P<id>\d{17}[\dXx])"
    r"|(?P<phone>(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}|0\d{2,3}-?\d{7,8})"
    r")(?![\dA-Za-z])"
)
_FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")


def open311_status(state: CaseState) -> str:
    return "closed" if state in CLOSED_STATES else "open"


def public_text(text: str) -> str:
    """``text`` with phone and ID-card numbers masked (138****8000, 1*****************X)."""

    def mask(match: re.Match[str]) -> str:
        if match["id"]:
            return match["id"][0] + "*" * 16 + match["id"][-1]
        digits = re.sub(r"\D", "", match["phone"])
        return (
            mask_phone(digits[2:] if digits.startswith("86") and len(digits) == 13 else digits)
            or ""
        )

    return _PERSONAL.sub(mask, text)


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class RequestQuery:
    ids: tuple[str, ...] = ()  # given: the other filters do not apply (the spec's rule)
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: frozenset[str] = frozenset()
    page_size: int = 100


def _moment(name: str, text: str | None, problems: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        problems.append(f"{name} is not a W3C date and time (e.g. 2026-01-05T00:00:00Z)")
        return None
    if moment.tzinfo is None:
        problems.append(f"{name} needs a time zone (e.g. 2026-01-05T00:00:00Z)")
        return None
    return moment


def _items(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_query(
    now: datetime,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    page_size: str | None = None,
) -> RequestQuery:
    """The filters of ``GET requests``; raises `Open311Error` (400) with every problem."""
    problems: list[str] = []
    ids = _items(service_request_id)
    if len(ids) > MAX_IDS or any(len(i) > 32 for i in ids):
        problems.append(f"service_request_id: at most {MAX_IDS} ids of up to 32 characters")
    codes = _items(service_code)
    if len(codes) > 100 or not all(len(c) == 4 and c.isdigit() for c in codes):
        problems.append("service_code: 4-digit service codes, comma delimited")
    statuses = {s.lower() for s in _items(status)}
    if statuses - {"open", "closed"}:
        problems.append("status: open or closed, comma delimited")
    size = 100
    if page_size:
        if page_size.isascii() and page_size.isdigit() and 1 <= int(page_size) <= MAX_PAGE:
            size = int(page_size)
        else:
            problems.append(f"page_size: a whole number from 1 to {MAX_PAGE}")
    start = _moment("start_date", start_date, problems)
    end = _moment("end_date", end_date, problems)
    require_none(problems)
    if start is None:
        start = (end or now) - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN if start_date else now
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days")
    return RequestQuery(tuple(ids), tuple(codes), start, end, frozenset(statuses), size)


@dataclass(frozen=True)
class Report:
    """A POST's fields, checked."""

    service_code: str
    lat: float | None
    lon: float | None
    address: str | None
    grid: UnitGrid | None
    description: str
    name: str | None
    phone: str | None
    media_url: str | None
    device_id: str | None
    account_id: str | None
    answers: Answers


def _one(posted: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v.strip() for v in posted.get(name, ()) if v.strip()]
    return values[-1] if values else None


def _coordinate(name: str, text: str | None, limit: float, problems: list[str]) -> float | None:
    if text is None:
        return None
    if not _FLOAT.match(text) or abs(float(text)) > limit:
        problems.append(f"{name} is not a number from -{limit:g} to {limit:g}")
        return None
    return float(text)


def _bounded(
    posted: Mapping[str, Sequence[str]], name: str, limit: int, problems: list[str]
) -> str | None:
    value = _one(posted, name)
    if value is not None and len(value) > limit:
        problems.append(f"{name} is over {limit} characters")
        return None
    return value


def parse_report(
    posted: Mapping[str, Sequence[str]],
    event_names: Mapping[str, str],
    attributes: Mapping[str, Sequence[Attribute]],
    grids: Mapping[str, UnitGrid],
) -> Report:
    """The fields of ``POST requests`` (form name -> values), checked; raises
    `Open311Error` (400) listing every missing or invalid one."""
    problems: list[str] = []
    code = _one(posted, "service_code")
    if code is None:
        problems.append("service_code is required")
    elif code not in event_names:
        problems.append(f"service_code {code[:10]!r} is not a service (see services.json)")
    lat_text, lon_text = _one(posted, "lat"), _one(posted, "long")
    lat = _coordinate("lat", lat_text, 90, problems)
    lon = _coordinate("long", lon_text, 180, problems)
    if (lat_text is None) != (lon_text is None):
        problems.append("lat and long go together")
    address = _bounded(posted, "address_string", 500, problems)
    grid_code = _one(posted, "address_id")
    grid = grids.get(grid_code) if grid_code else None
    if grid_code and grid is None:
        problems.append(f"address_id {grid_code[:20]!r} is not a unit grid of the city")
    if (lat is None or lon is None) and not address and not grid_code:
        problems.append("a location is required: lat and long, address_string or address_id")
    description = _bounded(posted, "description", 4000, problems) or ""
    first = _bounded(posted, "first_name", 50, problems)
    last = _bounded(posted, "last_name", 50, problems)
    phone = _one(posted, "phone")
    if phone is not None:
        phone = _PHONE_SEPARATORS.sub("", phone)
        if not re.fullmatch(r"[0-9+*#]{1,32}", phone):
            problems.append("phone is not a phone number")
    media_url = _bounded(posted, "media_url", 2000, problems)
    if media_url is not None and not re.match(r"^https?://[^\s/]+", media_url, re.I):
        problems.append("media_url is not an http(s) URL")
    answers = Answers({}, False)
    if code is not None and code in event_names:
        given = {
            match[1]: values
            for name, values in posted.items()
            if (match := re.fullmatch(r"attribute\[([^\]]*)\](?:\[\])?", name))
        }
        answers, wrong = read_answers(attributes.get(code, ()), given)
        problems.extend(wrong)
    device_id = _bounded(posted, "device_id", 100, problems)
    account_id = _bounded(posted, "account_id", 100, problems)
    require_none(problems)
    assert code is not None
    return Report(
        service_code=code,
        lat=lat,
        lon=lon,
        address=address,
        grid=grid,
        description=description,
        name=" ".join(p for p in (first, last) if p) or None,
        phone=phone,
        media_url=media_url,
        device_id=device_id,
        account_id=account_id,
        answers=answers,
    )


def candidate_for(report: Report, actor: Actor, service_name: str, now: datetime) -> CandidateCase:
    facts: dict[str, Any] = {"open311": True, "reported_by": actor.name, "role": str(actor.role)}
    for key, value in (
        ("media_url", report.media_url),
        ("device_id", report.device_id),
        ("account_id", report.account_id),
        ("open311_attributes", report.answers.values),
    ):
        if value:
            facts[key] = value
    kind = SourceKind.INSPECTOR if actor.role is Role.INSPECTOR else SourceKind.API
    return CandidateCase.create(
        source=Source(kind=kind, id=reporter_id(actor.name)),
        id=new_message_id("open311"),
        ts=now,
        event_code=report.service_code,
        title=service_name,
        description=report.description,
        location=Location(
            grid_code=report.grid.code if report.grid else None,
            district=(report.grid.district or None) if report.grid else None,
            address=report.address,
            lat=report.lat,
            lon=report.lon,
        ),
        reporter=Reporter(name=report.name, callback_number=report.phone)
        if report.name or report.phone
        else None,
        urgent=report.answers.urgent,
        facts=facts,
    )


# --------------------------------------------------------------------------- the router


def _answer(fmt: str, root: str, produce: Callable[[], Any]) -> Response:
    """``produce()``'s body in the format ``fmt`` names, or the error it raised."""
    try:
        chosen = parse_format(fmt)
    except Open311Error as error:
        return error_response(Format.JSON, error)
    try:
        return render(chosen, root, produce())
    except Open311Error as error:
        return error_response(chosen, error)


_FMT = Path(description="json or xml")
_DATE = "W3C date and time with a time zone, e.g. 2026-01-05T00:00:00Z"


def open311_router(
    ctx: ApiContext, attributes: Mapping[str, Sequence[Attribute]] | None = None
) -> APIRouter:
    router = APIRouter(prefix="/open311/v2", tags=["open311"])
    service_attributes = (
        attributes
        if attributes is not None
        else load_service_attributes(None, list(ctx.event_names))
    )
    grids = ctx.grids if ctx.grids is not None else known_grids(ctx.config)
    groups = load_event_groups()  # each event's class and other name (group, keywords)
    store = ctx.service.store

    def merged_into(case: Case) -> Case | None:
        """The public case a merged case was merged into, or None."""
        target = store.get_case(case.merged_into) if case.merged_into else None
        return target if target is not None and target.state in PUBLIC_STATES else None

    def request_out(case: Case) -> dict[str, Any] | None:
        """The case as GeoReport shows it, or None if it is not public."""
        if case.state not in PUBLIC_STATES:
            return None
        notes = STATE_LABELS[case.state]
        if case.state is CaseState.MERGED:
            target = merged_into(case)
            if target is None:
                return None
            notes = NOTICES["merged"].format(number=target.number)
        last_change = case.closed_at or case.dispatched_at or case.created_at
        media_url = case.facts.get("media_url")
        return {
            "service_request_id": case.number,
            "status": open311_status(case.state),
            "status_notes": notes,
            "service_name": ctx.event_names.get(case.event_code, case.event_code),
            "service_code": case.event_code,
            "description": public_text(case.description or case.title),
            "agency_responsible": case.department,
            "service_notice": "",
            "requested_datetime": case.created_at,
            "updated_datetime": last_change,
            "expected_datetime": case.deadline,
            "address": case.address,
            "address_id": case.grid_code,
            "zipcode": None,
            "lat": case.lat,
            "long": case.lon,
            "media_url": media_url if isinstance(media_url, str) else None,
        }

    def listed(query: RequestQuery) -> list[dict[str, Any]]:
        if query.ids:
            found = [store.case_by_number(number) for number in dict.fromkeys(query.ids)]
            return [out for c in found if c is not None and (out := request_out(c))]
        states = PUBLIC_STATES
        if query.statuses == {"open"}:
            states = PUBLIC_STATES - CLOSED_STATES
        elif query.statuses == {"closed"}:
            states = CLOSED_STATES
        cases: list[Case] = []
        for code in dict.fromkeys(query.codes) or (None,):
            page, _ = store.list_cases(
                CaseFilter(
                    states=tuple(sorted(states)),
                    event_code=code,
                    created_from=query.start,
                    created_to=query.end + timedelta(microseconds=1) if query.end else None,
                    limit=query.page_size,
                )
            )
            cases.extend(page)
        cases.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        return [out for c in cases[: query.page_size] if (out := request_out(c))]

    @router.get("/services.{fmt}", summary="the service list: CJ/T 214 event codes (public)")
    def services(fmt: Annotated[str, _FMT], jurisdiction_id: str | None = None) -> Response:
        return _answer(
            fmt,
            "services",
            lambda: [
                {
                    "service_code": code,
                    "service_name": name,
                    "description": name,
                    "metadata": code in service_attributes,
                    "type": "realtime",
                    "keywords": groups.get(code, ("", ""))[1],
                    "group": groups.get(code, (code[:2], ""))[0],
                }
                for code, name in sorted(ctx.event_names.items())
            ],
        )

    @router.get(
        "/services/{service_code}.{fmt}",
        summary="a service's definition: the attributes it asks for (public)",
    )
    def service_definition(
        service_code: Annotated[str, Path(description="a code of services.json")],
        fmt: Annotated[str, _FMT],
        jurisdiction_id: str | None = None,
    ) -> Response:
        def produce() -> dict[str, Any]:
            if service_code not in ctx.event_names:
                raise Open311Error(404, f"no service {service_code[:10]!r}")
            return definition_out(service_code, service_attributes.get(service_code, ()))

        return _answer(fmt, "service_definition", produce)

    @router.get("/requests.{fmt}", summary="reviewed service requests (public, no personal data)")
    def requests(
        fmt: Annotated[str, _FMT],
        service_request_id: Annotated[
            str | None, Query(description="case numbers, comma delimited; overrides the rest")
        ] = None,
        service_code: Annotated[str | None, Query(description="comma delimited")] = None,
        start_date: Annotated[str | None, Query(description=_DATE)] = None,
        end_date: Annotated[str | None, Query(description=_DATE)] = None,
        status: Annotated[str | None, Query(description="open, closed or open,closed")] = None,
        page_size: Annotated[str | None, Query(description=f"1 to {MAX_PAGE}, default 100")] = None,
        jurisdiction_id: str | None = None,
    ) -> Response:
        return _answer(
            fmt,
            "service_requests",
            lambda: listed(
                parse_query(
                    ctx.clock.now(),
                    service_request_id,
                    service_code,
                    start_date,
                    end_date,
                    status,
                    page_size,
                )
            ),
        )

    @router.get(
        "/requests/{service_request_id}.{fmt}", summary="one reviewed service request (public)"
    )
    def one_request(
        service_request_id: Annotated[str, Path(description="the case number")],
        fmt: Annotated[str, _FMT],
        jurisdiction_id: str | None = None,
    ) -> Response:
        def produce() -> list[dict[str, Any]]:
            case = store.case_by_number(service_request_id[:32])
            out = request_out(case) if case is not None else None
            if out is None:
                raise Open311Error(404, f"no public service request {service_request_id[:32]!r}")
            return [out]

        return _answer(fmt, "service_requests", produce)

    def create(posted: dict[str, list[str]]) -> list[dict[str, Any]]:
        api_key = _one(posted, "api_key")
        try:
            actor = ctx.auth.actor_for(api_key or "")
        except AuthError:
            raise Open311Error(403, "invalid api_key") from None
        if actor.role not in REPORTERS:
            raise Open311Error(403, "this api_key may not report problems")
        report = parse_report(posted, ctx.event_names, service_attributes, grids)
        try:
            candidate = candidate_for(
                report, actor, ctx.event_names[report.service_code], ctx.clock.now()
            )
        except ValidationError as exc:  # what the contract holds beyond the checks here
            raise Open311Error(400, *(f"{e['loc']}: {e['msg']}" for e in exc.errors())) from None
        ctx.service.store_candidates([candidate])
        case = store.get_case(case_id_for(candidate.id))
        if case is None:
            raise Open311Error(409, "the request was stored but no case was opened")
        return [
            {
                "service_request_id": case.number,
                "service_notice": NOTICES["received"],
                "account_id": report.account_id,
            }
        ]

    @router.post(
        "/requests.{fmt}",
        summary="report a problem (api_key: an operator's, shift lead's or inspector's token)",
        openapi_extra={"requestBody": _POST_BODY},
    )
    async def post_request(request: Request, fmt: Annotated[str, _FMT]) -> Response:
        try:
            chosen = parse_format(fmt)
        except Open311Error as error:
            return error_response(Format.JSON, error)
        try:
            form = await request.form()
        except (HTTPException, ValueError, UnicodeDecodeError):
            return error_response(chosen, Open311Error(400, "the body is not a form"))
        posted: dict[str, list[str]] = {}
        for name, value in form.multi_items():
            if not isinstance(value, str):
                return error_response(
                    chosen, Open311Error(400, f"{name[:50]}: no files here, give media_url")
                )
            posted.setdefault(name, []).append(value)
        try:
            return render(
                chosen, "service_requests", await anyio.to_thread.run_sync(partial(create, posted))
            )
        except Open311Error as error:
            return error_response(chosen, error)

    return router


_FIELDS = {
    "api_key": "an API token (POST /api/v1/auth/login) of an operator, shift lead or inspector",
    "service_code": "a code of services.json",
    "lat": "latitude, WGS84/CGCS2000 (with long)",
    "long": "longitude, WGS84/CGCS2000 (with lat)",
    "address_string": "the place in words",
    "address_id": "a 14-digit unit grid code",
    "description": "what is wrong, up to 4000 characters",
    "media_url": "an http(s) URL of a photo",
    "first_name": "the reporter's (never shown publicly)",
    "last_name": "the reporter's (never shown publicly)",
    "phone": "the reporter's, for a call back (never shown publicly)",
    "email": "accepted, not kept",
    "device_id": "the reporting device",
    "account_id": "the reporter's account in the reporting app",
    "jurisdiction_id": "accepted, ignored (one jurisdiction)",
    "attribute[code]": "an answer to an attribute of the service definition "
    "(multivaluelist: attribute[code][], repeated)",
}
_POST_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["api_key", "service_code"],
                "properties": {
                    name: {"type": "string", "description": text} for name, text in _FIELDS.items()
                },
            }
        }
    },
}
