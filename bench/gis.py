"""Benchmark: base data import and point -> grid lookups (issue 17, speed).

    .venv/bin/python bench/gis.py [--grids 50000] [--components 500000] [--lookup-grids 10000]
                                  [--points 1000000] [--repeat 5] [--postgres]

(a) import: a square of ~50 000 unit grids (100 m cells, codes nested 25 grids a
    community, 100 communities a street) and 500 000 components inside it, written as
    GeoJSON, then ``citygw gis import grids`` and ``citygw gis import components`` run as
    child processes on a fresh SQLite database (and PostgreSQL/PostGIS with --postgres):
    wall time of each (read + check + store) and the child's peak RSS. Target: both
    imports together <= 60 s.
(b) lookups: `GridIndex.locate` on 10 000 grids with 1 000 000 random points (about 5 %
    outside the area), one vectorised call, on one thread and split over two threads
    (shapely releases the GIL); the median of --repeat runs. Target: >= 200 000/s.
Results go to bench/results/gis.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.gis.writers import write_geojson  # noqa: E402
from gateway.gis.crs import STORED_EPSG  # noqa: E402
from gateway.gis.demo_data import COMPONENT_MIX, COUNTY_CODE, OWNERS, _origin  # noqa: E402
from gateway.gis.features import GridFeature  # noqa: E402
from gateway.gis.index import GridIndex  # noqa: E402

CELL_M = 100.0


def grid_square(count: int) -> tuple[list[dict[str, Any]], tuple[float, float, float, float]]:
    """About ``count`` grids in a square, as GeoJSON features, and the square's lon/lat box."""
    side = int(np.ceil(np.sqrt(count)))
    x0, y0 = _origin()
    n = side + 1
    xs, ys = np.meshgrid(x0 + np.arange(n) * CELL_M, y0 + np.arange(n) * CELL_M)
    lon, lat = Transformer.from_crs(4549, STORED_EPSG, always_xy=True).transform(xs, ys)
    lon, lat = np.round(lon, 8), np.round(lat, 8)
    features = []
    for k in range(count):
        row, col = divmod(k, side)
        block = (row // 5) * ((side + 4) // 5) + col // 5  # a community: 5 x 5 grids
        street, community = divmod(block, 100)
        serial = (row % 5) * 5 + col % 5 + 1
        code = f"{COUNTY_CODE}{street + 1:03d}{community + 1:03d}{serial:02d}"
        ring = [(row, col), (row, col + 1), (row + 1, col + 1), (row + 1, col), (row, col)]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": code,
                    "district": "海州区",
                    "street": f"第{street + 1}街道",
                    "community": f"第{community + 1}社区",
                },
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[float(lon[j, i]), float(lat[j, i])] for j, i in ring]],
                },
            }
        )
    rows = (count + side - 1) // side
    box = (float(lon[0, 0]), float(lat[0, 0]), float(lon[rows, side]), float(lat[rows, side]))
    return features, box


def components_inside(
    grids: list[dict[str, Any]], count: int, seed: int = 5
) -> list[dict[str, Any]]:
    """``count`` components at random points, each well inside a random grid."""
    rng = random.Random(seed)
    types = [code for code, _w in COMPONENT_MIX]
    weights = [w for _c, w in COMPONENT_MIX]
    serials: dict[str, int] = {}
    out = []
    for _ in range(count):
        ring = rng.choice(grids)["geometry"]["coordinates"][0]
        u, v = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)
        lon = ring[0][0] + u * (ring[1][0] - ring[0][0])
        lat = ring[0][1] + v * (ring[3][1] - ring[0][1])
        kind = rng.choices(types, weights)[0]
        serials[kind] = serials.get(kind, 0) + 1
        out.append(
            {
                "type": "Feature",
                "properties": {
                    "id": f"{COUNTY_CODE}{kind}{serials[kind]:06d}",
                    "owner": OWNERS[kind[:2]],
                },
                "geometry": {"type": "Point", "coordinates": [round(lon, 8), round(lat, 8)]},
            }
        )
    return out


#: runs the CLI and reports the process's own peak RSS (VmHWM, per address space, so not
#: the forking parent's, which ru_maxrss of a child would include)
_CHILD = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('PEAK_KIB ' + line.split()[1] + '\\n')\n"
    "atexit.register(_peak)\n"
    "from gateway.cli import main\n"
    "sys.argv[0] = 'citygw'\n"
    "main()\n"
)


