"""The console's map (地图, issue 17 §3) in Debian's Chromium under the console's own
Content-Security-Policy: the demo area's 400 grids and the cases drawn, a grid's click
listing its cases, 框选 listing the cases in a dragged rectangle, the case page's map
panel; Chinese only, no browser error. The screenshot is committed as
docs/screenshots/map.png."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely

from adapters.mqtt.broker import free_port
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.gis_store import SqlBaseData
from gateway.config import Config
from gateway.contract import Location
from gateway.core.daemon import build_core
from gateway.core.workflow import Action, Actor, Command, Role
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import generate
from gateway.gis.features import GridFeature, RawFeature
from gateway.gis.importer import BaseDataImporter
from tests.conftest import REPO_ROOT
from tests.console.conftest import CORE_SETTINGS, USERS, RunningCore, grids_of, screenshot, sign_in
from tests.console.test_roles import Watched, assert_reads_chinese
from tests.core.helpers import candidate


def _import_demo(url: str) -> None:
    demo = generate()
    store = SqlCaseStore.open(url)
    try:
        importer = BaseDataImporter(SqlBaseData.for_store(store), load_component_types())
        raws = [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(demo.grids)]
        assert importer.import_grids(raws, InputCrs.WGS84).accepted
        comps = [
            RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(demo.components)
        ]
        assert importer.import_components(comps, InputCrs.WGS84).accepted
    finally:
        store.close()


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The console harness's core, on a database holding the demo area's base data."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    _import_demo(url)
    config = make_config(core={**CORE_SETTINGS, "database_url": url, "http_port": port})
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, "console-pass-1", department, grids_of(role))
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


def _open_page(browser: Any, core: RunningCore, role: str) -> tuple[Any, Watched]:
    """A page under the console's own policy (no bypass), logged in as ``role``, watched."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda m: watched.console(m.type, m.text))
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    sign_in(page, core.url, role)
    return page, watched


def _north_east_of_centre(grid: GridFeature, n: int) -> tuple[float, float]:
    """Points in the grid's north-east quarter (the test clicks its south-west one)."""
    centre = shapely.centroid(grid.geometry)
    return centre.x + 0.00012 + n * 0.00005, centre.y + 0.00015


def test_the_map_draws_grids_and_cases_and_lists_a_grids_cases(
    core: RunningCore, browser: Any
) -> None:
    index = core.daemon.service.grids
    assert index is not None and len(index) == 400
    busy, quiet = index.grids[210], index.grids[0]
    reports = [
        candidate(i, title=f"路边垃圾堆放第{i}处", location=Location(lon=lon, lat=lat))
        for i, (lon, lat) in enumerate(
            [_north_east_of_centre(busy, n) for n in range(3)] + [_north_east_of_centre(quiet, 0)],
            start=1,
        )
    ]
    core.daemon.service.store_candidates(reports)

    # the console's own policy (no bypass): Leaflet must run under it
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda m: watched.console(m.type, m.text))
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    try:
        sign_in(page, core.url, "operator")
        page.click("#nav a[data-view=map]")
        page.wait_for_selector("#map[data-cases='4']")
        assert page.locator("path.grid").count() == 400
        assert page.locator("path.case-dot").count() == 4
        assert page.locator("path.grid-load-2").count() == 1  # 3 open cases
        assert page.locator("path.grid-load-1").count() == 1  # 1 open case
        assert page.locator("path.grid-load-0").count() == 398
        assert "网格 400 个，案件 4 件" in page.inner_text("#map-status")

        target = page.locator(f"path.grid-{busy.code}")
        box = target.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
        page.wait_for_selector("#map-grid-title")
        assert page.inner_text("#map-grid-title") == busy.name
        assert page.inner_text("#map-grid-open") == "3"
        page.wait_for_selector("#map-grid-total:has-text('共有案件 3 件')")
        assert page.locator("#map-grid-cases li.map-case").count() == 3

        # 框选: a rectangle around the busy grid lists its three cases, not the quiet one's
        page.click("#map-select")
        page.mouse.move(box["x"] - 5, box["y"] - 5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
        page.mouse.move(box["x"] + box["width"] + 5, box["y"] + box["height"] + 5, steps=4)
        page.mouse.up()
        page.wait_for_selector("#map-selection-title")
        assert page.inner_text("#map-selection-title") == "框选范围内案件 3 件"
        listed = page.locator("#map-selection-cases li.map-case")
        assert listed.count() == 3
        shot = screenshot(page, "map")
        assert_reads_chinese(watched, "map")
        # zoomed in, the census components (部件) of the view are drawn too
        assert page.locator("path.component-dot").count() == 0
        for _ in range(4):
            page.click(".leaflet-control-zoom-in")
            page.wait_for_timeout(300)
        # each zoom reloads the view: wait for the last load's dots and its count to agree
        drawn = page.wait_for_function(
            """() => {
              const m = document.querySelector('#map');
              const n = m.querySelectorAll('path.component-dot').length;
              return n > 0 && String(n) === m.dataset.components ? n : null;
            }"""
        ).json_value()
        assert drawn > 0
        # a listed case opens its page, with where it is on the map panel
        listed.first.locator("a").click()
        page.wait_for_selector("#case-map[data-ready='1']")
        assert page.locator("#case-map path.case-here").count() == 1
        assert page.locator("#case-map path.grid-load-2").count() == 1  # its own grid
        assert busy.code in page.inner_text("#case-map-grid")
        assert_reads_chinese(watched, "case page with its map")
    finally:
        context.close()
    docs = REPO_ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, docs / "map.png")


