"""``/api/v1/metrics``: the evaluation figures (综合评价) of a period, as JSON or CSV, and
each role's activity.

The figures are derived from the append-only step log (`gateway.core.metrics`); a
`StepLog` keeps the steps read so far, so a request reads only the steps taken since
the one before. A period is ``start``..``end`` with time zones, 30 days up to now by
default. ``node`` (a city, district or street of the organisation tree) keeps the cases on
that unit's grids, as the three-level evaluation counts a territorial unit's: the 大屏's
figures of one district; a district centre's users ask only inside their district (403
``not_your_level``). Without ``node`` the figures are the user's own centre's (a district
centre's users: their district's; the city's: every case), and without an organisation
tree every case's. The answer names the unit it counted (``node``, ``node_name``).

``/api/v1/metrics/roles`` (each role's steps) follows the same rule for the unit, counting
the steps its users took: those whose organisation node is the unit or lies under it (a
district: its centre's desk, its departments, streets and communities); the city's, every
step (the system's too).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response

from gateway.core.api_base import (
    EVALUATORS,
    ApiContext,
    allow,
    evaluated_unit,
    is_whole_city,
    period,
    unit_answer,
    unit_file_part,
)
from gateway.core.metrics import CaseHistories, evaluate, group_names, role_activity, to_csv
from gateway.core.organisation import OrgNode
from gateway.core.step_log import StepLog
from gateway.core.workflow import Actor


def evaluation_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()

    def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        return period(ctx.clock.now(), start, end)

    step_log = StepLog(ctx.service.store, ctx.clock.monotonic)

    def _steps() -> list[Any]:
        return step_log.steps()  # the new steps only, not the whole log each time

    def _histories(unit: OrgNode | None) -> CaseHistories:
        histories = step_log.histories()  # kept cut by case: only new steps are added
        if is_whole_city(unit):
            return histories
        assert unit is not None
        return histories.on_grids(unit.covers)

    node_query = Query(
        description="a city, district or street id of the organisation tree: only the cases "
        "on its grids (default: the user's own centre, the city's users every case)",
        max_length=64,
    )

    unit_users_query = Query(
        description="a city, district or street id of the organisation tree: only the steps "
        "its users (those at the node or under it) took (default: the user's own centre, "
        "the city's users every step)",
        max_length=64,
    )

    @router.get("/api/v1/metrics", tags=["evaluation"])
    def metrics(
        actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
        group_by: Annotated[
            Literal["none", "department", "district", "grid", "event_code"], Query()
        ] = "none",
        node: Annotated[str | None, node_query] = None,
    ) -> dict[str, Any]:
        s, e = _period(start, end)
        unit = evaluated_unit(ctx, actor, node)
        groups = evaluate(_histories(unit), s, e, ctx.config.metric_weights, group_by)
        return {
            "start": s,
            "end": e,
            "group_by": group_by,
            **unit_answer(unit),
            "groups": [g.as_dict() for g in groups],
        }

    @router.get("/api/v1/metrics.csv", tags=["evaluation"], response_class=PlainTextResponse)
    def metrics_csv(
        actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
        group_by: Annotated[
            Literal["none", "department", "district", "grid", "event_code"], Query()
        ] = "none",
        node: Annotated[str | None, node_query] = None,
    ) -> Response:
        s, e = _period(start, end)
        unit = evaluated_unit(ctx, actor, node)
        groups = evaluate(_histories(unit), s, e, ctx.config.metric_weights, group_by)
        departments = {d.id: d.name for d in ctx.config.departments}
        text = to_csv(groups, group_by, group_names(group_by, departments, ctx.event_names))
        name = f"citygw-metrics-{unit_file_part(unit)}{group_by}-{s:%Y%m%d}-{e:%Y%m%d}.csv"
        return Response(
            text.encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get("/api/v1/metrics/roles", tags=["evaluation"])
    def metrics_roles(
        actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
        node: Annotated[str | None, unit_users_query] = None,
    ) -> dict[str, Any]:
        s, e = _period(start, end)
        unit = evaluated_unit(ctx, actor, node)
        steps = _steps()
        org = ctx.service.workflow.organisation
        if not is_whole_city(unit) and org is not None:
            assert unit is not None
            members = {
                str(u["name"]) for u in ctx.auth.users() if org.within(u.get("org_node"), unit.id)
            }
            steps = [step for step in steps if step.actor in members]
        return {"start": s, "end": e, **unit_answer(unit), "roles": role_activity(steps, s, e)}

    return router
