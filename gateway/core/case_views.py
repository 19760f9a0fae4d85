"""How a case is shown to someone: which cases they may see, and the JSON they get.

Reach: a department user sees their department's cases (a community's user: the cases its
street office passed to it, 四级联动; the street office keeps seeing those); an inspector (监督员) the cases
on the grids assigned to them and those they reported (`scope_of`); everyone else all.
`visible_case` / `visible_detail` answer 404 (never 403: a case one may not see does not
exist for them) for a case outside the actor's reach.

Shape: `case_out` is a case in a list, `detail_out` the case page's body (with its
allowed actions, candidates and evidence), `step_out` one step of its log. Reporters'
phone numbers (the callback number, the caller's number of a hotline case) are masked
(138****8000) for every role but those who call back: operators, shift leads, admins.
Every route that shows a case goes through here.
"""

import re
from collections.abc import Mapping
from typing import Any

from gateway.core.api_base import ApiContext, ApiError
from gateway.core.level_deadline import level_out
from gateway.core.organisation_views import centre_out, community_out, levels_out
from gateway.core.ports import CaseDetail, CaseFilter, CaseScope
from gateway.core.workflow import STATE_LABELS, Actor, Case, CaseState, Role

#: states in which a case has a 综合评价 to show (computed from its history each time)
SCORED_STATES = frozenset({CaseState.CLOSED, CaseState.EVALUATED, CaseState.REOPEN_REQUESTED})

#: the roles that call reporters back and see their numbers whole
CALLBACK_ROLES = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.ADMIN})
#: facts holding a reporter's phone number
_PHONE_FACTS = ("caller", "caller_id", "callback_number")


def reporter_id(name: str) -> str:
    """The source id a user's own reports carry (the API's and Open311's candidates)."""
    return re.sub(r"[^A-Za-z0-9_\-]", "-", name)[:64] or "api"


def scope_of(actor: Actor) -> CaseScope | None:
    """The inspector's reach, a district centre's (its grids: 两级监督); None for the
    roles that are not limited by grid (the city centre's)."""
    if actor.role is Role.INSPECTOR:
        return CaseScope(actor.grids, reporter_id(actor.name))
    if actor.reach and actor.role is not Role.DEPARTMENT:
        return CaseScope(actor.reach, reporter_id(actor.name))
    return None


def unit_filter(ctx: ApiContext, actor: Actor, asked: str | None) -> tuple[str | None, str | None]:
    """(department, community) of the `CaseFilter` that keeps a department user to their
    unit's cases: their department's, or a community's the cases passed to it; other
    roles filter by the department they ``asked`` for."""
    if actor.role is not Role.DEPARTMENT:
        return asked, None
    org = ctx.service.workflow.organisation
    if org is not None and org.is_community(actor.department):
        return None, actor.department
    return actor.department, None


def in_scope(actor: Actor, case: Mapping[str, Any]) -> bool:
    """Whether a case as `case_out` shows it is in an inspector's reach by its grid or its
    reporter as written on the case (the live stream's test, which cannot ask the
    database; the list and the case page ask it with `scope_of`)."""
    grids = actor.grids if actor.role is Role.INSPECTOR else actor.reach
    if actor.role is Role.DEPARTMENT or (actor.role is not Role.INSPECTOR and not grids):
        return True
    grid = case.get("grid_code") or ""
    if grid and any(grid.startswith(g) for g in grids):
        return True
    return (case.get("facts") or {}).get("reported_by") == actor.name


def mask_phone(number: str | None) -> str | None:
    """``13800138000`` -> ``138****8000``: the first 3 and last 4 digits of a long number,
    the last 2 of a short one."""
    if not number:
        return number
    if len(number) >= 8:
        return number[:3] + "*" * (len(number) - 7) + number[-4:]
    return "*" * max(0, len(number) - 2) + number[-2:]


def sees_phones(actor: Actor | None) -> bool:
    return actor is not None and actor.role in CALLBACK_ROLES


def case_out(ctx: ApiContext, case: Case, actor: Actor | None = None) -> dict[str, Any]:
    """A case in a list, for ``actor`` (None: for anyone, phone numbers masked)."""
    now = ctx.clock.now()
    facts = case.facts
    if not sees_phones(actor) and any(facts.get(k) for k in _PHONE_FACTS):
        facts = {
            k: mask_phone(v) if k in _PHONE_FACTS and isinstance(v, str) else v
            for k, v in facts.items()
        }
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
        **level_out(case.facts, now),
        "suspended_minutes": case.suspended_minutes,
        "rework_count": case.rework_count,
        "pending": case.pending.to_dict() if case.pending else None,
        "proposed_merge_into": case.proposed_merge_into,
        "merged_into": case.merged_into,
        "closed_at": case.closed_at,
        "satisfaction": case.satisfaction,
        "facts": facts,
        "version": case.version,
        **centre_out(ctx.service.workflow.organisation, case),
        **community_out(ctx.service.workflow.organisation, case),
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


def _reaches(ctx: ApiContext, case: Case, actor: Actor) -> bool:
    if actor.role is Role.DEPARTMENT:
        return actor.department is not None and actor.department in (
            case.department,
            case.community,
        )
    scope = scope_of(actor)
    if scope is None:
        return True
    if case.grid_code and any(case.grid_code.startswith(g) for g in scope.grids):
        return True
    _, total = ctx.service.store.list_cases(CaseFilter(number=case.number, scope=scope, limit=1))
    return total == 1


def visible_case(ctx: ApiContext, case_id: str, actor: Actor) -> Case:
    case = ctx.service.store.get_case(case_id)
    if case is None or not _reaches(ctx, case, actor):
        raise ApiError(404, "case_not_found", f"no case {case_id}")
    return case


def visible_detail(ctx: ApiContext, case_id: str, actor: Actor) -> CaseDetail:
    """The case with its candidates and evidence, read in one go; 404 as `visible_case`."""
    found = ctx.service.store.case_detail(case_id)
    if found is None or not _reaches(ctx, found.case, actor):
        raise ApiError(404, "case_not_found", f"no case {case_id}")
    return found


def detail_out(ctx: ApiContext, case: Case | CaseDetail, actor: Actor) -> dict[str, Any]:
    found = case if isinstance(case, CaseDetail) else ctx.service.store.case_detail(case.id)
    if found is None:  # gone since it was read (cases are never deleted)
        raise ApiError(404, "case_not_found", "no such case")
    case = found.case
    out = case_out(ctx, case, actor)
    out["allowed_actions"] = [str(a) for a in ctx.service.workflow.allowed_actions(case, actor)]
    out["candidate_ids"] = found.candidate_ids
    out["reporter_name"] = case.reporter_name
    out["callback_number"] = (
        case.callback_number if sees_phones(actor) else mask_phone(case.callback_number)
    )
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
    # the agent call's recording (MixMonitor) of a hotline case or one started from a pop
    out["recording"] = (
        ctx.recordings.link_for(case.facts)
        if ctx.recordings is not None and sees_phones(actor)
        else None
    )
    steps = [s.step for s in ctx.service.store.steps(case.id)]
    out["levels"] = levels_out(ctx.service.workflow.organisation, case, steps)
    out["case_score"] = None
    if case.state in SCORED_STATES:
        out["case_score"] = ctx.service.score(case, steps).as_facts()
    return out
