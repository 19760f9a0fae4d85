"""``/api/v1/gis``: what the console's map and the hotline operator ask of the base data.

- ``grids?bbox=`` the unit grids in a viewport as GeoJSON, each with its open cases;
- ``cases?bbox=`` the cases with a point in a viewport (newest first, ``truncated`` when
  more lie there than the limit);
- ``components?bbox=&class=`` census components (部件) in a viewport, by class;
- ``geocode?q=`` address text -> scored candidates with their reasons and grid (the
  operator picks; never one silent guess);
- ``reverse?lon=&lat=`` a point -> its grid (or outside the managed area) and nearest
  address;
- ``components/near?lon=&lat=&r=&class=`` the components within r metres, nearest first;
- ``cameras`` the configured cameras with a position or footprint, their health and the
  grid their candidates go to (or outside the managed area), with their zones that have a
  ground footprint (``video.analysis``) and the grid each zone's candidates go to.

A bbox is ``minLon,minLat,maxLon,maxLat`` in stored lon/lat (CGCS2000). A department
user sees its own department's cases and counts (a community's user: the cases passed to
it, 四级联动), an inspector the cases on its grids.
`MapData` holds the base data the routes answer from, loaded at the core's start
(`load_map_data`); a `MapSource` holds the current one, which `gateway.core.gis_reload`
replaces after a new import (without a restart), as it does the intake's grids.
"""

from __future__ import annotations

import gc
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import shapely
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from shapely.geometry import mapping

from gateway.core.api_base import ALL_USERS, STAFF, ApiContext, ApiError, FastJSON, allow
from gateway.core.cameras import HEALTH_LABELS, CameraHealth
from gateway.core.case_views import scope_of
from gateway.core.organisation import CITY_ID, NodeKind
from gateway.core.workflow import STATE_LABELS, Actor, Case, Role
from gateway.gis.camera_places import (
    CameraPlace,
    Placement,
    ZonePlace,
    footprint_polygon,
    place,
    place_zone,
)
from gateway.gis.components_near import ComponentsNear
from gateway.gis.features import ComponentFeature, GridFeature
from gateway.gis.geocoder import Geocoder
from gateway.gis.index import GridIndex
from gateway.gis.ports import BaseDataStore, BBox

#: the most features one viewport answer carries (``truncated`` says there were more)
MAX_GRIDS = 5_000
MAX_CASES = 5_000
MAX_COMPONENTS = 5_000
_WORLD: BBox = (-180.0, -90.0, 180.0, 90.0)
_CLASS = re.compile(r"^\d{2}(?:\d{2})?$")


class CaseMap(Protocol):
    """The map's reads of the cases (`adapters.storage.case_map_store.SqlCaseMap`)."""

    def cases_in_bbox(
        self,
        bbox: BBox,
        *,
        open_only: bool,
        limit: int,
        department: str | None = None,
        grid_prefixes: Sequence[str] | None = None,
    ) -> list[Case]: ...

    def open_cases_by_grid(
        self, grid_codes: Sequence[str] | None = None, department: str | None = None
    ) -> dict[str, int]: ...


#: how long the open cases per grid are reused (a map redraws every few seconds at most)
COUNTS_TTL_S = 2.0


class _OpenCounts:
    """The open cases of every grid, per department (None: all), kept `COUNTS_TTL_S`:
    one grouped query serves every viewport asked meanwhile."""

    def __init__(self, cases: CaseMap, clock: Callable[[], float] = time.monotonic) -> None:
        self._cases = cases
        self._clock = clock
        self._kept: dict[str | None, tuple[float, dict[str, int]]] = {}
        self._lock = threading.Lock()

    def get(self, department: str | None) -> dict[str, int]:
        now = self._clock()
        with self._lock:
            kept = self._kept.get(department)
        if kept is not None and now - kept[0] < COUNTS_TTL_S:
            return kept[1]
        counts = self._cases.open_cases_by_grid(None, department)
        with self._lock:
            self._kept[department] = (now, counts)
        return counts


