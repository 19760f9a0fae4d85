"""Demo base data: pieces of two districts of Lianyungang, deterministic by seed.

Each piece (`AreaPlan`) is laid out in metres in the CGCS2000 Gauss-Krüger zone of 120°E
(EPSG:4549) around its centre and converted to lon/lat, so cells are true 100 m x 100 m:

- 海州区 (`HAIZHOU`, 320706): 2 km x 2 km around 119.18°E 34.60°N, four streets (街道) of
  1 km², each of four communities (社区) of 25 grids: 400 grids;
- 连云区 (`LIANYUN`, 320703): 1 km x 1 km of 墟沟街道 around 119.39°E 34.75°N, some 25 km
  north-east, one street of four communities: 100 grids. The two pieces are apart: the
  importer's gap check looks for holes inside the grids' union, and two patches have none;
- roads every 500 m both ways (named after real roads of the district) bound the
  communities;
- unit grids with codes county 6 + street 3 + community 3 + grid 2; vertices inside a
  community are moved a few metres (shared by their neighbours, so no gap or overlap
  appears) to look drawn rather than ruled;
- components (manhole covers, lamps, trees, bins, ...) along the roads, a few metres
  off the centre line, each inside one grid;
- door-plate addresses along the roads, odd numbers on one side, even on the other.

`generate` gives 海州区 alone unless asked for more (the unit tests and benchmarks measure
that area); ``citygw gis demo-data`` and the demo take `DEMO_AREAS`, both districts. 海州区
is drawn with ``random.Random(seed)`` as before 连云区 was added (same seed, same bytes), each
other piece with a generator of its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from gateway.gis.crs import STORED_EPSG

COUNTY_CODE = "320706"
DISTRICT = "海州区"
CENTRE_LON, CENTRE_LAT = 119.18, 34.60
CELL_M = 100.0
SIDE_CELLS = 20  # 2 km
ROAD_EVERY_CELLS = 5  # a road every 500 m
STREET_CELLS = 10  # a street is 1 km x 1 km: 2 x 2 communities
_EPSG = 4549

STREETS = (("001", "海州街道"), ("002", "幸福路街道"), ("003", "朐阳街道"), ("004", "洪门街道"))
#: four communities per street, in the order south-west, south-east, north-west, north-east
COMMUNITIES = (
    (("001", "鼓楼社区"), ("002", "白虎山社区"), ("003", "孔望山社区"), ("004", "朐山社区")),
    (("001", "幸福南路社区"), ("002", "新华社区"), ("003", "海宁社区"), ("004", "陇海社区")),
    (("001", "朐阳门社区"), ("002", "凤凰社区"), ("003", "南城社区"), ("004", "西门社区")),
    (("001", "洪门社区"), ("002", "锦屏社区"), ("003", "花果社区"), ("004", "新坝社区")),
)
#: east-west roads (south to north), then north-south roads (west to east)
ROADS_EW = ("解放东路", "朝阳中路", "海连中路", "建设东路", "人民路")
ROADS_NS = ("通灌北路", "苍梧路", "新民路", "郁洲路", "龙河路")
#: component types laid along roads, with weights (CJ/T 214 class + subclass)
COMPONENT_MIX = (
    ("0101", 3),  # 上水井盖
    ("0102", 3),  # 污水井盖
    ("0103", 3),  # 雨水井盖
    ("0104", 2),  # 雨水箅子
    ("0118", 4),  # 路灯
    ("0117", 1),  # 电杆
    ("0209", 1),  # 交通标志牌
    ("0213", 1),  # 路名牌
    ("0305", 2),  # 垃圾箱
    ("0402", 5),  # 行道树
)
OWNERS = {"01": "市政设施管理处", "02": "交通运输局", "03": "环境卫生管理处", "04": "园林局"}


@dataclass(frozen=True)
class AreaPlan:
    """One district's piece of the demo: where it lies and what its parts are called."""

    county: str  # the 6-digit county code its grid codes start with
    district: str
    centre_lon: float
    centre_lat: float
    side_cells: int  # a multiple of STREET_CELLS
    #: the streets' 1 km blocks row by row from the south-west: (number, name)
    streets: tuple[tuple[str, str], ...]
    #: per street, its four communities south-west, south-east, north-west, north-east
    communities: tuple[tuple[tuple[str, str], ...], ...]
    roads_ew: tuple[str, ...]  # south to north, one every 500 m
    roads_ns: tuple[str, ...]  # west to east
    #: "" : drawn with ``random.Random(seed)``; else with ``Random(f"{seed}:{salt}")``
    seed_salt: str = ""

    def __post_init__(self) -> None:
        blocks = self.side_cells // STREET_CELLS
        roads = self.side_cells // ROAD_EVERY_CELLS + 1
        if (
            self.side_cells % STREET_CELLS
            or len(self.streets) != blocks * blocks
            or len(self.communities) != len(self.streets)
            or any(len(c) != 4 for c in self.communities)
            or (len(self.roads_ew), len(self.roads_ns)) != (roads, roads)
        ):
            raise ValueError(f"inconsistent demo area plan for {self.county}")

    def rng(self, seed: int) -> random.Random:
        return random.Random(f"{seed}:{self.seed_salt}" if self.seed_salt else seed)


