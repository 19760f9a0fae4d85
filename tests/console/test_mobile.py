"""The inspector's phone app at /console/mobile/ in Chromium's mobile emulation (360x640,
touch, a GPS position, offline mode), against a real core whose database holds the demo's
unit grids: a report made online opens a case in the grid of the phone's position, one
made offline waits on the phone and becomes exactly one case when the network is back
(also when the core's first answer was lost), and a 核查 answered "not fixed" sends the
case back to 返工. The app runs under the core's Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.contract import Location, SourceKind
from gateway.core.daemon import build_core
from gateway.core.intake import case_id_for
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from gateway.gis.demo_data import generate
from gateway.gis.features import GridFeature, RawFeature
from gateway.gis.index import GridIndex
from gateway.gis.validation import build_grids, derive_areas
from tests.conftest import REPO_ROOT
from tests.console.conftest import CORE_SETTINGS, PASSWORD, RunningCore, sign_in
from tests.core.helpers import candidate

DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
PHONE = {"width": 360, "height": 640}
INSPECTOR = "walker"
#: the demo's city (连云港 海州区 320706...): the inspector's grids
INSPECTOR_GRIDS = ("320706",)


@pytest.fixture(scope="module")
def demo_grids() -> list[GridFeature]:
    demo = generate()
    raws = [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(demo.grids)]
    built = build_grids(raws)
    assert built.problems == [] and len(built.records) == 400
    return built.records


@pytest.fixture
def phone_core(
    make_config: Callable[..., Config], tmp_path: Path, demo_grids: list[GridFeature]
) -> Iterator[RunningCore]:
    """A core on a database with the demo's grids imported (as `citygw gis import` does)."""
    from adapters.storage.database import migrate, open_engine
    from adapters.storage.gis_store import SqlBaseData

    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    engine = open_engine(url)
    migrate(engine)
    SqlBaseData(engine).replace_grids(demo_grids, derive_areas(demo_grids), GridIndex([]).locate)
    engine.dispose()
    port = free_port()
    config = make_config(core={**CORE_SETTINGS, "database_url": url, "http_port": port})
    daemon = build_core(config)
    daemon.auth.add_user(INSPECTOR, "inspector", PASSWORD, None, INSPECTOR_GRIDS)
    daemon.auth.add_user("oper", "operator", PASSWORD, None, ())
    daemon.auth.add_user("lead", "shift_lead", PASSWORD, None, ())  # the evaluation page
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


def centre(grid: GridFeature) -> dict[str, float]:
    point = grid.geometry.representative_point()
    return {"latitude": point.y, "longitude": point.x, "accuracy": 8}


@pytest.fixture
def phone(browser: Any, phone_core: RunningCore, demo_grids: list[GridFeature]) -> Iterator[Any]:
    """``phone(**context_options)``: a logged-in page at phone size, standing in grid 42."""
    contexts: list[Any] = []

    def open_phone(**options: Any) -> Any:
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            geolocation=centre(demo_grids[42]),
            permissions=["geolocation"],
            **options,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on(
            "console",
            lambda msg: problems.append(msg.text) if msg.type == "error" else None,
        )
        page.problems = problems  # type: ignore[attr-defined]
        page.goto(f"{phone_core.url}/console/mobile/")
        page.fill("#login-form input[name=name]", INSPECTOR)
        page.fill("#login-form input[name=password]", PASSWORD)
        page.tap("#login-form button[type=submit]")
        page.wait_for_selector("#event-search")
        return page

    yield open_phone
    for context in contexts:
        context.close()


def photo_file(name: str = "scene.jpg") -> dict[str, Any]:
    """A 3000x2000 JPEG, as a phone camera gives (the app shrinks it before sending)."""
    image = np.full((2000, 3000, 3), (90, 140, 90), np.uint8)
    cv2.rectangle(image, (800, 900), (2200, 1700), (60, 90, 160), -1)
    cv2.putText(image, "0507", (900, 800), cv2.FONT_HERSHEY_SIMPLEX, 12, (255, 255, 255), 20)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return {"name": name, "mimeType": "image/jpeg", "buffer": bytes(data.tobytes())}


