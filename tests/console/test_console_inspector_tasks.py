"""The inspector's desktop view (我的任务, views/inspector_tasks.js) in Chromium: it lists the
inspector's 核实 and 核查 tasks from the phone's own list (GET /api/v1/mobile/tasks) and answers
them through the phone's answer (POST /api/v1/mobile/tasks/{id}/answer), one request per
answer even when the button is clicked twice, and the workflow moves on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.intake import case_id_for
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from tests.console.conftest import BYPASS_CSP, RunningCore, screenshot, sign_in
from tests.console.test_console_workflow import street_jpeg, wait_state
from tests.console.test_roles import Watched, assert_reads_chinese, dialog_submit, toast_text

OPERATOR = Actor("oper", Role.OPERATOR)
DISPATCHER = Actor("disp", Role.DISPATCHER)
DEPARTMENT = Actor("dept", Role.DEPARTMENT, "city-management")
INSPECTOR = "insp"
#: a unit grid of 海州区 新海街道, on the test inspector's grids (conftest INSPECTOR_GRIDS)
GRID = "32070690100101"
ANSWER = "/api/v1/mobile/tasks/"


@pytest.fixture
def inspector(browser: Any, core: RunningCore) -> Iterator[Callable[[], Watched]]:
    contexts: list[Any] = []

    def open_page() -> Watched:
        context = browser.new_context(
            viewport={"width": 1366, "height": 900}, locale="zh-CN", bypass_csp=BYPASS_CSP
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)
        page.on("pageerror", lambda exc: watched.errors.append(f"exception: {exc}"))
        page.on("console", lambda msg: watched.console(msg.type, msg.text))
        sign_in(page, core.url, "inspector")
        return watched

    yield open_page
    for context in contexts:
        context.close()


def hotline_report(core: RunningCore) -> str:
    """A citizen's call (热线) still 信息收集, whose 核实 the operator asked for: by the grid."""
    report = CandidateCase.create(
        source=Source(kind=SourceKind.CALL, id="ivr-1"),
        event_code="0507",
        title="市民来电：楼道口乱堆物堆料",
        location=Location(grid_code=GRID, address="海州区 测试路 2 号"),
    )
    core.daemon.service.store_candidates([report])
    case_id = case_id_for(report.id)
    core.daemon.service.transition(case_id, Command(Action.REQUEST_CONFIRMATION), OPERATOR)
    return case_id


def reported_case(core: RunningCore) -> str:
    """An inspector's report the department says it has dealt with: its 核查 is open."""
    report = CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id="insp"),
        event_code="0507",
        title="路边乱堆物堆料",
        location=Location(grid_code=GRID, address="海州区 测试路 8 号"),
    )
    service = core.daemon.service
    service.store_candidates([report])
    case_id = case_id_for(report.id)
    service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)
    service.transition(case_id, Command(Action.REPORT, opinion="已清理"), DEPARTMENT)
    return case_id


def photo(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "mimeType": "image/jpeg",
        "buffer": street_jpeg((200, 250, 420, 380), (40, 40, 200)),
    }


