"""The hotline's AMI side, run by `citygw ami` (``telephony.callbacks.enabled``): its own
thread and event loop, holding the AMI client and what it feeds: the callback service
and its dialer, the call records of calls the IVR never took (with the Master.csv
catch-up), the agent's screen pop and the queue figures.

It shares no process with the IVR (`citygw agi`): while the IVR is down or restarting,
which is when callers fall back to the agents, screen pops, queue figures, call records
and callbacks go on. What the IVR did it learns from the IVR's candidates on MQTT
(`ivr_candidate`): the call's uniqueid (handled by the IVR, `unhandled_calls`), the
reporter's callback number (`callback_service`) and the partial report for the screen
pop (`agent_desk`). Case events come in through `case_event`. Asterisk unreachable or
refusing the login never stops the daemon: the client keeps trying, and `health` says
callbacks are paused and why. With ``callbacks.originate`` false nobody is dialled
(`health` says callbacks off); everything else runs the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.asterisk.ami_client import AmiClient
from adapters.asterisk.ami_dialer import AmiCallbackDialer
from adapters.asterisk.ami_protocol import AmiFrame
from adapters.asterisk.ami_queues import QueuePoller
from adapters.holidays import official_ruling
from gateway.clock import Clock
from gateway.contract import (
    CandidateCase,
    CaseEvent,
    ContractError,
    Message,
    Source,
    SourceKind,
    parse_message,
)
from gateway.telephony.agent_desk import (
    QUEUE_EVENTS,
    AgentCallPublisher,
    AgentDesk,
    AgentQueuesPublisher,
    QueueReport,
)
from gateway.telephony.callback_dnc import DoNotCall
from gateway.telephony.callback_report import CALL_PURPOSE
from gateway.telephony.callback_service import CallbackPublisher, CallbackService
from gateway.telephony.callback_store import CallbackStore
from gateway.telephony.cdr_catchup import CdrCatchUp
from gateway.telephony.settings import TelephonyConfig
from gateway.telephony.unhandled_calls import IvrFeed, UnhandledCalls

log = logging.getLogger(__name__)


def is_ivr_call(candidate: CandidateCase) -> bool:
    """A candidate the IVR published of a call, not a record of the AMI side's own (a call
    recorded from its CDR, a callback): both share the hotline's candidate topic."""
    facts = candidate.facts
    return facts.get("recorded_from") != "cdr" and facts.get("call_purpose") != CALL_PURPOSE


