"""The report screen's 在地图上调整位置 in Chromium's mobile emulation (360x640, touch, a GPS
fix in demo grid 42), against a real core with the demo's grids (the fixtures of
test_mobile.py): the map opens on the fix with its accuracy circle and the grids around,
a tap moves the marker into the neighbouring grid, 确定 takes that point, the 'where it
will be filed' line names the new grid, and the report becomes a case in that grid. The
map (Leaflet and its module) is fetched only when opened; once fetched, the service
worker and the cached grids let a point be corrected offline; before that, offline, the
map says it cannot load and the GPS point stays."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gateway.gis.features import GridFeature
from tests.console.conftest import RunningCore, sign_in
from tests.console.test_mobile import (  # noqa: F401 (fixtures used by name)
    DOCS_SCREENSHOTS,
    PHONE,
    centre,
    demo_grids,
    fill_report,
    inspector_cases,
    phone,
    phone_core,
    wait_until,
)

#: the phone stands in demo grid 42 (test_mobile.phone)
HERE = 42
MAP_FILES = ("position_map.js", "leaflet.esm.min.js")


def neighbour(grids: list[GridFeature]) -> GridFeature:
    """The grid whose inner point lies nearest to grid 42's (in view on the map's start)."""
    here = grids[HERE].geometry.representative_point()
    others = [g for i, g in enumerate(grids) if i != HERE]
    return min(others, key=lambda g: g.geometry.representative_point().distance(here))


def world_px(lat: float, lon: float, zoom: float) -> tuple[float, float]:
    """Leaflet's EPSG:3857 pixel of a point at a zoom (256 px tiles)."""
    scale = 256 * 2**zoom
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return scale * (0.5 + lon / 360), scale * (0.5 - y / (2 * math.pi))


def on_screen(page: Any, lat: float, lon: float) -> tuple[float, float]:
    """Where (lat, lon) is drawn on the page, from the centre and zoom the map shows."""
    holder = page.locator("#position-map")
    centre = [float(v) for v in holder.get_attribute("data-centre").split(",")]
    zoom = float(holder.get_attribute("data-zoom"))
    box = holder.bounding_box()
    cx, cy = world_px(centre[0], centre[1], zoom)
    px, py = world_px(lat, lon, zoom)
    x, y = box["x"] + box["width"] / 2 + px - cx, box["y"] + box["height"] / 2 + py - cy
    assert box["x"] < x < box["x"] + box["width"] and box["y"] < y < box["y"] + box["height"]
    return x, y


def tap_on_map(page: Any, lat: float, lon: float) -> None:
    page.touchscreen.tap(*on_screen(page, lat, lon))


def drag_marker(page: Any, lat: float, lon: float) -> None:
    """Drag the marker by its head so that its tip (the point) lands on (lat, lon)."""
    head = page.locator(".pick-marker").bounding_box()
    x0, y0 = head["x"] + head["width"] / 2, head["y"] + head["height"] / 2
    tip_below = head["y"] + 44 - y0  # the icon's anchor: 44 px below its top
    x, y = on_screen(page, lat, lon)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x, y - tip_below, steps=12)
    page.mouse.up()


def open_map(page: Any) -> None:
    page.tap("#position-adjust")
    page.wait_for_selector("#position-map[data-ready=true]")
    page.wait_for_selector("#position-map path.map-grid")


def test_a_report_moved_on_the_map_into_another_grid_becomes_a_case_in_that_grid(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
    browser: Any,
) -> None:
    page = phone()
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    fill_report(page, "标记移到相邻网格")
    here, there = demo_grids[HERE], neighbour(demo_grids)
    page.wait_for_selector(f"#place:has-text('网格 {here.code}')")
    assert not any(url.endswith(MAP_FILES) for url in fetched)  # nothing of the map yet
    open_map(page)
    assert any(url.endswith("leaflet.esm.min.js") for url in fetched)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the map starts on the fix, with its accuracy circle and the grids around it
    assert page.locator("#position-map path.gps-accuracy").count() == 1
    assert page.locator(f"#position-map path.grid-{here.code}").count() == 1
    assert page.locator(f"#position-map path.grid-{there.code}").count() == 1
    assert f"网格 {here.code}" in page.inner_text("#position-map-picked")
    for button in ("#position-map-ok", "#position-map-cancel", "#position-map-reset"):
        assert page.locator(button).bounding_box()["height"] >= 48
    assert page.locator(".leaflet-control-zoom-in").bounding_box()["height"] >= 48

    target = there.geometry.representative_point()
    tap_on_map(page, target.y, target.x)
    page.wait_for_selector(f"#position-map-picked:has-text('网格 {there.code}')")
    picked_lat = float(page.get_attribute("#position-map", "data-lat"))
    picked_lon = float(page.get_attribute("#position-map", "data-lon"))
    assert abs(picked_lat - target.y) < 2e-5 and abs(picked_lon - target.x) < 2e-5  # ~2 m
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENSHOTS / "mobile-position.png"))
    page.tap("#position-map-ok")
    page.wait_for_selector("#position-map-dialog", state="detached")

    # the report's line says the hand-placed point and, asked again, its grid
    page.wait_for_selector("#position.corrected:has-text('已在地图上调整位置')")
    page.wait_for_selector(f"#place:has-text('网格 {there.code}')")
    assert f"{there.street}{there.community}" in page.inner_text("#place")
    page.tap("#submit-report")
    page.wait_for_selector("#toast.ok")
    assert there.code in page.inner_text("#toast")
    [case] = inspector_cases(phone_core)
    assert case.grid_code == there.code != here.code
    assert case.lat is not None and case.lon is not None
    assert abs(case.lat - picked_lat) < 1e-6 and abs(case.lon - picked_lon) < 1e-6
    assert "position_accuracy_m" not in case.facts  # the GPS accuracy is not the point's
    # the core is told the point was placed by hand, and where the phone's fix was
    gps = centre(here)  # the phone's geolocation (test_mobile.phone)
    assert case.facts["position_source"] == "map"
    assert abs(case.facts["gps_fix"]["lat"] - gps["latitude"]) < 1e-6
    assert abs(case.facts["gps_fix"]["lon"] - gps["longitude"]) < 1e-6
    assert case.facts["position_moved_m"] > 0
    assert page.problems == []  # type: ignore[attr-defined]
    # the centre's case page says the point was placed by hand, and how far from the fix
    desk = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(desk, phone_core.url, "operator")
    desk.goto(f"{phone_core.url}/console/#/case/{case.id}")
    desk.wait_for_selector("table.facts th:has-text('位置来源')")
    moved = case.facts["position_moved_m"]
    assert f"监督员在地图上手动调整（距手机定位约 {moved} 米）" in desk.inner_text("table.facts")
    desk.close()


