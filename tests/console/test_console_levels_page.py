"""分级考核 (三级考核) and the map's 跳转到 in Chromium, on both demo districts (海州区 and
连云区 墟沟街道, 25 km apart): the city's shift lead sees 海州区 and 连云区 ranked with their
figures, drills into 海州区 → its streets → 海州街道's communities with the cases the street
passed to 鼓楼社区 beside its grid figures, and downloads each table as the core's CSV with
the same numbers; 海州区's dispatcher opens on 海州区 and cannot go up to the city, and its
map has no district to jump to; the city's map jumps to 连云区's grids and back to 全市. Every
page reads Chinese. The screenshot is committed as docs/screenshots/levels.png."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.gis_store import SqlBaseData
from gateway.config import Config
from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.daemon import build_core
from gateway.core.org_evaluation import CSV_HEADERS
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import DEMO_AREAS, generate
from gateway.gis.features import RawFeature
from gateway.gis.importer import BaseDataImporter
from tests.conftest import REPO_ROOT
from tests.console.conftest import (
    BYPASS_CSP,
    CORE_SETTINGS,
    PASSWORD,
    USERS,
    RunningCore,
    grids_of,
    screenshot,
    sign_in,
)
from tests.console.test_roles import Watched, assert_reads_chinese
from tests.csv_rows import keyed_rows

STREET, GULOU = "street-320706001", "community-320706001001"
GULOU_GRID, XINGFU_GRID, LY_GRID = "32070600100101", "32070600200105", "32070300100101"
GANYU_GRID = "32070700100101"  # 赣榆区: not a district of the demo's organisation tree
DISTRICT_USERS = {  # name -> (role, department, organisation node)
    "hz-disp": ("dispatcher", None, "320706"),
    "hz-street": ("department", STREET, None),
    "gulou": ("department", GULOU, None),
}
NAMES = frozenset(DISTRICT_USERS)
HZ_OPERATOR = Actor("hz-op", Role.OPERATOR, org_node="320706", reach=("320706",))
HZ_DISPATCHER = Actor("hz-disp", Role.DISPATCHER, org_node="320706", reach=("320706",))
INSPECTOR = Actor("insp", Role.INSPECTOR)


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The console harness's core on a database holding both demo districts' grids."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    store = SqlCaseStore.open(url)
    try:
        demo = generate(components_per_km=1, areas=DEMO_AREAS)
        raws = [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(demo.grids)]
        importer = BaseDataImporter(SqlBaseData.for_store(store), load_component_types())
        assert importer.import_grids(raws, InputCrs.WGS84).accepted
    finally:
        store.close()
    config = make_config(core={**CORE_SETTINGS, "database_url": url, "http_port": port})
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, PASSWORD, department, grids_of(role))
    for name, (role, department, node) in DISTRICT_USERS.items():
        daemon.auth.add_user(name, role, PASSWORD, department, org_node=node)
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


@pytest.fixture
def open_as(browser: Any, core: RunningCore) -> Iterator[Callable[[str], Watched]]:
    contexts: list[Any] = []

    def open_page(name: str) -> Watched:
        # a browser in UTC: the periods are still the centre's days (Asia/Shanghai)
        context = browser.new_context(
            viewport={"width": 1366, "height": 768},
            locale="zh-CN",
            timezone_id="UTC",
            accept_downloads=True,
            bypass_csp=BYPASS_CSP,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)
        page.on("pageerror", lambda exc: watched.errors.append(f"exception: {exc}"))
        page.on("console", lambda msg: watched.console(msg.type, msg.text))
        if name in USERS:
            sign_in(page, core.url, name)
        else:
            page.goto(f"{core.url}/console/")
            page.fill("#login-form input[name=name]", name)
            page.fill("#login-form input[name=password]", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#who-name")
        return watched

    yield open_page
    for context in contexts:
        context.close()


def reported(core: RunningCore, n: int, grid: str) -> str:
    report = CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id="insp-1"),
        event_code="0507",
        title=f"乱堆物堆料 {n}",
        location=Location(grid_code=grid),
    )
    core.publish_candidates([report])
    return core.wait_for_case(report.id).id


def run(core: RunningCore, case_id: str, *steps: tuple[Command, Actor]) -> None:
    for command, actor in steps:
        core.daemon.service.transition(case_id, command, actor)


def cases_of_both_districts(core: RunningCore) -> None:
    """海州区: one case passed by 海州街道 to 鼓楼社区 and closed on time, one only registered
    (幸福路街道); 连云区: one closed by the city's 城管执法 after one rework (返工)."""
    gulou, xingfu, lianyun = (
        reported(core, 1, GULOU_GRID),
        reported(core, 2, XINGFU_GRID),
        reported(core, 3, LY_GRID),
    )
    street = Actor("hz-street", Role.DEPARTMENT, STREET)
    run(
        core,
        gulou,
        (Command(Action.REGISTER), HZ_OPERATOR),
        (Command(Action.DISPATCH, department=STREET), HZ_DISPATCHER),
        (Command(Action.ASSIGN_COMMUNITY, opinion="请社区网格员到场清理"), street),
        (Command(Action.REPORT, opinion="已清理"), Actor("gulou", Role.DEPARTMENT, GULOU)),
        (Command(Action.VERIFY_PASS, opinion="现场已清理"), INSPECTOR),
        (Command(Action.CLOSE), HZ_OPERATOR),
    )
    run(core, xingfu, (Command(Action.REGISTER), HZ_OPERATOR))
    department = Actor("dept", Role.DEPARTMENT, "city-management")
    run(
        core,
        lianyun,
        (Command(Action.REGISTER), Actor("oper", Role.OPERATOR)),
        (Command(Action.DISPATCH, department="city-management"), Actor("disp", Role.DISPATCHER)),
        (Command(Action.REPORT, opinion="已清理"), department),
        (Command(Action.VERIFY_FAIL, opinion="仍有堆物"), INSPECTOR),
        (Command(Action.REPORT, opinion="已全部清运"), department),
        (Command(Action.VERIFY_PASS, opinion="现场已清理"), INSPECTOR),
        (Command(Action.CLOSE), Actor("oper", Role.OPERATOR)),
    )
    assert core.case(gulou).state is core.case(lianyun).state is CaseState.CLOSED