class AmiSide:
    """The AMI client and the hotline features it feeds, on a supervised thread
    (``ami.side``) running one event loop; `start` and `stop` are idempotent."""

    def __init__(
        self,
        settings: TelephonyConfig,
        *,
        instance: str,
        state_dir: Path,
        publisher: CallbackPublisher,
        clock: Clock,
        keep_unsent: Callable[[Message], object] | None = None,
        ivr_feed: IvrFeed | None = None,
    ) -> None:
        config = settings.callbacks
        self.config = config
        self.store = CallbackStore(state_dir / "callbacks.sqlite3")
        secret = config.ami.secret.get_secret_value() if config.ami.secret else ""
        ami = config.ami
        self.client = AmiClient(
            ami.host,
            ami.port,
            ami.username,
            secret,
            connect_timeout_s=ami.connect_timeout_s,
            action_timeout_s=ami.action_timeout_s,
            boot_timeout_s=ami.boot_timeout_s,
            reconnect_min_s=ami.reconnect_min_s,
            reconnect_max_s=ami.reconnect_max_s,
            ping_interval_s=ami.ping_interval_s,
            name="ami",
        )
        self.service = CallbackService(
            config,
            store=self.store,
            dialer=AmiCallbackDialer(self.client, config),
            publisher=publisher,
            clock=clock,
            source=Source(kind=SourceKind.CALL, id=instance),
            timezone=settings.timezone,
            fallback_event_code=settings.fallback_event_code,
            do_not_call=DoNotCall(config.do_not_call, config.do_not_call_file),
            keep_unsent=keep_unsent,
            official_days=official_ruling(config.official_holidays),
        )
        self.unhandled = UnhandledCalls(
            config.unhandled_call_contexts,
            handled=self.store,
            publisher=publisher,
            source=Source(kind=SourceKind.CALL, id=instance),
            fallback_event_code=settings.fallback_event_code,
            clock=clock,
            grace_s=config.unhandled_grace_s,
            ivr_feed=ivr_feed,
        )
        # calls while this daemon was down, from Asterisk's Master.csv (off unless a path)
        self.cdr_csv = (
            CdrCatchUp(
                config.cdr_csv,
                calls=self.unhandled,
                position_file=state_dir / "cdr-csv.json",
                zone=ZoneInfo(settings.timezone),
                clock=clock,
            )
            if config.cdr_csv.path is not None
            else None
        )
        # the agent's screen pop (AgentConnect -> AgentCall), when the publisher speaks it
        self.desk = (
            AgentDesk(publisher, source=Source(kind=SourceKind.CALL, id=instance), clock=clock)
            if isinstance(publisher, AgentCallPublisher)
            else None
        )
        # the queue figures and the AMI state to the core's console (retained)
        self.queue_report = (
            QueueReport(publisher, source=Source(kind=SourceKind.CALL, id=instance), clock=clock)
            if isinstance(publisher, AgentQueuesPublisher)
            else None
        )
        self.client.add_listener(self._on_event)
        self.queues = QueuePoller(self.client, config.queues, interval_s=config.queue_poll_s)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self.rejected_events = 0
        self.rejected_candidates = 0
        self.late_ivr_calls = 0  # IVR candidates of calls already recorded from their CDR

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ami.side", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self, timeout_s: float = 10.0) -> None:
        thread, loop, main = self._thread, self._loop, self._main
        if thread is None:
            return
        if loop is not None and main is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main.cancel)
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("AMI side thread did not stop within %g s", timeout_s)
        self._thread = None
        self.store.close()

    def alive(self) -> bool:
        """Its thread runs (for the watchdog; AMI itself may be away: callbacks pause)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:
            log.exception("AMI side stopped on an error")

    def _on_event(self, frame: AmiFrame) -> None:
        if frame.event == "Cdr":
            self.unhandled.on_cdr(dict(frame.fields))
        elif frame.event == "AgentConnect" and self.desk is not None:
            self.desk.on_event(dict(frame.fields))
        if frame.event in QUEUE_EVENTS:
            self.queues.poke()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._started.set()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                async with self.client, asyncio.TaskGroup() as group:
                    if self.config.queues:
                        group.create_task(self.queues.run(), name="ami.queues")
                    if self.queue_report is not None:
                        group.create_task(self._report_queues(), name="ami.queue-report")
                    if self.cdr_csv is not None:
                        group.create_task(self.cdr_csv.run(), name="ami.cdr-csv")
                    await self.service.run()
            finally:
                self.unhandled.cancel()

    async def _report_queues(self) -> None:
        assert self.queue_report is not None
        while True:
            state, reason = self.service.state()  # as `health` says it, without the counts
            self.queue_report.tick(
                ami=self.client.state.value,
                health={"state": state, "reason": reason if state == "paused" else None},
                figures=self.queues.snapshot(),
            )
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ in (other threads)

    def case_event(self, payload: bytes) -> bool:
        """A payload from the case-event topic; a bad one is counted and dropped."""
        try:
            event = parse_message(payload, expect=CaseEvent)
        except ContractError:
            self.rejected_events += 1  # the status cache logs the reason
            return False
        assert isinstance(event, CaseEvent)
        return self.service.case_event(event)

    def ivr_candidate(self, payload: bytes) -> bool:
        """A payload from the IVR's candidate topic; a bad one is counted and dropped."""
        try:
            candidate = parse_message(payload, expect=CandidateCase)
        except ContractError as exc:
            self.rejected_candidates += 1
            log.warning("IVR candidate dropped: %s", exc)
            return False
        assert isinstance(candidate, CandidateCase)
        return self.ivr_call(candidate)

    def ivr_call(self, candidate: CandidateCase) -> bool:
        """What the IVR published of one call: its uniqueid is marked handled, the call is
        kept for a screen pop and the reporter's callback number for a callback. The AMI
        side's own call records come back on the same topic and are passed over."""
        if not is_ivr_call(candidate):
            return False
        uniqueid = candidate.facts.get("uniqueid")
        if isinstance(uniqueid, str) and uniqueid:
            if self.store.cdr_recorded(uniqueid):  # its candidate came later than the grace
                self.late_ivr_calls += 1
                log.warning(
                    "call %s reached the IVR but its candidate came after the call was recorded"
                    " from its CDR (telephony.callbacks.unhandled_grace_s %g s); the core sets"
                    " that record aside when it stores the IVR's",
                    uniqueid,
                    self.unhandled.grace_s,
                )
            try:
                self.store.remember_ivr_call(uniqueid, candidate.ts)
            except Exception:
                log.exception("call %s not marked handled", uniqueid)
        if self.desk is not None:
            try:
                self.desk.remember(candidate)
            except Exception:
                log.exception("call of case %s not kept for a screen pop", candidate.case_number)
        try:
            self.service.remember_reporter(candidate)
        except Exception:
            log.exception("callback number of case %s not kept", candidate.case_number)
        return True

    def health(self) -> dict[str, Any]:
        return {
            **self.service.health(),
            "ami": self.client.state.value,
            "queue_figures": self.queues.snapshot(),
            "screen_pops": self.desk.popped if self.desk else None,
            "cdr_csv": self.cdr_csv.health() if self.cdr_csv else None,
            "calls_recorded": self.unhandled.recorded,
            "late_ivr_calls": self.late_ivr_calls,
        }

    def describe(self) -> str:
        health = self.health()
        if health["state"] == "off":
            return (
                f"callbacks off; AMI {health['ami']}, {self.unhandled.recorded} calls recorded"
                f" from CDRs, {health['screen_pops'] or 0} screen pops"
            )
        counts = health["callbacks"]
        text = (
            f"callbacks {health['state']}: {counts.get('waiting', 0)} waiting,"
            f" {health['dialing_now']} dialling, {counts.get('done', 0)} done"
        )
        return f"{text} ({health['reason']})" if health["reason"] else text
