"""Console views beyond the main flow: a refused login, merging a proposed duplicate, a
department seeing only its own cases, and the camera wall."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from tests.console.conftest import BYPASS_CSP, RunningCore, screenshot
from tests.console.test_console_workflow import camera_candidate, do, street_jpeg, wait_state

DISPATCHER = Actor("disp", Role.DISPATCHER)
OPERATOR = Actor("oper", Role.OPERATOR)
LEAD = Actor("lead", Role.SHIFT_LEAD)


def test_a_wrong_password_is_refused_in_chinese_and_no_session_is_kept(
    core: RunningCore, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=BYPASS_CSP)
    page = context.new_page()
    page.goto(f"{core.url}/console/")
    page.fill("#login-form input[name=name]", "oper")
    page.fill("#login-form input[name=password]", "not-the-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_function("document.querySelector('#login-error')?.textContent !== ''")
    assert page.inner_text("#login-error") == "用户名或密码错误"
    assert page.evaluate("sessionStorage.getItem('citygw.token')") is None
    assert page.locator("#nav a").count() == 0
    screenshot(page, "10-login-refused")
    context.close()


def test_a_proposed_duplicate_is_merged_from_the_queue(core: RunningCore, login: Any) -> None:
    first = camera_candidate(
        "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
        track_id=1, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    again = camera_candidate(
        "0505", "机动车乱停放", "car", 0.88, (110, 250, 310, 380),
        track_id=2, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    core.publish_candidates([first])
    original = core.wait_for_case(first.id)
    core.publish_candidates([again])
    duplicate = core.wait_for_case(again.id)
    assert duplicate.proposed_merge_into == original.id

    operator = login("operator")
    item = operator.locator(f'.queue-item[data-id="{duplicate.id}"]')
    item.wait_for()
    assert "疑似重复" in item.inner_text()
    item.click()
    operator.wait_for_selector(f".dup-note a[href='#/case/{original.id}']")
    operator.keyboard.press("m")
    dialog = operator.locator("dialog[open]")
    assert dialog.locator('[name="merge_into"]').input_value() == original.id
    dialog.locator("button[type=submit]").click()
    operator.wait_for_selector(f'.queue-item[data-id="{duplicate.id}"]', state="detached")
    merged = core.case(duplicate.id)
    assert merged.state is CaseState.MERGED and merged.merged_into == original.id


def test_a_department_sees_only_its_own_cases(core: RunningCore, login: Any) -> None:
    ours = camera_candidate(
        "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
        track_id=1, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    theirs = camera_candidate(
        "0102", "暴露垃圾", "bag", 0.8, (10, 300, 60, 350),
        track_id=2, grid_code="32072200100101", zone_id="lawn",
    )  # fmt: skip
    core.publish_candidates([ours, theirs])
    service = core.daemon.service
    ids = {}
    for name, candidate in (("ours", ours), ("theirs", theirs)):
        case = core.wait_for_case(candidate.id)
        service.transition(case.id, Command(Action.REGISTER), OPERATOR)
        service.transition(case.id, Command(Action.DISPATCH), DISPATCHER)
        ids[name] = case.id
    assert core.case(ids["theirs"]).department == "sanitation"

    department = login("department")
    department.wait_for_selector(f'.card[data-id="{ids["ours"]}"]')
    assert department.locator(f'.card[data-id="{ids["theirs"]}"]').count() == 0
    assert department.locator(".card").count() == 1
    assert "本部门案件" in department.inner_text("#nav")
    department.goto(f"{core.url}/console/#/case/{ids['theirs']}")
    department.wait_for_selector(".case-page .error")
    assert "找不到该案件" in department.inner_text(".case-page .error")


def test_the_camera_wall_shows_each_camera_with_its_latest_detection(
    core: RunningCore, login: Any
) -> None:
    older = camera_candidate(
        "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
        track_id=1, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    newer = camera_candidate(
        "0102", "暴露垃圾", "bag", 0.77, (10, 300, 60, 350),
        track_id=2, grid_code="32072200100101", zone_id="lawn",
    )  # fmt: skip
    core.publish_candidates([older])
    core.wait_for_case(older.id)
    core.publish_candidates([newer])
    latest = core.wait_for_case(newer.id)

    operator = login("operator")
    operator.click('#nav a[data-view="cameras"]')
    tile = operator.locator('.tile[data-camera="cam-gate"]')
    tile.wait_for()
    assert operator.locator(".tile").count() == 1
    assert f"{latest.number} 0102 暴露垃圾" in tile.locator(".last").inner_text()
    operator.wait_for_function(
        "document.querySelector('.tile[data-camera=\"cam-gate\"] .screen img')?.naturalWidth > 0"
    )
    # no video gateway has reported this camera's status: its health is unknown, not guessed
    assert operator.locator("#camera-health-note").count() == 0
    assert tile.locator(".health").inner_text() == "未知"
    assert "null" not in operator.inner_text("#main")
    screenshot(operator, "11-camera-wall")


def test_extension_and_suspension_requests_are_decided_from_the_case_page(
    core: RunningCore, login: Any
) -> None:
    parked = camera_candidate(
        "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
        track_id=1, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    core.publish_candidates([parked])
    case_id = core.wait_for_case(parked.id).id
    service = core.daemon.service
    service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)
    deadline = core.case(case_id).deadline

    department = login("department")
    department.goto(f"{core.url}/console/#/case/{case_id}")
    department.wait_for_selector('#case-actions button[data-action="request_extension"]')
    assert {
        b.get_attribute("data-action")
        for b in department.locator("#case-actions button").element_handles()
    } >= {"request_extension", "request_return", "request_suspension", "report"}
    do(department, "request_extension", "需协调拖车", extension_hours=4)
    department.wait_for_selector(".case-side td:has-text('延时（dept）')")

    dispatcher = login("dispatcher")
    dispatcher.goto(f"{core.url}/console/#/case/{case_id}")
    dispatcher.wait_for_selector('#case-actions button[data-action="approve"]')
    assert dispatcher.inner_text('#case-actions button[data-action="approve"]') == "批准延时申请"
    do(dispatcher, "approve", "同意")
    dispatcher.wait_for_selector('#step-log tr[data-action="approve"]')
    extended = core.case(case_id)
    assert extended.pending is None and extended.deadline > deadline

    department.reload()
    department.wait_for_selector('#case-actions button[data-action="request_suspension"]')
    do(department, "request_suspension", "车主外地，待联系")
    dispatcher.reload()
    dispatcher.wait_for_selector('#case-actions button[data-action="approve"]')
    do(dispatcher, "approve")
    wait_state(dispatcher, "挂账")
    dispatcher.wait_for_selector('#case-actions button[data-action="resume"]')
    do(dispatcher, "resume")
    wait_state(dispatcher, "处置")
    screenshot(dispatcher, "12-dispatcher-requests-decided")
    assert [s.action for s in core.steps(case_id)][-6:] == [
        Action.DISPATCH,
        Action.REQUEST_EXTENSION,
        Action.APPROVE,
        Action.REQUEST_SUSPENSION,
        Action.APPROVE,
        Action.RESUME,
    ]


def test_an_inspector_reports_a_problem_with_a_photo_and_the_operator_reviews_it(
    core: RunningCore, login: Any, tmp_path: Path
) -> None:
    photo = tmp_path / "scene.jpg"
    photo.write_bytes(street_jpeg((300, 320, 420, 400), (20, 120, 20)))
    inspector = login("inspector")
    inspector.click('#nav a[data-view="report"]')
    form = inspector.locator("#report-form")
    form.locator('[name="event_code"]').select_option("0102")
    form.locator('[name="grid_code"]').fill("32070390100103")
    form.locator('[name="address"]').fill("西直门外大街 18 号北侧")
    form.locator('[name="description"]').fill("路边垃圾堆放约两平方米")
    form.locator('[name="photo"]').set_input_files(str(photo))
    screenshot(inspector, "14-inspector-report-form")
    form.locator("button[type=submit]").click()
    inspector.wait_for_selector("#report-case")
    number = inspector.inner_text("#report-case").split()[0]
    case = core.daemon.service.store.case_by_number(number)
    assert case.source_kind == "inspector" and case.event_code == "0102"
    assert case.grid_code == "32070390100103" and case.state is CaseState.CANDIDATE
    evidence = core.daemon.service.store.evidence_of(case.id)
    assert [(e.role, e.media_type) for e in evidence] == [("photo", "image/jpeg")]

    operator = login("operator")
    operator.click(f'.queue-item[data-id="{case.id}"]')
    operator.wait_for_function(
        "n => document.querySelector('#detail-title')?.textContent.startsWith(n)", arg=number
    )
    assert "监督员上报" in operator.inner_text("#queue-detail")
    assert "西直门外大街 18 号北侧" in operator.inner_text("#queue-detail")
    operator.wait_for_function("document.querySelector('img.snapshot')?.naturalWidth === 640")


def test_a_refused_action_keeps_what_the_user_typed_and_changes_nothing(
    core: RunningCore, login: Any
) -> None:
    parked = camera_candidate(
        "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
        track_id=1, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    core.publish_candidates([parked])
    case_id = core.wait_for_case(parked.id).id
    service = core.daemon.service
    service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)

    # bad input: an extension beyond the core's bound is refused with the reason
    department = login("department")
    department.goto(f"{core.url}/console/#/case/{case_id}")
    department.wait_for_selector('#case-actions button[data-action="request_extension"]')
    do(department, "request_extension", "需协调拖车，车主联系不上", extension_hours=2000)
    toast = department.locator(".toast.error")
    toast.wait_for()
    assert "延长时间须不大于 1000" in toast.inner_text()
    assert "已保留" in toast.inner_text()
    assert core.case(case_id).pending is None
    # ... and the opinion is offered again: fix the hours, send
    department.click('#case-actions button[data-action="request_extension"]')
    dialog = department.locator("dialog[open]")
    assert dialog.locator('[name="opinion"]').input_value() == "需协调拖车，车主联系不上"
    dialog.locator('[name="extension_hours"]').fill("4")
    dialog.locator("button[type=submit]").click()
    department.wait_for_selector(".case-side td:has-text('延时（dept）')")

    # a stale page: the shift lead decided meanwhile, so the dispatcher's approve is a 409
    dispatcher = login("dispatcher")
    dispatcher.goto(f"{core.url}/console/#/case/{case_id}")
    dispatcher.wait_for_selector('#case-actions button[data-action="approve"]')
    service.transition(case_id, Command(Action.DENY, opinion="先拖车再说"), LEAD)
    do(dispatcher, "approve", "同意延时")
    conflict = dispatcher.locator(".toast.error")
    conflict.wait_for()
    assert "已被他人更新" in conflict.inner_text()
    steps = core.steps(case_id)
    assert steps[-1].action is Action.DENY and steps[-1].actor == "lead"
    assert Action.APPROVE not in [s.action for s in steps]
