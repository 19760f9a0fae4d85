"""Inspectors' patrols (巡查): the positions a phone sends while "on patrol", and what the
evaluation reads from them. Pure: the store is a port.

- `PatrolPoint`: one position (the phone's id for it, the patrol it belongs to, when,
  where, how accurate) with the unit grid the core found it in (None: outside them all).
- `patrol_figures`: one inspector's figures for a span (a day): time on patrol (the gaps
  between consecutive points of a patrol up to `MAX_GAP`: a phone that stopped sending
  for longer was not patrolling), distance walked (points less accurate than
  `MAX_ACCURACY_M` left out), the unit grids visited, and coverage: the share of the
  inspector's assigned unit grids visited (巡查覆盖率).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

#: a longer silence between two points is a pause, not patrol time
MAX_GAP = timedelta(minutes=5)
#: points less accurate than this count for grids visited and time, not for distance
MAX_ACCURACY_M = 50.0
#: positions one request may carry (a phone offline for hours at one every 30 s: 480)
MAX_BATCH = 1000
_EARTH_M = 6_371_000.0


@dataclass(frozen=True)
class PatrolPoint:
    point_id: str
    patrol_id: str
    at: datetime
    lat: float
    lon: float
    accuracy_m: float | None = None
    grid_code: str | None = None


@dataclass(frozen=True)
class LastPosition:
    inspector: str
    point: PatrolPoint


class PatrolStore(Protocol):
    def add_points(self, inspector: str, points: Sequence[PatrolPoint], now: datetime) -> int:
        """Keep the points not kept yet (by inspector and point id); returns how many."""
        ...

    def track(self, inspector: str, start: datetime, end: datetime) -> list[PatrolPoint]:
        """The inspector's points with ``start <= at < end``, oldest first."""
        ...

    def points_between(self, start: datetime, end: datetime) -> dict[str, list[PatrolPoint]]:
        """Every inspector's points in the span, oldest first."""
        ...

    def count_between(self, start: datetime, end: datetime) -> int:
        """How many points lie in the span (all inspectors): cheap, from the time index."""
        ...

    def kept_day(self, start: datetime, end: datetime) -> tuple[int, str] | None:
        """A settled day's reduced figures as kept by `keep_day`: (points, JSON text)."""
        ...

    def keep_day(
        self, start: datetime, end: datetime, points: int, figures: str, now: datetime
    ) -> None:
        """Keep (or replace) a day's reduced figures, made from ``points`` points."""
        ...

    def last_positions(self, since: datetime) -> list[LastPosition]:
        """Each inspector's newest point since ``since``."""
        ...


def metres(a: PatrolPoint, b: PatrolPoint) -> float:
    """Great-circle distance (haversine; metre-level at street scale)."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def assigned_unit_grids(assigned: Iterable[str], known: Iterable[str]) -> set[str]:
    """The unit grids an inspector's assignment (codes or code prefixes) covers."""
    prefixes = tuple(assigned)
    return {code for code in known if prefixes and code.startswith(prefixes)}


def patrol_figures(points: Sequence[PatrolPoint], assigned: set[str]) -> dict[str, Any]:
    """One inspector's figures over ``points`` (oldest first); ``assigned``: their unit grids."""
    seconds = 0.0
    distance = 0.0
    by_patrol: dict[str, list[PatrolPoint]] = {}
    for point in points:
        by_patrol.setdefault(point.patrol_id, []).append(point)
    for track in by_patrol.values():
        for a, b in itertools.pairwise(track):
            gap = b.at - a.at
            if timedelta(0) <= gap <= MAX_GAP:
                seconds += gap.total_seconds()
        good = [p for p in track if p.accuracy_m is None or p.accuracy_m <= MAX_ACCURACY_M]
        distance += sum(metres(a, b) for a, b in itertools.pairwise(good))
    visited = {p.grid_code for p in points if p.grid_code}
    covered = visited & assigned
    return {
        "points": len(points),
        "patrols": len(by_patrol),
        "minutes": round(seconds / 60, 1),
        "distance_km": round(distance / 1000, 2),
        "grids_visited": len(visited),
        "assigned_grids": len(assigned),
        "assigned_grids_visited": len(covered),
        "coverage": round(len(covered) / len(assigned), 3) if assigned else None,
        "first_at": points[0].at.isoformat() if points else None,
        "last_at": points[-1].at.isoformat() if points else None,
    }