def run_import(config: Path, kind: str, path: Path) -> dict[str, Any]:
    """``citygw gis import`` in a child process: wall seconds, peak RSS, its output."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, "-c", str(config), "gis", "import", kind, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"import {kind} failed: {(child.stdout + child.stderr)[-2000:]}")
    peak = [
        int(line.split()[1]) for line in child.stderr.splitlines() if line.startswith("PEAK_KIB")
    ]
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak[-1] / 1024, 1),
        "output": child.stdout.strip().splitlines()[:3],
    }


def bench_import(args: argparse.Namespace, work: Path, url: str, label: str) -> dict[str, Any]:
    config = work / f"{label}.yaml"
    config.write_text(f"core:\n  database_url: {url}\n")
    grids = run_import(config, "grids", work / "grids.geojson")
    components = run_import(config, "components", work / "components.geojson")
    total = grids["seconds"] + components["seconds"]
    return {
        "grids": grids,
        "components": components,
        "total_seconds": round(total, 2),
        "target_seconds": 60,
        "meets_target": total <= 60,
    }


def bench_lookups(args: argparse.Namespace) -> dict[str, Any]:
    features, (min_lon, min_lat, max_lon, max_lat) = grid_square(args.lookup_grids)
    grids = [
        GridFeature(
            f["properties"]["code"], "海州区", "", "", shapely.geometry.shape(f["geometry"])
        )
        for f in features
    ]
    built = time.perf_counter()
    index = GridIndex(grids)
    build_s = time.perf_counter() - built
    rng = np.random.default_rng(11)
    pad_lon, pad_lat = (max_lon - min_lon) * 0.025, (max_lat - min_lat) * 0.025
    lons = rng.uniform(min_lon - pad_lon, max_lon + pad_lon, args.points)
    lats = rng.uniform(min_lat - pad_lat, max_lat + pad_lat, args.points)
    one: list[float] = []
    two: list[float] = []
    outside = 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        codes = index.locate(lons, lats)
        one.append(args.points / (time.perf_counter() - started))
        outside = int(np.sum(codes == None))  # noqa: E711
        halves = np.array_split(np.arange(args.points), 2)
        results: list[Any] = [None, None]

        def work(k: int, part: Any, results: list[Any] = results) -> None:
            results[k] = index.locate(lons[part], lats[part])

        started = time.perf_counter()
        threads = [threading.Thread(target=work, args=(k, p)) for k, p in enumerate(halves)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        two.append(args.points / (time.perf_counter() - started))
        assert np.concatenate(results).tolist() == codes.tolist()
    best = max(statistics.median(one), statistics.median(two))
    return {
        "grids": len(grids),
        "points": args.points,
        "outside_share": round(outside / args.points, 3),
        "index_build_s": round(build_s, 3),
        "lookups_per_s_one_thread_median": round(statistics.median(one)),
        "lookups_per_s_two_threads_median": round(statistics.median(two)),
        "runs_one_thread": [round(x) for x in one],
        "runs_two_threads": [round(x) for x in two],
        "target_per_s": 200_000,
        "meets_target": best >= 200_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=50_000)
    parser.add_argument("--components", type=int, default=500_000)
    parser.add_argument("--lookup-grids", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="also import into PostGIS")
    parser.add_argument("--note", default="", help="a remark stored with the results")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gis.json")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "gis",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "shapely": shapely.__version__,
            "geos": ".".join(map(str, shapely.geos_version)),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "note": args.note,
    }
    result["lookups"] = bench_lookups(args)
    print(json.dumps(result["lookups"], ensure_ascii=False), flush=True)
    with tempfile.TemporaryDirectory(prefix="citygw-bench-gis-") as folder:
        work = Path(folder)
        grids, _box = grid_square(args.grids)
        write_geojson(work / "grids.geojson", grids)
        write_geojson(work / "components.geojson", components_inside(grids, args.components))
        del grids
        result["data"] = {
            "grids": args.grids,
            "components": args.components,
            "grids_file_mib": round((work / "grids.geojson").stat().st_size / 2**20, 1),
            "components_file_mib": round((work / "components.geojson").stat().st_size / 2**20, 1),
        }
        result["import_sqlite"] = bench_import(
            args, work, f"sqlite:///{work / 'core.sqlite3'}", "sqlite"
        )
        print(json.dumps(result["import_sqlite"], ensure_ascii=False), flush=True)
        if args.postgres:
            from adapters.storage.postgres_server import PostgresServer

            server = PostgresServer()
            server.start()
            try:
                result["import_postgis"] = bench_import(args, work, server.url(), "postgres")
                print(json.dumps(result["import_postgis"], ensure_ascii=False), flush=True)
            finally:
                server.stop()
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
