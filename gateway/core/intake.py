"""From a candidate to a case: the pure decisions of intake.

- a candidate whose camera track (camera + track id) already has a case is a
  re-detection: logged on that case, never a second case;
- a candidate of the same event code near an open case (same grid, or within
  ``distance_m`` when both have lat/lon) in the time window opens a case that is
  *proposed* as a merge (the operator decides);
- otherwise it opens a new case in 信息收集 (candidate).

Where a case lies (`place_of`), the most specific word first:

1. a grid the candidate gives (``location.grid_code``: a report's, a camera zone's own
   ``grid_code``, or the camera's when the zone has no ground footprint);
2. the responsibility table's row for the camera *and* zone (``core.camera_grids``);
3. the zone's ground footprint (``facts.zone_footprint``): the grid it covers most;
4. the camera's ``grid_code`` sent beside a zone footprint (``facts.camera_grid_code``;
   reached only without imported grids), then the table's row for the whole camera;
5. the camera's ground footprint (``facts.camera_footprint``): the grid it covers most;
6. the candidate's point (lat/lon): the unit grid it lies in.

3, 5 and 6 use the imported grids (`gateway.gis.camera_places`, `gateway.gis.index`) and
record ``grid_from`` with the street and community. A footprint or point outside every
grid gets no grid and the fact ``outside_managed_area``, never the nearest grid (nor a
later step). A camera case is drawn where the problem is: on the zone's ground in the
case's grid, else the camera's ground in that grid (``position_from``), else at the
candidate's point (the camera's pole, kept as ``camera_position`` when moved).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import Polygon

from gateway.contract import CandidateCase, SourceKind, stable_message_id
from gateway.core.dispatch import ResponsibilityTable
from gateway.core.settings import DuplicateConfig
from gateway.core.workflow import Case, CaseState
from gateway.gis.camera_places import (
    PlacedBy,
    Placement,
    footprint_polygon,
    place_camera,
    place_footprint,
    seen_point,
)
from gateway.gis.index import GridIndex

#: candidate facts that describe a detection; copied onto rejection events
DETECTION_FACTS = ("track_id", "rule", "class", "label", "class_id", "score", "box", "bbox")

EARTH_RADIUS_M = 6_371_000.0

_GRID_CODE = re.compile(r"\d{14}")


def case_id_for(candidate_id: str) -> str:
    """Deterministic: the same candidate always names the same case."""
    return stable_message_id("case", candidate_id)


def track_key(candidate: CandidateCase) -> str | None:
    """``camera:track`` for a camera candidate that carries a track id, else None."""
    track = candidate.facts.get("track_id")
    if track is None or candidate.source.kind is not SourceKind.CAMERA:
        return None
    camera = candidate.location.camera_id or candidate.source.id
    return f"{camera}:{track}"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a candidate's case lies: its grid and district, the facts that say how
    (``grid_from``, ``outside_managed_area``, ``position_from``, ...) and its point."""

    grid_code: str | None
    district: str | None
    facts: dict[str, Any]
    lat: float | None
    lon: float | None

    @property
    def point(self) -> tuple[float, float] | None:
        """(lat, lon), or None without a point."""
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)


def _grounds(candidate: CandidateCase) -> tuple[Polygon | None, Polygon | None]:
    """(the zone's, the camera's) ground footprint a camera candidate carries (checked,
    never trusted: a malformed one is None)."""
    if candidate.source.kind is not SourceKind.CAMERA:
        return None, None
    facts = candidate.facts
    return footprint_polygon(facts.get("zone_footprint")), footprint_polygon(
        facts.get("camera_footprint")
    )


def _grid_by_order(
    candidate: CandidateCase,
    table: ResponsibilityTable,
    grids: GridIndex | None,
    zone_ground: Polygon | None,
) -> tuple[str | None, str | None, dict[str, Any]]:
    """(grid code, district, facts of the placement) in the order of the module's notes."""
    location = candidate.location
    district = location.district
    if location.grid_code is not None:
        return location.grid_code, district, {}
    mapped = table.grid_for_camera(location.camera_id, location.zone_id)
    if mapped is not None and location.zone_id is not None and mapped.zone_id == location.zone_id:
        return mapped.grid_code, district or mapped.district, {}
    if zone_ground is not None and grids is not None and len(grids) > 0:
        found = place_footprint(zone_ground, grids, PlacedBy.ZONE_FOOTPRINT)
        return _placed(found, district)
    camera_grid = candidate.facts.get("camera_grid_code")
    if (
        candidate.source.kind is SourceKind.CAMERA
        and isinstance(camera_grid, str)
        and _GRID_CODE.fullmatch(camera_grid)
    ):
        return camera_grid, district, {}
    if mapped is not None:
        return mapped.grid_code, district or mapped.district, {}
    found_by = placement_of(candidate, grids)
    if found_by is not None:
        return _placed(found_by, district)
    return None, district, {}


