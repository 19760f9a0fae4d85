"""Inspectors' patrols (巡查): the positions a phone sends while "on patrol", and what the
evaluation reads from them. Pure: the store is a port.

- `PatrolPoint`: one position (the phone's id for it, the patrol it belongs to, when,
  where, how accurate) with the unit grid the core found it in (None: outside them all).
- `patrol_figures`: one inspector's figures for a span (a day): time on patrol (the gaps
  between consecutive points of a patrol up to `MAX_GAP`: a phone that stopped sending
  for longer was not patrolling), distance walked (points less accurate than
  `MAX_ACCURACY_M` left out), the unit grids visited, and coverage: the share of the
  inspector's assigned unit grids visited (巡查覆盖率).
- `time_refusal`: why a point's time is refused (the code the API answers), or None: a
  point must carry a time zone, be no more than `CLOCK_SKEW` ahead of the core (a phone's
  clock gone wrong) and no more than `MAX_POINT_AGE` old. The phone keeps what it could
  not send in IndexedDB and sends it when it has a signal again; a week covers a phone
  left without one over a long holiday, and anything older is a phone whose clock (or
  storage) went wrong; the figures of a day that old were read long ago.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

#: a longer silence between two points is a pause, not patrol time
MAX_GAP = timedelta(minutes=5)
#: points less accurate than this count for grids visited and time, not for distance
MAX_ACCURACY_M = 50.0
#: positions one request may carry (a phone offline for hours at one every 30 s: 480)
MAX_BATCH = 1000
#: a point stamped further ahead than this (a phone's clock gone wrong) is refused
CLOCK_SKEW = timedelta(minutes=10)
#: a point older than this is refused (the phone's offline horizon: see the module's text)
MAX_POINT_AGE = timedelta(days=7)
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


def time_refusal(at: datetime, now: datetime) -> str | None:
    """``timezone_required``, ``point_in_future``, ``point_too_old`` or None (a good time).
    A time in year 1 or 9999 whose offset puts it outside what a datetime holds in UTC
    (``0001-01-01T00:00:00+14:00``) is too old or in the future, never an error."""
    if at.tzinfo is None or at.utcoffset() is None:
        return "timezone_required"
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        return "point_too_old" if at.year == datetime.min.year else "point_in_future"
    if utc > now + CLOCK_SKEW:
        return "point_in_future"
    if utc < now - MAX_POINT_AGE:
        return "point_too_old"
    return None


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
