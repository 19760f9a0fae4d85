"""The report's 语音备注 in Chromium's mobile emulation with a fake microphone (Chromium's
``--use-fake-device-for-media-stream``: a beeping audio device; the 'microphone'
permission decides, as a phone's prompt would), against a real core with the demo's grids
(the fixtures of test_mobile.py): a note recorded for about 2 s is shown with its length,
goes with the report in its one request, is kept on the case and plays on the desktop
console's case page; a note recorded offline waits in the phone with the report and
becomes exactly one case with one note when the network is back; a refused microphone is
said in Chinese and the report still goes without a note; a recording stops by itself at
the cap (the page's clock moved on by Playwright). A 核查 answered with a note recorded on
the answer form keeps the note on the case, named by the answer step, and the console's
case page plays it captioned as sent with the 核查 answer; answered offline, the note waits
with the answer and goes once. A 核实 (a hotline report confirmed on site) answered with a
note keeps it likewise, and the case page captions it as sent with the 核实 answer."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.contract import Location, SourceKind
from gateway.core.intake import case_id_for
from gateway.core.voice_notes import MAX_VOICE_SECONDS as MAX_SECONDS
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from gateway.gis.features import GridFeature
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS, RunningCore, sign_in
from tests.console.test_mobile import (  # noqa: F401 (fixtures used by name)
    DOCS_SCREENSHOTS,
    INSPECTOR,
    demo_grids,
    fill_report,
    inspector_cases,
    phone,
    phone_core,
    photo_file,
    reported_case,
    wait_until,
)
from tests.core.helpers import candidate

#: a fake microphone; without the 'microphone' permission getUserMedia is refused
FAKE_MICROPHONE = "--use-fake-device-for-media-stream"
_FFPROBE = ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name"]


@pytest.fixture(scope="module")
def browser(browser: Any) -> Iterator[Any]:
    """The package's Chromium again, with a fake microphone (test_mobile's phone uses it)."""
    instance = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, FAKE_MICROPHONE],
        timeout=60_000,
    )
    yield instance
    instance.close()


def record(page: Any, seconds: float) -> float:
    """Records a note of about ``seconds`` on the report form; its length as shown."""
    page.tap("#voice-record")
    page.wait_for_selector("#voice-status:has-text('正在录音')")
    page.wait_for_timeout(seconds * 1000)
    page.tap("#voice-stop")
    shown = page.wait_for_selector("#voice-length")
    assert page.query_selector("#voice-status") is None
    assert page.query_selector("#voice-playback") is not None
    return float(shown.get_attribute("data-seconds"))


def notes_of(core: RunningCore, case_id: str) -> list[Any]:
    return [e for e in core.daemon.service.store.evidence_of(case_id) if e.role == "voice_note"]


def duration_of(data: bytes, folder: Path) -> tuple[str, float]:
    """(codec, seconds) of a stored note, as ffprobe reads them."""
    path = folder / "note.bin"
    path.write_bytes(data)
    out = subprocess.run(
        [*_FFPROBE, "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    )
    probed = json.loads(out.stdout)
    return probed["streams"][0]["codec_name"], float(probed["format"]["duration"])


def test_a_voice_note_recorded_on_the_phone_is_kept_on_the_case_and_plays_on_the_case_page(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    page = phone()
    page.context.grant_permissions(["geolocation", "microphone"])
    fill_report(page, "带语音备注的上报")
    assert "语音备注" in page.inner_text("#voice-note")
    shown = record(page, 2.2)
    assert 1.8 <= shown <= 3.5, shown
    assert page.inner_text("#voice-length") == f"已录语音 0:0{round(shown)}"
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#voice-note").screenshot(path=str(DOCS_SCREENSHOTS / "mobile-voice.png"))
    page.tap("#submit-report")
    page.wait_for_selector("#toast.ok")
    [case] = inspector_cases(phone_core)
    assert case.description == "带语音备注的上报"
    roles = sorted(e.role for e in phone_core.daemon.service.store.evidence_of(case.id))
    assert roles == ["photo", "voice_note"]
    [note] = notes_of(phone_core, case.id)
    assert note.media_type == "audio/webm"
    codec, seconds = duration_of(phone_core.daemon.service.evidence.read(note.sha256), tmp_path)
    assert codec == "opus" and 1.5 <= seconds <= 3.5, seconds
    assert abs(case.facts["voice_note_s"] - seconds) < 0.05
    # the form is empty again, with no note
    page.wait_for_selector("#voice-record")
    assert page.problems == []  # type: ignore[attr-defined]
    # the desktop console's case page: a player labelled 语音备注 with the note's length
    desk = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(desk, phone_core.url, "operator")
    desk.goto(f"{phone_core.url}/console/#/case/{case.id}")
    figure = desk.locator("figure.ev-voice_note")
    figure.wait_for()
    assert figure.locator("figcaption").inner_text().startswith("语音备注")
    player = figure.locator("audio.voice-note[controls]")

    def loaded() -> Any:
        return player.evaluate("a => a.readyState >= 1 && a.src.startsWith('blob:')")

    wait_until(loaded)
    duration = player.evaluate("a => a.duration")
    assert 1.5 <= duration <= 3.5, duration  # a finite length: the core's WebM carries it
    player.evaluate("a => { a.muted = true; return a.play(); }")
    wait_until(lambda: player.evaluate("a => a.currentTime") > 0.3)
    desk.close()


def test_a_voice_note_made_offline_waits_with_the_report_and_makes_one_case_when_back_online(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
) -> None:
    page = phone()
    page.context.grant_permissions(["geolocation", "microphone"])
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    # the class picker's classes fetched and kept on the phone before the signal goes (the
    # CI rehearsal of 26aa7f1, under load, went offline first and found no class to tap)
    page.wait_for_selector(".class-option[data-class='05']")
    page.context.set_offline(True)
    page.reload()  # the shell, voice.js too, from the service worker's cache
    page.wait_for_selector("#event-search")
    assert page.inner_text("#net") == "离线"
    fill_report(page, "离线时带语音上报", by_class=True)
    record(page, 1.5)
    page.tap("#submit-report")
    page.wait_for_selector("#toast:has-text('联网后自动发送')")
    assert page.inner_text("#queue-count") == "1"
    page.tap("#tabs button[data-view=queue]")
    page.wait_for_selector(".queued:has-text('含语音')")
    assert inspector_cases(phone_core) == []
    page.context.set_offline(False)
    page.wait_for_selector("#queue-empty")
    [case] = wait_until(lambda: inspector_cases(phone_core))
    assert case.description == "离线时带语音上报"
    time.sleep(1)  # a second send of the same report would land now
    assert len(inspector_cases(phone_core)) == 1
    assert len(notes_of(phone_core, case.id)) == 1
    problems = page.problems  # type: ignore[attr-defined]
    assert [p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p] == []  # offline loads


def test_a_refused_microphone_is_said_in_chinese_and_the_report_goes_without_a_note(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
) -> None:
    page = phone()  # geolocation only: the microphone is refused
    fill_report(page, "不录音的上报")
    page.tap("#voice-record")
    error = page.wait_for_selector("#voice-error")
    assert "未允许使用麦克风" in error.inner_text()
    assert page.query_selector("#voice-status") is None
    page.tap("#submit-report")
    page.wait_for_selector("#toast.ok")
    [case] = inspector_cases(phone_core)
    assert notes_of(phone_core, case.id) == [] and "voice_note_s" not in case.facts


def test_a_recording_stops_by_itself_at_the_cap(
    phone: Callable[..., Any],  # noqa: F811
) -> None:
    page = phone()
    page.context.grant_permissions(["geolocation", "microphone"])
    page.clock.install()  # the app's timers and clock, moved on by hand below
    page.reload()
    page.wait_for_selector("#voice-record")
    assert page.inner_text("#voice-record") == f"按下开始录音（最长 {MAX_SECONDS} 秒）"
    page.tap("#voice-record")
    page.wait_for_selector("#voice-status:has-text('正在录音 0:00 / 1:00')")
    page.clock.run_for(MAX_SECONDS * 1000 - 2000)
    assert page.query_selector("#voice-status") is not None  # still recording at 0:58
    page.clock.run_for(2500)
    page.wait_for_selector(f"#toast:has-text('已录满 {MAX_SECONDS} 秒')")
    assert page.wait_for_selector("#voice-length").inner_text() == "已录语音 1:00"
    assert page.query_selector("#voice-playback") is not None
    assert page.problems == []  # type: ignore[attr-defined]


def open_task(page: Any, case_id: str) -> None:
    page.tap("#tabs button[data-view=tasks]")
    page.locator(f".task[data-case='{case_id}'] .task-open").tap()
    page.wait_for_selector("#answer #voice-record")


def test_a_check_answered_with_a_voice_note_plays_on_the_case_page_as_the_answers_note(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    case_id = reported_case(phone_core, demo_grids[42])
    page = phone()
    page.context.grant_permissions(["geolocation", "microphone"])
    open_task(page, case_id)
    page.tap("#answer-pass")
    page.set_input_files("#answer-photo", files=[photo_file("clean.jpg")])
    page.wait_for_selector(".thumb img")
    assert "语音备注" in page.inner_text("#answer #voice-note")
    shown = record(page, 2.0)
    assert 1.6 <= shown <= 3.5, shown
    page.tap("#answer-submit")
    page.wait_for_selector("#toast:has-text('核查结果已提交')")
    assert phone_core.case(case_id).state is CaseState.VERIFIED
    [step] = [s for s in phone_core.steps(case_id) if s.action is Action.VERIFY_PASS]
    assert step.actor == INSPECTOR and len(step.attachments) == 2  # the photo and the note
    [note] = notes_of(phone_core, case_id)
    assert note.sha256 in step.attachments and note.media_type == "audio/webm"
    codec, seconds = duration_of(phone_core.daemon.service.evidence.read(note.sha256), tmp_path)
    assert codec == "opus" and 1.3 <= seconds <= 3.5, seconds
    assert abs(step.facts["voice_note_s"] - seconds) < 0.05
    assert "voice_note_s" not in phone_core.case(case_id).facts  # the report had no note
    assert page.problems == []  # type: ignore[attr-defined]
    # the desktop console: a player captioned as the 核查 answer's note, which plays
    assert_answer_note_plays(browser, phone_core, case_id, "核查", seconds)


def assert_answer_note_plays(
    browser: Any, core: RunningCore, case_id: str, kind: str, seconds: float
) -> None:
    """The operator's case page shows the answer's note captioned
    ``语音备注 · 随{kind}结果提交（<inspector>）（N 秒）`` in a player that plays."""
    desk = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(desk, core.url, "operator")
    desk.goto(f"{core.url}/console/#/case/{case_id}")
    figure = desk.locator("figure.ev-voice_note.ev-answer")
    figure.wait_for()
    caption = figure.locator("figcaption").inner_text()
    expected = f"语音备注 · 随{kind}结果提交（{INSPECTOR}）（{round(seconds)} 秒）"
    assert caption == expected, caption
    player = figure.locator("audio.voice-note[controls]")
    wait_until(lambda: player.evaluate("a => a.readyState >= 1 && a.src.startsWith('blob:')"))
    duration = player.evaluate("a => a.duration")
    assert 1.3 <= duration <= 3.5, duration
    player.evaluate("a => { a.muted = true; return a.play(); }")
    wait_until(lambda: player.evaluate("a => a.currentTime") > 0.3)
    desk.close()


def test_a_confirmation_answered_with_a_voice_note_plays_on_the_case_page_as_its_note(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    report = candidate(
        79,
        kind=SourceKind.CALL,
        source_id="ivr-1",
        event_code="0507",
        location=Location(grid_code=demo_grids[42].code, address="海州区 测试路 3 号"),
    )
    service = phone_core.daemon.service
    service.store_candidates([report])
    case_id = case_id_for(report.id)
    service.transition(case_id, Command(Action.REQUEST_CONFIRMATION), Actor("oper", Role.OPERATOR))
    assert phone_core.case(case_id).facts["task"]["assignee"] == INSPECTOR  # by the grid
    page = phone()
    page.context.grant_permissions(["geolocation", "microphone"])
    open_task(page, case_id)
    assert page.inner_text("#answer-pass") == "属实"
    page.tap("#answer-pass")
    page.set_input_files("#answer-photo", files=[photo_file("there.jpg")])
    page.wait_for_selector(".thumb img")
    assert "语音备注" in page.inner_text("#answer #voice-note")
    shown = record(page, 2.0)
    assert 1.6 <= shown <= 3.5, shown
    page.tap("#answer-submit")
    page.wait_for_selector("#toast:has-text('核实结果已提交')")
    case = phone_core.case(case_id)
    assert case.state is CaseState.CANDIDATE and case.facts["proposal"] == "register"
    [step] = [s for s in phone_core.steps(case_id) if s.action is Action.CONFIRM_PASS]
    assert step.actor == INSPECTOR and len(step.attachments) == 2  # the photo and the note
    [note] = notes_of(phone_core, case_id)
    assert note.sha256 in step.attachments and note.media_type == "audio/webm"
    codec, seconds = duration_of(phone_core.daemon.service.evidence.read(note.sha256), tmp_path)
    assert codec == "opus" and 1.3 <= seconds <= 3.5, seconds
    assert abs(step.facts["voice_note_s"] - seconds) < 0.05
    assert page.problems == []  # type: ignore[attr-defined]
    # the desktop console: a player captioned as the 核实 answer's note, which plays
    assert_answer_note_plays(browser, phone_core, case_id, "核实", step.facts["voice_note_s"])


def test_a_check_answered_offline_with_a_voice_note_sends_the_note_once_when_back_online(
    phone: Callable[..., Any],  # noqa: F811
    phone_core: RunningCore,  # noqa: F811
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    case_id = reported_case(phone_core, demo_grids[42])
    page = phone()
    page.context.grant_permissions(["geolocation", "microphone"])
    page.tap("#tabs button[data-view=tasks]")
    page.locator(f".task[data-case='{case_id}']").wait_for()
    page.context.set_offline(True)
    open_task(page, case_id)
    page.tap("#answer-fail")
    page.fill("#answer-opinion", "垃圾仍未清理")
    page.set_input_files("#answer-photo", files=[photo_file("still.jpg")])
    page.wait_for_selector(".thumb img")
    record(page, 1.5)
    page.tap("#answer-submit")
    page.wait_for_selector("#toast:has-text('联网后自动发送')")
    page.tap("#tabs button[data-view=queue]")
    page.wait_for_selector(".queued:has-text('核查'):has-text('含语音')")
    assert phone_core.case(case_id).state is CaseState.REPORTED
    page.context.set_offline(False)
    page.wait_for_selector("#queue-empty")
    case = wait_until(lambda: (c := phone_core.case(case_id)).state is CaseState.PROCESSING and c)
    assert case.rework_count == 1
    time.sleep(1)  # a second send of the same answer would land now
    fails = [s for s in phone_core.steps(case_id) if s.action is Action.VERIFY_FAIL]
    assert len(fails) == 1 and fails[0].opinion == "垃圾仍未清理"
    [note] = notes_of(phone_core, case_id)
    assert note.sha256 in fails[0].attachments
    problems = page.problems  # type: ignore[attr-defined]
    assert [p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p] == []
