"""上报问题's 位置 (issue 17 §2) in Debian's Chromium under the console's own
Content-Security-Policy, on the demo area's grids and door-plate addresses: the hotline
operator types what the caller said, sees the geocoder's scored candidates with their grids
(nothing chosen for them), picks the second, and the case gets that point and its grid; a
pick on the small map in a grid fills that grid; a pick outside every grid shows
不在管理区域内 and the case gets no grid and ``outside_managed_area``; a grid typed by hand
still works and drops a picked place. Chinese only, no browser error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely

from adapters.mqtt.broker import free_port
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.gis_store import SqlBaseData
from gateway.config import Config
from gateway.core.daemon import build_core
from gateway.gis.addresses import address_from_row
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import generate
from gateway.gis.features import RawFeature
from gateway.gis.geocoder import Geocoder, Match
from gateway.gis.importer import BaseDataImporter
from tests.console.conftest import CORE_SETTINGS, USERS, RunningCore, grids_of, screenshot, sign_in
from tests.console.test_roles import Watched, assert_reads_chinese

#: what the caller said: the gazetteer has 朝阳中路, so several candidates come back
SAID = "海州区朝阳路12号"


def _raws(features: list[dict[str, Any]]) -> list[RawFeature]:
    return [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(features)]


def _address_raws(rows: list[dict[str, Any]]) -> list[RawFeature]:
    return [
        RawFeature(i + 1, {k: v for k, v in row.items() if k not in ("lon", "lat")},
                   {"type": "Point", "coordinates": [row["lon"], row["lat"]]})
        for i, row in enumerate(rows)
    ]  # fmt: skip


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The console harness's core on a database holding the demo area's grids and
    door-plate addresses (what the geocoder answers from)."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    demo = generate(components_per_km=1)
    store = SqlCaseStore.open(url)
    try:
        importer = BaseDataImporter(SqlBaseData.for_store(store), load_component_types())
        assert importer.import_grids(_raws(demo.grids), InputCrs.WGS84).accepted
        assert importer.import_addresses(_address_raws(demo.addresses), InputCrs.WGS84).accepted
    finally:
        store.close()
    config = make_config(core={**CORE_SETTINGS, "database_url": url, "http_port": port})
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, "console-pass-1", department, grids_of(role))
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


def _candidates(text: str) -> list[Match]:
    """What the core's geocoder answers for ``text`` (the same gazetteer, built here)."""
    rows = generate(components_per_km=1).addresses
    return Geocoder([address_from_row(row, i) for i, row in enumerate(rows)]).candidates(text, 8)


def _submit(page: Any, core: RunningCore, description: str) -> Any:
    """Fill the event and description, submit, and return the case stored."""
    form = page.locator("#report-form")
    shown = page.locator("#report-case")
    before = shown.inner_text() if shown.count() else ""
    form.locator('[name="event_code"]').select_option("0102")
    form.locator('[name="description"]').fill(description)
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "(before) => { const a = document.querySelector('#report-case');"
        " return a && a.textContent !== before; }",
        arg=before,
    )
    number = page.inner_text("#report-case").split(" ")[0]
    case = core.daemon.service.store.case_by_number(number)
    assert case is not None
    page.wait_for_selector("#report-place-none")  # the form is reset for the next report
    return case


def _click_at(page: Any, box: dict[str, float], fx: float, fy: float) -> None:
    page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)


