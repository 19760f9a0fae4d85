"""Benchmark: inspectors' phones against one core (issue 19, speed).

    .venv/bin/python bench/mobile_load.py [--inspectors 500] [--seconds 120] [--postgres]

The issue's load: --inspectors phones, each posting its position every 30 s (POST
/api/v1/mobile/patrol, one point a request, as a phone with a signal does) and one report a
minute (POST /api/v1/mobile/reports: a 1600x1067 JPEG as the app sends after shrinking,
the phone's position, a request id). The phones' sends are spread evenly over each period
and fired open-loop at their planned times (a slow answer does not slow the next send:
what a crowd of phones does) by one asyncio client with a connection pool, over HTTP to
the real app served by uvicorn on 127.0.0.1 in the same process (its own thread; the core
daemon's HTTP settings: one worker, the API's thread pool). A fresh database (SQLite file;
PostgreSQL with --postgres) with the demo area's 400 grids imported, so every point and
report is placed in its grid. Measured: latency p50/p95/p99 by route over the run (a
warm-up of 10 s left out), and at the end that every point and report was stored exactly
once. Target: p99 <= 100 ms. Results in bench/results/mobile_load.json (or
mobile_load_postgres.json). Also: the phone app's first load (the service worker's shell),
JavaScript and CSS bytes against the 300 KB target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import sqlalchemy as sa

RESULTS = Path(__file__).resolve().parent / "results" / "mobile_load.json"
MOBILE_DIR = Path(__file__).resolve().parents[1] / "gateway" / "core" / "web" / "mobile"
WARM_UP_S = 10.0
POSITION_EVERY_S = 30.0
REPORT_EVERY_S = 60.0


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "p99_ms": round(at(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _photo() -> bytes:
    """What the app sends: a phone photo shrunk to a 1600 px edge, JPEG quality 0.85."""
    rng = np.random.default_rng(7)
    noise = rng.integers(60, 200, (1067, 1600, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 3)  # a scene, not noise: a realistic size
    cv2.rectangle(image, (500, 400), (1100, 900), (40, 80, 160), -1)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(data.tobytes())


def first_load_bytes() -> dict[str, int]:
    """JavaScript and CSS of the app's shell (what the service worker caches), in bytes."""
    shell = (MOBILE_DIR / "sw.js").read_text(encoding="utf-8")
    names = [
        line.strip().strip("',")
        for line in shell.split("const SHELL = [")[1].split("]")[0].splitlines()
    ]
    files = [n for n in names if n.endswith((".js", ".css"))]
    sizes = {n: (MOBILE_DIR / n).resolve().stat().st_size for n in files}
    return {"js_css_bytes": sum(sizes.values()), "files": len(sizes)}


def _setup(db_url: str, tmp: Path, inspectors: int) -> tuple[Any, list[tuple[float, float]]]:
    from adapters.storage.gis_store import SqlBaseData
    from gateway.gis.codes import load_component_types
    from gateway.gis.crs import InputCrs
    from gateway.gis.demo_data import generate
    from gateway.gis.features import RawFeature
    from gateway.gis.importer import BaseDataImporter
    from gateway.gis.index import GridIndex
    from tests.core.api_harness import PASSWORD, make_api

    api = make_api(db_url, tmp)
    base = SqlBaseData.for_store(api.service.store)
    demo = generate()
    raws = [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(demo.grids)]
    assert (
        BaseDataImporter(base, load_component_types()).import_grids(raws, InputCrs.WGS84).accepted
    )
    grids = base.grids()
    api.service.grids = GridIndex(grids)
    points = []
    for i in range(inspectors):
        grid = grids[i % len(grids)]
        p = grid.geometry.representative_point()
        points.append((p.y, p.x))
        name = f"insp{i:04d}"
        api.auth.add_user(name, "inspector", PASSWORD, None, (grid.code,))
        api.tokens[name] = api.auth.login(name, PASSWORD)[0]
    return api, points


