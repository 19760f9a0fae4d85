"""Calls that never reached the IVR, recorded from the CDRs a real Asterisk sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from adapters.asterisk.ami_protocol import iter_frames
from gateway.clock import FakeClock
from gateway.contract import CandidateCase, Source, SourceKind
from gateway.telephony.unhandled_calls import IvrFeed, UnhandledCalls, cdr_record, is_hotline_call
from tests.conftest import FIXTURES_DIR

AMI = FIXTURES_DIR / "asterisk-ami"
CONTEXTS = frozenset({"citygw-12319", "citygw-agents"})


def cdrs(scenario: str) -> list[dict[str, str]]:
    frames = iter_frames((AMI / f"{scenario}.ami.bin").read_bytes())
    return [dict(f.fields) for f in frames if f.event == "Cdr"]


@dataclass
class Handled:
    ids: set[str] = field(default_factory=set)
    published: list[CandidateCase] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)

    def ivr_handled(self, uniqueid: str) -> bool:
        return uniqueid in self.ids

    def cdr_recorded(self, uniqueid: str) -> bool:
        return uniqueid in self.recorded

    def remember_cdr_call(self, uniqueid: str, at: datetime) -> None:
        self.recorded.add(uniqueid)

    def candidate(self, candidate: CandidateCase) -> int:
        self.published.append(candidate)
        return len(self.published)


def test_only_the_callers_leg_in_a_hotline_context_counts() -> None:
    records = [r for r in (cdr_record(f) for f in cdrs("queue-abandon")) if r is not None]
    hotline = [r for r in records if is_hotline_call(r, CONTEXTS)]
    assert len(records) >= 2
    [caller] = hotline  # the ;1 half is the simulated phone, not a caller
    assert caller.channel.endswith(";2") and caller.last_application == "Queue"
    assert caller.uniqueid and caller.source == "13800138001" and caller.duration_s == 6
    assert not any(
        is_hotline_call(r, CONTEXTS) for r in map(cdr_record, cdrs("originate-busy")) if r
    )


def run_cdrs(scenario: str, handled: Handled) -> None:
    async def scenario_run() -> None:
        unhandled = UnhandledCalls(
            sorted(CONTEXTS),
            handled=handled,
            publisher=handled,
            source=Source(kind=SourceKind.CALL, id="agi-1"),
            fallback_event_code="0199",
            clock=FakeClock(),
            grace_s=0.01,
        )
        for fields in cdrs(scenario):
            unhandled.on_cdr(fields)
        await asyncio.sleep(0.1)

    asyncio.run(scenario_run())


def test_a_queue_call_the_ivr_never_saw_becomes_a_call_record() -> None:
    handled = Handled()
    run_cdrs("queue-abandon", handled)
    [record] = handled.published
    assert record.facts["call_purpose"] == "none" and record.facts["gateway_reached"] is False
    assert record.facts["last_application"] == "Queue" and record.facts["duration_s"] == 6
    assert record.reporter is not None and record.reporter.callback_number == "13800138001"
    assert "未到达语音导航网关" in record.description and "转人工队列" in record.description


def test_a_call_the_ivr_published_is_not_recorded_twice() -> None:
    caller = next(
        r for r in map(cdr_record, cdrs("queue-abandon")) if r and is_hotline_call(r, CONTEXTS)
    )
    handled = Handled(ids={caller.uniqueid})
    run_cdrs("queue-abandon", handled)
    assert handled.published == []


def test_a_cdr_delivered_twice_is_recorded_once() -> None:
    handled = Handled()
    run_cdrs("queue-abandon", handled)
    run_cdrs("queue-abandon", handled)  # e.g. the same call again after a reconnect
    assert [r.facts["uniqueid"] for r in handled.published] == ["1796393513.13"]


def test_while_the_ivr_candidates_are_not_coming_in_no_call_is_taken_for_unhandled() -> None:
    """`citygw ami` hears of the IVR's calls over MQTT: with the broker connection down when
    the Cdr comes, the call waits; the IVR's candidate, delivered once the connection is
    back (the persistent session's backlog), still marks it handled in time."""
    handled = Handled()
    feed = IvrFeed()
    [caller] = [
        f for f in cdrs("queue-abandon") if (r := cdr_record(f)) and r.channel.endswith(";2")
    ]

    async def scenario_run() -> tuple[int, int]:
        unhandled = UnhandledCalls(
            sorted(CONTEXTS),
            handled=handled,
            publisher=handled,
            source=Source(kind=SourceKind.CALL, id="agi-1"),
            fallback_event_code="0199",
            clock=FakeClock(),
            grace_s=0.2,
            ivr_feed=feed,
        )
        unhandled.on_cdr(caller)
        await asyncio.sleep(0.6)  # the grace three times over, the feed down all along
        while_down = len(handled.published)
        feed.on_connection(True)
        await asyncio.sleep(0.1)  # the backlog: the IVR's candidate of the call
        handled.ids.add(caller["UniqueID"])
        await asyncio.sleep(0.4)
        return while_down, len(handled.published)

    assert asyncio.run(scenario_run()) == (0, 0)


def test_after_the_ivr_candidates_came_in_for_a_whole_grace_an_unheard_call_is_recorded() -> None:
    handled = Handled()
    feed = IvrFeed()
    [caller] = [
        f for f in cdrs("queue-abandon") if (r := cdr_record(f)) and r.channel.endswith(";2")
    ]

    async def scenario_run() -> None:
        unhandled = UnhandledCalls(
            sorted(CONTEXTS),
            handled=handled,
            publisher=handled,
            source=Source(kind=SourceKind.CALL, id="agi-1"),
            fallback_event_code="0199",
            clock=FakeClock(),
            grace_s=0.2,
            ivr_feed=feed,
        )
        unhandled.on_cdr(caller)
        await asyncio.sleep(0.3)
        feed.on_connection(True)
        await asyncio.sleep(0.1)
        assert handled.published == []  # up for less than the grace
        await asyncio.sleep(0.4)

    asyncio.run(scenario_run())
    [record] = handled.published
    assert record.facts["uniqueid"] == caller["UniqueID"]