HAIZHOU = AreaPlan(
    COUNTY_CODE,
    DISTRICT,
    CENTRE_LON,
    CENTRE_LAT,
    SIDE_CELLS,
    STREETS,
    COMMUNITIES,
    ROADS_EW,
    ROADS_NS,
)
#: 连云区 墟沟街道 (the default organisation tree's second district)
LIANYUN = AreaPlan(
    "320703",
    "连云区",
    119.39,
    34.75,
    10,
    (("001", "墟沟街道"),),
    ((("001", "港城社区"), ("002", "海棠社区"), ("003", "北固山社区"), ("004", "平山社区")),),
    ("港城大道", "中山西路", "海滨大道"),
    ("海棠北路", "北固山路", "陶庵路"),
    seed_salt="320703",
)
#: what ``citygw gis demo-data`` and the demo write: both districts
DEMO_AREAS = (HAIZHOU, LIANYUN)


@dataclass(frozen=True)
class DemoData:
    """GeoJSON-shaped features (dicts) ready to write, and the addresses' rows."""

    grids: list[dict[str, Any]]
    components: list[dict[str, Any]]
    addresses: list[dict[str, Any]]


def _to_lonlat() -> Transformer:
    return Transformer.from_crs(_EPSG, STORED_EPSG, always_xy=True)


def _origin(plan: AreaPlan = HAIZHOU) -> tuple[float, float]:
    x, y = Transformer.from_crs(STORED_EPSG, _EPSG, always_xy=True).transform(
        plan.centre_lon, plan.centre_lat
    )
    half = plan.side_cells * CELL_M / 2
    return round(x - half), round(y - half)