def _serve(app: Any, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench.uvicorn", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread


async def _drive(
    base_url: str,
    tokens: list[str],
    places: list[tuple[float, float]],
    seconds: float,
    now: Any,
) -> dict[str, Any]:
    import httpx

    photo = _photo()
    n = len(tokens)
    plan: list[tuple[float, str, int, int]] = []  # (at, route, inspector, k)
    for i in range(n):
        k = 0
        while (at := i * POSITION_EVERY_S / n + k * POSITION_EVERY_S) < seconds:
            plan.append((at, "patrol", i, k))
            k += 1
        k = 0
        while (at := i * REPORT_EVERY_S / n + k * REPORT_EVERY_S + 0.5) < seconds:
            plan.append((at, "report", i, k))
            k += 1
    plan.sort()
    latencies: dict[str, list[float]] = {"patrol": [], "report": []}
    failures: list[str] = []
    late: list[float] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
        start = time.perf_counter() + 1.0

        async def one(at: float, route: str, i: int, k: int) -> None:
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late.append(max(0.0, -delay))
            lat, lon = places[i]
            headers = {"Authorization": f"Bearer {tokens[i]}"}
            t0 = time.perf_counter()
            if route == "patrol":
                stamp = now().isoformat()  # the core's clock (the harness's is fixed)
                point = {"id": f"pt-{i:04d}-{k:06d}", "at": stamp, "lat": lat, "lon": lon}
                body = {"patrol_id": f"patrol-{i:04d}-bench", "points": [point]}
                response = await client.post("/api/v1/mobile/patrol", json=body, headers=headers)
            else:
                data = {
                    "request_id": f"m-bench-{i:04d}-{k:06d}",
                    "event_code": "0507",
                    "description": "路边堆物",
                    "lat": str(lat),
                    "lon": str(lon),
                    "accuracy_m": "8.0",
                }
                files = [("photos", ("photo-1.jpg", photo, "image/jpeg"))]
                response = await client.post(
                    "/api/v1/mobile/reports", data=data, files=files, headers=headers
                )
            elapsed = time.perf_counter() - t0
            if response.status_code not in (200, 201):
                failures.append(f"{route} {response.status_code} {response.text[:200]}")
            elif at >= WARM_UP_S:
                latencies[route].append(elapsed)

        await asyncio.gather(*(one(*step) for step in plan))
    sent = {r: sum(1 for step in plan if step[1] == r) for r in ("patrol", "report")}
    return {"latencies": latencies, "failures": failures, "sent": sent, "late": late}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inspectors", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    from adapters.mqtt.broker import free_port
    from adapters.storage import schema as t

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        server = None
        if args.postgres:
            from adapters.storage.postgres_server import PostgresServer

            server = PostgresServer()
            server.start()
            db_url, kind = server.url(), "postgresql"
        else:
            db_url, kind = f"sqlite:///{tmp / 'core.sqlite3'}", "sqlite"
        began = time.perf_counter()
        api, places = _setup(db_url, tmp, args.inspectors)
        setup_s = time.perf_counter() - began
        port = free_port()
        http, thread = _serve(api.client.app, port)
        tokens = [api.tokens[f"insp{i:04d}"] for i in range(args.inspectors)]
        load_at_start = [round(v, 2) for v in os.getloadavg()]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        run = asyncio.run(
            _drive(f"http://127.0.0.1:{port}", tokens, places, args.seconds, api.clock.now)
        )
        cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        http.should_exit = True
        thread.join(10)
        engine = api.service.store.engine
        with engine.connect() as c:
            points = c.execute(sa.select(sa.func.count()).select_from(t.patrol_points)).scalar()
            cases = c.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar()
        api.close()
        if server is not None:
            server.stop()
    results = {route: _percentiles(v) for route, v in run["latencies"].items() if v}
    every = [x for v in run["latencies"].values() for x in v]
    out = {
        "database": kind,
        "inspectors": args.inspectors,
        "seconds": args.seconds,
        "rate_per_s": round(
            args.inspectors / POSITION_EVERY_S + args.inspectors / REPORT_EVERY_S, 1
        ),
        "setup_s": round(setup_s, 1),
        "target_p99_ms": 100,
        "results": results,
        "all_requests": _percentiles(every) if every else None,
        "sent": run["sent"],
        "stored": {"patrol_points": points, "cases": cases},
        "all_stored": points == run["sent"]["patrol"] and cases == run["sent"]["report"],
        "failures": len(run["failures"]),
        "failure_examples": run["failures"][:5],
        "client_late_p99_ms": round(sorted(run["late"])[int(0.99 * len(run["late"]))] * 1000, 1),
        "process_cpu_cores": round(cpu_share, 2),
        "first_load": {**first_load_bytes(), "target_bytes": 300_000},
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "note": "one process: the load generator (asyncio, httpx) and the core's app (uvicorn "
        "thread, blocking handlers in the API's thread pool) share the interpreter and this "
        "machine's cores with other builds (load_average at the end); client_late is how late "
        "the generator fired against its plan (if large, the measured rate was lower). Warm-up "
        f"{WARM_UP_S:g} s left out of the percentiles.",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    name = RESULTS if kind == "sqlite" else RESULTS.with_name("mobile_load_postgres.json")
    name.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
