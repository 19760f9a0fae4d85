"""The agent's desk, gateway side: an agent took a queued call -> `AgentCall` on MQTT.

The IVR hands a caller to the agents' queue (0, a consultation, an emergency, three
misses) and publishes the call's candidate as it leaves the AGI script; a moment later
Asterisk's queue rings an agent, and when the agent answers AMI says ``AgentConnect``
(read class ``agent``). `AgentDesk` remembers the IVR's last calls by the caller
channel's uniqueid (the same channel goes on from the AGI into the queue), and turns
each ``AgentConnect`` into an `AgentCall` carrying that call's IVR path, which the core
pops on the agent's console. A caller who reached the queue without the IVR (gateway
down, a direct queue number) still pops, with the number only.

Recorded facts (``tests/fixtures/asterisk-ami/queue-call``): ``AgentConnect`` names the
caller's channel (``Uniqueid``, ``CallerIDNum``), the queue, the member's ``Interface``
and ``MemberName``, and ``HoldTime``; it comes after ``QueueCallerLeave``. No I/O here:
the publisher is given.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from gateway.clock import Clock
from gateway.contract import (
    AgentCall,
    AgentQueues,
    CandidateCase,
    QueueFigure,
    Source,
    stable_message_id,
)

log = logging.getLogger(__name__)

#: the IVR facts an agent reads in the pop (what was chosen and recorded so far)
_IVR_FACTS = (
    "call_purpose",
    "service",
    "stage",
    "outcome",
    "keys",
    "transfer_reason",
    "category",
    "district_key",
    "recordings",
    "status_case_number",
    "state_heard",
    "caller",
    "started_at",
    "ended_at",
)


@runtime_checkable
class AgentCallPublisher(Protocol):
    def agent_call(self, call: AgentCall) -> int: ...


def ivr_summary(candidate: CandidateCase) -> dict[str, Any]:
    """What the IVR knew of a call, as the pop shows it (the partial report)."""
    facts = {k: candidate.facts[k] for k in _IVR_FACTS if k in candidate.facts}
    reporter = candidate.reporter
    return {
        "title": candidate.title,
        "description": candidate.description,
        "event_code": candidate.event_code,
        "case_number": candidate.case_number,
        "partial": candidate.partial,
        "urgent": candidate.urgent,
        "district": candidate.location.district if candidate.location else None,
        "grid_code": candidate.location.grid_code if candidate.location else None,
        "callback_number": reporter.callback_number if reporter else None,
        "evidence": [e.role.value for e in candidate.evidence],
        "facts": facts,
    }


def _number(value: str) -> str:
    return "" if value in ("", "<unknown>") else value


class AgentDesk:
    """IVR calls in (`remember`), AMI ``AgentConnect`` in (`on_event`), `AgentCall` out."""

    def __init__(
        self,
        publisher: AgentCallPublisher,
        *,
        source: Source,
        clock: Clock,
        keep: int = 2000,
        keep_for: timedelta = timedelta(hours=2),
    ) -> None:
        self._publisher = publisher
        self._source = source
        self._clock = clock
        self._keep = keep
        self._keep_for = keep_for
        self._calls: OrderedDict[str, tuple[datetime, dict[str, Any]]] = OrderedDict()
        self.popped = 0
        self.failed = 0

    def remember(self, candidate: CandidateCase) -> None:
        """An IVR call as published (any thread: the dict operations are atomic enough
        for one writer and one reader, and a lost race only loses the IVR path)."""
        uniqueid = candidate.facts.get("uniqueid")
        if not isinstance(uniqueid, str) or not uniqueid:
            return
        self._calls[uniqueid] = (self._clock.now(), ivr_summary(candidate))
        self._calls.move_to_end(uniqueid)
        self._forget_old()

    def _forget_old(self) -> None:
        oldest = self._clock.now() - self._keep_for
        while self._calls:
            key, (at, _summary) = next(iter(self._calls.items()))
            if len(self._calls) <= self._keep and at >= oldest:
                break
            self._calls.pop(key, None)

    def on_event(self, fields: Mapping[str, str]) -> AgentCall | None:
        """An AMI event (its fields); an ``AgentConnect`` becomes an `AgentCall`, published."""
        if fields.get("Event") != "AgentConnect":
            return None
        call = self.agent_call(fields)
        if call is None:
            return None
        try:
            self._publisher.agent_call(call)
            self.popped += 1
            log.info("call %s taken by %s: screen pop sent", call.uniqueid, call.interface)
        except Exception:
            self.failed += 1
            log.exception("screen pop of call %s not sent", call.uniqueid)
        return call

    def agent_call(self, fields: Mapping[str, str]) -> AgentCall | None:
        uniqueid = fields.get("Uniqueid", "")
        interface = fields.get("Interface", "")
        if not uniqueid or not interface:
            log.warning("AgentConnect without Uniqueid or Interface: no screen pop")
            return None
        known = self._calls.get(uniqueid) or self._calls.get(fields.get("Linkedid", ""))
        try:
            hold_s = max(0, min(86400, int(fields.get("HoldTime", "0") or 0)))
        except ValueError:
            hold_s = 0
        return AgentCall.create(
            source=self._source,
            id=stable_message_id("agent", self._source.id, uniqueid, interface),
            ts=self._clock.now(),
            uniqueid=uniqueid[:64],
            linkedid=fields.get("Linkedid", "")[:64],
            caller_number=_number(fields.get("CallerIDNum", ""))[:64],
            caller_name=_number(fields.get("CallerIDName", ""))[:100],
            queue=fields.get("Queue", "")[:80],
            interface=interface[:200],
            member_name=fields.get("MemberName", "")[:100],
            hold_s=hold_s,
            ivr=known[1] if known else None,
        )


#: AMI events after which the queue figures have changed (`QueuePoller.poke`)
QUEUE_EVENTS = frozenset(
    {
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentConnect",
        "AgentComplete",
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberAdded",
        "QueueMemberRemoved",
    }
)


@runtime_checkable
class AgentQueuesPublisher(Protocol):
    def agent_queues(self, figures: AgentQueues) -> int: ...


class QueueReport:
    """The queue figures (and the AMI and callbacks state) to the core: an `AgentQueues`
    when what it says changed, and at least every ``refresh_s`` (retained: a core starting
    reads it)."""

    def __init__(
        self,
        publisher: AgentQueuesPublisher,
        *,
        source: Source,
        clock: Clock,
        refresh_s: float = 60.0,
    ) -> None:
        self._publisher = publisher
        self._source = source
        self._clock = clock
        self.refresh_s = refresh_s
        self._last: tuple[Any, ...] | None = None
        self._last_at = 0.0
        self.published = 0

    def tick(self, *, ami: str, health: Mapping[str, Any], figures: Mapping[str, Any]) -> bool:
        """``figures``: `QueuePoller.snapshot`; ``health``: the callbacks' (state, reason).
        Publishes when due; True if it did."""
        queues = [QueueFigure(**q) for q in (figures.get("queues") or {}).values()]
        state = str(health.get("state") or "")[:16]
        paused = state == "paused"
        reason = str(health.get("reason") or "")[:300]
        said = (ami, state, reason, tuple(queues))
        now = self._clock.monotonic()
        if said == self._last and now - self._last_at < self.refresh_s:
            return False
        message = AgentQueues.create(
            source=self._source,
            ts=self._clock.now(),
            ami=ami[:32],
            callbacks_paused=paused,
            paused_reason=reason,
            callbacks_state=state,
            figures_age_s=figures.get("age_s"),
            queues=queues,
        )
        try:
            self._publisher.agent_queues(message)
        except Exception:
            log.exception("queue figures not published")
            return False
        self._last, self._last_at = said, now
        self.published += 1
        return True