def _codes(col: int, row: int, plan: AreaPlan = HAIZHOU) -> tuple[str, str, str, str, str]:
    """(street code, street name, community code, community name, grid code) of a cell."""
    block = (row // STREET_CELLS) * (plan.side_cells // STREET_CELLS) + col // STREET_CELLS
    street_no, street_name = plan.streets[block]
    c_col = (col % STREET_CELLS) // ROAD_EVERY_CELLS
    c_row = (row % STREET_CELLS) // ROAD_EVERY_CELLS
    community_no, community_name = plan.communities[block][c_row * 2 + c_col]
    serial = (row % ROAD_EVERY_CELLS) * ROAD_EVERY_CELLS + (col % ROAD_EVERY_CELLS) + 1
    street = plan.county + street_no
    community = street + community_no
    return street, street_name, community, community_name, f"{community}{serial:02d}"


def generate(
    seed: int = 20260601, components_per_km: int = 200, areas: Sequence[AreaPlan] = (HAIZHOU,)
) -> DemoData:
    """The demo area of each plan, one after the other; the same seed gives the same data."""
    data = DemoData([], [], [])
    for plan in areas:
        piece = _generate_area(plan, plan.rng(seed), components_per_km)
        data.grids.extend(piece.grids)
        data.components.extend(piece.components)
        data.addresses.extend(piece.addresses)
    return data


def _generate_area(plan: AreaPlan, rng: random.Random, components_per_km: int) -> DemoData:
    x0, y0 = _origin(plan)
    side_cells = plan.side_cells
    n = side_cells + 1
    xs = np.array([[x0 + i * CELL_M for i in range(n)] for _ in range(n)], dtype=np.float64)
    ys = np.array([[y0 + j * CELL_M for _ in range(n)] for j in range(n)], dtype=np.float64)
    for j in range(n):  # shared inner vertices move; those on roads stay on the road
        for i in range(n):
            if i % ROAD_EVERY_CELLS:
                xs[j, i] += rng.uniform(-12.0, 12.0)
            if j % ROAD_EVERY_CELLS:
                ys[j, i] += rng.uniform(-12.0, 12.0)
    lon, lat = _to_lonlat().transform(xs, ys)
    grids = []
    for row in range(side_cells):
        for col in range(side_cells):
            ring = [(row, col), (row, col + 1), (row + 1, col + 1), (row + 1, col), (row, col)]
            coords = [[round(float(lon[j, i]), 8), round(float(lat[j, i]), 8)] for j, i in ring]
            _street, street_name, _community, community_name, code = _codes(col, row, plan)
            grids.append(
                {
                    "type": "Feature",
                    "properties": {
                        "code": code,
                        "name": f"{community_name}第{int(code[-2:])}网格",
                        "district": plan.district,
                        "street": street_name,
                        "community": community_name,
                    },
                    "geometry": {"type": "Polygon", "coordinates": [coords]},
                }
            )
    components, addresses = _along_roads(plan, rng, x0, y0, components_per_km)
    return DemoData(grids, components, addresses)


def _road_lines(
    plan: AreaPlan, x0: float, y0: float
) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    side = plan.side_cells * CELL_M
    step = ROAD_EVERY_CELLS * CELL_M
    lines = []
    for k, name in enumerate(plan.roads_ew):
        lines.append((name, (x0, y0 + k * step), (x0 + side, y0 + k * step)))
    for k, name in enumerate(plan.roads_ns):
        lines.append((name, (x0 + k * step, y0), (x0 + k * step, y0 + side)))
    return lines


def _along_roads(
    plan: AreaPlan, rng: random.Random, x0: float, y0: float, per_km: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    side = plan.side_cells * CELL_M
    types = [code for code, _w in COMPONENT_MIX]
    weights = [w for _c, w in COMPONENT_MIX]
    serials: dict[str, int] = {}
    points_m: list[tuple[float, float]] = []
    component_props: list[dict[str, Any]] = []
    address_rows: list[tuple[float, float, dict[str, Any]]] = []
    for name, (ax, ay), (_bx, by) in _road_lines(plan, x0, y0):
        horizontal = ay == by
        along = np.linspace(0.0, side, int(per_km * side / 1000), endpoint=False)
        for t in along + rng.uniform(1.0, 4.0):
            offset = rng.choice((-1, 1)) * rng.uniform(3.0, 9.0)
            x, y = (ax + t, ay + offset) if horizontal else (ax + offset, ay + t)
            if not (x0 < x < x0 + side and y0 < y < y0 + side):
                x, y = (ax + t, ay - offset) if horizontal else (ax - offset, ay + t)
            kind = rng.choices(types, weights)[0]
            serials[kind] = serials.get(kind, 0) + 1
            points_m.append((x, y))
            component_props.append(
                {
                    "id": f"{plan.county}{kind}{serials[kind]:06d}",
                    "owner": OWNERS[kind[:2]],
                    "state": rng.choices(("完好", "破损", "丢失"), (96, 3, 1))[0],
                    "road": name,
                }
            )
        for number in range(1, int(side / 10)):  # a door every 10 m on each side
            t = number * 10.0
            side_sign = 1 if number % 2 else -1
            offset = side_sign * 15.0
            x, y = (ax + t, ay + offset) if horizontal else (ax + offset, ay + t)
            if not (x0 < x < x0 + side and y0 < y < y0 + side):
                continue
            row = {"district": plan.district, "road": name, "number": f"{number}号"}
            if rng.random() < 0.2:
                row["building"] = f"{rng.randint(1, 12)}栋"
                row["unit"] = f"{rng.randint(1, 4)}单元"
            address_rows.append((x, y, row))
    transformer = _to_lonlat()
    cx, cy = transformer.transform(
        np.array([p[0] for p in points_m]), np.array([p[1] for p in points_m])
    )
    components = [
        {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Point", "coordinates": [round(lo, 8), round(la, 8)]},
        }
        for props, lo, la in zip(component_props, cx.tolist(), cy.tolist(), strict=True)
    ]
    ax_, ay_ = transformer.transform(
        np.array([r[0] for r in address_rows]), np.array([r[1] for r in address_rows])
    )
    addresses = [
        {**row, "lon": round(lo, 8), "lat": round(la, 8)}
        for (_x, _y, row), lo, la in zip(address_rows, ax_.tolist(), ay_.tolist(), strict=True)
    ]
    return components, addresses


def grid_polygons(data: DemoData) -> list[Any]:
    """The demo grids as shapely polygons (for tests and benchmarks)."""
    return [shapely.geometry.shape(f["geometry"]) for f in data.grids]