def table(page: Any) -> dict[tuple[str, str], dict[str, str]]:
    """{(unit id, basis): {metric: cell text}} of the table shown, and its units in order."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#levels-table tbody tr')].map(
             (tr) => [tr.dataset.unit + '|' + tr.dataset.basis, Object.fromEntries(
               [...tr.querySelectorAll('td[data-metric]')].map((td) => [td.dataset.metric, td.textContent]))]))"""
    )


def units(page: Any) -> list[str]:
    """The ranked units' ids in the table's order (not the unranked 不属任何… row)."""
    return page.eval_on_selector_all(
        "#levels-table tbody tr[data-basis=own]:not(.outside)",
        "rows => rows.map((r) => r.dataset.unit)",
    )


def open_level(page: Any, unit: str) -> None:
    page.click(f'#levels-table tr[data-unit="{unit}"] a.drill')
    page.wait_for_selector(f'#levels-table[data-node="{unit}"]')


def shown_as(value: str, kind: str) -> str:
    """A CSV figure as the page shows it."""
    if value == "":
        return "—"
    if kind == "rate":
        return f"{float(value) * 100:.1f}%"
    if kind == "score":
        return f"{float(value):.1f} 分"
    return value


RATES = ("closure_rate", "on_time_closure_rate", "on_time_disposal_rate", "rework_rate")
COMPARED = {"registered": "count", "due": "count", "closed": "count", "rework": "count",
            "overdue_undisposed": "count", "score": "score", **dict.fromkeys(RATES, "rate")}  # fmt: skip


def download_matches_table(page: Any) -> list[dict[str, str]]:
    """Download 导出 CSV; each of its rows has the figures of the table's row."""
    with page.expect_download() as info:
        page.click("#levels-export")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    assert text.startswith("考核对象,立案数,")  # headed in Chinese, as the page is
    rows = keyed_rows(text, CSV_HEADERS)
    cells = table(page)
    outside = page.locator("#levels-table tr.outside th")
    if outside.count():  # the unranked row, last in both, by its name
        name = outside.inner_text().split(" ")[0]
        assert rows[-1]["group"] == name and rows[-1]["group"].startswith("不属任何")
    ids = [r["group"].split(" ")[0] for r in rows[: len(rows) - outside.count()]]
    assert ids == units(page)
    for row in rows:
        unit = row["group"].split(" ")[0]
        unit = "outside" if unit.startswith("不属任何") else unit
        for key, kind in COMPARED.items():
            assert cells[f"{unit}|own"][key] == shown_as(row[key], kind), (unit, key)
            if f"{unit}|passed" in cells:
                assert cells[f"{unit}|passed"][key] == shown_as(row[f"passed_{key}"], kind)
    return rows


