"""From a candidate to a case: the pure decisions of intake.

- a candidate whose camera track (camera + track id) already has a case is a
  re-detection: logged on that case, never a second case;
- a candidate of the same event code near an open case (same grid, or within
  ``distance_m`` when both have lat/lon) in the time window opens a case that is
  *proposed* as a merge (the operator decides);
- otherwise it opens a new case in 信息收集 (candidate).

Camera locations map to grids through the responsibility table's camera → grid rows.
Without one, a camera candidate carrying its camera's ground footprint
(``facts.camera_footprint``) gets the grid the footprint covers most
(`gateway.gis.camera_places`); any other candidate with a point (lat/lon) gets the unit
grid the point lies in, with its district, street and community, from the imported grids
(`gateway.gis.index`). A footprint or point outside every grid gets no grid and the fact
``outside_managed_area``, never the nearest grid.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from gateway.contract import CandidateCase, SourceKind, stable_message_id
from gateway.core.dispatch import ResponsibilityTable
from gateway.core.settings import DuplicateConfig
from gateway.core.workflow import Case, CaseState
from gateway.gis.camera_places import Placement, footprint_polygon, place_camera, seen_point
from gateway.gis.index import GridIndex

#: candidate facts that describe a detection; copied onto rejection events
DETECTION_FACTS = ("track_id", "rule", "class", "label", "class_id", "score", "box", "bbox")

EARTH_RADIUS_M = 6_371_000.0


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


def grid_of(
    candidate: CandidateCase, table: ResponsibilityTable, grids: GridIndex | None = None
) -> str | None:
    """The candidate's unit grid: given, the grid its camera zone is mapped to, or the
    grid its camera's footprint or its point lies in."""
    location = candidate.location
    if location.grid_code is not None:
        return location.grid_code
    mapped = table.grid_for_camera(location.camera_id, location.zone_id)
    if mapped is not None:
        return mapped.grid_code
    found = placement_of(candidate, grids)
    return found.grid.code if found is not None and found.grid is not None else None


def placement_of(candidate: CandidateCase, grids: GridIndex | None) -> Placement | None:
    """Where the imported grids place the candidate: a camera's ground footprint
    (``facts.camera_footprint``) first, else its point; ``grid`` None: outside every
    grid. None when there is nothing to place by or no imported grids to look in."""
    if grids is None or len(grids) == 0:
        return None
    location = candidate.location
    footprint = None
    if candidate.source.kind is SourceKind.CAMERA:
        footprint = footprint_polygon(candidate.facts.get("camera_footprint"))
    return place_camera(grids, footprint=footprint, lon=location.lon, lat=location.lat)


def _seen_in_grid(
    candidate: CandidateCase, grid_code: str | None, grids: GridIndex | None
) -> tuple[float, float] | None:
    """For a camera candidate with a ground footprint: a point (lon, lat) of what the camera
    sees inside the case's grid, so the map draws the case where the problem is, not at the
    camera's pole; None otherwise (no footprint, no imported grid, no overlap)."""
    if candidate.source.kind is not SourceKind.CAMERA or grid_code is None or grids is None:
        return None
    footprint = footprint_polygon(candidate.facts.get("camera_footprint"))
    grid = grids.grid(grid_code) if footprint is not None else None
    if footprint is None or grid is None:
        return None
    return seen_point(footprint, grid)


def position_of(
    candidate: CandidateCase, grid_code: str | None, grids: GridIndex | None
) -> tuple[float, float] | None:
    """(lat, lon) of the case a candidate makes: a point of what a camera sees in the case's
    grid (`_seen_in_grid`), else the candidate's own point; None without either."""
    spot = _seen_in_grid(candidate, grid_code, grids)
    if spot is not None:
        return spot[1], spot[0]
    location = candidate.location
    if location.lat is None or location.lon is None:
        return None
    return location.lat, location.lon


def case_from_candidate(
    candidate: CandidateCase,
    number: str,
    table: ResponsibilityTable,
    now: datetime,
    grids: GridIndex | None = None,
) -> Case:
    location = candidate.location
    grid_code, district = location.grid_code, location.district
    facts: dict[str, Any] = dict(candidate.facts)
    if grid_code is None:
        mapped = table.grid_for_camera(location.camera_id, location.zone_id)
        if mapped is not None:
            grid_code, district = mapped.grid_code, district or mapped.district
    if grid_code is None:
        found = placement_of(candidate, grids)
        if found is not None:
            facts.update(found.facts())
            if found.grid is not None:
                grid_code, district = found.grid.code, district or found.grid.district
    lat, lon = location.lat, location.lon
    spot = _seen_in_grid(candidate, grid_code, grids)
    if spot is not None:
        if lat is not None and lon is not None:
            facts["camera_position"] = {"lat": lat, "lon": lon}
        lon, lat = spot
        facts["position_from"] = "camera_footprint"
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
        grid_code=grid_code,
        district=district,
        address=location.address,
        camera_id=location.camera_id,
        zone_id=location.zone_id,
        lat=lat,
        lon=lon,
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
