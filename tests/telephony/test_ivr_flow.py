"""The IVR call script end to end over FastAGI: fake Asterisk -> server -> IVR -> publisher.

The server, the pyst2 session, the IVR and the service are the real ones; the caller is
the protocol-faithful fake Asterisk; the publisher is in memory (see the end-to-end test
for the real outbox and Mosquitto).
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from io import BytesIO

import pytest

from adapters.asterisk.fake_asterisk import (
    CallResult,
    HangUp,
    Press,
    Silence,
    Speak,
    Type,
    place_call,
)
from gateway.contract import CaseEvent, Source, SourceKind
from tests.telephony.conftest import Gateway

REPORT = [
    Press("1"),  # main menu: report
    Press("1"),  # category: 市容环境
    Press("2"),  # district: 连云区
    Speak(1.0),  # location
    Speak(1.5),  # description
    Press("1"),  # confirm
    Press("1"),  # call me back on this phone
]


def call(gateway: Gateway, actions: list, **options: object) -> CallResult:
    result = place_call(actions, gateway.options(**options), timeout_s=20)
    gateway.wait_idle()
    return result


def played(result: CallResult, prompt: str) -> bool:
    return any(name.endswith(f"/citygw/{prompt}") for name in result.played)


def test_a_full_report_ends_in_one_candidate_with_both_recordings_and_a_case_number(
    gateway: Gateway,
) -> None:
    result = call(gateway, REPORT, uniqueid="1795878164.1")
    assert result.closed_by_gateway and result.unused_actions == []
    [candidate] = gateway.publisher.candidates
    assert candidate.partial is False and candidate.urgent is False
    assert candidate.event_code == "0199"
    assert candidate.location.district == "连云区"
    assert candidate.location.grid_code == "32070390100101"
    assert candidate.reporter is not None
    assert candidate.reporter.callback_number == "13800138000"
    assert candidate.reporter.name == "Test Caller"
    number = candidate.case_number
    assert number is not None and number.isdigit() and number.startswith("01260105")
    assert result.said_digits == [number]
    assert result.variables["CITYGW_CASE_NUMBER"] == number
    assert result.variables["CITYGW_RESULT"] == "done"
    assert [e.name for e in candidate.evidence] == ["location.wav", "description.wav"]
    for evidence, seconds in zip(candidate.evidence, (1.0, 1.5), strict=True):
        assert evidence.role == "recording" and evidence.media_type == "audio/wav"
        with wave.open(BytesIO(evidence.raw_bytes())) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
            assert wav.getnframes() == int(seconds * 8000)
    facts = candidate.facts
    assert facts["uniqueid"] == "1795878164.1"
    assert facts["caller"] == "13800138000"
    assert facts["asterisk_channel"] == "Local/s@ivr-00000000;2"
    assert facts["outcome"] == "completed" and facts["stage"] == "goodbye"
    assert facts["category"]["cjt214_class"] == "01"
    assert facts["started_at"] and facts["ended_at"]
    # the recordings are in the message, so the files are gone from the spool
    assert list(gateway.settings.recordings_dir.iterdir()) == []
    assert gateway.server.calls_failed == 0


def test_the_same_call_published_twice_has_the_same_id(gateway: Gateway) -> None:
    call(gateway, REPORT, uniqueid="1795878164.1")
    call(gateway, REPORT, uniqueid="1795878164.1")  # the same Asterisk call, published again
    call(gateway, REPORT)  # another call
    first, again, other = gateway.publisher.candidates
    assert first.id == again.id != other.id


# the commands of the full report, in order, and the stage a hangup there leaves at
HANGUP_STAGES = [
    (1, "welcome"),  # ANSWER (the hangup is noticed at the next prompt)
    (2, "welcome"),
    (3, "main_menu"),
    (4, "category"),
    (5, "district"),
    (6, "location"),  # the prompt
    (7, "location"),  # RECORD FILE
    (8, "description"),
    (9, "description"),
    (10, "description"),  # confirm menu
    (11, "callback"),
    (13, "case_number"),
    (14, "case_number"),  # SAY DIGITS
    (16, "case_number"),  # WAIT FOR DIGIT after the number
]


@pytest.mark.parametrize(("command", "stage"), HANGUP_STAGES)
def test_hanging_up_at_any_step_yields_one_partial_candidate_and_no_error(
    gateway: Gateway, command: int, stage: str
) -> None:
    result = call(gateway, REPORT, hangup_at_command=command)
    assert result.hung_up and result.closed_by_gateway
    [candidate] = gateway.publisher.candidates
    assert candidate.facts["stage"] == stage
    assert candidate.facts["outcome"] == "hangup"
    chosen = stage not in ("welcome", "main_menu")
    assert candidate.facts["call_purpose"] == ("report" if chosen else "none")
    complete = stage == "case_number"
    assert candidate.partial is not complete
    assert (candidate.case_number is not None) is complete
    # the gateway stops at the first sign of the hangup: at most one 511
    refused = [e for e in result.exchanges if any(r.startswith(b"511") for r in e.replies)]
    assert len(refused) <= 1
    assert gateway.server.calls_failed == 0


def test_hanging_up_while_recording_keeps_what_was_said(gateway: Gateway) -> None:
    call(gateway, [Press("1"), Press("1"), Press("1"), Speak(2.0, end="hangup")])
    [candidate] = gateway.publisher.candidates
    assert candidate.partial and candidate.facts["stage"] == "location"
    [evidence] = candidate.evidence
    assert evidence.name == "location.wav" and evidence.size == 44 + 2 * 16000
    assert candidate.facts["recordings"]["location"]["ended_by"] == "hangup"


def test_a_hangup_without_the_in_band_notice_still_ends_the_call(gateway: Gateway) -> None:
    result = call(gateway, [Press("1"), HangUp()], hangup_notice=False)
    [candidate] = gateway.publisher.candidates
    assert candidate.partial and candidate.facts["stage"] == "category"
    assert result.closed_by_gateway


def test_asterisk_closing_at_once_on_hangup_still_yields_the_partial_candidate(
    gateway: Gateway,
) -> None:
    call(gateway, [Press("1"), Press("1"), HangUp()], exit_on_hangup=True)
    [candidate] = gateway.publisher.candidates
    assert candidate.partial and candidate.facts["stage"] == "district"


def test_a_hangup_while_the_gateway_is_idle_is_noticed(gateway: Gateway) -> None:
    call(gateway, REPORT, hangup_after_command=3)  # right after the main-menu key
    [candidate] = gateway.publisher.candidates
    assert candidate.partial and candidate.facts["stage"] == "category"


def test_three_wrong_keys_send_the_caller_to_an_agent(gateway: Gateway) -> None:
    result = call(gateway, [Press("7"), Silence(), Press("#")])
    assert result.variables["CITYGW_RESULT"] == "agent"
    assert ("Goto", "citygw-agents,s,1") in result.apps
    assert played(result, "invalid") and played(result, "no-input")
    [candidate] = gateway.publisher.candidates
    assert candidate.facts["call_purpose"] == "transfer"
    assert candidate.facts["outcome"] == "transferred" and not candidate.partial
    assert candidate.facts["stage"] == "main_menu"
    assert "3 tries" in candidate.facts["transfer_reason"]


def test_zero_reaches_an_agent_from_any_menu(gateway: Gateway) -> None:
    result = call(gateway, [Press("1"), Press("1"), Press("0")])
    assert result.variables["CITYGW_RESULT"] == "agent"
    assert "district" in result.variables["CITYGW_AGENT_REASON"]


def test_the_agent_target_can_be_left_to_the_dialplan_through_a_variable(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(transfer_mode="variable")
    result = call(gateway, [Press("0")])
    assert result.variables["CITYGW_RESULT"] == "agent"
    assert not any(app == "Goto" for app, _ in result.apps)


def test_nine_repeats_a_menu_without_using_up_a_try(gateway: Gateway) -> None:
    result = call(gateway, [Press("9"), Press("9"), Press("9"), *REPORT])
    main_menus = [c for c in result.commands if c.startswith("GET DATA") and "main-menu" in c]
    assert len(main_menus) == 4
    assert gateway.publisher.candidates[0].partial is False


def test_a_consultation_goes_to_an_agent_and_leaves_a_call_record(gateway: Gateway) -> None:
    result = call(gateway, [Press("2")], uniqueid="1795878164.7")
    assert result.variables["CITYGW_RESULT"] == "agent"
    [record] = gateway.publisher.candidates
    assert record.facts["call_purpose"] == "consultation"
    assert record.facts["uniqueid"] == "1795878164.7"
    assert record.facts["caller"] == "13800138000"
    assert record.facts["outcome"] == "transferred" and not record.partial
    assert record.event_code == "0199"  # the 其他 code: no category was named
    assert record.title == "12319 咨询来电"
    assert record.case_number is None and record.evidence == []


def test_pressing_zero_in_the_main_menu_is_a_transfer_call(gateway: Gateway) -> None:
    call(gateway, [Press("0")])
    [record] = gateway.publisher.candidates
    assert record.facts["call_purpose"] == "transfer" and record.title == "12319 来电：转人工"


def test_hanging_up_at_the_main_menu_leaves_a_partial_call_of_no_purpose(
    gateway: Gateway,
) -> None:
    call(gateway, REPORT, hangup_at_command=3, uniqueid="1795878164.9")
    [record] = gateway.publisher.candidates
    assert record.partial and record.facts["call_purpose"] == "none"
    assert record.facts["stage"] == "main_menu" and record.facts["outcome"] == "hangup"
    assert record.facts["uniqueid"] == "1795878164.9"
    assert record.facts["started_at"] and record.facts["ended_at"]
    assert record.title == "12319 来电：未选择服务（来电未完成）"


def test_an_emergency_is_urgent_and_offers_an_agent(gateway: Gateway) -> None:
    result = call(gateway, [Press("1"), Press("7"), Press("1")])
    assert result.variables["CITYGW_RESULT"] == "agent"
    [candidate] = gateway.publisher.candidates
    assert candidate.urgent and candidate.event_code == "0499" and candidate.partial


def test_an_emergency_caller_may_leave_a_message_instead(gateway: Gateway) -> None:
    call(gateway, [Press("1"), Press("7"), Press("2"), *REPORT[2:]])
    [candidate] = gateway.publisher.candidates
    assert candidate.urgent and not candidate.partial


def test_a_damaged_facility_keeps_the_other_code_and_names_the_component_class(
    gateway: Gateway,
) -> None:
    call(gateway, [Press("1"), Press("5"), *REPORT[2:]])  # 5: 设施损坏
    [candidate] = gateway.publisher.candidates
    assert candidate.event_code == "0199" and candidate.facts["call_purpose"] == "report"
    assert candidate.facts["category"] == {
        "key": "5",
        "name": "设施损坏",
        "cjt214_table": "components",
        "cjt214_class": "01",
    }


def test_a_description_can_be_recorded_again_and_the_last_one_is_kept(gateway: Gateway) -> None:
    actions = [*REPORT[:5], Press("2"), Speak(0.5), Press("1"), Press("1")]
    call(gateway, actions)
    [candidate] = gateway.publisher.candidates
    description = next(e for e in candidate.evidence if e.name == "description.wav")
    assert description.size == 44 + 2 * 4000
    assert list(gateway.settings.recordings_dir.iterdir()) == []  # the first take too


def test_a_typed_callback_number_is_used(gateway: Gateway) -> None:
    call(gateway, [*REPORT[:6], Press("2"), Type("01066668888#")])
    assert gateway.publisher.candidates[0].reporter.callback_number == "01066668888"


def test_a_caller_without_caller_id_is_asked_to_type_a_number(gateway: Gateway) -> None:
    call(gateway, [*REPORT[:6], Type("13911112222#")], caller_number="")
    assert gateway.publisher.candidates[0].reporter.callback_number == "13911112222"


def test_star_repeats_the_case_number(gateway: Gateway) -> None:
    result = call(gateway, [*REPORT, Press("*"), Silence()])
    number = gateway.publisher.candidates[0].case_number
    assert result.said_digits == [number, number]


def test_case_numbers_differ_call_by_call(gateway: Gateway) -> None:
    for uniqueid in ("1.1", "1.2", "1.3"):
        call(gateway, REPORT, uniqueid=uniqueid)
    numbers = [c.case_number for c in gateway.publisher.candidates]
    assert len(set(numbers)) == 3 and numbers == sorted(numbers)


def test_a_suggestion_is_recorded_and_published(gateway: Gateway) -> None:
    result = call(gateway, [Press("4"), Speak(1.0)])
    assert played(result, "suggestion-thanks")
    [candidate] = gateway.publisher.candidates
    assert candidate.facts["kind"] == "suggestion" and not candidate.partial
    assert [e.name for e in candidate.evidence] == ["suggestion.wav"]


def test_a_missing_prompt_is_skipped_not_fatal(gateway: Gateway) -> None:
    (gateway.settings.prompt_dir / "welcome.wav").unlink()
    call(gateway, REPORT)
    [candidate] = gateway.publisher.candidates
    assert candidate.partial is False
    assert candidate.facts["failed_prompts"] == ["welcome"]


def test_a_recording_asterisk_cannot_write_sends_the_caller_to_an_agent(
    gateway: Gateway,
) -> None:
    elsewhere = gateway.tmp / "not-the-recordings-dir"
    result = call(gateway, REPORT, record_root=elsewhere)
    assert b"200 result=-1 (writefile)\n" in result.exchanges[6].replies
    assert result.variables["CITYGW_RESULT"] == "agent"
    [candidate] = gateway.publisher.candidates
    assert candidate.partial and candidate.facts["stage"] == "location"
    assert "location could not be recorded" in candidate.facts["transfer_reason"]
    assert "writefile" in candidate.facts["error"]


def test_a_refusing_outbox_keeps_the_candidate_and_its_recordings_on_disk(
    gateway: Gateway,
) -> None:
    gateway.publisher.fail = True
    call(gateway, REPORT)
    [kept] = list((gateway.tmp / "state" / "unsent").glob("*.json"))
    assert b'"case_number"' in kept.read_bytes()
    assert len(list(gateway.settings.recordings_dir.iterdir())) == 2
    assert gateway.service.unsent.resend() == 0  # still refused: still kept
    gateway.publisher.fail = False  # the outbox has room again
    assert gateway.service.unsent.resend() == 1
    [sent] = gateway.publisher.candidates
    assert b'"case_number"' in sent.to_json()
    assert not list((gateway.tmp / "state" / "unsent").glob("*"))


# --------------------------------------------------------------------------- status


def case_event(number: str, state: str) -> CaseEvent:
    return CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core"),
        case_id="case-1",
        case_number=number,
        action="close",
        to_state=state,
    )


def test_a_status_query_reads_the_state_from_the_cache(gateway: Gateway) -> None:
    gateway.cache.update(case_event("0126010500007", "processing"))
    result = call(gateway, [Press("3"), Type("0126010500007#")])
    assert played(result, "status-is") and played(result, "status-processing")
    assert not played(result, "survey")
    assert gateway.publisher.feedback_messages == []
    [record] = gateway.publisher.candidates
    assert record.facts["call_purpose"] == "status_query" and not record.partial
    assert record.title == "12319 查询来电 0126010500007"
    assert record.facts["status_case_number"] == "0126010500007"
    assert record.facts["state_heard"] == "processing"
    assert record.facts["satisfaction"] is None
    assert record.case_number is None  # the number asked about is not this call's own


def test_a_status_query_cut_short_is_a_partial_call_record(gateway: Gateway) -> None:
    call(gateway, [Press("3"), HangUp()])
    [record] = gateway.publisher.candidates
    assert record.facts["call_purpose"] == "status_query" and record.partial
    assert record.facts["stage"] == "status_number"
    assert record.facts["status_case_number"] is None


def test_a_closed_case_gets_the_survey_and_dissatisfied_asks_for_a_reopen(
    gateway: Gateway,
) -> None:
    gateway.cache.update(case_event("C00000042", "closed"))
    call(gateway, [Press("3"), Type("C00000042#")])  # letters cannot be typed
    assert gateway.publisher.feedback_messages == []
    gateway.cache.update(case_event("2026000123", "closed"))
    result = call(gateway, [Press("3"), Type("2026000123#"), Press("3")])
    assert played(result, "status-closed") and played(result, "survey-reopen")
    [feedback] = gateway.publisher.feedback_messages
    assert feedback.case_number == "2026000123"
    assert feedback.satisfaction == "dissatisfied" and feedback.reopen_requested
    first, surveyed = gateway.publisher.candidates  # each call leaves one record
    assert first.facts["state_heard"] is None  # nothing can be heard for a mistyped number
    assert surveyed.facts["satisfaction"] == "dissatisfied"
    assert "满意度：不满意" in surveyed.description


@pytest.mark.parametrize(("key", "answer"), [("1", "satisfied"), ("2", "basically_satisfied")])
def test_a_satisfied_caller_asks_for_no_reopen(gateway: Gateway, key: str, answer: str) -> None:
    gateway.cache.update(case_event("2026000123", "closed"))
    call(gateway, [Press("3"), Type("2026000123#"), Press(key)])
    [feedback] = gateway.publisher.feedback_messages
    assert feedback.satisfaction == answer and not feedback.reopen_requested


def test_an_unknown_number_waits_with_music_on_hold_for_the_event(gateway: Gateway) -> None:
    def core_answers_meanwhile(line: str) -> None:
        if line.startswith("EXEC StartMusicOnHold"):
            gateway.cache.update(case_event("2026000999", "registered"))

    result = call(gateway, [Press("3"), Type("2026000999#")], on_command=core_answers_meanwhile)
    assert [app for app, _ in result.apps] == ["StartMusicOnHold", "StopMusicOnHold"]
    assert played(result, "status-registered")


def test_a_number_nobody_knows_is_answered_not_found_within_the_wait(gateway: Gateway) -> None:
    result = call(gateway, [Press("3"), Type("2026000404#")])
    assert played(result, "status-not-found")
    start, stop = (e for e in result.exchanges if "MusicOnHold" in e.command)
    assert "Start" in start.command and "Stop" in stop.command
    waited = stop.at - start.at
    assert gateway.settings.status_wait_s - 0.05 <= waited < gateway.settings.status_wait_s + 5


def test_an_unknown_state_is_read_as_in_progress(gateway: Gateway) -> None:
    gateway.cache.update(case_event("2026000555", "waiting_for_godot"))
    result = call(gateway, [Press("3"), Type("2026000555#")])
    assert played(result, "status-unknown")
