"""Inspectors' tasks (核实 / 核查, `gateway.core.inspector_tasks`) over HTTP.

- ``GET /api/v1/mobile/tasks``: the inspector's own open tasks, due first: those given
  to them, and (the fallback) tasks given to nobody on their grids.
- ``GET /api/v1/inspectors``: the active inspectors with their grids and open tasks, for
  the console's 指派 (assign) form.
- ``GET /api/v1/tasks``: the centre's view of open tasks: all, ``?unassigned=true`` the
  ones nobody has (no inspector's grid covers the case), or ``?assignee=`` one person's.
- ``POST /api/v1/cases/{id}/task``: the centre asks for a 核实 (``request_confirmation``,
  to the inspector named or, unnamed, the grid's) or gives the open task to an inspector
  (``assign_task``); a name that is no active inspector's is 422 ``unknown_inspector``.

Opening, assigning and answering are case steps (the workflow's rules; the answer is the
mobile answer route). An inspector reaches a case whose task is theirs (`task_case`)
even off their grids. Tasks go to the inspector of
the case's grid through ``CaseService.inspectors``, which `tasks_router` sets to read
the users' grid assignment (`InspectorRoster`) when bootstrap has not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.core.api_base import DESK, ApiContext, ApiError, allow
from gateway.core.api_schemas import TransitionOut
from gateway.core.body_limit import LimitedBody
from gateway.core.case_views import case_out, scope_of, step_out, visible_case
from gateway.core.inspector_tasks import InspectorRoster, task_of
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action, Actor, Case, Command, Role

#: tasks listed at most (an inspector has tens; the centre pages the case list beyond)
MAX_TASKS = 500
_CENTRE = DESK | {Role.ADMIN}


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["request_confirmation", "assign_task"]
    assignee: str | None = Field(
        default=None, max_length=64, description="the inspector (request: default by grid)"
    )
    opinion: str = Field(default="", max_length=4000)
    expected_version: int | None = Field(default=None, ge=0)


def task_case(ctx: ApiContext, case_id: str, actor: Actor) -> Case:
    """The case when its open task is ``actor``'s (assigned by hand off their grids, too),
    else as `visible_case` (404 outside their reach)."""
    case = ctx.service.store.get_case(case_id)
    if case is not None and (task_of(case.facts) or {}).get("assignee") == actor.name:
        return case
    return visible_case(ctx, case_id, actor)


def _due(case: Case) -> str:
    return str((task_of(case.facts) or {}).get("due") or "9999")


def tasks_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(route_class=LimitedBody)  # 413 body_too_large past its limit
    if ctx.service.inspectors is None:
        ctx.service.inspectors = lambda: InspectorRoster.from_users(ctx.auth.users())

    def open_tasks(**filters: Any) -> list[Case]:
        cases, _total = ctx.service.store.list_cases(
            CaseFilter(task="open", limit=MAX_TASKS, **filters)
        )
        return cases

    @router.get("/api/v1/mobile/tasks", tags=["mobile"], summary="my open 核实/核查 tasks")
    def my_tasks(actor: Annotated[Actor, Depends(allow(Role.INSPECTOR))]) -> list[dict[str, Any]]:
        mine = open_tasks(task_assignee=actor.name)
        nobodys = ctx.service.store.list_cases(
            CaseFilter(task="unassigned", scope=scope_of(actor), limit=MAX_TASKS)
        )[0]
        cases = sorted({c.id: c for c in [*mine, *nobodys]}.values(), key=_due)
        return [case_out(ctx, c, actor) for c in cases]

    @router.get("/api/v1/tasks", tags=["tasks"], summary="open 核实/核查 tasks (the centre)")
    def centre_tasks(
        actor: Annotated[Actor, Depends(allow(_CENTRE))],
        unassigned: Annotated[bool, Query()] = False,
        assignee: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[dict[str, Any]]:
        cases = ctx.service.store.list_cases(
            CaseFilter(
                task="unassigned" if unassigned else "open",
                task_assignee=assignee,
                limit=MAX_TASKS,
            )
        )[0]
        return [case_out(ctx, c, actor) for c in sorted(cases, key=_due)]

    @router.post(
        "/api/v1/cases/{case_id}/task",
        response_model=TransitionOut,
        tags=["tasks"],
        summary="ask for a 核实, or give the open task to an inspector",
    )
    def ask_or_assign(
        case_id: str, body: TaskIn, actor: Annotated[Actor, Depends(allow(DESK))]
    ) -> dict[str, Any]:
        case = visible_case(ctx, case_id, actor)
        if body.expected_version is not None and body.expected_version != case.version:
            raise ApiError(
                409, "conflict", f"case is at version {case.version}, not {body.expected_version}"
            )
        roster = InspectorRoster.from_users(ctx.auth.users())
        if body.assignee is not None and body.assignee not in roster.names():
            raise ApiError(422, "unknown_inspector", f"{body.assignee!r} is no active inspector")
        command = Command(Action(body.action), opinion=body.opinion, assignee=body.assignee)
        result = ctx.service.transition(case_id, command, actor)
        seq = ctx.service.store.steps(case_id)[-1].seq
        return {"case": case_out(ctx, result.case, actor), "step": step_out(seq, result.step)}

    @router.get("/api/v1/inspectors", tags=["tasks"], summary="inspectors, for assigning")
    def inspectors(actor: Annotated[Actor, Depends(allow(_CENTRE))]) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for case in open_tasks():
            name = (task_of(case.facts) or {}).get("assignee")
            if name:
                counts[name] = counts.get(name, 0) + 1
        roster = InspectorRoster.from_users(ctx.auth.users())
        return [
            {"name": name, "grids": list(grids), "open_tasks": counts.get(name, 0)}
            for name, grids in roster.inspectors
        ]

    return router