def _at(grid: GridFeature) -> Location:
    lon, lat = _north_east_of_centre(grid, 0)
    return Location(lon=lon, lat=lat)


def test_grids_colour_by_score_and_the_big_screen_shows_todays_figures_live(
    core: RunningCore, browser: Any
) -> None:
    index = core.daemon.service.grids
    assert index is not None
    closed_grid, open_grid, later_grid = index.grids[45], index.grids[300], index.grids[120]
    service = core.daemon.service
    reports = [
        candidate(1, title="人行道垃圾堆放", location=_at(closed_grid)),
        candidate(2, title="绿地旁暴露垃圾", location=_at(open_grid)),
    ]
    service.store_candidates(reports)
    closed_id = core.wait_for_case(reports[0].id).id
    for command, actor in (
        (Command(Action.REGISTER), Actor("oper", Role.OPERATOR)),
        (Command(Action.DISPATCH), Actor("disp", Role.DISPATCHER)),
        (Command(Action.REPORT, opinion="已清理"), Actor("dept", Role.DEPARTMENT, "sanitation")),
        (Command(Action.VERIFY_PASS, opinion="现场已清理"), Actor("insp", Role.INSPECTOR)),
        (Command(Action.CLOSE), Actor("oper", Role.OPERATOR)),
    ):
        service.transition(closed_id, command, actor)

    page, watched = _open_page(browser, core, "shift_lead")
    try:
        page.click("#nav a[data-view=map]")
        page.wait_for_selector("#map[data-cases='1']")  # open cases only: the closed one is not
        page.select_option("#map-colour", "score")
        page.wait_for_selector("path.grid-score-a")
        assert page.locator(f"path.grid-{closed_grid.code}.grid-score-a").count() == 1
        assert page.locator("path.grid-score-none").count() == 399
        assert "网格综合得分" in page.inner_text("#map-legend")
        assert_reads_chinese(watched, "map coloured by score")

        page.click("#map-screen")
        page.wait_for_selector("#screen-figures table")
        assert not page.locator("header.top").is_visible()  # full screen: the menu is hidden
        figures = dict(
            line.split("\t")
            for line in page.inner_text("#screen-figures").splitlines()
            if "\t" in line
        )
        assert figures["在办案件（地图上）"] == "1"
        assert figures["结案数"] == "1" and figures["立案数"] == "1"
        # a new case comes over the live stream and is drawn without a reload
        late = candidate(3, title="路口垃圾满溢", location=_at(later_grid))
        service.store_candidates([late])
        page.wait_for_selector("#map[data-cases='2']", timeout=20_000)
        page.wait_for_selector("#screen-figures td:text-is('2')")
        shot = screenshot(page, "map-screen")
        assert_reads_chinese(watched, "大屏")
        page.click("#screen-exit")
        page.wait_for_selector("#map-select")
        assert page.locator("header.top").is_visible()
    finally:
        page.context.close()
    shutil.copyfile(shot, REPO_ROOT / "docs" / "screenshots" / "map-screen.png")
