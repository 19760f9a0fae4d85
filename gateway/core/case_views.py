"""How a case is shown to someone: which cases they may see, and the JSON they get.

`visible_case` / `visible_detail` answer 404 (never 403: a case one may not see does not
exist for them) for a case outside the actor's reach; `case_out` is a case in a list,
`detail_out` the case page's body (with its allowed actions, candidates and evidence),
`step_out` one step of its log. Every route that shows a case goes through here.
"""

from typing import Any

from gateway.core.api_base import ApiContext, ApiError
from gateway.core.ports import CaseDetail
from gateway.core.workflow import STATE_LABELS, Actor, Case, Role


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


def visible_case(ctx: ApiContext, case_id: str, actor: Actor) -> Case:
    case = ctx.service.store.get_case(case_id)
    if case is None or (actor.role is Role.DEPARTMENT and case.department != actor.department):
        raise ApiError(404, "case_not_found", f"no case {case_id}")
    return case


def visible_detail(ctx: ApiContext, case_id: str, actor: Actor) -> CaseDetail:
    """The case with its candidates and evidence, read in one go; 404 as `visible_case`."""
    found = ctx.service.store.case_detail(case_id)
    if found is None or (
        actor.role is Role.DEPARTMENT and found.case.department != actor.department
    ):
        raise ApiError(404, "case_not_found", f"no case {case_id}")
    return found


def detail_out(ctx: ApiContext, case: Case | CaseDetail, actor: Actor) -> dict[str, Any]:
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
