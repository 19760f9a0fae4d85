"""``/api/v1/metrics/inspectors``: the inspectors' figures of a period
(`gateway.core.inspector_figures`: valid reports, tasks answered on time, patrol days,
grids visited per day and coverage), as JSON or CSV, for the console's evaluation page.

A period is ``start``..``end`` with time zones (the last 30 days by default) and at most
`MAX_DAYS` days: the patrol figures read each day's points. Days are the centre's
(``core.calendar.timezone``); a period not starting at midnight cuts its first day.

Reading a day's points costs about 7 µs a point on SQLite (96 000 points: 0.7 s; 500
inspectors on patrol 8 h at one point every 30 s make 480 000 a day), so the reduced
figures of a day that ended more than `SETTLED` ago are kept (`PatrolDayCache`: in memory
and in the database, ``patrol_day_figures``, so a restarted core and the other cores find
them too) with the number of points they were made from: a later request counts the
day's points (an index range count, far cheaper than reading them) and reads the day again
only when the count moved, as it does when a phone's offline queue delivers late points.

The inspectors are those of a unit (``node``, as ``/api/v1/metrics``: the user's own
centre by default, 403 ``not_your_level`` outside a district user's district): the city's
are every inspector; a district's or a street's those at a node within it, those whose
assigned grids meet its grids, and those who reported, answered a task or patrolled on its
grids in the period. Each keeps all their figures (an inspector is evaluated as a person,
not per grid). The answer names the unit (``node``, ``node_name``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

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
from gateway.core.case_views import reporter_id
from gateway.core.inspector_figures import (
    InspectorFigures,
    PatrolDay,
    active_on,
    assigned_within,
    day_from_json,
    day_to_json,
    inspector_figures,
    patrol_days_of,
    to_csv,
)
from gateway.core.inspector_tasks import InspectorRoster
from gateway.core.organisation import OrgNode
from gateway.core.patrols import assigned_unit_grids
from gateway.core.step_log import StepLog
from gateway.core.workflow import Actor

#: the longest period (patrol points are read day by day)
MAX_DAYS = 62
#: a day this long past its end is taken as complete: its patrol figures are kept
SETTLED = timedelta(hours=24)
#: ``node``: the unit whose inspectors are listed (module level: the annotations are strings)
_NODE_QUERY = Query(
    description="a city, district or street id of the organisation tree: its inspectors "
    "(default: the user's own centre's, the city's users every inspector)",
    max_length=64,
)
#: days kept at most (two periods of `MAX_DAYS` with their cut first days)
_CACHE_DAYS = 4 * MAX_DAYS


class PatrolDayCache:
    """The reduced patrol figures of settled days, by day span, each with the number of
    points it was made from (thread-safe)."""

    def __init__(self, store: Any, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now
        self._lock = threading.Lock()
        self._days: dict[tuple[datetime, datetime], tuple[int, dict[str, PatrolDay]]] = {}

    def days(self, spans: Sequence[tuple[datetime, datetime]]) -> list[dict[str, PatrolDay]]:
        now = self._now()
        out = []
        for span in spans:
            if span[1] > now - SETTLED:  # still open to late points: read as it is
                out.append(patrol_days_of([self._store.points_between(*span)])[0])
                continue
            count = self._store.count_between(*span)
            with self._lock:
                kept = self._days.get(span)
            if kept is None:
                stored = self._store.kept_day(*span)
                kept = None if stored is None else (stored[0], day_from_json(stored[1]))
            if kept is None or kept[0] != count:
                points = self._store.points_between(*span)
                kept = (sum(len(p) for p in points.values()), patrol_days_of([points])[0])
                self._store.keep_day(*span, kept[0], day_to_json(kept[1]), now)
            with self._lock:
                if span not in self._days and len(self._days) >= _CACHE_DAYS:
                    self._days.pop(min(self._days))
                self._days[span] = kept
            out.append(kept[1])
        return out


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
    cache = PatrolDayCache(ctx.patrols, ctx.clock.now) if ctx.patrols is not None else None

    def inspectors_period(
        start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime]:
        return period(ctx.clock.now(), start, end, max_days=MAX_DAYS)

    def figures(start: datetime, end: datetime, unit: OrgNode | None) -> list[InspectorFigures]:
        users = ctx.auth.users()
        roster = InspectorRoster.from_users(users)
        known = [g.code for g in ctx.service.grids.grids] if ctx.service.grids else []
        assigned = {name: assigned_unit_grids(grids, known) for name, grids in roster.inspectors}
        source_names = {reporter_id(str(u["name"])): str(u["name"]) for u in users}
        days = cache.days(day_spans(start, end, zone)) if cache is not None else []
        steps = step_log.steps()
        rows = inspector_figures(
            steps,
            start=start,
            end=end,
            assigned=assigned,
            source_names=source_names,
            patrol_days=days,
        )
        org = ctx.service.workflow.organisation
        if is_whole_city(unit) or org is None:
            return rows
        assert unit is not None
        members = {
            str(u["name"])
            for u in users
            if u.get("role") == "inspector"
            and (
                (u.get("org_node") is not None and org.within(u["org_node"], unit.id))
                or assigned_within(u.get("grids") or (), unit.grids)
            )
        }
        members |= active_on(
            steps, unit.covers, start=start, end=end, source_names=source_names, patrol_days=days
        )
        return [r for r in rows if r.inspector in members]

    @router.get("/api/v1/metrics/inspectors", tags=["evaluation"], summary="inspectors' figures")
    def inspectors(
        actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
        node: Annotated[str | None, _NODE_QUERY] = None,
    ) -> dict[str, Any]:
        s, e = inspectors_period(start, end)
        unit = evaluated_unit(ctx, actor, node)
        rows = figures(s, e, unit)
        return {
            "start": s,
            "end": e,
            **unit_answer(unit),
            "inspectors": [r.as_dict() for r in rows],
        }

    @router.get(
        "/api/v1/metrics/inspectors.csv",
        tags=["evaluation"],
        summary="inspectors' figures as CSV",
        response_class=PlainTextResponse,
    )
    def inspectors_csv(
        actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        start: datetime | None = None,
        end: datetime | None = None,
        node: Annotated[str | None, _NODE_QUERY] = None,
    ) -> Response:
        s, e = inspectors_period(start, end)
        unit = evaluated_unit(ctx, actor, node)
        text = to_csv(figures(s, e, unit))
        name = f"citygw-inspectors-{unit_file_part(unit)}{s:%Y%m%d}-{e:%Y%m%d}.csv"
        return Response(
            text.encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