def _placed(
    found: Placement, district: str | None
) -> tuple[str | None, str | None, dict[str, Any]]:
    if found.grid is None:
        return None, district, found.facts()
    return found.grid.code, district or found.grid.district, found.facts()


def placement_of(candidate: CandidateCase, grids: GridIndex | None) -> Placement | None:
    """Where the imported grids place the candidate by its camera's ground footprint
    (``facts.camera_footprint``), else its point; ``grid`` None: outside every grid. None
    when there is nothing to place by or no imported grids to look in."""
    if grids is None or len(grids) == 0:
        return None
    location = candidate.location
    _zone, footprint = _grounds(candidate)
    return place_camera(grids, footprint=footprint, lon=location.lon, lat=location.lat)


def _spot(
    grid_code: str | None,
    grids: GridIndex | None,
    zone_ground: Polygon | None,
    camera_ground: Polygon | None,
) -> tuple[float, float, str] | None:
    """(lon, lat, what it comes from) of the ground a camera case stands on: inside the
    case's grid, the zone's ground, else the camera's; without an imported grid for the
    case (outside every grid, none imported), the zone's ground itself. None otherwise
    (drawn at the candidate's own point)."""
    grid = grids.grid(grid_code) if grids is not None and grid_code is not None else None
    if grid is not None:
        for ground, name in ((zone_ground, "zone_footprint"), (camera_ground, "camera_footprint")):
            spot = seen_point(ground, grid) if ground is not None else None
            if spot is not None:
                return spot[0], spot[1], name
        return None
    if zone_ground is not None:
        inner = zone_ground.representative_point()
        return inner.x, inner.y, "zone_footprint"
    return None


def place_of(
    candidate: CandidateCase, table: ResponsibilityTable, grids: GridIndex | None = None
) -> Place:
    """Where the case a candidate makes lies: its grid by the order of the module's notes
    and its point (for a camera: on the ground the zone, else the camera, sees there)."""
    zone_ground, camera_ground = _grounds(candidate)
    grid_code, district, facts = _grid_by_order(candidate, table, grids, zone_ground)
    location = candidate.location
    lat, lon = location.lat, location.lon
    spot = _spot(grid_code, grids, zone_ground, camera_ground)
    if spot is not None:
        if lat is not None and lon is not None:
            facts["camera_position"] = {"lat": lat, "lon": lon}
        lon, lat, facts["position_from"] = spot
    return Place(grid_code, district, facts, lat, lon)


def grid_of(
    candidate: CandidateCase, table: ResponsibilityTable, grids: GridIndex | None = None
) -> str | None:
    """The candidate's unit grid (`place_of`)."""
    return place_of(candidate, table, grids).grid_code


def case_from_candidate(
    candidate: CandidateCase,
    number: str,
    table: ResponsibilityTable,
    now: datetime,
    grids: GridIndex | None = None,
) -> Case:
    location = candidate.location
    place = place_of(candidate, table, grids)
    facts: dict[str, Any] = {**candidate.facts, **place.facts}
    if candidate.partial:
        facts["partial"] = True
    reporter = candidate.reporter
    return Case(
        id=case_id_for(candidate.id),
        number=number,
        state=CaseState.CANDIDATE,
        event_code=candidate.event_code,
        created_at=now,
        source_kind=str(candidate.source.kind),
        title=candidate.title,
        description=candidate.description,
        grid_code=place.grid_code,
        district=place.district,
        address=location.address,
        camera_id=location.camera_id,
        zone_id=location.zone_id,
        lat=place.lat,
        lon=place.lon,
        urgent=candidate.urgent,
        track_key=track_key(candidate),
        reporter_name=reporter.name if reporter else None,
        callback_number=reporter.callback_number if reporter else None,
        facts=facts,
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, metres: float) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) around a point, a coarse pre-filter."""
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def duplicate_of(new: Case, open_cases: list[Case], config: DuplicateConfig) -> Case | None:
    """The open case ``new`` most likely duplicates (nearest first), or None."""
    best: tuple[float, Case] | None = None
    for other in open_cases:
        if other.id == new.id or other.event_code != new.event_code or not other.is_open:
            continue
        if other.proposed_merge_into is not None:
            continue  # itself a likely duplicate: propose the original instead
        if None not in (new.lat, new.lon, other.lat, other.lon):
            metres = distance_m(new.lat, new.lon, other.lat, other.lon)  # type: ignore[arg-type]
            if metres <= config.distance_m and (best is None or metres < best[0]):
                best = (metres, other)
        elif (
            config.same_grid
            and best is None
            and new.grid_code is not None
            and new.grid_code == other.grid_code
        ):
            best = (math.inf, other)
    return best[1] if best else None
