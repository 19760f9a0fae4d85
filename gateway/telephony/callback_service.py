"""The callback service: closed hotline cases in, calls to their reporters out.

`case_event` (any thread: the MQTT client's) turns a case event reaching a closing
state (``callbacks.on_states``) into a durable callback, once per case id, when this
gateway took the case's call and kept its callback number (`remember_reporter`, fed by
what the IVR publishes). `run` (on the callbacks' event loop) works the due callbacks:
each is either told to wait (outside hours, do-not-call, the number's daily cap; the
case hears of it once per reason), expired, or dialled through the `CallbackDialer`
port, at most ``rate_per_s`` Originates a second and ``max_concurrent`` at once. Each
call's result goes to the core as a call record, and an answered survey as feedback.

While the dialer is not ready (Asterisk unreachable, the login refused) nothing is
dialled and `health` says callbacks are paused and why; the IVR is not affected. With
``callbacks.originate`` false callbacks are off: no number is kept, a closing case
event is counted and ignored, nothing is dialled, and `health` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.contract import CandidateCase, CaseEvent, CaseFeedback, Message, Source
from gateway.telephony.callback_dnc import DoNotCall
from gateway.telephony.callback_policy import (
    NOTIFIED_WAITS,
    Callback,
    CallingHours,
    DialOutcome,
    DialRequest,
    DialResult,
    OfficialRuling,
    after_dial,
    decide,
    expired,
)
from gateway.telephony.callback_report import (
    CALL_PURPOSE,
    attempt_record,
    expired_record,
    survey_feedback,
    waiting_record,
)
from gateway.telephony.callback_settings import CallbackConfig
from gateway.telephony.callback_store import CallbackStore

log = logging.getLogger(__name__)

#: call purposes whose candidate opens a case the reporter may be called back about
_CASE_PURPOSES = frozenset({"report", "suggestion"})
#: `CallbackService.state`'s reason while dialling is switched off
OFF_REASON = "callbacks off (telephony.callbacks.originate: false)"


class CallbackDialer(Protocol):
    """Places one callback (`adapters.asterisk.ami_dialer.AmiCallbackDialer`)."""

    @property
    def ready(self) -> bool: ...

    @property
    def pause_reason(self) -> str | None: ...

    async def dial(self, request: DialRequest) -> DialResult: ...


class CallbackPublisher(Protocol):
    def candidate(self, candidate: CandidateCase) -> int: ...

    def feedback(self, feedback: CaseFeedback) -> int: ...


class CallbackService:
    def __init__(
        self,
        config: CallbackConfig,
        *,
        store: CallbackStore,
        dialer: CallbackDialer,
        publisher: CallbackPublisher,
        clock: Clock,
        source: Source,
        timezone: str,
        fallback_event_code: str,
        do_not_call: DoNotCall,
        keep_unsent: Callable[[Message], object] | None = None,
        poll_s: float = 1.0,
        official_days: OfficialRuling | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.dialer = dialer
        self.hours = CallingHours.of(config, timezone, official_days)
        self._publisher = publisher
        self._clock = clock
        self._source = source
        self._fallback_code = fallback_event_code
        self._dnc = do_not_call
        self.keep_unsent = keep_unsent
        self._poll_s = poll_s
        self._on_states = frozenset(config.on_states)
        self._active: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._next_start = 0.0
        self._counts = threading.Lock()
        self.dials_started = 0
        self.events_ignored = 0  # closing case events while dialling is off
        self.messages_published = 0
        self.messages_unsent = 0

    # ------------------------------------------------------------------ in (any thread)

    def remember_reporter(self, candidate: CandidateCase) -> bool:
        """Keep the callback number of a hotline report this gateway published."""
        reporter = candidate.reporter
        if (
            not self.config.originate  # nobody is called back: no number is kept
            or candidate.case_number is None
            or reporter is None
            or not reporter.callback_number
            or candidate.facts.get("call_purpose") not in _CASE_PURPOSES
        ):
            return False
        self.store.remember_reporter(
            candidate.case_number, reporter.callback_number, candidate.id, candidate.ts
        )
        return True

    def case_event(self, event: CaseEvent) -> bool:
        """A committed case change; True if it queued a new callback."""
        if event.to_state not in self._on_states or not event.case_number:
            return False
        if not self.config.originate:
            with self._counts:
                self.events_ignored += 1
            log.debug("callbacks off: case %s closed, nobody called", event.case_number)
            return False
        number = self.store.reporter_number(event.case_number)
        if number is None:
            return False  # not a case this gateway heard the reporter of
        callback = Callback(
            case_id=event.case_id,
            case_number=event.case_number,
            number=number,
            closed_at=event.ts,
            next_at=event.ts + timedelta(seconds=self.config.delay_after_close_s),
            event_code=event.event_code,
        )
        added = self.store.add(callback)
        if added:
            log.info("callback queued for case %s (closed %s)", event.case_number, event.ts)
            self.wake()
        return added

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(wake.set)

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Work callbacks until cancelled (the dials in progress are cancelled with it);
        with dialling off, only wait to be cancelled (callbacks queued before stay)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if not self.config.originate:
            log.info("callbacks off: no reporter is called back (telephony.callbacks.originate)")
            await self._loop.create_future()  # never done: the caller cancels
        for cut in self.store.recover():
            log.warning("callback for case %s was cut by a stop while dialling", cut.case_number)
            attempts = self.store.attempts_of(cut.case_id)
            if attempts:
                lost = DialResult(DialOutcome.LOST, detail="gateway stopped during the call")
                now = self._clock.now()
                self._publish(
                    attempt_record(
                        cut,
                        lost,
                        now,
                        attempt_id=attempts[-1][0],
                        started_at=now,
                        fallback_event_code=self._fallback_code,
                        source=self._source,
                    )
                )
        async with asyncio.TaskGroup() as group:
            while True:
                try:
                    await self._round(group)
                except (OSError, ValueError, sqlite3.Error):  # the disk, a bad row: try again
                    log.exception("callbacks: a round failed; trying again")
                    await asyncio.sleep(self._poll_s)
                await self._sleep()

    async def _round(self, group: asyncio.TaskGroup) -> None:
        if not self.dialer.ready:
            return
        free = self.config.max_concurrent - len(self._active)
        if free <= 0:
            return
        now = self._clock.now()
        for callback in self.store.due(now, free):
            decision = decide(
                callback,
                now,
                config=self.config,
                hours=self.hours,
                do_not_call=callback.number in self._dnc,
                calls_today=self.store.calls_on(callback.number, self.hours.local_day(now)),
            )
            if decision.expire:
                ended = expired(callback)
                self.store.save(ended)
                self._publish(
                    expired_record(
                        ended, now, fallback_event_code=self._fallback_code, source=self._source
                    )
                )
                continue
            if not decision.call:
                assert decision.wait_until is not None and decision.reason is not None
                self._wait(callback, decision.wait_until, decision.reason, now)
                continue
            await self._pace()
            if not self.dialer.ready:
                return
            started = self._clock.now()
            dialing, attempt_id = self.store.begin_attempt(
                callback, self.hours.local_day(started), started
            )
            self._active.add(dialing.case_id)
            with self._counts:
                self.dials_started += 1
            group.create_task(
                self._dial(dialing, attempt_id, started),
                name=f"callback[{dialing.case_number}].dial",
            )

    def _wait(self, callback: Callback, until: datetime, reason: Any, now: datetime) -> None:
        waiting = dataclasses.replace(callback, next_at=until, wait_reason=reason)
        if reason in NOTIFIED_WAITS and reason.value not in callback.notified:
            waiting = dataclasses.replace(waiting, notified=callback.notified | {reason.value})
            local = until.astimezone(self.hours.zone).strftime("%Y-%m-%d %H:%M")
            self._publish(
                waiting_record(
                    waiting,
                    now,
                    local_until=local,
                    fallback_event_code=self._fallback_code,
                    source=self._source,
                )
            )
            log.info("callback for case %s waits: %s until %s", callback.case_number, reason, local)
        self.store.save(waiting)

    async def _pace(self) -> None:
        """At most ``rate_per_s`` Originates a second (real time, whatever the clock)."""
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + 1.0 / self.config.rate_per_s
        if start > now:
            await asyncio.sleep(start - now)

    async def _dial(self, callback: Callback, attempt_id: str, started: datetime) -> None:
        request = DialRequest(attempt_id, callback.case_id, callback.case_number, callback.number)
        try:
            try:
                result = await self.dialer.dial(request)
            except asyncio.CancelledError:
                raise  # a stop: the attempt stays open, recovered as unknown at start-up
            except Exception as exc:  # a dialer bug must not stop the other callbacks
                log.exception("callback %s: dial failed", attempt_id)
                result = DialResult(DialOutcome.LOST, detail=f"dialer error: {exc!r}"[:300])
            now = self._clock.now()
            after = after_dial(callback, result, now, self.config)
            self.store.finish_attempt(attempt_id, result.outcome, result.detail, after)
            log.info(
                "callback %s to case %s's reporter: %s%s",
                attempt_id,
                callback.case_number,
                result.outcome,
                f" ({after.result}, {after.satisfaction})" if after.result else "",
            )
            if result.outcome is not DialOutcome.NOT_SENT:
                self._publish(
                    attempt_record(
                        after,
                        result,
                        now,
                        attempt_id=attempt_id,
                        started_at=started,
                        fallback_event_code=self._fallback_code,
                        source=self._source,
                    )
                )
            feedback = survey_feedback(
                after, result, now, attempt_id=attempt_id, source=self._source
            )
            if feedback is not None:
                self._publish(feedback)
        finally:
            self._active.discard(callback.case_id)
            self.wake()

    async def _sleep(self) -> None:
        assert self._wake is not None
        timeout = self._poll_s
        if self.dialer.ready and len(self._active) < self.config.max_concurrent:
            due = self.store.next_due()
            if due is not None:
                timeout = min(timeout, max(0.0, (due - self._clock.now()).total_seconds()))
        if timeout <= 0:
            await asyncio.sleep(0.005)  # due now: go round again (others run first)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    def _publish(self, message: CandidateCase | CaseFeedback) -> None:
        try:
            if isinstance(message, CaseFeedback):
                self._publisher.feedback(message)
            else:
                self._publisher.candidate(message)
            with self._counts:
                self.messages_published += 1
        except Exception as exc:
            with self._counts:
                self.messages_unsent += 1
            if self.keep_unsent is None:
                log.error(
                    "%s %s not accepted by the outbox (%s); lost", message.SCHEMA, message.id, exc
                )
                return
            kept = self.keep_unsent(message)
            log.error(
                "%s %s not accepted by the outbox (%s); kept in %s",
                message.SCHEMA,
                message.id,
                exc,
                kept,
            )

    # ------------------------------------------------------------------ health

    def state(self) -> tuple[str, str | None]:
        """``off`` (dialling switched off), ``paused`` (the dialer not ready) or
        ``running``, with the reason of the first two."""
        if not self.config.originate:
            return "off", OFF_REASON
        if not self.dialer.ready:
            return "paused", self.dialer.pause_reason
        return "running", None

    def health(self) -> dict[str, Any]:
        """``state`` running, paused or off (with ``reason``), callbacks by state and result."""
        state, reason = self.state()
        return {
            "state": state,
            "reason": reason,
            "dialing_now": len(self._active),
            "dials_started": self.dials_started,
            "events_ignored": self.events_ignored,
            "callbacks": self.store.counts(),
        }


def is_callback_record(candidate: CandidateCase) -> bool:
    return candidate.facts.get("call_purpose") == CALL_PURPOSE
