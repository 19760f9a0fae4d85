"""Each role's whole task in Chromium, read as a user reads it: every page the role opens
must be Chinese (no English word beyond the allow-list of codes and units, no "null",
"NaN" or "undefined") and the browser must log no error on the way.

Roles: 受理员 (review the queue, report by form), 值班长 (approve an extension, the weekly
evaluation), 派遣员 (dispatch), 专业部门 (处理反馈 and an extension request), 监督员 (核查 and a
field report), 系统管理员 (evaluation, board, camera wall, the API docs offline).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway import bootstrap
from gateway.contract import (
    CameraState,
    CandidateCase,
    CaseFeedback,
    Evidence,
    EvidenceRole,
    Location,
    Source,
    SourceKind,
)
from gateway.core.inspector_figures import CSV_HEADERS as INSPECTOR_HEADERS
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from tests.console.conftest import BYPASS_CSP, USERS, RunningCore, screenshot, sign_in
from tests.console.test_console_dead_letters import send_poison
from tests.console.test_console_live import publish_status
from tests.console.test_console_workflow import street_jpeg, wait_state
from tests.csv_rows import keyed_rows

OPERATOR = Actor("oper", Role.OPERATOR)
DISPATCHER = Actor("disp", Role.DISPATCHER)
DEPARTMENT = Actor("dept", Role.DEPARTMENT, "city-management")
INSPECTOR = Actor("insp", Role.INSPECTOR)

#: latin words a Chinese page may show: format and protocol names, units, the CJ/T standard
ALLOWED_WORDS = {
    "CSV",
    "Excel",
    "PDF",
    "CJ",
    "fps",
    "KB",
    "MB",
    "ONVIF",
    "RTSP",
    "MQTT",
    "WebRTC",
    "JPEG",
    "JSON",
    "UTF",
}
#: identifiers that are data, not text: login names (ASCII by rule) and camera ids
IDENTIFIERS = {name for name, _department in USERS.values()} | {"cam-gate", "cam-lawn"}
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
NOT_A_VALUE = re.compile(r"\b(null|NaN|undefined|Invalid Date)\b")


@dataclass
class Watched:
    """A page and what its browser said: uncaught exceptions and console errors.

    Chromium logs every refused request as a console error ("Failed to load resource: ...
    422"); `refusal_expected` says which status a step provokes on purpose, and only
    that one is not counted."""

    page: Any
    errors: list[str] = field(default_factory=list)
    expected_status: int | None = None

    def console(self, kind: str, text: str) -> None:
        expected = f"status of {self.expected_status} " if self.expected_status else None
        if kind == "error" and not (expected and expected in text):
            self.errors.append(f"console: {text}")

    @contextmanager
    def refusal_expected(self, status: int) -> Iterator[None]:
        self.expected_status = status
        try:
            yield
        finally:
            self.expected_status = None


def visible_text(page: Any) -> str:
    """What a user reads: the body's rendered text, chart labels, open dialogs, and the
    placeholders and tooltips of the controls."""
    return page.evaluate(
        """() => [
            document.body.innerText,
            ...[...document.querySelectorAll('svg text, svg title')].map((e) => e.textContent),
            ...[...document.querySelectorAll('[placeholder]')].map((e) => e.placeholder),
            ...[...document.querySelectorAll('select option')].map((e) => e.textContent),
            document.title,
        ].join('\\n')"""
    )


def assert_reads_chinese(
    watched: Watched, where: str, identifiers: frozenset[str] = frozenset()
) -> None:
    """``identifiers``: data the page shows as it is, besides `IDENTIFIERS` (MQTT topics,
    message ids)."""
    text = visible_text(watched.page)
    bare = re.sub(r"https?://\S+", " ", text)  # an address is not a word to translate
    for identifier in sorted(IDENTIFIERS | identifiers, key=len, reverse=True):
        bare = re.sub(rf"(?<![A-Za-z-]){re.escape(identifier)}(?![A-Za-z-])", " ", bare)
    english = sorted({w for w in LATIN_WORD.findall(bare) if w not in ALLOWED_WORDS})
    assert not english, f"{where}: English on the page: {english}\n{text}"
    assert not NOT_A_VALUE.search(text), f"{where}: {NOT_A_VALUE.search(text)}\n{text}"
    assert not watched.errors, f"{where}: browser errors: {watched.errors}"


@pytest.fixture
def open_as(browser: Any, core: RunningCore) -> Iterator[Callable[[str], Watched]]:
    contexts: list[Any] = []

    def open_page(role: str) -> Watched:
        # a browser in UTC: the console must still show the centre's time (Asia/Shanghai)
        context = browser.new_context(
            viewport={"width": 1366, "height": 900},
            locale="zh-CN",
            timezone_id="UTC",
            bypass_csp=BYPASS_CSP,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)
        page.on("pageerror", lambda exc: watched.errors.append(f"exception: {exc}"))
        page.on("console", lambda msg: watched.console(msg.type, msg.text))
        sign_in(page, core.url, role)
        return watched

    yield open_page
    for context in contexts:
        context.close()


def camera_case(
    core: RunningCore,
    event_code: str,
    title: str,
    label: str,
    *,
    camera: str = "cam-gate",
    zone: tuple[str, str] = ("curb", "路边"),
    grid_code: str = "32070390100101",
    urgent: bool = False,
    track: int = 1,
) -> CandidateCase:
    box = (200, 250, 420, 380)
    return CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id=camera),
        event_code=event_code,
        title=title,
        location=Location(grid_code=grid_code, camera_id=camera, zone_id=zone[0]),
        urgent=urgent,
        evidence=[
            Evidence.from_bytes(
                street_jpeg(box, (40, 40, 200)),
                media_type="image/jpeg",
                role=EvidenceRole.SNAPSHOT,
                name="snapshot.jpg",
            )
        ],
        facts={
            "label": label,
            "score": 0.91,
            "box": list(box),
            "frame_size": [640, 480],
            "track_id": f"rule:{track}",
            "model": "yolox-nano",
            "zone_name": zone[1],
            "captured_at": "2026-12-04T02:05:07Z",
            "dwell_s": 125.0,
        },
    )


def stored(core: RunningCore, *candidates: CandidateCase) -> list[str]:
    core.publish_candidates(list(candidates))
    return [core.wait_for_case(c.id).id for c in candidates]


def dialog_submit(page: Any, opinion: str = "", **fields: str) -> None:
    dialog = page.locator("dialog[open]")
    for name, value in fields.items():
        control = dialog.locator(f'[name="{name}"]')
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    if opinion:
        dialog.locator('[name="opinion"]').fill(opinion)
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("dialog[open]", state="detached")


#: what shows a view has rendered its data (evaluation: its figures are in)
READY = {
    "queue": "#queue-list li",
    "board": "#board .column",
    "department": "#board .column",
    "inspector": "#board .column",
    "report": "#report-form",
    "cameras": "#camera-wall .tile, #camera-wall p",
    "evaluation": "#metrics-table, #eval-output p:not(:text('统计中'))",
    "levels": "#levels-table, #levels-output p:not(:text('统计中'))",
    "deadletters": "#dead-letters-summary:not(:empty)",
    "map": "#map[data-grids]",
}


def every_view(watched: Watched, role: str, identifiers: frozenset[str] = frozenset()) -> list[str]:
    """Open each page of the role's menu and read it (``identifiers``: as for
    `assert_reads_chinese`); the views seen, in menu order."""
    page = watched.page
    views = page.eval_on_selector_all("#nav a", "links => links.map((a) => a.dataset.view)")
    for view in views:
        page.click(f'#nav a[data-view="{view}"]')
        page.wait_for_selector(READY[view])
        assert_reads_chinese(watched, f"{role}: {view}", identifiers)
    return views


def toast_text(page: Any, kind: str) -> str:
    toast = page.locator(f".toast.{kind}").last
    toast.wait_for()
    return str(toast.inner_text())


# --------------------------------------------------------------------------- 受理员


def test_the_operator_reviews_the_queue_and_takes_a_report_all_in_chinese(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    fall, parked = (
        camera_case(
            core, "0497", "草坪有人倒地 3 秒", "fallen_person", zone=("lawn", "草坪"), urgent=True
        ),
        camera_case(core, "0505", "小汽车在路边停留 125 秒", "car", track=2),
    )
    fall_id, parked_id = stored(core, fall, parked)
    operator = open_as("operator")
    page = operator.page
    page.wait_for_selector(f'.queue-item[data-id="{fall_id}"]')
    page.click(f'.queue-item[data-id="{fall_id}"]')
    page.wait_for_selector("#detail-title:has-text('倒地人员')")
    detail = page.inner_text("#queue-detail")
    assert "0497 倒地人员" in detail and "本地扩展代码" not in detail
    assert "识别目标倒地人员" in detail.replace("\t", "").replace(" ", "")
    assert "监控区域\t草坪" in detail and "2026-12-04 10:05:07" in detail  # 02:05 UTC
    assert "现场情况\t仍在现场（尚未消失）" in detail  # no episode end has come yet
    screenshot(page, "roles-operator-queue")
    assert_reads_chinese(operator, "待审核")

    page.click("#act-register")
    assert "立案" in toast_text(page, "ok")
    page.wait_for_selector(f'.queue-item[data-id="{fall_id}"]', state="detached")
    assert core.case(fall_id).state is CaseState.REGISTERED

    page.click(f'.queue-item[data-id="{parked_id}"]')
    page.wait_for_selector("#detail-title:has-text('机动车乱停放')")
    page.click("#act-reject")
    counter = page.locator("dialog[open] .counter")
    assert counter.inner_text() == "0 / 4000 字"
    page.locator('dialog[open] [name="opinion"]').fill("路边临时停车，非违停")
    assert counter.inner_text() == "10 / 4000 字"
    assert_reads_chinese(operator, "不予立案对话框")
    dialog_submit(page, reason="not_in_scope")
    page.wait_for_selector(f'.queue-item[data-id="{parked_id}"]', state="detached")
    assert core.case(parked_id).state is CaseState.REJECTED
    assert_reads_chinese(operator, "待审核（处理后）")

    # 上报问题: a made-up grid is refused before it reaches the core, a real one fills 区域
    page.click('#nav a[data-view="report"]')
    form = page.locator("#report-form")
    form.locator('[name="event_code"]').select_option("0102")
    form.locator('[name="grid_code"]').fill("99999999999999")
    assert page.inner_text("#grid-note") == "单元网格编码不存在，请从列表中选择"
    form.locator("button[type=submit]").click()
    assert page.locator("#report-case").count() == 0
    form.locator('[name="grid_code"]').fill("32070390100103")
    assert page.inner_text("#grid-note") == "连云区 连云街道 港口社区"
    assert form.locator('[name="district"]').input_value() == "连云区"
    # the browser's own file control would say "Choose File / No file chosen": hidden
    painted = page.evaluate(
        """() => [...document.querySelectorAll('input[type=file]')].filter((e) => {
               const box = e.getBoundingClientRect();
               return getComputedStyle(e).opacity !== '0' && box.width > 1 && box.height > 1;
           }).length"""
    )
    assert page.locator("input[type=file]").count() == 1 and painted == 0
    assert "选择文件" in page.inner_text("#report-form .file-picker")
    form.locator('[name="description"]').fill("人行道上堆着两袋垃圾")
    assert "10 / 4000 字" in page.inner_text("#report-form")
    assert_reads_chinese(operator, "上报问题")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#report-case")
    reported = core.daemon.service.store.case_by_number(
        page.inner_text("#report-case").split(" ")[0]
    )
    assert reported.grid_code == "32070390100103" and reported.district == "连云区"
    screenshot(page, "roles-operator-report")
    assert_reads_chinese(operator, "上报成功")

    page.click("#report-case")
    page.wait_for_selector("#case-actions")
    assert_reads_chinese(operator, "案件详情（上报的案件）")
    assert every_view(operator, "operator") == ["queue", "board", "map", "report", "cameras"]


def test_the_operator_reads_when_a_detected_condition_ended(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    parked = camera_case(core, "0505", "小汽车在路边停留 125 秒", "car", track=7)
    (case_id,) = stored(core, parked)
    ended = parked.model_copy(
        update={
            "id": f"{parked.id}-end",
            "facts": {**parked.facts, "update_of": parked.id, "update_seq": 1,
                      "ended_at": "2026-12-04T02:09:00Z", "duration_s": 240.0},
        }
    )  # fmt: skip
    core.publish_candidates([ended])
    deadline = time.monotonic() + 30
    while "ended_at" not in core.daemon.service.store.get_case(case_id).facts:
        assert time.monotonic() < deadline, "the core did not record the end"
        time.sleep(0.1)
    page = open_as("operator").page
    page.click(f'.queue-item[data-id="{case_id}"]')
    page.wait_for_selector("#queue-detail:has-text('现场情况')")
    detail = page.inner_text("#queue-detail")
    assert "现场情况\t已消失（最后一次看到：2026-12-04 10:09:00，持续 240 秒）" in detail


def test_a_re_detection_reads_as_a_seen_again_mark_not_a_second_snapshot(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    fallen = camera_case(core, "0497", "草坪上有人倒地", "fall", track=9, urgent=True)
    (case_id,) = stored(core, fallen)
    again = camera_case(core, "0497", "草坪上有人倒地", "fall", track=9, urgent=True)
    again = again.model_copy(update={"ts": fallen.ts + timedelta(minutes=2)})
    core.publish_candidates([again])
    deadline = time.monotonic() + 30
    while core.steps(case_id)[-1].action is not Action.REDETECTED:
        assert time.monotonic() < deadline, "the core did not mark the re-detection"
        time.sleep(0.1)
    assert core.daemon.service.store.count_cases() == 1  # the same case, no new number
    watched = open_as("operator")
    page = watched.page
    page.goto(f"{core.url}/console/#/case/{case_id}")
    row = page.locator(".case-side tr:has(th:text-is('再次发现')) td")
    row.wait_for()
    seen_at = (fallen.ts + timedelta(minutes=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert row.inner_text() == f"1 次，最近 {seen_at:%Y-%m-%d %H:%M:%S}（视频监控 cam-gate）"
    assert page.locator(".case-side figure.ev").count() == 1  # the first detection's alone
    assert "发现于" in page.inner_text("#step-log tr[data-action='redetected']")
    assert len(core.daemon.service.store.evidence_of(case_id)) == 1
    assert_reads_chinese(watched, "案件详情（再次发现）")


def test_a_report_with_a_made_up_grid_is_refused_by_the_core_in_chinese(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    """The browser check aside (an out-of-date grid list, a script): the core refuses too."""
    inspector = open_as("inspector")
    page = inspector.page
    page.click('#nav a[data-view="report"]')
    page.evaluate(
        """() => fetch('/api/v1/cases', {method: 'POST', headers: {
               'Content-Type': 'application/json',
               Authorization: 'Bearer ' + sessionStorage.getItem('citygw.token')},
             body: JSON.stringify({event_code: '0102', grid_code: '99999999999999'})})
           .then((r) => r.json()).then((doc) => { window.refused = doc.error; })"""
    )
    page.wait_for_function("window.refused !== undefined")
    assert page.evaluate("window.refused") == "unknown_grid"
    message = page.evaluate(
        """async () => {
             const { describeError, ApiError } = await import('./js/api.js');
             return describeError(new ApiError(422, 'unknown_grid', 'no unit grid'));
           }"""
    )
    assert message == "单元网格编码不存在，请核对后重新填写"
    said = page.evaluate(
        """async () => {
             const { describeError, ApiError } = await import('./js/api.js');
             const tooLong = [{ loc: ['body', 'opinion'], type: 'string_too_long',
                                msg: 'String should have at most 4000 characters',
                                ctx: { max_length: 4000 } }];
             return [describeError(new TypeError('Failed to fetch')),
                     describeError(new Error('结束日期须晚于开始日期')),
                     describeError(new ApiError(422, 'invalid_request', tooLong))];
           }"""
    )
    assert said == ["操作未成功，请稍后重试", "结束日期须晚于开始日期", "意见最多 4000 个字"]
    assert core.daemon.service.store.list_cases(CaseFilter())[1] == 0


# --------------------------------------------------------------------------- 派遣员


def test_the_dispatcher_dispatches_a_registered_case_all_in_chinese(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    [case_id] = stored(core, camera_case(core, "0505", "小汽车在路边停留 125 秒", "car"))
    core.daemon.service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    dispatcher = open_as("dispatcher")
    page = dispatcher.page
    page.wait_for_selector(f'.card[data-id="{case_id}"]')
    assert_reads_chinese(dispatcher, "案件看板")
    page.click(f'.card[data-id="{case_id}"]')
    page.wait_for_selector("#case-actions")
    assert page.get_attribute("#case-actions button.primary", "data-action") == "dispatch"
    assert "小汽车" in page.inner_text(".case-side")
    screenshot(page, "roles-dispatcher-case")
    assert_reads_chinese(dispatcher, "案件详情（立案）")
    page.click('#case-actions button[data-action="dispatch"]')
    assert_reads_chinese(dispatcher, "派遣对话框")
    dialog_submit(page, "请尽快处置", department="city-management")
    said = toast_text(page, "ok")
    assert "已派遣" in said and "→" not in said
    wait_state(page, "处置")
    assert core.case(case_id).department == "city-management"
    assert_reads_chinese(dispatcher, "案件详情（处置）")
    assert every_view(dispatcher, "dispatcher") == [
        "board",
        "map",
        "evaluation",
        "levels",
        "cameras",
    ]


# --------------------------------------------------------------------------- 专业部门


def test_the_department_reports_its_disposal_and_a_refused_extension_reads_chinese(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    ours, other = stored(
        core,
        camera_case(core, "0505", "小汽车在路边停留 125 秒", "car"),
        camera_case(core, "0505", "货车在路边停留 300 秒", "truck", track=2),
    )
    service = core.daemon.service
    for case_id in (ours, other):
        service.transition(case_id, Command(Action.REGISTER), OPERATOR)
        service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)
    department = open_as("department")
    page = department.page
    page.wait_for_selector(f'.card[data-id="{ours}"]')
    assert_reads_chinese(department, "本部门案件")
    page.click(f'.card[data-id="{ours}"]')
    page.wait_for_selector("#case-actions")
    # the expected step is highlighted, not the first the core lists (申请延时)
    assert page.get_attribute("#case-actions button.primary", "data-action") == "report"
    assert_reads_chinese(department, "案件详情（处置）")
    page.click('#case-actions button[data-action="report"]')
    assert page.locator("dialog[open] .counter").inner_text() == "0 / 4000 字"
    dialog_submit(page, "已联系车主移走车辆")
    said = toast_text(page, "ok")
    assert said.endswith("已处理反馈") and "→" not in said, said
    wait_state(page, "处理反馈")
    screenshot(page, "roles-department-reported")
    assert_reads_chinese(department, "案件详情（处理反馈）")

    page.goto(f"{core.url}/console/#/case/{other}")
    page.wait_for_selector('#case-actions button[data-action="request_extension"]')
    page.click('#case-actions button[data-action="request_extension"]')
    with department.refusal_expected(422):
        dialog_submit(page, "需协调拖车", extension_hours="2000")
        refused = toast_text(page, "error")
    assert "延长时间须不大于 1000" in refused and "extension" not in refused
    assert core.case(other).pending is None
    assert_reads_chinese(department, "申请延时被拒")
    assert every_view(department, "department") == ["department", "map"]


# --------------------------------------------------------------------------- 监督员


def test_the_inspector_verifies_a_reported_case_all_in_chinese(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    [case_id] = stored(core, camera_case(core, "0505", "小汽车在路边停留 125 秒", "car"))
    service = core.daemon.service
    service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)
    service.transition(case_id, Command(Action.REPORT, opinion="车已移走"), DEPARTMENT)
    inspector = open_as("inspector")
    page = inspector.page
    page.wait_for_selector(f'.card[data-id="{case_id}"]')
    assert_reads_chinese(inspector, "核查任务")
    page.click(f'.card[data-id="{case_id}"]')
    page.wait_for_selector("#case-actions")
    assert page.get_attribute("#case-actions button.primary", "data-action") == "verify_pass"
    page.click('#case-actions button[data-action="verify_pass"]')
    dialog_submit(page, "现场已无车辆")
    assert "核查通过" in toast_text(page, "ok")
    wait_state(page, "待结案")
    assert core.case(case_id).state is CaseState.VERIFIED
    assert page.locator("#case-actions button").count() == 0  # 结案 is the centre's step
    service.transition(case_id, Command(Action.CLOSE), OPERATOR)
    # the citizen's survey answer (the hotline's) shows in words, not as its code
    survey = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        case_number=core.case(case_id).number,
        satisfaction="basically_satisfied",
    )
    assert service.feedback(survey) is not None
    page.reload()
    page.wait_for_selector(".case-side td:text-is('基本满意')")
    screenshot(page, "roles-inspector-closed")
    assert_reads_chinese(inspector, "案件详情（结案）")
    assert every_view(inspector, "inspector") == ["inspector", "report", "board"]


# --------------------------------------------------------------------------- 值班长


def test_the_shift_lead_approves_an_extension_and_reads_the_weekly_evaluation(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    [case_id] = stored(core, camera_case(core, "0505", "小汽车在路边停留 125 秒", "car"))
    service = core.daemon.service
    service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)
    service.transition(
        case_id,
        Command(Action.REQUEST_EXTENSION, opinion="需协调拖车", extension_hours=8),
        DEPARTMENT,
    )
    lead = open_as("shift_lead")
    page = lead.page
    page.wait_for_selector("#queue-list")
    assert_reads_chinese(lead, "待审核（空）")
    page.goto(f"{core.url}/console/#/case/{case_id}")
    page.wait_for_selector('#case-actions button[data-action="approve"]')
    assert page.get_attribute("#case-actions button.primary", "data-action") == "approve"
    assert_reads_chinese(lead, "案件详情（待批延时）")
    page.click('#case-actions button[data-action="approve"]')
    dialog_submit(page, "同意延时 8 小时")
    assert "批准申请" in toast_text(page, "ok")
    page.wait_for_function("!document.querySelector('#case-actions [data-action=approve]')")
    assert core.case(case_id).pending is None

    page.click('#nav a[data-view="evaluation"]')
    page.wait_for_selector("#metrics-table")
    assert_reads_chinese(lead, "综合评价（按部门）")
    # the browser runs in UTC: the periods are the centre's days all the same
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert page.input_value("#eval-end") == str(today + timedelta(days=1))
    page.select_option("#eval-group", "period")
    page.wait_for_selector("#metrics-table tr[data-group*='～']")
    weeks = page.eval_on_selector_all(
        "#metrics-table tbody tr", "rows => rows.map(r => r.dataset.group)"
    )
    assert weeks[-1].endswith(f"～{today}"), weeks
    # the per-week table's CSV is headed as the table, in Chinese, one row a week
    with page.expect_download() as weekly:
        page.click("#eval-export")
    text = Path(weekly.value.path()).read_bytes().decode("utf-8-sig")
    assert text.startswith("时段,立案数,应结案数,结案数,"), text[:80]
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == weeks
    # and the inspectors' CSV (监督员考核) is the core's, headed as the section's table
    page.wait_for_function(
        "!document.querySelector('#inspector-figures').textContent.includes('统计中')"
    )
    with page.expect_download() as inspectors:
        page.click("#inspector-export")
    text = Path(inspectors.value.path()).read_bytes().decode("utf-8-sig")
    exported = [r["inspector"] for r in keyed_rows(text, INSPECTOR_HEADERS)]
    shown = page.eval_on_selector_all(
        "#inspector-table tbody tr", "rows => rows.map(r => r.dataset.inspector)"
    )
    assert text.startswith("监督员,上报数,") and exported == shown
    screenshot(page, "roles-lead-weekly")
    assert_reads_chinese(lead, "综合评价（按周）")
    page.select_option("#eval-group", "district")
    page.wait_for_selector("#metrics-table")
    assert_reads_chinese(lead, "综合评价（按区域）")
    assert every_view(lead, "shift_lead") == [
        "queue",
        "board",
        "map",
        "evaluation",
        "levels",
        "cameras",
    ]


# --------------------------------------------------------------------------- 系统管理员


def test_the_admin_reads_evaluation_board_cameras_and_the_api_docs_offline(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    stored(
        core,
        camera_case(core, "0409", "人行道有 3 个行人聚集", "person", zone=("walk", "人行道")),
    )
    send_poison(core)  # three messages the core refused: the 死信 page lists them
    video = bootstrap.mqtt_connection(core.config, "video")
    video.start()
    assert video.wait_connected(15)
    try:
        now = datetime.now(UTC)
        publish_status(video, core.config, "cam-lawn", CameraState.ERROR, now, "401 Unauthorized")
    finally:
        video.stop(publish_offline=False)
    admin = open_as("admin")
    page = admin.page
    page.wait_for_selector("#metrics-table, #eval-output p")
    assert_reads_chinese(admin, "综合评价")
    page.click('#nav a[data-view="board"]')
    page.wait_for_selector(".card")
    assert "0409 群发性事件" in page.inner_text("#board")
    assert_reads_chinese(admin, "案件看板")
    page.click('#nav a[data-view="cameras"]')
    page.wait_for_selector('#camera-wall .tile[data-camera="cam-lawn"]')
    assert "行人" in page.inner_text("#camera-wall")
    failing = page.locator('.tile[data-camera="cam-lawn"] .detail')
    assert failing.inner_text() == "摄像头连接失败，正在重试"
    screenshot(page, "roles-admin-cameras")
    assert_reads_chinese(admin, "视频墙")
    page.click('#nav a[data-view="deadletters"]')
    page.locator("#dead-letters-rows tr").first.wait_for()
    # topics, the ids read from refused payloads and each reason's stable code (under its
    # Chinese sentence) are shown as they are
    topics = frozenset(re.findall(r"citygw/v1/[\w/.-]+", page.inner_text("#main")))
    codes = frozenset(
        page.eval_on_selector_all("#dead-letters-rows tr", "rows => rows.map(r => r.dataset.code)")
    )
    assert codes == {"bad_encoding", "source_mismatch", "too_deep"}
    assert_reads_chinese(admin, "死信", topics | codes | {"fuzz-00000001"})

    # /docs with every request off this machine refused: it still renders the operations
    docs = page.context.new_page()
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(core.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    docs.route("**/*", only_local)
    docs.goto(f"{core.url}/")
    docs.wait_for_selector("#login-form")  # / is the console (a new tab signs in anew)
    assert docs.url == f"{core.url}/console/"
    docs.goto(f"{core.url}/docs")
    docs.wait_for_selector(".opblock", timeout=30_000)
    assert docs.locator(".opblock").count() > 20 and not outside