def test_the_city_ranks_its_districts_and_drills_down_to_a_streets_communities(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    cases_of_both_districts(core)
    ganyu = reported(core, 4, GANYU_GRID)  # on a grid of no district of the tree
    run(core, ganyu, (Command(Action.REGISTER), Actor("oper", Role.OPERATOR)))
    lead = open_as("shift_lead")
    page = lead.page
    page.click("#nav a[data-view=levels]")
    page.wait_for_selector("#levels-table[data-node=city]")
    assert page.inner_text("#nav a.active") == "分级考核"
    assert page.inner_text("#levels-trail strong") == "连云港市"
    # 海州区 first (100), then 连云区 and the city's 城管执法 (95: one rework), the idle last
    assert units(page) == ["320706", "320703", "city-management", "sanitation", "traffic"]
    cells = table(page)
    hz, ly = cells["320706|own"], cells["320703|own"]
    assert (hz["registered"], hz["due"], hz["closed"], hz["score"]) == ("2", "1", "1", "100.0 分")
    assert (ly["registered"], ly["rework"], ly["rework_rate"]) == ("1", "1", "50.0%")
    assert ly["score"] == "95.0 分" and cells["city-management|own"]["score"] == "95.0 分"
    assert cells["traffic|own"]["score"] == "—"
    ranks = page.eval_on_selector_all(
        "#levels-table td.rank", "tds => tds.map((t) => t.textContent)"
    )
    assert ranks == ["1", "2", "3", "—", "—", "—"]
    # the city's case on no district's grid: an unranked row of its own, last, so the
    # districts' rows add up to the city's total
    outside = page.locator("#levels-table tbody tr:last-child")
    assert outside.get_attribute("data-unit") == "outside"
    assert outside.locator("th").inner_text() == "不属任何区 不参与排名"
    assert cells["outside|own"]["registered"] == "1"
    districts = [cells[f"{d}|own"]["registered"] for d in ("320706", "320703")]
    assert sum(map(int, districts)) + 1 == 4  # every case of the city in exactly one row
    weights = page.inner_text("#levels-weights")
    assert "结案率 30%" in weights and "返工率 10%" in weights
    assert_reads_chinese(lead, "分级考核（全市）", NAMES)
    screenshot(page, "levels-city")
    rows = download_matches_table(page)
    assert rows[0]["group"] == "320706 海州区" and rows[0]["score"] == "100.0"

    # 海州区: its streets and departments; 海州街道 has the closed case
    open_level(page, "320706")
    assert page.inner_text("#levels-trail strong") == "海州区"
    assert set(units(page)) == {"320706001", "320706002", "320706003", "320706004",
                                "hz-city-management", "hz-sanitation"}  # fmt: skip
    assert units(page)[0] == "320706001"
    assert table(page)["320706002|own"]["registered"] == "1"  # 幸福路街道: only registered
    assert_reads_chinese(lead, "分级考核（海州区）", NAMES)

    # 海州街道: its communities, 鼓楼社区's passed case beside its grid figures
    open_level(page, "320706001")
    assert page.inner_text("#levels-trail").startswith("连云港市 › 海州区 › 海州街道")
    cells = table(page)
    assert units(page)[0] == "320706001001"
    own, passed = cells["320706001001|own"], cells["320706001001|passed"]
    assert (own["registered"], own["closed"], own["score"]) == ("1", "1", "100.0 分")
    assert (passed["registered"], passed["due"], passed["closed"]) == ("1", "1", "1")
    assert passed["on_time_closure_rate"] == "100.0%" and passed["score"] == "100.0 分"
    assert cells["320706001002|passed"]["registered"] == "0"
    assert page.locator("#levels-table tr.passed td.basis").first.inner_text() == "街道转派"
    rows = download_matches_table(page)
    assert rows[0]["passed_registered"] == "1"
    assert_reads_chinese(lead, "分级考核（海州街道）", NAMES)
    shot = screenshot(page, "levels")

    # a month: last month holds none of today's cases; back to 近 30 天 they are there again
    page.select_option("#levels-preset", index=2)
    page.wait_for_function(
        "() => document.querySelector('#levels-table td[data-metric=registered]')?.textContent === '0'"
    )
    assert page.input_value("#levels-start").endswith("-01")
    page.select_option("#levels-preset", "last30")
    page.wait_for_function(
        "() => document.querySelector('#levels-table td[data-metric=registered]')?.textContent === '1'"
    )
    # custom days: today alone still holds them; an end before the start is said in Chinese
    today = page.input_value("#levels-end")
    page.fill("#levels-start", today)
    page.dispatch_event("#levels-start", "change")
    assert page.input_value("#levels-preset") == "custom"
    page.wait_for_function(
        "t => document.querySelector('#levels-period')?.textContent.startsWith(t)",
        arg=f"统计 {today} 00:00 至 {today} ",
    )
    page.fill("#levels-end", "2020-01-01")
    page.dispatch_event("#levels-end", "change")
    page.wait_for_selector("#levels-output .error")
    assert page.inner_text("#levels-output") == "结束日期不能早于开始日期"

    # back up by the trail to the city: the last period counted stays chosen
    page.click('#levels-trail a[data-node="city"]')
    page.wait_for_selector("#levels-table[data-node=city]")
    assert page.input_value("#levels-preset") == "custom"
    assert page.input_value("#levels-start") == page.input_value("#levels-end") == today
    assert table(page)["320706|own"]["registered"] == "2"
    # 综合评价 leads here too
    page.click("#nav a[data-view=evaluation]")
    page.click("#eval-levels")
    page.wait_for_selector("#levels-table[data-node=city]")
    assert lead.errors == []
    docs = REPO_ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, docs / "levels.png")


