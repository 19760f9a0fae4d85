"""Inspectors' patrols (巡查, `gateway.core.patrols`) over HTTP.

- ``POST /api/v1/mobile/patrol``: the phone's positions while on patrol, in batches (one
  every N seconds online; everything waiting after a dead spot): each point with an id
  made on the phone, so a batch sent again stores nothing twice. The core places each
  point in its unit grid (the imported grids); a point outside them all keeps no grid.
  A point's time must have a time zone and lie between `MAX_POINT_AGE` ago and
  `CLOCK_SKEW` ahead (`gateway.core.patrols.time_refusal`): the batch's other points are
  kept, and the answer names each refused one with its code (``refused``: ``[{"id",
  "error"}]``, e.g. ``point_in_future`` from a phone whose clock runs fast), so the phone
  drops them and goes on instead of sending the same batch forever. A refused point is
  stored never, a good one once.
- ``GET /api/v1/patrols/positions``: every inspector's last position (the map's layer).
- ``GET /api/v1/patrols/track?inspector=&day=``: one inspector's points of a day (the
  centre's time zone); an inspector may read their own.
- ``GET /api/v1/patrols/figures?day=``: per inspector, time on patrol, distance, unit
  grids visited and the coverage of their assigned grids (巡查覆盖率).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.core.api_base import DESK, ApiContext, ApiError, allow
from gateway.core.body_limit import LimitedBody
from gateway.core.inspector_tasks import InspectorRoster
from gateway.core.patrols import (
    MAX_BATCH,
    PatrolPoint,
    PatrolStore,
    assigned_unit_grids,
    patrol_figures,
    time_refusal,
)
from gateway.core.workflow import Actor, Role

POINT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{7,127}$"
_CENTRE = DESK | {Role.ADMIN}


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=POINT_ID, description="made on the phone: the idempotency key")
    at: datetime = Field(description="when the phone was there (with its time zone)")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class PatrolBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patrol_id: str = Field(pattern=POINT_ID, description="one patrol (开始巡查 .. 结束巡查)")
    points: list[PointIn] = Field(min_length=1, max_length=MAX_BATCH)


def _point_out(point: PatrolPoint) -> dict[str, Any]:
    return {
        "at": point.at.isoformat(),
        "lat": point.lat,
        "lon": point.lon,
        "accuracy_m": point.accuracy_m,
        "grid_code": point.grid_code,
        "patrol_id": point.patrol_id,
    }


def patrols_router(ctx: ApiContext, store: PatrolStore) -> APIRouter:
    router = APIRouter(route_class=LimitedBody)  # 413 body_too_large past its limit
    zone = ZoneInfo(ctx.config.calendar.timezone)

    def day_span(day: date | None) -> tuple[datetime, datetime]:
        local = day or ctx.clock.now().astimezone(zone).date()
        start = datetime.combine(local, time(0), zone)
        return start, datetime.combine(local + timedelta(days=1), time(0), zone)

    @router.post("/api/v1/mobile/patrol", tags=["mobile"], summary="patrol positions (batch)")
    def add_points(
        body: PatrolBatchIn, actor: Annotated[Actor, Depends(allow(Role.INSPECTOR))]
    ) -> dict[str, Any]:
        now = ctx.clock.now()
        good: list[PointIn] = []
        refused: list[dict[str, str]] = []
        for point in body.points:
            refusal = time_refusal(point.at, now)
            if refusal is None:
                good.append(point)
            else:
                refused.append({"id": point.id, "error": refusal})
        grids = ctx.service.grids
        codes: list[Any] = [None] * len(good)
        if good and grids is not None and len(grids):
            codes = list(grids.locate([p.lon for p in good], [p.lat for p in good]))
        points = [
            PatrolPoint(p.id, body.patrol_id, p.at, p.lat, p.lon, p.accuracy_m, code)
            for p, code in zip(good, codes, strict=True)
        ]
        stored = store.add_points(actor.name, points, now) if points else 0
        return {"received": len(body.points), "stored": stored, "refused": refused}

    @router.get("/api/v1/patrols/positions", tags=["patrols"], summary="last positions")
    def positions(
        _actor: Annotated[Actor, Depends(allow(_CENTRE))],
        hours: Annotated[float, Query(gt=0, le=168)] = 12,
    ) -> list[dict[str, Any]]:
        since = ctx.clock.now() - timedelta(hours=hours)
        return [
            {"inspector": last.inspector, **_point_out(last.point)}
            for last in store.last_positions(since)
        ]

    @router.get("/api/v1/patrols/track", tags=["patrols"], summary="an inspector's day")
    def track(
        actor: Annotated[Actor, Depends(allow(_CENTRE, Role.INSPECTOR))],
        inspector: Annotated[str, Query(max_length=64)],
        day: Annotated[date | None, Query()] = None,
    ) -> dict[str, Any]:
        if actor.role is Role.INSPECTOR and inspector != actor.name:
            raise ApiError(403, "forbidden_role", "an inspector reads their own track only")
        start, end = day_span(day)
        points = store.track(inspector, start, end)
        out = [_point_out(p) for p in points]
        return {"inspector": inspector, "day": start.date().isoformat(), "points": out}

    @router.get("/api/v1/patrols/figures", tags=["patrols"], summary="patrol figures of a day")
    def figures(
        _actor: Annotated[Actor, Depends(allow(_CENTRE))],
        day: Annotated[date | None, Query()] = None,
    ) -> dict[str, Any]:
        start, end = day_span(day)
        points = store.points_between(start, end)
        known = [g.code for g in ctx.service.grids.grids] if ctx.service.grids else []
        roster = InspectorRoster.from_users(ctx.auth.users())
        assigned = dict(roster.inspectors)
        rows = []
        for name in sorted(set(assigned) | set(points)):
            unit_grids = assigned_unit_grids(assigned.get(name, ()), known)
            rows.append({"inspector": name, **patrol_figures(points.get(name, []), unit_grids)})
        return {"day": start.date().isoformat(), "inspectors": rows}

    return router
