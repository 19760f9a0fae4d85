"""``/api/v1/metrics/inspectors``: the inspectors' figures of a period
(`gateway.core.inspector_figures`: valid reports, tasks answered on time, patrol days,
grids visited per day and coverage), as JSON or CSV, for the console's evaluation page.

A period is ``start``..``end`` with time zones (the last 30 days by default) and at most
`MAX_DAYS` days: the patrol figures read each day's points. Days are the centre's
(``core.calendar.timezone``); a period not starting at midnight cuts its first day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response

from gateway.core.api_base import EVALUATORS, ApiContext, ApiError, allow
from gateway.core.case_views import reporter_id
from gateway.core.inspector_figures import InspectorFigures, inspector_figures, to_csv
from gateway.core.inspector_tasks import InspectorRoster
from gateway.core.patrols import PatrolPoint, assigned_unit_grids
from gateway.core.step_log import StepLog
from gateway.core.workflow import Actor

#: the longest period (patrol points are read day by day)
MAX_DAYS = 62


def day_spans(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the centre's midnights."""
    spans = []
    at = start
    while at < end:
        local = at.astimezone(zone).date() + timedelta(days=1)
        midnight = datetime.combine(local, time(0), zone)
        spans.append((at, min(midnight, end)))
        at = midnight
    return spans


def inspector_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()
    zone = ZoneInfo(ctx.config.calendar.timezone)
    step_log = StepLog(ctx.service.store, ctx.clock.monotonic)

    def period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        end = end or ctx.clock.now()
        start = start or end - timedelta(days=30)
        if start.tzinfo is None or end.tzinfo is None:
            raise ApiError(
                422, "timezone_required", "times need a timezone (e.g. 2026-01-05T00:00:00Z)"
            )
        if end <= start:
            raise ApiError(422, "bad_period", "the period must end after it starts")
        if end - start > timedelta(days=MAX_DAYS):
            raise ApiError(422, "period_too_long", f"at most {MAX_DAYS} days")
        return start, end

    def figures(start: datetime, end: datetime) -> list[InspectorFigures]:
        users = ctx.auth.users()
        roster = InspectorRoster.from_users(users)
        known = [g.code for g in ctx.service.grids.grids] if ctx.service.grids else []
        assigned = {name: assigned_unit_grids(grids, known) for name, grids in roster.inspectors}
        source_names = {reporter_id(str(u["name"])): str(u["name"]) for u in users}
        days: list[Mapping[str, Sequence[PatrolPoint]]] = []
        if ctx.patrols is not None:
            days = [ctx.patrols.points_between(s, e) for s, e in day_spans(start, end, zone)]
        return inspector_figures(
            step_log.steps(),
            start=start,
            end=end,
            assigned=assigned,
            source_names=source_names,
            patrol_days=days,
        )

    @router.get("/api/v1/metrics/inspectors", tags=["evaluation"], summary="inspectors' figures")
    def inspectors(
        _actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any]:
        s, e = period(start, end)
        rows = figures(s, e)
        return {"start": s, "end": e, "inspectors": [r.as_dict() for r in rows]}

    @router.get(
        "/api/v1/metrics/inspectors.csv",
        tags=["evaluation"],
        summary="inspectors' figures as CSV",
        response_class=PlainTextResponse,
    )
    def inspectors_csv(
        _actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Response:
        s, e = period(start, end)
        text = to_csv(figures(s, e))
        name = f"citygw-inspectors-{s:%Y%m%d}-{e:%Y%m%d}.csv"
        return Response(
            text.encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