def fill_report(page: Any, text: str, *, by_class: bool = False) -> None:
    if by_class:  # big class 05 街面秩序, then its small class
        page.tap(".class-option[data-class='05']:has-text('街面秩序')")
    else:
        page.fill("#event-search", "0507")
    page.tap(".event-option[data-code='0507']")
    page.wait_for_selector("#event-chosen")
    page.set_input_files("#photo-input", files=[photo_file()])
    page.wait_for_selector(".thumb img")
    page.wait_for_selector("#position.good")
    page.fill("#description", text)


def inspector_cases(core: RunningCore) -> list[Any]:
    cases, _ = core.daemon.service.store.list_cases(CaseFilter(limit=100))
    return [c for c in cases if c.source_kind == str(SourceKind.INSPECTOR)]


def wait_until(predicate: Callable[[], Any], timeout: float = 20) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_a_report_made_online_opens_a_case_in_the_grid_of_the_phones_position(
    phone: Callable[..., Any], phone_core: RunningCore, demo_grids: list[GridFeature]
) -> None:
    page = phone()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    fill_report(page, "人行道上堆放建筑垃圾")
    assert re.fullmatch(r"定位精度 ±8 米", page.inner_text("#position"))
    grid = demo_grids[42]  # the core's GIS names the grid before the report is sent
    page.wait_for_selector(f"#place:has-text('网格 {grid.code}')")
    assert f"{grid.street}{grid.community}" in page.inner_text("#place")
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENSHOTS / "mobile-report.png"))
    page.tap("#submit-report")
    page.wait_for_selector("#toast.ok")
    assert "上报成功" in page.inner_text("#toast")
    assert demo_grids[42].code in page.inner_text("#toast")
    [case] = inspector_cases(phone_core)
    assert case.grid_code == demo_grids[42].code and case.event_code == "0507"
    assert case.description == "人行道上堆放建筑垃圾"
    assert case.facts["reported_by"] == INSPECTOR and case.facts["position_accuracy_m"] == 8
    [photo] = phone_core.daemon.service.store.evidence_of(case.id)
    stored = phone_core.daemon.service.evidence.read(photo.sha256)
    image = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (1067, 1600)  # shrunk on the phone to its 1600 px edge
    # the frequently used class now leads the picker
    page.wait_for_selector("#event-search")
    assert page.get_attribute(".event-option >> nth=0", "data-code") == "0507"
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_report_made_offline_waits_and_becomes_exactly_one_case_when_back_online(
    phone: Callable[..., Any], phone_core: RunningCore
) -> None:
    page = phone()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.context.set_offline(True)
    page.reload()  # the app shell comes from the service worker's cache
    page.wait_for_selector("#event-search")
    assert page.inner_text("#net") == "离线"
    fill_report(page, "离线时上报", by_class=True)
    page.tap("#submit-report")
    page.wait_for_selector("#toast:has-text('联网后自动发送')")
    assert page.inner_text("#queue-count") == "1"
    page.tap("#tabs button[data-view=queue]")
    page.wait_for_selector(".queued:has-text('乱堆物堆料')")
    page.screenshot(path=str(DOCS_SCREENSHOTS / "mobile-queue.png"))
    assert inspector_cases(phone_core) == []
    page.context.set_offline(False)
    page.wait_for_selector("#queue-empty")
    assert page.is_hidden("#queue-count")
    [case] = wait_until(lambda: inspector_cases(phone_core))
    assert case.description == "离线时上报"
    assert len(phone_core.daemon.service.store.evidence_of(case.id)) == 1


def test_a_report_whose_answer_was_lost_is_resent_with_its_id_and_makes_one_case(
    phone: Callable[..., Any], phone_core: RunningCore
) -> None:
    page = phone(service_workers="block")  # page.route sees the page's own requests
    seen: list[str] = []

    def lose_first_answer(route: Any) -> None:
        found = re.search(rb'name="request_id"\r\n\r\n([^\r]+)', route.request.post_data_buffer)
        assert found, "the report carries no request_id"
        seen.append(found.group(1).decode("ascii"))
        if len(seen) == 1:
            route.fetch()  # the core gets it and makes the case ...
            route.abort("connectionreset")  # ... and the phone never hears back
        else:
            route.continue_()

    page.route("**/api/v1/mobile/reports", lose_first_answer)
    fill_report(page, "回执丢失")
    page.tap("#submit-report")
    page.wait_for_selector("#toast:has-text('联网后自动发送')")
    assert len(inspector_cases(phone_core)) == 1
    assert page.inner_text("#queue-count") == "1"
    page.tap("#tabs button[data-view=queue]")
    page.tap(".queued button:has-text('立即重试')")
    page.wait_for_selector("#toast.ok")
    assert len(seen) == 2 and seen[0] == seen[1]
    assert len(inspector_cases(phone_core)) == 1


