"""The callback service with a fake dialer at its port: queueing, hours, retries, caps,
the do-not-call list, pauses, restarts; what reaches the core."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.clock import FakeClock
from gateway.contract import CandidateCase, CaseEvent, Reporter, Source, SourceKind
from gateway.telephony.callback_dnc import DoNotCall
from gateway.telephony.callback_policy import (
    CallbackResult,
    CallbackState,
    DialOutcome,
    DialRequest,
    DialResult,
)
from gateway.telephony.callback_service import CallbackService
from gateway.telephony.callback_settings import CallbackConfig
from gateway.telephony.callback_store import CallbackStore
from tests.telephony.conftest import MemoryPublisher

T = TypeVar("T")
GATEWAY = Source(kind=SourceKind.CALL, id="agi-1")
# Monday 2026-01-05 17:00 in Asia/Shanghai: inside the 14:00-18:00 window
MONDAY_5PM = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class FakeDialer:
    """The `CallbackDialer` port: answers each number as scripted (default: answered, key 1)."""

    script: dict[str, list[DialResult]] = field(default_factory=dict)
    ready: bool = True
    pause_reason: str | None = None
    requests: list[DialRequest] = field(default_factory=list)

    async def dial(self, request: DialRequest) -> DialResult:
        self.requests.append(request)
        await asyncio.sleep(0)
        results = self.script.get(request.number)
        if results:
            return results.pop(0)
        return DialResult(DialOutcome.ANSWERED, survey_key="1", uniqueid=f"{request.attempt_id}-1")


@dataclass
class Harness:
    service: CallbackService
    dialer: FakeDialer
    publisher: MemoryPublisher
    clock: FakeClock
    store: CallbackStore

    def report(self, case_number: str, number: str) -> None:
        candidate = CandidateCase.create(
            source=GATEWAY,
            event_code="0199",
            reporter=Reporter(callback_number=number),
            case_number=case_number,
            facts={"call_purpose": "report"},
        )
        assert self.service.remember_reporter(candidate)

    def close(self, case_number: str, state: str = "closed", **overrides: Any) -> bool:
        fields: dict[str, Any] = {
            "case_id": f"case-{case_number}",
            "case_number": case_number,
            "action": "verify_pass",
            "from_state": "reported",
            "to_state": state,
            "event_code": "0501",
        }
        fields.update(overrides)
        event = CaseEvent.create(
            source=Source(kind=SourceKind.CORE, id="core"), ts=self.clock.now(), **fields
        )
        return self.service.case_event(event)

    def records(self) -> list[dict[str, Any]]:
        return [c.facts for c in self.publisher.candidates]


def run(coro: Awaitable[T], timeout_s: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    stores: list[CallbackStore] = []

    def build(
        dialer: FakeDialer | None = None,
        clock: FakeClock | None = None,
        store_path: Path | None = None,
        **overrides: Any,
    ) -> Harness:
        document: dict[str, Any] = {"delay_after_close_s": 0, "rate_per_s": 50}
        document.update(overrides)
        config = CallbackConfig.model_validate(document)
        store = CallbackStore(store_path or tmp_path / "callbacks.sqlite3")
        stores.append(store)
        clock = clock or FakeClock(MONDAY_5PM)
        dialer = dialer or FakeDialer()
        publisher = MemoryPublisher()
        service = CallbackService(
            config,
            store=store,
            dialer=dialer,
            publisher=publisher,
            clock=clock,
            source=GATEWAY,
            timezone="Asia/Shanghai",
            fallback_event_code="0199",
            do_not_call=DoNotCall(config.do_not_call, config.do_not_call_file),
            poll_s=0.02,
        )
        return Harness(service, dialer, publisher, clock, store)

    yield build
    for store in stores:
        store.close()


async def running(h: Harness, body: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.create_task(h.service.run())
    try:
        await body()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --------------------------------------------------------------------------- queueing


def test_a_closed_hotline_case_is_queued_once_whatever_the_redeliveries(
    make: Callable[..., Harness],
) -> None:
    h = make()
    h.report("0126010500001", "13800000001")
    assert not h.close("0126010500001", state="reported")  # not a closing state
    assert not h.close("0199999999999")  # a case this gateway never heard the reporter of
    assert h.close("0126010500001")
    assert not h.close("0126010500001")  # the same event again
    assert not h.close("0126010500001", action="keep_closed")  # closed again later
    assert h.store.counts() == {"waiting": 1, "waiting:scheduled": 1}


def test_only_reports_with_a_number_and_a_case_number_are_remembered(
    make: Callable[..., Harness],
) -> None:
    h = make()
    consult = CandidateCase.create(
        source=GATEWAY,
        event_code="0199",
        reporter=Reporter(callback_number="13800000001"),
        case_number="0126010500002",
        facts={"call_purpose": "consultation"},
    )
    no_number = CandidateCase.create(
        source=GATEWAY,
        event_code="0199",
        case_number="0126010500003",
        facts={"call_purpose": "report"},
    )
    assert not h.service.remember_reporter(consult)
    assert not h.service.remember_reporter(no_number)
    assert h.store.reporter_number("0126010500002") is None


# --------------------------------------------------------------------------- calls and results


@pytest.mark.parametrize(
    ("key", "satisfaction", "reopen"),
    [("1", "satisfied", False), ("2", "basically_satisfied", False), ("3", "dissatisfied", True)],
)
def test_an_answered_callback_sends_the_survey_answer_as_feedback(
    make: Callable[..., Harness], key: str, satisfaction: str, reopen: bool
) -> None:
    dialer = FakeDialer(script={"13800000001": [DialResult(DialOutcome.ANSWERED, survey_key=key)]})
    h = make(dialer)
    h.report("0126010500001", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        await eventually(lambda: len(h.publisher.feedback_messages) == 1)

    run(running(h, body))
    [request] = h.dialer.requests
    assert request.number == "13800000001" and request.case_number == "0126010500001"
    [feedback] = h.publisher.feedback_messages
    assert feedback.case_number == "0126010500001"
    assert feedback.satisfaction == satisfaction and feedback.reopen_requested is reopen
    assert feedback.facts["channel"] == "callback"
    [record] = h.publisher.candidates
    assert record.facts["call_purpose"] == "callback"
    assert record.facts["status_case_number"] == "0126010500001"
    assert record.facts["outcome"] == "answered"
    assert record.case_number is None  # a record, never a new case's number
    done = h.store.get("case-0126010500001")
    assert done is not None and done.result is CallbackResult.ANSWERED
    assert done.satisfaction == satisfaction


def test_an_answered_call_without_a_key_is_answered_with_no_feedback(
    make: Callable[..., Harness],
) -> None:
    dialer = FakeDialer(script={"13800000001": [DialResult(DialOutcome.ANSWERED, survey_key=None)]})
    h = make(dialer)
    h.report("0126010500001", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        await eventually(lambda: len(h.publisher.candidates) == 1)

    run(running(h, body))
    assert h.publisher.feedback_messages == []
    assert "未评价" in h.publisher.candidates[0].description


def test_no_answer_and_busy_are_retried_after_the_pause_then_given_up(
    make: Callable[..., Harness],
) -> None:
    fails = [
        DialResult(DialOutcome.NO_ANSWER),
        DialResult(DialOutcome.BUSY),
        DialResult(DialOutcome.CONGESTION),
    ]
    h = make(
        FakeDialer(script={"13800000001": fails}),
        max_attempts=3,
        retry_after_s=600,
        daily_cap_per_number=5,
    )
    h.report("0126010500001", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        await eventually(lambda: len(h.dialer.requests) == 1)
        await asyncio.sleep(0.1)
        assert len(h.dialer.requests) == 1  # not before the pause
        for n in (2, 3):
            await eventually(
                lambda: h.store.get("case-0126010500001").state is CallbackState.WAITING
            )  # type: ignore[union-attr]
            h.clock.advance(601)
            h.service.wake()
            await eventually(lambda n=n: len(h.dialer.requests) == n)  # type: ignore[misc]
        await eventually(lambda: len(h.publisher.candidates) == 3)
        await asyncio.sleep(0.05)

    run(running(h, body))
    assert [r.attempt_id[-2:] for r in h.dialer.requests] == ["-1", "-2", "-3"]
    assert [f["outcome"] for f in h.records()] == ["no_answer", "busy", "congestion"]
    done = h.store.get("case-0126010500001")
    assert done is not None and done.result is CallbackResult.UNREACHED
    assert "3 次均未接通" in h.publisher.candidates[-1].description
    assert h.publisher.feedback_messages == []


def test_outside_calling_hours_it_waits_says_so_once_and_calls_when_the_window_opens(
    make: Callable[..., Harness],
) -> None:
    evening = FakeClock(MONDAY_5PM + timedelta(hours=2))  # 19:00 local
    h = make(clock=evening)
    h.report("0126010500001", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        await eventually(lambda: len(h.publisher.candidates) == 1)
        h.clock.advance(3600)  # 20:00: still closed; no second notice
        h.service.wake()
        await asyncio.sleep(0.1)
        assert h.dialer.requests == []
        h.clock.advance(13 * 3600)  # Tuesday 09:00
        h.service.wake()
        await eventually(lambda: len(h.dialer.requests) == 1)

    run(running(h, body))
    waiting = h.publisher.candidates[0]
    assert waiting.facts["outcome"] == "waiting:outside_hours"
    assert "不在回访时段" in waiting.description and "2026-01-06 09:00" in waiting.description
    assert [f["outcome"] for f in h.records()].count("waiting:outside_hours") == 1


def test_a_number_on_the_do_not_call_list_waits_and_is_never_called(
    make: Callable[..., Harness], tmp_path: Path
) -> None:
    listed = tmp_path / "dnc.txt"
    listed.write_text("# opted out\n138-0000-0002  # by phone\n", encoding="utf-8")
    h = make(do_not_call=["13800000001"], do_not_call_file=str(listed))
    h.report("0126010500001", "13800000001")
    h.report("0126010500002", "13800000002")
    h.report("0126010500003", "13800000003")

    async def body() -> None:
        for n in ("1", "2", "3"):
            h.close(f"012601050000{n}")
        await eventually(lambda: len(h.dialer.requests) == 1)
        await eventually(lambda: len(h.publisher.candidates) == 3)

    run(running(h, body))
    assert [r.number for r in h.dialer.requests] == ["13800000003"]
    waits = sorted(
        c.facts["status_case_number"]
        for c in h.publisher.candidates
        if c.facts["outcome"] == "waiting:do_not_call"
    )
    assert waits == ["0126010500001", "0126010500002"]
    assert h.store.counts()["waiting:do_not_call"] == 2


def test_a_do_not_call_file_that_cannot_be_read_calls_nobody(tmp_path: Path) -> None:
    dnc = DoNotCall([], tmp_path / "missing.txt")
    assert "13800000009" in dnc


def test_the_daily_cap_holds_across_cases_of_the_same_number(make: Callable[..., Harness]) -> None:
    h = make(daily_cap_per_number=1)
    h.report("0126010500001", "13800000001")
    h.report("0126010500002", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        h.close("0126010500002")
        await eventually(lambda: len(h.dialer.requests) == 1 and len(h.publisher.candidates) >= 2)
        await asyncio.sleep(0.1)

    run(running(h, body))
    assert len(h.dialer.requests) == 1
    assert any(c.facts["outcome"] == "waiting:daily_cap" for c in h.publisher.candidates)


def test_while_the_dialer_is_not_ready_callbacks_are_paused_and_said_so(
    make: Callable[..., Harness],
) -> None:
    dialer = FakeDialer(ready=False, pause_reason="AMI 127.0.0.1:5038 refused: login refused")
    h = make(dialer)
    h.report("0126010500001", "13800000001")
    health: dict[str, Any] = {}

    async def body() -> None:
        h.close("0126010500001")
        await asyncio.sleep(0.15)
        health.update(h.service.health())
        dialer.ready, dialer.pause_reason = True, None
        h.service.wake()
        await eventually(lambda: len(dialer.requests) == 1)

    run(running(h, body))
    assert health["state"] == "paused" and "login refused" in health["reason"]
    assert health["callbacks"] == {"waiting": 1, "waiting:scheduled": 1}
    assert h.service.health()["state"] == "running"


def test_a_call_asterisk_did_not_take_is_tried_again_without_counting(
    make: Callable[..., Harness],
) -> None:
    refused = DialResult(DialOutcome.NOT_SENT, detail="Asterisk is shutting down")
    h = make(FakeDialer(script={"13800000001": [refused]}), max_attempts=1)
    h.report("0126010500001", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        await eventually(lambda: len(h.dialer.requests) == 1)
        await eventually(lambda: h.store.get("case-0126010500001").state is CallbackState.WAITING)  # type: ignore[union-attr]
        h.clock.advance(61)
        h.service.wake()
        await eventually(lambda: len(h.publisher.feedback_messages) == 1)

    run(running(h, body))
    done = h.store.get("case-0126010500001")
    assert done is not None and done.attempts == 1 and done.result is CallbackResult.ANSWERED


# --------------------------------------------------------------------------- restarts


def test_a_gateway_restart_mid_call_never_calls_again(
    make: Callable[..., Harness], tmp_path: Path
) -> None:
    path = tmp_path / "shared.sqlite3"

    class Hanging(FakeDialer):
        async def dial(self, request: DialRequest) -> DialResult:
            self.requests.append(request)
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    first = make(Hanging(), store_path=path)
    first.report("0126010500001", "13800000001")

    async def crash_while_dialling() -> None:
        first.close("0126010500001")
        await eventually(lambda: len(first.dialer.requests) == 1)

    run(running(first, crash_while_dialling))  # cancelled mid-call, as a stop or crash
    second = make(store_path=path)

    async def after_restart() -> None:
        assert not second.close("0126010500001")  # redelivered by the broker
        await asyncio.sleep(0.15)

    run(running(second, after_restart))
    assert second.dialer.requests == []
    done = second.store.get("case-0126010500001")
    assert done is not None and done.result is CallbackResult.OUTCOME_UNKNOWN
    assert second.store.attempts_of("case-0126010500001") == [
        (first.dialer.requests[0].attempt_id, "lost")
    ]
    [record] = second.publisher.candidates  # the case hears the call's end is unknown
    assert record.facts["outcome"] == "lost" and "结果未知" in record.description


def test_a_restarted_gateway_does_not_call_an_answered_reporter_again(
    make: Callable[..., Harness], tmp_path: Path
) -> None:
    path = tmp_path / "shared.sqlite3"
    first = make(store_path=path)
    first.report("0126010500001", "13800000001")

    async def answered() -> None:
        first.close("0126010500001")
        await eventually(lambda: len(first.publisher.feedback_messages) == 1)

    run(running(first, answered))
    second = make(store_path=path)

    async def again() -> None:
        second.close("0126010500001")
        await asyncio.sleep(0.15)

    run(running(second, again))
    assert len(first.dialer.requests) == 1 and second.dialer.requests == []


def test_the_ivr_candidates_heard_over_mqtt_keep_reporters_and_handled_calls_not_our_records(
    tmp_path: Path,
) -> None:
    from gateway.telephony.ami_side import AmiSide
    from gateway.telephony.settings import TelephonyConfig

    settings = TelephonyConfig.model_validate(
        {"callbacks": {"enabled": True, "ami": {"port": 1, "secret": "x" * 12}}}
    )
    side = AmiSide(
        settings,
        instance="agi-1",
        state_dir=tmp_path,
        publisher=MemoryPublisher(),
        clock=FakeClock(datetime(2026, 1, 5, 2, 0, tzinfo=UTC)),
    )
    try:
        report = CandidateCase.create(
            source=GATEWAY,
            event_code="0199",
            reporter=Reporter(callback_number="13800000007"),
            case_number="0126010500007",
            facts={"call_purpose": "report", "uniqueid": "1796393471.42"},
        )
        assert side.ivr_candidate(report.to_json())
        assert side.store.reporter_number("0126010500007") == "13800000007"
        assert side.store.ivr_handled("1796393471.42")
        assert not side.store.ivr_handled("1796393471.43")
        # the AMI side's own call record comes back on the same topic: not an IVR call
        ours = report.model_copy(
            update={"facts": {"recorded_from": "cdr", "call_purpose": "none", "uniqueid": "u-3"}}
        )
        assert not side.ivr_candidate(ours.to_json()) and not side.store.ivr_handled("u-3")
        assert not side.ivr_candidate(b"not json") and side.rejected_candidates == 1
    finally:
        side.store.close()


# --------------------------------------------------------------------------- waits (bad input)


@pytest.mark.parametrize(
    ("local_now", "opens"),
    [
        # Tuesday 2026-01-06 10:00, inside the hours, but a holiday: Wednesday 09:00
        (datetime(2026, 1, 6, 2, 0, tzinfo=UTC), datetime(2026, 1, 7, 1, 0, tzinfo=UTC)),
        # Sunday 2026-01-11 10:00, not a calling day (1-6): Monday 09:00
        (datetime(2026, 1, 11, 2, 0, tzinfo=UTC), datetime(2026, 1, 12, 1, 0, tzinfo=UTC)),
    ],
)
def test_on_a_holiday_or_a_day_off_it_waits_for_the_next_calling_day_and_says_when(
    make: Callable[..., Harness], local_now: datetime, opens: datetime
) -> None:
    h = make(clock=FakeClock(local_now), holidays=["2026-01-06"])
    h.report("0126010500001", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        await eventually(lambda: len(h.publisher.candidates) == 1)
        h.clock.advance((opens - local_now).total_seconds() - 60)  # a minute before
        h.service.wake()
        await asyncio.sleep(0.1)
        assert h.dialer.requests == []
        h.clock.advance(60)
        h.service.wake()
        await eventually(lambda: len(h.dialer.requests) == 1)

    run(running(h, body))
    waiting = h.publisher.candidates[0]
    assert waiting.facts["outcome"] == "waiting:outside_hours"
    local_opening = f"{opens + timedelta(hours=8):%Y-%m-%d %H:%M}"
    assert waiting.description == f"回访等待：当前不在回访时段，将于 {local_opening} 后拨打"


def test_a_do_not_call_wait_is_said_in_chinese_once_and_lifts_when_the_file_drops_the_number(
    make: Callable[..., Harness], tmp_path: Path
) -> None:
    listed = tmp_path / "dnc.txt"
    listed.write_text("13800000001\n13800000009\n", encoding="utf-8")
    morning = FakeClock(MONDAY_5PM - timedelta(hours=8))  # 09:00, the hours last till 20:00
    h = make(clock=morning, hours=["08:00-20:00"], do_not_call_file=str(listed))
    h.report("0126010500001", "13800000001")

    async def body() -> None:
        h.close("0126010500001")
        await eventually(lambda: len(h.publisher.candidates) == 1)
        for _ in range(3):  # rechecked each hour, still listed: not called, not said again
            h.clock.advance(3700)
            h.service.wake()
            await asyncio.sleep(0.05)
        assert h.dialer.requests == [] and len(h.publisher.candidates) == 1
        listed.write_text("13800000009\n", encoding="utf-8")  # the citizen asked to be called
        h.clock.advance(3700)
        h.service.wake()
        await eventually(lambda: len(h.dialer.requests) == 1)

    run(running(h, body))
    waiting = h.publisher.candidates[0]
    assert waiting.facts["outcome"] == "waiting:do_not_call"
    assert waiting.facts["status_case_number"] == "0126010500001"
    assert waiting.description == "回访等待：该号码在免打扰名单中"
    assert "13800000001" not in waiting.description
    assert [r.number for r in h.dialer.requests] == ["13800000001"]


def test_a_do_not_call_file_that_goes_missing_after_a_read_keeps_its_numbers(
    tmp_path: Path,
) -> None:
    listed = tmp_path / "dnc.txt"
    listed.write_text("138 0000 0001\n", encoding="utf-8")
    dnc = DoNotCall([], listed)
    assert "13800000001" in dnc and "13800000002" not in dnc
    listed.unlink()
    assert "13800000001" in dnc and "13800000002" not in dnc