@dataclass
class MapData:
    """The base data and the indexes the routes answer from; the grids' GeoJSON is made
    once (the grids change only with an import: a reload makes a new `MapData`)."""

    store: BaseDataStore
    cases: CaseMap
    grids: GridIndex
    geocoder: Geocoder
    components: ComponentsNear[ComponentFeature]
    cameras: Sequence[CameraPlace] = ()  # as configured (video.cameras)
    grid_features: list[dict[str, Any]] = field(default_factory=list)  # as `grids.grids`
    grid_boxes: shapely.STRtree | None = None
    open_counts: _OpenCounts | None = None
    placements: dict[str, Placement | None] = field(default_factory=dict)  # by camera id
    #: by camera id, then zone id: the zones that have a ground footprint
    zone_placements: dict[str, dict[str, Placement | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.placements = {c.camera_id: place(c, self.grids) for c in self.cameras}
        self.zone_placements = {
            c.camera_id: {z.zone_id: place_zone(z, self.grids) for z in c.zones}
            for c in self.cameras
        }
        self.grid_features = [
            {"type": "Feature", "geometry": mapping(g.geometry), "properties": grid_out(g)}
            for g in self.grids.grids
        ]
        self.grid_boxes = shapely.STRtree([shapely.envelope(g.geometry) for g in self.grids.grids])
        self.open_counts = _OpenCounts(self.cases)

    def grids_in_bbox(self, bbox: BBox) -> list[dict[str, Any]]:
        """The grid features whose bounding box meets ``bbox``, by code."""
        assert self.grid_boxes is not None
        found = sorted(self.grid_boxes.query(shapely.box(*bbox)).tolist())
        return [self.grid_features[i] for i in found]


class MapSource:
    """The map's base data as now loaded; `replace` swaps in a reload at once (thread-safe:
    a request keeps the `MapData` it started with)."""

    def __init__(self, data: MapData) -> None:
        self._data = data

    def current(self) -> MapData:
        return self._data

    def replace(self, data: MapData) -> None:
        self._data = data


def load_map_data(
    store: BaseDataStore,
    cases: CaseMap,
    grids: GridIndex | None = None,
    cameras: Sequence[CameraPlace] = (),
) -> MapData:
    """Indexes over what is imported now (``grids``: the intake's index, when it has one)."""
    data = MapData(
        store,
        cases,
        grids if grids is not None else GridIndex(store.grids()),
        Geocoder(store.addresses()),
        ComponentsNear(store.components_in_bbox(_WORLD, limit=10_000_000)),
        cameras,
    )
    settle_long_lived()
    return data


def settle_long_lived() -> None:
    """Keep what is loaded now out of the cyclic garbage collector's full passes.

    Each map request makes and drops a thousand short-lived objects; every so often that
    triggers a full (oldest generation) collection, which walks every object the process
    holds (the base data's indexes, the geocoder's gazetteer, the app): ~100 ms on a
    shared 2-core machine, the whole of the map's p99 (bench/map_viewport.py: p50 31 ms,
    p99 141 ms; with collections paused, p99 ~40 ms). Frozen objects (`gc.freeze`) are
    still freed by reference counting; what a reload leaves behind is collected here
    first (unfreeze, collect, freeze again), once per load, not per request."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def camera_places(
    cameras: Sequence[Any], analysis: Mapping[str, Any] | None = None
) -> list[CameraPlace]:
    """``video.cameras`` (`gateway.video.settings.CameraConfig`) as the map places them,
    with the zones of ``analysis`` (``video.analysis.cameras``, by camera id) that have a
    ground footprint."""
    return [
        CameraPlace(
            c.id,
            c.name,
            c.lon,
            c.lat,
            footprint_polygon(c.footprint) if c.footprint is not None else None,
            _zone_places((analysis or {}).get(c.id)),
        )
        for c in cameras
    ]


def _zone_places(camera: Any) -> tuple[ZonePlace, ...]:
    """The zones of a camera's analysis (`CameraAnalysisConfig`) that have a footprint."""
    if camera is None:
        return ()
    found = []
    for zone_id, zone in camera.zones.items():
        ground = footprint_polygon(zone.footprint) if zone.footprint is not None else None
        if ground is not None:
            found.append(ZonePlace(zone_id, ground, zone.name, zone.grid_code))
    return tuple(found)


def zone_out(zone: ZonePlace, placement: Placement | None, grids: GridIndex) -> dict[str, Any]:
    """A zone with its ground and the grid its cases go to: its own grid code, else the
    grid its footprint covers most (``placed_by`` says which), or outside the area."""
    out: dict[str, Any] = {
        "id": zone.zone_id,
        "name": zone.name or zone.zone_id,
        "footprint": [list(c) for c in zone.footprint.exterior.coords[:-1]],
        "grid": None,
        "placed_by": None,
        "outside_managed_area": False,
    }
    if zone.grid_code is not None:
        out["grid"] = grid_out(grids.grid(zone.grid_code)) or {"code": zone.grid_code}
        out["placed_by"] = "grid_code"
    elif placement is not None:
        out["grid"] = grid_out(placement.grid)
        out["placed_by"] = str(placement.placed_by)
        out["outside_managed_area"] = placement.outside
    return out


def camera_out(
    camera: CameraPlace,
    placement: Placement | None,
    health: dict[str, Any] | None,
    zones: Sequence[dict[str, Any]] = (),
) -> dict[str, Any] | None:
    """A camera as a GeoJSON point (its position, else the centre of its footprint, else
    of its zones') with its footprint, zones (`zone_out`), health and grid; None for a
    camera with no position and no footprint."""
    if camera.lon is not None and camera.lat is not None:
        lon, lat = camera.lon, camera.lat
    elif camera.footprint is not None:
        centre = camera.footprint.centroid
        lon, lat = centre.x, centre.y
    elif camera.zones:
        centre = shapely.union_all([z.footprint for z in camera.zones]).centroid
        lon, lat = centre.x, centre.y
    else:
        return None
    state = health or {"health": str(CameraHealth.UNKNOWN)}
    return _point(
        lon,
        lat,
        {
            "id": camera.camera_id,
            "name": camera.name or camera.camera_id,
            "health": state["health"],
            "health_label": state.get("health_label", HEALTH_LABELS[CameraHealth.UNKNOWN]),
            "detail": state.get("detail", ""),
            "footprint": [list(c) for c in camera.footprint.exterior.coords[:-1]]
            if camera.footprint is not None
            else None,
            "grid": grid_out(placement.grid) if placement is not None else None,
            "placed_by": str(placement.placed_by) if placement is not None else None,
            "outside_managed_area": placement is not None and placement.outside,
            "zones": list(zones),
        },
    )


def parse_bbox(text: str) -> BBox:
    """``minLon,minLat,maxLon,maxLat`` -> a bbox; 422 ``bad_bbox`` on anything else."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ApiError(422, "bad_bbox", f"bbox is minLon,minLat,maxLon,maxLat, got {text!r}")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise ApiError(422, "bad_bbox", f"bbox needs min < max within lon/lat range: {text!r}")
    return min_lon, min_lat, max_lon, max_lat


def parse_classes(text: str | None) -> list[str] | None:
    """``01,0305`` -> component classes (2 digits) or types (4); 422 ``bad_component_class``."""
    if text is None or not text.strip():
        return None
    codes = [c.strip() for c in text.split(",")]
    if not all(_CLASS.match(c) for c in codes):
        raise ApiError(
            422, "bad_component_class", f"class is 2 or 4 digits, comma-separated: {text!r}"
        )
    return codes


def grid_out(grid: GridFeature | None) -> dict[str, Any] | None:
    if grid is None:
        return None
    return {
        "code": grid.code,
        "name": grid.name,
        "district": grid.district,
        "street": grid.street,
        "community": grid.community,
    }


def _component_out(c: ComponentFeature, distance_m: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "type_code": c.type_code,
        "name": c.name,
        "owner": c.owner,
        "state": c.state.value,
        "grid_code": c.grid_code,
    }
    if distance_m is not None:
        out["distance_m"] = round(distance_m, 1)
    return out


def _point(lon: float, lat: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def gis_router(ctx: ApiContext, source: MapData | MapSource) -> APIRouter:
    """The routes over ``source``: fixed base data, or a `MapSource` that a reload swaps
    (each request answers from the data current when it starts)."""
    held = source if isinstance(source, MapSource) else MapSource(source)
    current = held.current
    router = APIRouter(prefix="/api/v1/gis", tags=["gis"])

    def department_of(actor: Actor) -> str | None:
        return actor.department if actor.role is Role.DEPARTMENT else None

    @router.get("/map", summary="what the console's map starts from")
    def map_settings(actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))]) -> Response:
        """The extent of the imported grids the user's centre covers (a district's users:
        their district's; the city: all; all when none is in reach; None before any import),
        ``districts``: the extent of each district of the organisation among those grids
        (by node id; the console's 跳转到 picker), and the city's tile server
        (``core.map_tile_url``; None: the grids are the base layer)."""
        data = current()
        grids = data.grids.grids
        if actor.reach:
            grids = [g for g in grids if g.code.startswith(actor.reach)] or grids
        org = ctx.service.workflow.organisation
        districts: dict[str, list[float]] = {}
        for district in org.children(CITY_ID, NodeKind.DISTRICT) if org is not None else ():
            extent = _extent([g for g in grids if district.covers(g.code)])
            if extent is not None:
                districts[district.id] = extent
        return FastJSON(
            {"bbox": _extent(grids), "districts": districts, "tile_url": ctx.config.map_tile_url}
        )

    @router.get("/grids", summary="unit grids in a viewport, with their open cases (GeoJSON)")
    def grids(
        actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
        bbox: Annotated[str, Query(max_length=200)],
    ) -> Response:
        data = current()
        found = data.grids_in_bbox(parse_bbox(bbox))
        truncated = len(found) > MAX_GRIDS
        assert data.open_counts is not None
        counts = data.open_counts.get(department_of(actor))
        features = [
            {
                **f,
                "properties": {
                    **f["properties"],
                    "open_cases": counts.get(f["properties"]["code"], 0),
                },
            }
            for f in found[:MAX_GRIDS]
        ]
        return _geojson(features, truncated)

    @router.get("/cases", summary="cases with a point in a viewport (GeoJSON)")
    def cases(
        actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
        bbox: Annotated[str, Query(max_length=200)],
        open_only: Annotated[bool, Query(alias="open")] = True,
        limit: Annotated[int, Query(ge=1, le=MAX_CASES)] = 1_000,
    ) -> Response:
        data = current()
        scope = scope_of(actor)
        found = data.cases.cases_in_bbox(
            parse_bbox(bbox),
            open_only=open_only,
            limit=limit + 1,
            department=department_of(actor),
            grid_prefixes=scope.grids if scope is not None else None,
        )
        truncated = len(found) > limit
        now = ctx.clock.now()
        features = [
            _point(
                c.lon or 0.0,
                c.lat or 0.0,
                {
                    "id": c.id,
                    "number": c.number,
                    "state": str(c.state),
                    "state_label": STATE_LABELS[c.state],
                    "light": ctx.service.workflow.light(c, now),
                    "event_code": c.event_code,
                    "event_name": ctx.event_names.get(c.event_code),
                    "grid_code": c.grid_code,
                    "urgent": c.urgent,
                    "created_at": c.created_at.isoformat(),
                },
            )
            for c in found[:limit]
        ]
        return _geojson(features, truncated)

    @router.get("/components", summary="census components in a viewport (GeoJSON)")
    def components(
        _actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
        bbox: Annotated[str, Query(max_length=200)],
        component_class: Annotated[str | None, Query(alias="class", max_length=200)] = None,
    ) -> Response:
        data = current()
        area = parse_bbox(bbox)
        wanted = parse_classes(component_class)
        types = [c for c in wanted or () if len(c) == 4]
        classes = tuple(c for c in wanted or () if len(c) == 2)
        if classes:  # a class filter is applied here: the store filters by 4-digit type
            types = []
        found = data.store.components_in_bbox(area, types, limit=MAX_COMPONENTS * 4 + 1)
        if wanted is not None:
            found = [c for c in found if c.type_code in wanted or c.type_code[:2] in classes]
        truncated = len(found) > MAX_COMPONENTS
        features = [_point(c.lon, c.lat, _component_out(c)) for c in found[:MAX_COMPONENTS]]
        return _geojson(features, truncated)

    @router.get("/components/near", summary="components within r metres of a point")
    def components_near(
        _actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
        lon: Annotated[float, Query(ge=-180, le=180)],
        lat: Annotated[float, Query(ge=-90, le=90)],
        r: Annotated[float, Query(gt=0, le=1_000)] = 50.0,
        component_class: Annotated[str | None, Query(alias="class", max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> Response:
        data = current()
        found = data.components.near(lon, lat, r, parse_classes(component_class), limit)
        return FastJSON(
            {
                "items": [
                    {**_component_out(n.component, n.distance_m), "lon": n.component.lon,
                     "lat": n.component.lat}
                    for n in found
                ]
            }
        )  # fmt: skip

    @router.get("/geocode", summary="address text -> scored candidates with their grid")
    def geocode(
        _actor: Annotated[Actor, Depends(allow(ALL_USERS))],
        q: Annotated[str, Query(min_length=1, max_length=200)],
        limit: Annotated[int, Query(ge=1, le=20)] = 5,
    ) -> Response:
        data = current()
        items = []
        for match in data.geocoder.candidates(q, limit):
            a = match.address
            grid = (data.grids.grid(a.grid_code) if a.grid_code else None) or data.grids.locate_one(
                a.lon, a.lat
            )
            items.append(
                {
                    "text": a.text,
                    "district": a.district,
                    "road": a.road,
                    "number": a.number,
                    "building": a.building,
                    "unit": a.unit,
                    "lon": a.lon,
                    "lat": a.lat,
                    "score": round(match.score, 1),
                    "why": list(match.why),
                    "exact": match.exact,
                    "grid": grid_out(grid),
                    "outside_managed_area": grid is None,
                }
            )
        return FastJSON({"query": q, "items": items})

    @router.get("/reverse", summary="a point -> its grid and the nearest address")
    def reverse(
        _actor: Annotated[Actor, Depends(allow(ALL_USERS))],
        lon: Annotated[float, Query(ge=-180, le=180)],
        lat: Annotated[float, Query(ge=-90, le=90)],
    ) -> Response:
        data = current()
        grid = data.grids.locate_one(lon, lat)
        nearest = data.geocoder.nearest(lon, lat)
        return FastJSON(
            {
                "lon": lon,
                "lat": lat,
                "grid": grid_out(grid),
                "outside_managed_area": grid is None,
                "nearest": None
                if nearest is None
                else {
                    "text": nearest.address.text,
                    "road": nearest.road,
                    "number": nearest.address.number,
                    "lon": nearest.address.lon,
                    "lat": nearest.address.lat,
                    "distance_m": round(nearest.distance_m, 1),
                },
            }
        )

    @router.get("/cameras", summary="configured cameras: position, footprint, health, grid")
    def cameras(_actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))]) -> Response:
        """The cameras of ``video.cameras`` that have a position or footprint (or zones
        with one); their health from the video gateways' statuses (未知 when none came),
        their zones' ground and grids."""
        data = current()
        now = ctx.clock.now()
        registry = getattr(ctx.live, "cameras", None)
        health = {v.camera_id: v.as_dict() for v in registry.cameras(now)} if registry else {}
        features = []
        for c in data.cameras:
            placed = data.zone_placements.get(c.camera_id, {})
            zones = [zone_out(z, placed.get(z.zone_id), data.grids) for z in c.zones]
            found = camera_out(c, data.placements.get(c.camera_id), health.get(c.camera_id), zones)
            if found is not None:
                features.append(found)
        return _geojson(features, False)

    return router


def _extent(grids: Sequence[GridFeature]) -> list[float] | None:
    """[minLon, minLat, maxLon, maxLat] of the grids (None: no grid)."""
    if not len(grids):
        return None
    return [round(float(v), 7) for v in shapely.total_bounds([g.geometry for g in grids])]


def _geojson(features: list[dict[str, Any]], truncated: bool) -> Response:
    body = {"type": "FeatureCollection", "truncated": truncated, "features": features}
    return FastJSON(body, media_type="application/geo+json")