def test_the_marker_can_be_dragged_and_cancel_keeps_the_gps_point(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    page = phone()
    fill_report(page, "取消调整")
    here, there = demo_grids[HERE], neighbour(demo_grids)
    open_map(page)
    target = there.geometry.representative_point()
    drag_marker(page, target.y, target.x)
    page.wait_for_selector(f"#position-map-picked:has-text('网格 {there.code}')")
    assert page.locator(f"#position-map path.grid-{there.code}.picked").count() == 1
    page.tap("#position-map-cancel")
    page.wait_for_selector("#position-map-dialog", state="detached")
    assert page.inner_text("#position") == "定位精度 ±8 米"
    page.tap("#submit-report")
    page.wait_for_selector("#toast.ok")
    [case] = inspector_cases(phone_core)
    assert case.grid_code == here.code and case.facts["position_accuracy_m"] == 8


def test_offline_the_map_works_once_fetched_and_says_so_before(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    page = phone()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    fill_report(page, "离线调整位置")
    here, there = demo_grids[HERE], neighbour(demo_grids)
    # never opened: offline the map cannot load, and the GPS point stays
    page.context.set_offline(True)
    page.tap("#position-adjust")
    page.wait_for_selector("#toast.error:has-text('离线时无法加载地图')")
    assert page.locator("#position-map-dialog").count() == 0
    assert page.inner_text("#position") == "定位精度 ±8 米"
    # opened once online: Leaflet, the module and the grids are kept on the phone
    page.context.set_offline(False)
    open_map(page)
    page.tap("#position-map-cancel")
    page.context.set_offline(True)
    page.reload()  # the app, the map's module and Leaflet now come from the service worker
    page.wait_for_selector("#event-search")
    fill_report(page, "离线调整位置")
    open_map(page)
    assert page.is_visible("#position-map-offline")
    target = there.geometry.representative_point()
    tap_on_map(page, target.y, target.x)
    page.wait_for_selector(f"#position-map-picked:has-text('网格 {there.code}')")
    page.tap("#position-map-ok")
    # offline the grid comes from the cached grids, not from the core
    page.wait_for_selector(f"#place:has-text('网格 {there.code}')")
    page.tap("#submit-report")
    page.wait_for_selector("#toast:has-text('联网后自动发送')")
    assert inspector_cases(phone_core) == []
    page.context.set_offline(False)
    [case] = wait_until(lambda: inspector_cases(phone_core))
    assert case.grid_code == there.code != here.code


def test_a_poor_fix_opens_the_map_with_its_whole_accuracy_circle_in_view(
    phone: Callable[..., Any],  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    page = phone()
    fix = demo_grids[HERE].geometry.representative_point()
    page.context.set_geolocation({"latitude": fix.y, "longitude": fix.x, "accuracy": 400})
    page.wait_for_selector("#position.poor:has-text('±400 米')")
    open_map(page)
    assert float(page.get_attribute("#position-map", "data-zoom")) < 17
    circle = page.locator("#position-map path.gps-accuracy").bounding_box()
    holder = page.locator("#position-map").bounding_box()
    assert circle["x"] >= holder["x"] - 1 and circle["y"] >= holder["y"] - 1
    assert circle["x"] + circle["width"] <= holder["x"] + holder["width"] + 1
    assert circle["y"] + circle["height"] <= holder["y"] + holder["height"] + 1
    assert circle["width"] > 100  # drawn to scale, not a dot


def test_the_tabs_stand_in_one_row_at_phone_width(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
) -> None:
    """All four tabs (上报, 任务, 巡查, 待发送) share the bottom row: none wraps onto a second."""
    page = phone()
    tabs = page.locator("#tabs button")
    assert tabs.count() == 4
    boxes = [tabs.nth(i).bounding_box() for i in range(4)]
    assert len({round(b["y"]) for b in boxes}) == 1, boxes
    assert all(b["height"] >= 48 and b["x"] + b["width"] <= PHONE["width"] + 1 for b in boxes)
