"""Calls the IVR never handled, recorded from Asterisk's CDR (issue 20 §3).

A hotline call that never reached the FastAGI gateway (it was full, refused, or not
listening while this daemon's AMI connection was up) or that went to the agents'
queue around it leaves no IVR candidate. Asterisk still writes a ``Cdr`` for it,
which AMI sends (read class ``cdr``). For each ``Cdr`` of a hotline context
(``callbacks.unhandled_call_contexts``) whose channel's uniqueid the IVR did not
publish a call for, the gateway publishes a call record (``call_purpose`` ``none``,
``facts.gateway_reached`` false) after a grace (``callbacks.unhandled_grace_s``). The originating ``;1`` half of a Local channel is not a caller and is
left out; the callbacks' own calls run in other contexts.

Which calls the IVR handled comes from the IVR's candidates on MQTT (`citygw ami` runs
apart from `citygw agi`), so a Cdr may well come before the candidate of its call: the
IVR publishes after the hangup too, through its outbox and the broker. A call is
therefore looked at only once the grace has passed since its Cdr *and* the IVR's
candidates have been coming in (`IvrFeed`: the subscription connected) for a whole
grace: while the broker connection is down, or just back with the persistent session's
backlog still arriving, no call is taken for unhandled (`heard`).

AMI buffers nothing for a client that is not connected, so calls made while this
daemon itself is down are not seen over AMI; Asterisk's ``cdr_csv`` file keeps them, and
`cdr_catchup` reads it at start and every few seconds, handing each row to the same
`UnhandledCalls.consider`. Each call recorded is marked durably by its uniqueid
(``cdr_calls`` of the callbacks' store) once the outbox took its record, so a call seen
both over AMI and in the file, or read again after a restart, is recorded once (a crash
between the two publishes the record again under the same message id, which the core
stores once).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from gateway.clock import Clock
from gateway.contract import CandidateCase, Reporter, Source, stable_message_id

log = logging.getLogger(__name__)

_DISPOSITION_TEXT = {
    "ANSWERED": "已应答",
    "NO ANSWER": "未应答",
    "BUSY": "忙",
    "FAILED": "失败",
    "CONGESTION": "拥塞",
}


@dataclass(frozen=True)
class CdrRecord:
    uniqueid: str
    source: str
    caller_id: str
    channel: str
    context: str
    last_application: str
    last_data: str
    start: str
    answer: str
    end: str
    duration_s: int
    billable_s: int
    disposition: str


def cdr_record(fields: Mapping[str, str]) -> CdrRecord | None:
    """A ``Cdr`` event's fields (any spelling of their names) as a record; None without an id."""
    lower = {key.lower(): value for key, value in fields.items()}
    uniqueid = lower.get("uniqueid", "")
    if not uniqueid:
        return None

    def number(key: str) -> int:
        try:
            return int(lower.get(key, "0") or 0)
        except ValueError:
            return 0

    return CdrRecord(
        uniqueid=uniqueid,
        source=lower.get("source", ""),
        caller_id=lower.get("callerid", ""),
        channel=lower.get("channel", ""),
        context=lower.get("destinationcontext", ""),
        last_application=lower.get("lastapplication", ""),
        last_data=lower.get("lastdata", ""),
        start=lower.get("starttime", ""),
        answer=lower.get("answertime", ""),
        end=lower.get("endtime", ""),
        duration_s=number("duration"),
        billable_s=number("billableseconds"),
        disposition=lower.get("disposition", ""),
    )


def is_hotline_call(record: CdrRecord, contexts: frozenset[str]) -> bool:
    """A caller's leg in a hotline context (not the originating half of a Local channel)."""
    if record.context not in contexts:
        return False
    return not (record.channel.startswith("Local/") and record.channel.endswith(";1"))


def unhandled_call_record(
    record: CdrRecord, *, source: Source, fallback_event_code: str, at: datetime
) -> CandidateCase:
    number = record.source if record.source.isdigit() and len(record.source) <= 32 else None
    queue = record.last_application == "Queue"
    what = "转人工队列" if queue else f"停在 {record.last_application or '?'}"
    return CandidateCase.create(
        source=source,
        id=stable_message_id("cdr", source.id, record.uniqueid),
        ts=at,
        event_code=fallback_event_code,
        title="12319 来电：未经语音导航",
        description=(
            f"来电未到达语音导航网关（{what}，"
            f"{_DISPOSITION_TEXT.get(record.disposition, record.disposition)}，通话 {record.duration_s} 秒）"
        ),
        reporter=Reporter(callback_number=number),
        facts={
            "channel": "phone",
            "call_purpose": "none",
            "gateway_reached": False,
            "recorded_from": "cdr",
            "uniqueid": record.uniqueid,
            "asterisk_channel": record.channel,
            "caller": record.source,
            "caller_id": record.caller_id,
            "context": record.context,
            "last_application": record.last_application,
            "last_data": record.last_data,
            "started_at_local": record.start,
            "answered_at_local": record.answer,
            "ended_at_local": record.end,
            "duration_s": record.duration_s,
            "billable_s": record.billable_s,
            "disposition": record.disposition,
        },
    )