def test_the_operator_places_a_report_by_address_or_on_the_map(
    core: RunningCore, browser: Any
) -> None:
    index = core.daemon.service.grids
    assert index is not None and len(index) == 400
    matches = {m.address.text: m for m in _candidates(SAID)}
    assert len(matches) >= 3

    # the console's own policy (no bypass): Leaflet must run under it
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda m: watched.console(m.type, m.text))
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    try:
        sign_in(page, core.url, "operator")
        page.click('#nav a[data-view="report"]')
        page.wait_for_selector("#report-map[data-ready='1']")
        form = page.locator("#report-form")

        # the address search: scored candidates with their grids, none chosen for the operator
        page.fill("#report-place-query", SAID)
        page.press("#report-place-query", "Enter")  # searches; does not submit the report
        page.wait_for_selector("#report-place-candidates li.place-candidate")
        listed = page.locator("#report-place-candidates li.place-candidate")
        assert page.locator("#report-case").count() == 0
        shown = listed.locator(".place-text").all_inner_texts()
        assert sorted(shown) == sorted(matches)  # the geocoder's candidates, every one
        scores = [matches[text].score for text in shown]
        assert scores == sorted(scores, reverse=True)  # best first
        for i, text in enumerate(shown):
            row, match = listed.nth(i).inner_text(), matches[text]
            grid = index.locate_one(match.address.lon, match.address.lat)
            assert grid is not None
            assert f"匹配度 {match.score:.1f}" in row
            assert grid.code in row and grid.community in row and grid.street in row
        assert "道路名相近" in listed.nth(0).inner_text()
        second = matches[shown[1]].address
        second_grid = index.locate_one(second.lon, second.lat)
        assert second_grid is not None
        assert form.locator('[name="grid_code"]').input_value() == ""
        assert page.locator("#report-place-none").count() == 1
        assert_reads_chinese(watched, "上报问题：地址候选")

        listed.nth(1).locator("button.place-pick").click()
        assert page.inner_text("#report-place-text") == second.text
        assert second_grid.code in page.inner_text("#report-place-grid")
        assert form.locator('[name="grid_code"]').input_value() == second_grid.code
        assert form.locator('[name="address"]').input_value() == second.text
        assert form.locator('[name="district"]').input_value() == second_grid.district
        screenshot(page, "report-place-address")
        case = _submit(page, core, "来电反映朝阳中路人行道上堆放垃圾")
        assert (case.lon, case.lat) == (second.lon, second.lat)
        assert case.grid_code == second_grid.code and case.address == second.text
        assert case.facts["grid_from"] == "point" and "outside_managed_area" not in case.facts

        # a pick on the map inside a grid: that grid, and the case stands where it was picked
        target = index.grids[210]
        page.locator("#report-map").scroll_into_view_if_needed()
        box = page.locator(f"#report-map path.grid-{target.code}").bounding_box()
        assert box is not None
        _click_at(page, box, 0.5, 0.5)
        page.wait_for_selector(f"#report-place-grid:has-text('{target.code}')")
        assert form.locator('[name="grid_code"]').input_value() == target.code
        assert "最近门牌" in page.inner_text("#report-place-nearest")
        case = _submit(page, core, "地图选点：绿地旁暴露垃圾")
        assert case.grid_code == target.code and case.lon is not None and case.lat is not None
        assert target.geometry.contains(shapely.Point(case.lon, case.lat))

        # a pick outside every grid: 不在管理区域内, no grid, the outside fact
        zoom = int(page.get_attribute("#report-map", "data-zoom") or "0")
        page.click("#report-map .leaflet-control-zoom-out")
        page.wait_for_selector(f"#report-map[data-zoom='{zoom - 1}'][data-ready='1']")
        page.wait_for_timeout(400)  # the zoom's animation ends
        whole = page.locator("#report-map").bounding_box()
        assert whole is not None
        _click_at(page, whole, 0.97, 0.95)  # a corner: the demo area fills the middle half
        page.wait_for_selector("#report-place-grid:has-text('不在管理区域内')")
        assert form.locator('[name="grid_code"]').input_value() == ""
        assert_reads_chinese(watched, "上报问题：管理区域外")
        case = _submit(page, core, "地图选点：管理区域外的垃圾")
        assert case.grid_code is None and case.lon is not None
        assert index.locate_one(case.lon, case.lat) is None
        assert case.facts["outside_managed_area"] is True

        # a grid typed by hand still works, and replaces a place picked before it
        box = page.locator(f"#report-map path.grid-{target.code}").bounding_box()
        assert box is not None
        _click_at(page, box, 0.5, 0.5)
        page.wait_for_selector(f"#report-place-grid:has-text('{target.code}')")
        typed = index.grids[5].code
        form.locator('[name="grid_code"]').fill(typed)
        page.wait_for_selector("#report-place-none:has-text('原选位置已清除')")
        case = _submit(page, core, "手工填写网格编码的上报")
        assert case.grid_code == typed and case.lon is None and case.lat is None
        assert_reads_chinese(watched, "上报问题：手工填写网格")
    finally:
        context.close()