def reported_case(core: RunningCore, grid: GridFeature) -> str:
    """A case in the inspector's grid that the department reports fixed (waits for 核查)."""
    report = candidate(
        77,
        kind=SourceKind.API,
        source_id="oper",
        event_code="0507",
        location=Location(grid_code=grid.code, address="海州区 测试路 1 号"),
    )
    service = core.daemon.service
    service.store_candidates([report])
    case_id = case_id_for(report.id)
    service.transition(case_id, Command(Action.REGISTER), Actor("oper", Role.OPERATOR))
    service.transition(case_id, Command(Action.DISPATCH), Actor("lead", Role.SHIFT_LEAD))
    department = Actor("dept", Role.DEPARTMENT, "city-management")
    service.transition(case_id, Command(Action.REPORT, opinion="已清理"), department)
    case = service.store.get_case(case_id)
    assert case is not None and case.state is CaseState.REPORTED
    return case_id


def test_a_check_answered_not_fixed_with_a_photo_sends_the_case_back_to_rework(
    phone: Callable[..., Any], phone_core: RunningCore, demo_grids: list[GridFeature]
) -> None:
    case_id = reported_case(phone_core, demo_grids[42])
    page = phone()
    page.tap("#tabs button[data-view=tasks]")
    task = page.locator(f".task[data-case='{case_id}']")  # a locator: the list re-renders
    task.wait_for()
    assert "乱堆物堆料" in task.inner_text() and "测试路" in task.inner_text()
    page.screenshot(path=str(DOCS_SCREENSHOTS / "mobile-tasks.png"))
    task.locator(".task-open").tap()
    page.tap("#answer-fail")
    page.fill("#answer-opinion", "垃圾仍未清理")
    page.set_input_files("#answer-photo", files=[photo_file("still.jpg")])
    page.wait_for_selector(".thumb img")
    page.tap("#answer-submit")
    page.wait_for_selector("#toast:has-text('核查结果已提交')")
    case = phone_core.case(case_id)
    assert case.state is CaseState.PROCESSING and case.rework_count == 1
    step = phone_core.steps(case_id)[-1]
    assert step.action is Action.VERIFY_FAIL and step.actor == INSPECTOR
    assert step.opinion == "垃圾仍未清理" and len(step.attachments) == 1
    assert page.query_selector(f".task[data-case='{case_id}']") is None
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_hotline_report_confirmed_on_site_proposes_registration(
    phone: Callable[..., Any], phone_core: RunningCore, demo_grids: list[GridFeature]
) -> None:
    report = candidate(
        78,
        kind=SourceKind.CALL,
        source_id="ivr-1",
        event_code="0507",
        location=Location(grid_code=demo_grids[42].code, address="海州区 测试路 2 号"),
    )
    service = phone_core.daemon.service
    service.store_candidates([report])
    case_id = case_id_for(report.id)
    asked = Command(Action.REQUEST_CONFIRMATION)
    service.transition(case_id, asked, Actor("oper", Role.OPERATOR))
    assert phone_core.case(case_id).facts["task"]["assignee"] == INSPECTOR  # by the grid
    page = phone()
    page.tap("#tabs button[data-view=tasks]")
    task = page.locator(f".task[data-case='{case_id}']")
    task.wait_for()
    assert "核实" in task.inner_text() and "测试路 2 号" in task.inner_text()
    task.locator(".task-open").tap()
    assert page.inner_text("#answer-pass") == "属实"
    page.tap("#answer-pass")
    page.set_input_files("#answer-photo", files=[photo_file("there.jpg")])
    page.wait_for_selector(".thumb img")
    page.tap("#answer-submit")
    page.wait_for_selector("#toast:has-text('核实结果已提交')")
    case = phone_core.case(case_id)
    assert case.state is CaseState.CANDIDATE and case.facts["proposal"] == "register"
    assert "task" not in case.facts
    step = phone_core.steps(case_id)[-1]
    assert step.action is Action.CONFIRM_PASS and len(step.attachments) == 1
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_patrol_offline_in_a_dead_spot_reaches_the_core_and_the_centres_map(
    phone: Callable[..., Any],
    phone_core: RunningCore,
    demo_grids: list[GridFeature],
    browser: Any,
) -> None:
    page = phone()
    page.tap("#tabs button[data-view=patrol]")
    page.tap("#patrol-start")
    page.wait_for_selector("#patrol-stop")
    page.wait_for_selector("#patrol-count[data-waiting='0']")
    page.context.set_offline(True)
    for waiting, grid in ((1, demo_grids[43]), (2, demo_grids[44])):  # two more, no signal
        page.context.set_geolocation(centre(grid))
        page.wait_for_selector(f"#patrol-count[data-waiting='{waiting}']")
    page.context.set_offline(False)
    page.wait_for_selector("#patrol-count[data-waiting='0']")
    import httpx

    token = httpx.post(
        f"{phone_core.url}/api/v1/auth/login",
        json={"name": "oper", "password": PASSWORD},
        timeout=10,
    ).json()["token"]
    track = httpx.get(
        f"{phone_core.url}/api/v1/patrols/track?inspector={INSPECTOR}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    grids = [p["grid_code"] for p in track["points"]]
    assert grids == [demo_grids[n].code for n in (42, 43, 44)]
    page.tap("#patrol-stop")
    page.wait_for_selector("#patrol-start")
    assert page.problems == []  # type: ignore[attr-defined]
    desk = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(desk, phone_core.url, "operator")
    desk.goto(f"{phone_core.url}/console/#/map")
    desk.wait_for_selector("#map[data-inspectors='1']")
    desk.click(".inspector-icon")
    desk.wait_for_selector("#map[data-track-points='3']")
    figures = desk.inner_text("#patrol-figures")
    assigned = sum(g.code.startswith(INSPECTOR_GRIDS) for g in demo_grids)
    assert f"（3/{assigned} 个网格）" in figures, figures
    desk.close()
    # the evaluation's 监督员考核: one patrol day, 3 of the assigned grids, over 30 days
    lead = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(lead, phone_core.url, "shift_lead")
    lead.click('#nav a[data-view="evaluation"]')
    row = lead.locator(f'#inspector-table tr[data-inspector="{INSPECTOR}"]')
    row.wait_for()
    assert row.locator('td[data-metric="patrol_days"]').inner_text() == "1"
    assert row.locator('td[data-metric="grids_visited_per_day"]').inner_text() == "0.1"
    coverage = f"{round(3 / assigned, 4) * 100:.1f}%"
    assert row.locator('td[data-metric="coverage"]').inner_text() == coverage
    assert "巡查覆盖率" in lead.inner_text("#inspector-figures")
    lead.close()


def test_the_centre_asks_for_a_confirmation_and_moves_it_to_another_inspector_by_hand(
    phone_core: RunningCore, demo_grids: list[GridFeature], browser: Any
) -> None:
    report = candidate(
        79,
        kind=SourceKind.CALL,
        source_id="ivr-1",
        event_code="0507",
        location=Location(grid_code=demo_grids[42].code, address="海州区 测试路 3 号"),
    )
    phone_core.daemon.service.store_candidates([report])
    case_id = case_id_for(report.id)
    elsewhere = next(g.code for g in demo_grids if g.code[:12] != demo_grids[42].code[:12])
    phone_core.daemon.auth.add_user("runner", "inspector", PASSWORD, None, (elsewhere,))
    desk = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(desk, phone_core.url, "operator")
    desk.goto(f"{phone_core.url}/console/#/case/{case_id}")

    def act(action: str, assignee: str) -> None:
        desk.click(f"#case-actions button[data-action={action}]")
        dialog = desk.locator("dialog[open]")
        dialog.locator('[name="assignee"]').select_option(assignee)
        dialog.locator("button[type=submit]").click()
        desk.wait_for_selector("dialog[open]", state="detached")

    desk.wait_for_selector("#case-actions button[data-action=request_confirmation]")
    assert desk.inner_text("#case-actions button[data-action=request_confirmation]") == "派发核实"
    act("request_confirmation", "")  # by the grid
    desk.wait_for_selector(f"td:has-text('核实 · {INSPECTOR}')")
    assert phone_core.case(case_id).facts["task"]["assigned_by"] == "grid"
    act("assign_task", "runner")
    desk.wait_for_selector("td:has-text('核实 · runner')")
    task = phone_core.case(case_id).facts["task"]
    assert (task["assignee"], task["assigned_by"]) == ("runner", "oper")
    desk.close()


def test_the_app_is_served_with_its_manifest_and_service_worker(phone_core: RunningCore) -> None:
    import httpx

    base = f"{phone_core.url}/console/mobile/"
    page = httpx.get(base, timeout=10)
    assert page.status_code == 200 and "manifest.webmanifest" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text
    sw = httpx.get(base + "sw.js", timeout=10)
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    manifest = httpx.get(base + "manifest.webmanifest", timeout=10).json()
    assert manifest["lang"] == "zh-CN" and manifest["display"] == "standalone"


def test_a_check_answered_offline_is_sent_once_when_back_online(
    phone: Callable[..., Any], phone_core: RunningCore, demo_grids: list[GridFeature]
) -> None:
    case_id = reported_case(phone_core, demo_grids[42])
    page = phone()
    page.tap("#tabs button[data-view=tasks]")
    page.locator(f".task[data-case='{case_id}']").wait_for()
    page.context.set_offline(True)
    page.locator(f".task[data-case='{case_id}'] .task-open").tap()
    page.tap("#answer-pass")
    page.set_input_files("#answer-photo", files=[photo_file("clean.jpg")])
    page.wait_for_selector(".thumb img")
    page.tap("#answer-submit")
    page.wait_for_selector("#toast:has-text('联网后自动发送')")
    assert page.inner_text("#queue-count") == "1"
    assert phone_core.case(case_id).state is CaseState.REPORTED
    page.context.set_offline(False)
    page.wait_for_selector("#toast:has-text('核查结果已提交')")
    assert phone_core.case(case_id).state is CaseState.VERIFIED
    passes = [s for s in phone_core.steps(case_id) if s.action is Action.VERIFY_PASS]
    assert len(passes) == 1 and len(passes[0].attachments) == 1


def test_a_report_queued_when_the_login_lapses_is_kept_and_sent_after_logging_in_again(
    phone: Callable[..., Any], phone_core: RunningCore
) -> None:
    import httpx

    page = phone()
    page.context.set_offline(True)
    fill_report(page, "登录过期前上报")
    page.tap("#submit-report")
    page.wait_for_selector("#toast:has-text('联网后自动发送')")
    token = page.evaluate("JSON.parse(localStorage.getItem('citygw.mobile.session')).token")
    ended = httpx.post(
        f"{phone_core.url}/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert ended.status_code == 204
    page.context.set_offline(False)
    page.wait_for_selector("#login-form")
    assert "重新登录" in page.inner_text("#toast")
    assert page.inner_text("#queue-count") == "1" and inspector_cases(phone_core) == []
    page.fill("#login-form input[name=name]", INSPECTOR)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.tap("#login-form button[type=submit]")
    page.wait_for_selector("#toast.ok")
    [case] = inspector_cases(phone_core)
    assert case.description == "登录过期前上报"
    assert page.is_hidden("#queue-count")


def test_a_report_the_core_refuses_says_why_in_chinese_and_can_be_dropped(
    phone: Callable[..., Any], phone_core: RunningCore
) -> None:
    page = phone(service_workers="block")
    refusal = '{"error": "bad_photo", "detail": "photo 1: the file is not a picture"}'
    page.route(
        "**/api/v1/mobile/reports",
        lambda route: route.fulfill(status=422, content_type="application/json", body=refusal),
    )
    fill_report(page, "被拒绝的上报")
    page.tap("#submit-report")
    page.tap("#tabs button[data-view=queue]")
    page.wait_for_selector(".queued .error:has-text('照片无法识别')")
    page.tap(".queued button:has-text('放弃')")
    page.wait_for_selector("#queue-empty")
    assert page.is_hidden("#queue-count") and inspector_cases(phone_core) == []