def test_a_district_user_opens_on_its_district_and_cannot_go_up_to_the_city(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    cases_of_both_districts(core)
    desk = open_as("hz-disp")
    page = desk.page
    page.click("#nav a[data-view=levels]")
    page.wait_for_selector("#levels-table[data-node='320706']")
    assert page.inner_text("#levels-trail") == "海州区"
    assert page.locator("#levels-trail a").count() == 0  # no way up
    assert units(page)[0] == "320706001"
    open_level(page, "320706001")
    assert page.inner_text("#levels-trail a[data-node='320706']") == "海州区"
    assert page.locator('#levels-trail a[data-node="city"]').count() == 0
    assert_reads_chinese(desk, "分级考核（区级）", NAMES)
    # the city's level (or another district's) by address: its own level, said why
    for node in ("city", "320703"):
        page.goto(f"{core.url}/console/#/levels/320706001")
        page.wait_for_selector("#levels-table[data-node='320706001']")
        page.goto(f"{core.url}/console/#/levels/{node}")
        page.wait_for_selector("#levels-own-only")
        page.wait_for_selector("#levels-table[data-node='320706']")
        assert page.inner_text("#levels-own-only") == "只能查看本级及下级的考核，已显示本级"
    # its map opens on its district, with no district to jump to
    page.click("#nav a[data-view=map]")
    page.wait_for_selector("#map[data-grids='400']")
    assert page.locator("#map-jump-label").is_hidden()
    assert_reads_chinese(desk, "地图（区级）", NAMES)


def test_the_citys_map_jumps_to_a_district_and_back_to_the_whole_city(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    lead = open_as("shift_lead")
    page = lead.page
    page.click("#nav a[data-view=map]")
    page.wait_for_selector("#map[data-grids='500']")  # both pieces, 25 km apart
    options = page.locator("#map-jump option").all_inner_texts()
    assert options == ["全市", "海州区", "连云区"]
    extents = page.evaluate("() => fetch('/api/v1/gis/map', {headers: {Authorization: "
                            "'Bearer ' + sessionStorage.getItem('citygw.token')}}).then((r) => r.json())")  # fmt: skip
    page.select_option("#map-jump", "320703")
    page.wait_for_selector("#map[data-grids='100']")
    drawn = page.eval_on_selector_all(
        "path.grid", "ps => ps.map((p) => [...p.classList].find((c) => /^grid-\\d{14}$/.test(c)))"
    )
    assert len(drawn) == 100 and all(c.startswith("grid-320703") for c in drawn)
    assert page.get_attribute("#map", "data-view") == ",".join(
        str(v) for v in extents["districts"]["320703"]
    )
    screenshot(page, "map-jump-lianyun")
    page.select_option("#map-jump", "320706")
    page.wait_for_selector("#map[data-grids='400']")
    page.select_option("#map-jump", "city")
    page.wait_for_selector("#map[data-grids='500']")
    assert_reads_chinese(lead, "地图（跳转）")