def test_the_inspector_answers_a_confirmation_and_a_verification_through_the_phones_endpoints(
    core: RunningCore, inspector: Callable[[], Watched]
) -> None:
    confirm_id = hotline_report(core)
    verify_id = reported_case(core)
    assert core.case(confirm_id).facts["task"]["assignee"] == INSPECTOR
    assert core.case(verify_id).facts["task"]["assignee"] == INSPECTOR
    watched = inspector()
    page = watched.page
    answers: list[str] = []
    page.on(
        "request",
        lambda r: answers.append(r.url) if r.method == "POST" and ANSWER in r.url else None,
    )

    # the landing page: both tasks, each in its kind's column, with what to go by
    confirm = page.locator(f".column[data-kind=confirm] .task[data-case='{confirm_id}']")
    verify = page.locator(f".column[data-kind=verify] .task[data-case='{verify_id}']")
    confirm.wait_for()
    verify.wait_for()
    for task, case_id, address in (
        (confirm, confirm_id, "测试路 2 号"),
        (verify, verify_id, "测试路 8 号"),
    ):
        text = task.inner_text()
        number = core.case(case_id).number
        for expected in (number, "0507", GRID, address, "期限"):
            assert expected in text, (expected, text)
    assert confirm.locator(".task-answer").inner_text() == "答复核实"
    assert verify.locator(".task-answer").inner_text() == "答复核查"
    assert page.inner_text(".view-head h2") == "我的核实、核查任务"
    assert_reads_chinese(watched, "我的任务")

    # 核实: 属实, with a photo; a double click sends one answer
    confirm.locator(".task-answer").click()
    page.wait_for_selector("#answer-dialog[open]")
    assert page.inner_text("#answer-form .verdicts").count("属实") == 2  # 属实 / 不属实
    page.check("#answer-pass")
    page.fill("#answer-opinion", "现场确有堆物")
    page.set_input_files("#answer-photos", files=[photo("there.jpg")])
    assert page.inner_text("#answer-form .file-name") == "已选 1 张"
    screenshot(page, "inspector-tasks-confirm")
    assert_reads_chinese(watched, "核实对话框")
    page.dblclick("#answer-submit")
    page.wait_for_selector("#answer-dialog", state="detached")
    assert "核实结果已提交（属实）" in toast_text(page, "ok")
    case = core.case(confirm_id)
    assert case.state is CaseState.CANDIDATE and case.facts["proposal"] == "register"
    assert "task" not in case.facts
    step = core.steps(confirm_id)[-1]
    assert step.action is Action.CONFIRM_PASS and step.actor == INSPECTOR
    assert step.opinion == "现场确有堆物" and len(step.attachments) == 1
    assert [s.action for s in core.steps(confirm_id)].count(Action.CONFIRM_PASS) == 1
    confirm.wait_for(state="detached")

    # 核查: 不通过 needs a reason (said before anything is sent), then goes back to 返工
    verify.locator(".task-answer").click()
    page.wait_for_selector("#answer-dialog[open]")
    page.check("#answer-fail")
    page.click("#answer-submit")
    assert toast_text(page, "error") == "请填写原因"
    page.fill("#answer-opinion", "垃圾仍未清理")
    page.click("#answer-submit")
    page.wait_for_selector("#answer-dialog", state="detached")
    said = toast_text(page, "ok")
    assert "核查结果已提交（不通过（返工））" in said and "处置" in said, said
    case = core.case(verify_id)
    assert case.state is CaseState.PROCESSING and case.rework_count == 1
    step = core.steps(verify_id)[-1]
    assert step.action is Action.VERIFY_FAIL and step.actor == INSPECTOR
    assert step.opinion == "垃圾仍未清理" and step.attachments == ()
    verify.wait_for(state="detached")
    assert page.locator(".column[data-kind=verify] p.muted").inner_text() == "暂无核查任务"

    # one request per answer, to the phone's answer route, nothing through /transitions
    assert answers == [
        f"{core.url}{ANSWER}{confirm_id}/answer",
        f"{core.url}{ANSWER}{verify_id}/answer",
    ]
    assert_reads_chinese(watched, "我的任务（已答复）")


def test_an_answer_from_the_case_page_goes_the_same_way_in_one_request(
    core: RunningCore, inspector: Callable[[], Watched], tmp_path: Any
) -> None:
    case_id = reported_case(core)
    watched = inspector()
    page = watched.page
    posts: list[str] = []
    page.on(
        "request",
        lambda r: (
            posts.append(r.url)
            if r.method == "POST" and ("/api/v1/cases/" in r.url or ANSWER in r.url)
            else None
        ),
    )
    page.click(f".task[data-case='{case_id}'] .card")
    page.wait_for_selector('#case-actions button[data-action="verify_pass"]')
    page.click('#case-actions button[data-action="verify_pass"]')
    shot = tmp_path / "fixed.jpg"
    shot.write_bytes(street_jpeg((10, 10, 60, 60), (200, 200, 200)))
    page.set_input_files('dialog[open] input[name="photo"]', str(shot))
    dialog_submit(page, "现场已清理干净")
    assert "核查通过" in toast_text(page, "ok")
    wait_state(page, "待结案")
    assert core.case(case_id).state is CaseState.VERIFIED
    step = core.steps(case_id)[-1]
    assert step.action is Action.VERIFY_PASS and len(step.attachments) == 1
    assert str(step.facts["request_id"]).startswith("d-")
    assert posts == [f"{core.url}{ANSWER}{case_id}/answer"]  # no upload, no /transitions
    assert_reads_chinese(watched, "案件详情（核查通过）")
