"""The agent's desk, core side: an `AgentCall` from the hotline gateway pops on the
console of the user who answered it.

The gateway sends one `AgentCall` when Asterisk's queue connects a caller to an agent
(AMI ``AgentConnect``); ``core.agent_desk.agents`` says which console user answers on
the call's queue member interface. The pop carries what the gateway knew (the caller's
number, the IVR path: what the caller chose and recorded before the transfer) and what
the core knows: the caller's earlier cases by their callback number, the open ones
first counted, each with its state; and a recording link once the call's MixMonitor
file exists. It goes out on the console's event stream (kind ``agent_call``) to that
user only, and is kept (a few per user, in memory) for the console to show again after
a reload. A pop older than ``max_age_s`` (the broker was away) is dropped: the call is
over.

Every core receives every agent call (no shared subscription): the agent's browser may
be on any of them.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.contract import AgentCall, AgentQueues, ContractError, parse_message
from gateway.core.desk_settings import AgentDeskConfig
from gateway.core.workflow import OPEN_STATES, CaseState

log = logging.getLogger(__name__)

AGENT_CALL = "agent_call"


@dataclass(frozen=True)
class CallerCase:
    """One earlier case of a caller, as the pop lists it."""

    id: str
    number: str
    state: str
    event_code: str
    title: str
    created_at: datetime
    closed_at: datetime | None = None

    @property
    def open(self) -> bool:
        try:
            return CaseState(self.state) in OPEN_STATES
        except ValueError:
            return False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "state": self.state,
            "event_code": self.event_code,
            "title": self.title,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "open": self.open,
        }


class CallerHistory(Protocol):
    def cases_of_caller(self, number: str, limit: int) -> tuple[list[CallerCase], int, int]:
        """The caller's cases by callback number, newest first (at most ``limit``), with
        the count of all of them and of the open ones."""
        ...


#: publish(kind, data, user): the live hub, narrowed to one user (None: to everyone)
Publish = Callable[[str, Mapping[str, Any], str | None], object]

QUEUES = "queues"


class AgentDesk:
    def __init__(
        self,
        config: AgentDeskConfig,
        history: CallerHistory,
        publish: Publish,
        clock: Clock,
        *,
        recording_link: Callable[[str], dict[str, Any] | None] = lambda _uniqueid: None,
    ) -> None:
        self.config = config
        self._history = history
        self._publish = publish
        self._clock = clock
        self._recording_link = recording_link
        self._recent: dict[str, deque[dict[str, Any]]] = {}
        self._queues: dict[str, dict[str, Any]] = {}  # by gateway (source id)
        self._lock = threading.Lock()
        self.popped = 0
        self.unassigned = 0
        self.late = 0
        self.rejected = 0

    # ------------------------------------------------------------------ in (the MQTT thread)

    def on_payload(self, payload: bytes) -> list[dict[str, Any]]:
        """An ``agent-calls/+`` payload; the pops it made (none for a bad or late one)."""
        try:
            call = parse_message(payload, expect=AgentCall)
        except ContractError as exc:
            self.rejected += 1
            log.warning("agent call rejected: %s", exc)
            return []
        assert isinstance(call, AgentCall)
        return self.on_call(call)

    def on_call(self, call: AgentCall) -> list[dict[str, Any]]:
        age = self._clock.now() - call.ts
        if age > timedelta(seconds=self.config.max_age_s):
            self.late += 1
            log.info("agent call %s is %.0f s old: not popped", call.uniqueid, age.total_seconds())
            return []
        users = self.config.users_of(call.interface)
        if not users:
            self.unassigned += 1
            log.warning(
                "agent call %s answered on %s, which core.agent_desk.agents gives to no user",
                call.uniqueid,
                call.interface,
            )
            return []
        pop = self.pop_of(call)
        for user in users:
            data = {**pop, "agent": user}
            with self._lock:
                recent = self._recent.setdefault(user, deque(maxlen=self.config.recent_calls))
                recent.appendleft(data)
            self._publish(AGENT_CALL, data, user)
            self.popped += 1
        return [{**pop, "agent": user} for user in users]

    def pop_of(self, call: AgentCall) -> dict[str, Any]:
        number = call.caller_number or _ivr_callback(call.ivr)
        cases: list[CallerCase] = []
        total = open_total = 0
        if number:
            try:
                cases, total, open_total = self._history.cases_of_caller(
                    number, self.config.caller_cases
                )
            except Exception:  # the database may be busy: the pop still shows the call
                log.warning(
                    "earlier cases of the caller of %s not read", call.uniqueid, exc_info=True
                )
        return {
            "id": call.id,
            "uniqueid": call.uniqueid,
            "connected_at": call.ts,
            "caller_number": number,
            "caller_name": call.caller_name,
            "queue": call.queue,
            "interface": call.interface,
            "member_name": call.member_name,
            "hold_s": call.hold_s,
            "ivr": call.ivr,
            "cases": [c.as_dict() for c in cases],
            "cases_total": total,
            "cases_open": open_total,
            "recording": None,
        }

    def on_queues_payload(self, payload: bytes) -> dict[str, Any] | None:
        """An ``agent-queues/+`` payload (retained): the gateway's queue figures, kept
        and told to every console (``queues``). An empty payload: the gateway's were
        cleared; a bad one is counted."""
        if not payload:
            return None
        try:
            message = parse_message(payload, expect=AgentQueues)
        except ContractError as exc:
            self.rejected += 1
            log.warning("agent queues rejected: %s", exc)
            return None
        assert isinstance(message, AgentQueues)
        view = {
            "gateway": message.source.id,
            "at": message.ts,
            "ami": message.ami,
            "callbacks_paused": message.callbacks_paused,
            "paused_reason": message.paused_reason,
            "callbacks_state": message.callbacks_state,
            "figures_age_s": message.figures_age_s,
            "queues": [q.model_dump() for q in message.queues],
        }
        with self._lock:
            self._queues[message.source.id] = view
        self._publish(QUEUES, {"gateways": self.queues()}, None)
        return view

    def queues(self) -> list[dict[str, Any]]:
        """Every gateway's last queue figures, by gateway."""
        with self._lock:
            return [self._queues[k] for k in sorted(self._queues)]

    # ------------------------------------------------------------------ out (the API)

    def recent(self, user: str) -> list[dict[str, Any]]:
        """The user's last pops, newest first, each with its recording link if one exists now."""
        with self._lock:
            pops = list(self._recent.get(user, ()))
        return [{**pop, "recording": self._recording_link(pop["uniqueid"])} for pop in pops]

    def health(self) -> dict[str, int]:
        return {
            "popped": self.popped,
            "unassigned": self.unassigned,
            "late": self.late,
            "rejected": self.rejected,
        }


def _ivr_callback(ivr: Mapping[str, Any] | None) -> str:
    value = (ivr or {}).get("callback_number")
    return value if isinstance(value, str) else ""
