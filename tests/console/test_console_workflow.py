"""The console in Chromium against a running core: every role, a camera candidate from review
to 结案, a false detection rejected, and the evaluation that results."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import openpyxl

from gateway.contract import CandidateCase, Evidence, EvidenceRole, Location, Source, SourceKind
from gateway.core.metrics import CSV_HEADERS
from gateway.core.workflow import Action, CaseState
from tests.console.conftest import RunningCore, screenshot
from tests.csv_rows import keyed_rows


def street_jpeg(box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> bytes:
    """A 640×480 street scene with one object at ``box``: a real JPEG the browser decodes."""
    image = np.full((480, 640, 3), 150, np.uint8)
    cv2.rectangle(image, (0, 300), (640, 480), (90, 90, 90), -1)
    x1, y1, x2, y2 = box
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, -1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return encoded.tobytes()


def camera_candidate(
    event_code: str,
    title: str,
    label: str,
    score: float,
    box: tuple[int, int, int, int],
    *,
    track_id: int,
    grid_code: str,
    zone_id: str,
) -> CandidateCase:
    snapshot = Evidence.from_bytes(
        street_jpeg(box, (40, 40, 200)),
        media_type="image/jpeg",
        role=EvidenceRole.SNAPSHOT,
        name="snapshot.jpg",
    )
    return CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id="cam-gate"),
        event_code=event_code,
        title=title,
        location=Location(grid_code=grid_code, camera_id="cam-gate", zone_id=zone_id),
        evidence=[snapshot],
        facts={
            "label": label,
            "score": score,
            "box": list(box),
            "frame_size": [640, 480],
            "track_id": track_id,
            "model": "yolov8n",
        },
    )


def open_case(page: Any, case_id: str) -> None:
    page.click(f'.card[data-id="{case_id}"]')
    page.wait_for_selector("#case-actions")


def do(page: Any, action: str, opinion: str = "", **fields: Any) -> None:
    """Click an action on the case page, fill its dialog, submit it."""
    page.click(f'#case-actions button[data-action="{action}"]')
    dialog = page.locator("dialog[open]")
    for name, value in fields.items():
        field = dialog.locator(f'[name="{name}"]')
        if name == "photo":
            field.set_input_files(str(value))
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(str(value))
    if opinion:
        dialog.locator('[name="opinion"]').fill(opinion)
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("dialog[open]", state="detached")


def wait_state(page: Any, label: str) -> None:
    page.wait_for_function(
        "label => document.querySelector('#case-state')?.textContent === label", arg=label
    )


def test_a_camera_candidate_goes_from_review_to_closure_through_every_role(
    core: RunningCore, login: Any, tmp_path: Path
) -> None:
    parked = camera_candidate(
        "0505",
        "机动车乱停放",
        "car",
        0.91,
        (200, 250, 420, 380),
        track_id=7,
        grid_code="32070390100101",
        zone_id="curb",
    )
    false_fall = camera_candidate(
        "0102",
        "疑似暴露垃圾",
        "bag",
        0.52,
        (60, 330, 130, 390),
        track_id=9,
        grid_code="32070390100102",
        zone_id="lawn",
    )
    core.publish_candidates([parked, false_fall])
    case_a = core.wait_for_case(parked.id)
    case_b = core.wait_for_case(false_fall.id)
    pages = []

    # 受理员: the review queue shows both, with the snapshot and its detection box
    operator = login("operator")
    pages.append(operator)
    operator.wait_for_selector(f'.queue-item[data-id="{case_b.id}"]')
    assert operator.locator(".queue-item").count() == 2
    operator.click(f'.queue-item[data-id="{case_b.id}"]')
    operator.wait_for_function(
        "n => document.querySelector('#detail-title')?.textContent.startsWith(n)",
        arg=case_b.number,
    )
    assert "0102 暴露垃圾" in operator.inner_text("#detail-title")
    operator.wait_for_function("document.querySelector('img.snapshot')?.naturalWidth === 640")
    assert operator.locator("svg.boxes rect.box").count() == 1
    # "bag" is no detector label gateway.object_labels knows: said as 目标, never in English
    assert "目标 0.52" in (operator.text_content("svg.boxes text") or "")
    assert "cam-gate" in operator.inner_text("#queue-detail")
    screenshot(operator, "01-operator-queue")

    # reject the false detection with the keyboard: R, reason, opinion
    operator.keyboard.press("r")
    dialog = operator.locator("dialog[open]")
    dialog.locator('[name="reason"]').select_option("false_detection")
    dialog.locator('[name="opinion"]').fill("塑料袋被误识别，非暴露垃圾")
    screenshot(operator, "02-operator-reject-dialog")
    dialog.locator("button[type=submit]").click()
    operator.wait_for_selector(f'.queue-item[data-id="{case_b.id}"]', state="detached")
    assert core.case(case_b.id).state is CaseState.REJECTED
    rejection = core.steps(case_b.id)[-1]
    assert rejection.action is Action.REJECT and rejection.facts["reason"] == "false_detection"
    assert rejection.actor == "oper"

    # confirm (立案) the parked car with A
    operator.click(f'.queue-item[data-id="{case_a.id}"]')
    operator.wait_for_function(
        "n => document.querySelector('#detail-title')?.textContent.startsWith(n)",
        arg=case_a.number,
    )
    operator.keyboard.press("a")
    operator.wait_for_selector(".queue-list .empty")
    assert core.case(case_a.id).state is CaseState.REGISTERED

    # 派遣员: the board shows it under 立案; dispatch by the responsibility table
    dispatcher = login("dispatcher")
    pages.append(dispatcher)
    dispatcher.wait_for_selector(f'.column[data-state="registered"] .card[data-id="{case_a.id}"]')
    open_case(dispatcher, case_a.id)
    assert "0505 机动车乱停放" in dispatcher.inner_text("#case-title")
    do(dispatcher, "dispatch", "请尽快处理")
    wait_state(dispatcher, "处置")
    assert core.case(case_a.id).department == "city-management"
    assert dispatcher.locator(".view-head .light.green").count() == 1
    screenshot(dispatcher, "03-dispatcher-case-dispatched")

    # 专业部门: its view lists the case; feed back (处理反馈) with a photo
    department = login("department")
    pages.append(department)
    department.wait_for_selector(f'.column[data-state="processing"] .card[data-id="{case_a.id}"]')
    screenshot(department, "04-department-view")
    open_case(department, case_a.id)
    photo = tmp_path / "done.jpg"
    photo.write_bytes(street_jpeg((0, 0, 1, 1), (150, 150, 150)))
    do(department, "report", "车辆已拖离", photo=photo)
    wait_state(department, "处理反馈")
    report = core.steps(case_a.id)[-1]
    assert report.action is Action.REPORT and len(report.attachments) == 1

    # 监督员: verification fails (返工), the department reports again, then it passes
    inspector = login("inspector")
    pages.append(inspector)
    # the case reported done is a 核查 task in the inspector's list (views/inspector_tasks.js)
    inspector.wait_for_selector(f'.column[data-kind="verify"] .card[data-id="{case_a.id}"]')
    screenshot(inspector, "05-inspector-tasks")
    open_case(inspector, case_a.id)
    do(inspector, "verify_fail", "现场仍有车辆停放")
    wait_state(inspector, "处置")
    assert core.case(case_a.id).rework_count == 1

    department.reload()
    department.wait_for_selector('#case-actions button[data-action="report"]')
    do(department, "report", "已再次清理，车辆驶离")
    wait_state(department, "处理反馈")

    inspector.reload()
    inspector.wait_for_selector('#case-actions button[data-action="verify_pass"]')
    do(inspector, "verify_pass", "核查属实")
    wait_state(inspector, "待结案")
    assert core.case(case_a.id).state is CaseState.VERIFIED
    step_log = inspector.inner_text("#step-log")
    for words in ("信息收集", "立案", "派遣", "处理反馈", "核查不通过（返工）", "核查通过"):
        assert words in step_log
    screenshot(inspector, "06-inspector-case-closed")

    # 值班长: 结案 (the centre closes the verified case, the expected action), then
    # 综合评价; the evaluation shows 返工率 and 结案率
    lead = login("shift_lead")
    pages.append(lead)
    lead.goto(f"{core.url}/console/#/case/{case_a.id}")
    lead.wait_for_selector('#case-actions button[data-action="close"]')
    assert lead.get_attribute("#case-actions button.primary", "data-action") == "close"
    do(lead, "close", "核查通过，予以结案")
    wait_state(lead, "结案")
    assert "结案" in lead.inner_text("#step-log")
    lead.wait_for_selector('#case-actions button[data-action="evaluate"]')
    do(lead, "evaluate", "处置及时")
    wait_state(lead, "综合评价")
    assert core.case(case_a.id).state is CaseState.EVALUATED
    # 综合评价 computed from the history: one rework (核查不通过) halves its part
    score = lead.locator("#case-score")
    score.wait_for()
    assert score.locator("tr[data-part='rework'] td").first.inner_text() == "50 分"
    assert score.locator("tr[data-part='rework'] td").last.inner_text() == "1 次"
    assert "得分" in score.inner_text() and "等级" in score.inner_text()
    step = core.steps(case_a.id)[-1]
    assert step.action is Action.EVALUATE and step.facts["case_score"]["rework"] == 1

    lead.click('#nav a[data-view="evaluation"]')
    row = lead.locator('#metrics-table tr[data-group="city-management"]')
    row.wait_for()
    assert row.locator("th").inner_text() == "城管执法"
    assert row.locator('td[data-metric="rework_rate"]').inner_text() == "50.0%"
    assert row.locator('td[data-metric="closure_rate"]').inner_text() == "100.0%"
    assert row.locator('td[data-metric="registered"]').inner_text() == "1"
    assert lead.locator("svg.chart rect[data-key='rework_rate']").count() == 1
    screenshot(lead, "07-shift-lead-evaluation")
    with lead.expect_download() as download_info:
        lead.click("#eval-export")
    exported = Path(download_info.value.path()).read_text("utf-8-sig")
    assert exported.startswith("分组,立案数,")  # headed in Chinese, as the page is
    rows = {r["group"]: r for r in keyed_rows(exported, CSV_HEADERS)}
    department = rows["city-management 城管执法"]  # the department's id and name
    assert float(department["rework_rate"]) == 0.5
    assert float(department["closure_rate"]) == 1.0
    assert department["registered"] == "1"
    # this month's report as Excel: the same 立案数 as the table above
    lead.fill("#report-period", datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m"))
    with lead.expect_download() as report_info:
        lead.click("#report-xlsx")
    assert report_info.value.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(Path(report_info.value.path()).read_bytes()))
    assert book.sheetnames[:3] == ["汇总", "各区排名", "各部门排名"]
    assert book["汇总"]["A6"].value == "立案数" and book["汇总"]["B6"].value >= 1

    # 管理员 lands on the evaluation too; nobody's page raised a script error
    admin = login("admin")
    pages.append(admin)
    admin.wait_for_selector('#metrics-table tr[data-group="city-management"]')
    for page in pages:
        assert page.console_errors == [], page.console_errors