class Outcome(Enum):
    """What became of one CDR."""

    RECORDED = "recorded"
    NOT_HOTLINE = "not_hotline"  # another context, or the ;1 half of a Local channel
    IVR_HANDLED = "ivr_handled"
    ALREADY_RECORDED = "already_recorded"
    REFUSED = "refused"  # the outbox did not take the record


class HandledCalls(Protocol):
    def ivr_handled(self, uniqueid: str) -> bool: ...

    def cdr_recorded(self, uniqueid: str) -> bool: ...

    def remember_cdr_call(self, uniqueid: str, at: datetime) -> None: ...


class RecordPublisher(Protocol):
    def candidate(self, candidate: CandidateCase) -> int: ...


class IvrFeed:
    """Whether the IVR's candidates are reaching this daemon, and for how long without a
    break: `on_connection` is the MQTT connection's listener (any thread). Monotonic
    seconds of this process, as the event loop's sleeps count them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._up_since: float | None = None

    def on_connection(self, up: bool) -> None:
        with self._lock:
            if not up:
                self._up_since = None
            elif self._up_since is None:
                self._up_since = time.monotonic()

    def up_for(self) -> float | None:
        """Seconds since the feed came up; None while it is down."""
        with self._lock:
            since = self._up_since
        return None if since is None else time.monotonic() - since


class UnhandledCalls:
    """Cdr events in; a call record out for each hotline call the IVR did not handle."""

    def __init__(
        self,
        contexts: list[str],
        *,
        handled: HandledCalls,
        publisher: RecordPublisher,
        source: Source,
        fallback_event_code: str,
        clock: Clock,
        grace_s: float = 5.0,
        ivr_feed: IvrFeed | None = None,
    ) -> None:
        self._contexts = frozenset(contexts)
        self._handled = handled
        self._publisher = publisher
        self._source = source
        self._fallback = fallback_event_code
        self._clock = clock
        self._grace_s = grace_s
        self._feed = ivr_feed  # None: the IVR's calls are told in-process, never late
        self._pending: set[asyncio.Task[None]] = set()
        self.recorded = 0

    @property
    def grace_s(self) -> float:
        return self._grace_s

    def wanted(self, record: CdrRecord) -> bool:
        """A caller's leg in a hotline context (whether the IVR handled it is asked later)."""
        return is_hotline_call(record, self._contexts)

    def on_cdr(self, fields: Mapping[str, str]) -> None:
        """On the event loop (an AMI listener): check after the grace."""
        record = cdr_record(fields)
        if record is None or not is_hotline_call(record, self._contexts):
            return
        task = asyncio.get_running_loop().create_task(
            self._later(record), name=f"unhandled[{record.uniqueid}]"
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _later(self, record: CdrRecord) -> None:
        await asyncio.sleep(self._grace_s)
        await self.heard()
        self.consider(record, origin="ami")

    async def heard(self) -> None:
        """Return once the IVR's candidates have been coming in for a whole grace (at once
        without a feed): a candidate still on its way cannot have been missed."""
        while self._feed is not None:
            up_for = self._feed.up_for()
            if up_for is not None and up_for >= self._grace_s:
                return
            await asyncio.sleep(self._grace_s - up_for if up_for is not None else 0.5)

    def consider(self, record: CdrRecord, *, origin: str) -> Outcome:
        """After the grace: record the call unless the IVR handled it or it was recorded
        already (over AMI or from the CSV file)."""
        if not self.wanted(record):
            return Outcome.NOT_HOTLINE
        if self._handled.ivr_handled(record.uniqueid):
            return Outcome.IVR_HANDLED
        if self._handled.cdr_recorded(record.uniqueid):
            return Outcome.ALREADY_RECORDED
        now = self._clock.now()
        try:
            self._publisher.candidate(
                unhandled_call_record(
                    record, source=self._source, fallback_event_code=self._fallback, at=now
                )
            )
        except Exception:
            log.exception("call record of %s not accepted by the outbox", record.uniqueid)
            return Outcome.REFUSED
        try:  # after the outbox took it: a crash in between publishes it again, same id
            self._handled.remember_cdr_call(record.uniqueid, now)
        except Exception:
            log.exception("call %s recorded but not marked so", record.uniqueid)
        self.recorded += 1
        log.info(
            "call %s never reached the IVR: recorded from its CDR (%s)", record.uniqueid, origin
        )
        return Outcome.RECORDED

    def cancel(self) -> None:
        for task in list(self._pending):
            task.cancel()
