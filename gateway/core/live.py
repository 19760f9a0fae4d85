"""Live updates for the console: committed case changes and camera health, fanned out.

The `LiveHub` takes events from the core's threads (the event relay, the MQTT thread)
and offers each to every subscribed client's own bounded queue. Publishing never waits:
a client whose queue is full is dropped (its stream ends; the console reconnects and
reloads), so a slow browser can never hold up the core. Each event gets an id
``<epoch>.<n>``; the last ``history`` events are kept so a client reconnecting with
``Last-Event-ID`` receives what it missed, or is told to reload (``reset``) when that is
no longer possible (another epoch: the core restarted; or too far behind).

`StreamTickets` lets a browser's ``EventSource`` (which cannot send headers) open the
stream: an authenticated call exchanges its bearer token for a random one-time ticket
that lives a minute; the ticket, not the token, travels in the URL.

No I/O and no asyncio here: the HTTP layer supplies a ``wake`` callable per client.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.contract import CaseEvent
from gateway.core.cameras import CameraRegistry, CameraView
from gateway.core.settings import CoreConfig

log = logging.getLogger(__name__)

CASE = "case"
CAMERAS = "cameras"

Wake = Callable[[], None]


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: str
    kind: str
    data: Mapping[str, Any]
    #: set for a case event: only this department's users (and everyone else) see it
    department: str | None = None
    #: set for an agent's screen pop (`agent_desk`): that user only
    user: str | None = None


class Subscription:
    """One client's queue. ``drain()`` takes what is waiting; ``ended`` once dropped or closed."""

    def __init__(self, name: str, maxsize: int, wants: Callable[[LiveEvent], bool], wake: Wake):
        self.name = name
        self._maxsize = maxsize
        self._wants = wants
        self._wake = wake
        self._queue: deque[LiveEvent] = deque()
        self._lock = threading.Lock()
        self.dropped = False
        self.closed = False

    @property
    def ended(self) -> bool:
        return self.dropped or self.closed

    def _offer(self, event: LiveEvent) -> bool:
        """Queue ``event`` if the client wants it; False if the queue was full (drop me)."""
        if not self._wants(event):
            return True
        with self._lock:
            if self.ended:
                return True
            if len(self._queue) >= self._maxsize:
                self.dropped = True
                self._queue.clear()
                return False
            self._queue.append(event)
        self._poke()
        return True

    def _end(self, *, dropped: bool) -> None:
        with self._lock:
            if dropped:
                self.dropped = True
                self._queue.clear()
            else:
                self.closed = True
        self._poke()

    def _poke(self) -> None:
        try:
            self._wake()
        except Exception:  # its event loop is gone: the client is going away anyway
            log.debug("could not wake stream %s", self.name, exc_info=True)

    def drain(self) -> list[LiveEvent]:
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            return events


class LiveHub:
    """Fan-out of `LiveEvent`s to subscribers, each with a bounded queue (see the module doc)."""

    def __init__(self, *, queue_size: int = 256, history: int = 1000, max_clients: int = 200):
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.epoch = secrets.token_hex(4)
        self._queue_size = queue_size
        self._max_clients = max_clients
        self._history: deque[LiveEvent] = deque(maxlen=history)
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._next = 1
        self._closed = False
        self.published = 0
        self.dropped_clients = 0

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(
        self,
        kind: str,
        data: Mapping[str, Any],
        *,
        department: str | None = None,
        user: str | None = None,
    ) -> LiveEvent:
        """Offer one event to every subscriber now; never blocks on a client."""
        with self._lock:
            event = LiveEvent(f"{self.epoch}.{self._next}", kind, data, department, user)
            self._next += 1
            self._history.append(event)
            subscribers = list(self._subscribers)
            self.published += 1
        for subscription in subscribers:
            if not subscription._offer(event):
                self._drop(subscription)
        return event

    def _drop(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription not in self._subscribers:
                return
            self._subscribers.discard(subscription)
            self.dropped_clients += 1
        log.warning(
            "live stream %s fell %d events behind and was disconnected",
            subscription.name,
            self._queue_size,
        )
        subscription._end(dropped=True)

    def subscribe(
        self,
        name: str,
        wake: Wake,
        *,
        wants: Callable[[LiveEvent], bool] = lambda _event: True,
        last_event_id: str | None = None,
    ) -> tuple[Subscription, list[LiveEvent] | None]:
        """A new subscription and, for ``last_event_id``, the events it missed (None: reload).

        Raises `HubFull` when ``max_clients`` streams are open, `HubClosed` after `close`.
        """
        subscription = Subscription(name, self._queue_size, wants, wake)
        with self._lock:
            if self._closed:
                raise HubClosed("the core is stopping")
            if len(self._subscribers) >= self._max_clients:
                raise HubFull(f"{self._max_clients} live streams are open already")
            self._subscribers.add(subscription)
            missed = self._since(last_event_id) if last_event_id else []
        if missed is not None:
            missed = [e for e in missed if wants(e)]
        return subscription, missed

    def gap(self) -> None:
        """Events went by unpublished: nobody can resume across this point."""
        with self._lock:
            self._history.clear()
            self._next += 1

    def refusal(self) -> tuple[str, str] | None:
        """(code, reason) if a new subscription would be refused now, else None."""
        with self._lock:
            if self._closed:
                return "stopping", "the core is stopping"
            if len(self._subscribers) >= self._max_clients:
                return "busy", f"{self._max_clients} live streams are open already"
        return None

    def _since(self, last_event_id: str) -> list[LiveEvent] | None:
        epoch, _, number = last_event_id.partition(".")
        if epoch != self.epoch or not number.isdigit():
            return None
        seen = int(number)
        if seen >= self._next:
            return None
        oldest = int(self._history[0].id.partition(".")[2]) if self._history else self._next
        if seen + 1 < oldest:
            return None  # some were forgotten already
        return [e for e in self._history if int(e.id.partition(".")[2]) > seen]

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def close(self) -> None:
        """End every stream (the core is stopping); later subscriptions are refused."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscription in subscribers:
            subscription._end(dropped=False)


class HubFull(Exception):
    pass


class HubClosed(Exception):
    pass


# --------------------------------------------------------------------------- what is sent


_CHANGE_FIELDS = (
    "case_id",
    "case_number",
    "action",
    "from_state",
    "to_state",
    "event_code",
    "department",
    "light",
    "ts",
)


def case_changes(
    events: Sequence[tuple[int, str, bytes]],
) -> list[tuple[dict[str, Any], str | None]]:
    """The console's view of committed case events (relay rows): (data, department).

    The core wrote these `CaseEvent`s itself a moment ago: read as plain JSON (a full
    contract validation per event would cost the relay thread more than the rest).
    """
    out: list[tuple[dict[str, Any], str | None]] = []
    for _seq, topic, payload in events:
        if not topic.endswith("/events"):
            continue  # a command the core sends through the same outbox (a camera check)
        try:
            event = json.loads(payload)
            if event.get("schema") != CaseEvent.SCHEMA or not event.get("case_id"):
                raise ValueError(f"not a case event: {str(event.get('schema'))[:40]}")
        except (ValueError, AttributeError) as error:
            log.warning("case event not forwarded to the console: %s", error)
            continue
        data = {name: event.get(name) for name in _CHANGE_FIELDS}
        data["event_id"] = event.get("id")
        taken_from = (event.get("facts") or {}).get("from_community")
        if taken_from:  # 收回: the community that no longer holds the case is told too
            data["from_community"] = taken_from
        out.append((data, event.get("department")))
    return out


# --------------------------------------------------------------------------- tickets


@dataclass(frozen=True, slots=True)
class Ticket:
    """Who may open one stream: kept in memory only, with the bearer token to re-check."""

    bearer: str = field(repr=False)
    expires_at: datetime


class StreamTickets:
    """One-time, short-lived tickets for ``EventSource`` URLs (thread-safe, bounded)."""

    def __init__(self, ttl: timedelta, *, max_outstanding: int = 10_000) -> None:
        self.ttl = ttl
        self._max = max_outstanding
        self._tickets: dict[str, Ticket] = {}
        self._lock = threading.Lock()

    def issue(self, bearer: str, now: datetime) -> tuple[str, datetime]:
        ticket = secrets.token_urlsafe(32)
        expires_at = now + self.ttl
        with self._lock:
            self._sweep(now)
            if len(self._tickets) >= self._max:  # oldest first: dicts keep insertion order
                del self._tickets[next(iter(self._tickets))]
            self._tickets[ticket] = Ticket(bearer, expires_at)
        return ticket, expires_at

    def redeem(self, ticket: str, now: datetime) -> str | None:
        """The bearer token behind ``ticket`` if it is valid; a ticket works once."""
        with self._lock:
            found = self._tickets.pop(ticket, None)
        if found is None or found.expires_at <= now:
            return None
        return found.bearer

    def _sweep(self, now: datetime) -> None:
        for key in [k for k, t in self._tickets.items() if t.expires_at <= now]:
            del self._tickets[key]


# --------------------------------------------------------------------------- the parts together


#: a relay batch larger than this goes out without case summaries (the clients reload)
MAX_SUMMARIES = 50


@dataclass
class LiveParts:
    """What the core's live routes share with the daemon: camera health, the hub, tickets.

    ``summarize(case_id)`` (set by the API, which knows how a case is shown) adds the case
    as the case list shows it to each case event, so a client can show the change without
    asking; only while someone listens and for small batches (a bulk intake is not read
    back case by case: its events go out bare and the clients reload their lists).
    """

    cameras: CameraRegistry
    hub: LiveHub
    tickets: StreamTickets
    summarize: Callable[[str], dict[str, Any] | None] | None = None

    @classmethod
    def create(cls, config: CoreConfig) -> LiveParts:
        stream = config.events_stream
        return cls(
            CameraRegistry(timedelta(seconds=config.camera_health.stale_after_s)),
            LiveHub(
                queue_size=stream.client_queue,
                history=stream.history,
                max_clients=stream.max_clients,
            ),
            StreamTickets(timedelta(seconds=stream.ticket_ttl_s)),
        )

    def cases_committed(self, events: Sequence[tuple[int, str, bytes]]) -> None:
        """The event relay's listener: committed case events, in commit order.

        While nobody listens the events are not even read: the hub only notes the gap, so
        a client resuming from before it reloads instead.
        """
        if not self.hub.subscribers:
            self.hub.gap()
            return
        changes = case_changes(events)
        detailed = (
            self.summarize is not None
            and len(changes) <= MAX_SUMMARIES
            and self.hub.subscribers > 0
        )
        summaries: dict[str, dict[str, Any] | None] = {}
        for data, department in changes:
            if detailed:
                case_id = data["case_id"]
                if case_id not in summaries:
                    summaries[case_id] = self._summary(case_id)
                data = {**data, "case": summaries[case_id]}
            self.hub.publish(CASE, data, department=department)

    def _summary(self, case_id: str) -> dict[str, Any] | None:
        assert self.summarize is not None
        try:
            return self.summarize(case_id)
        except Exception:  # the database may be busy: the client reloads instead
            log.warning("case %s not summarised for the live stream", case_id, exc_info=True)
            return None

    def cameras_changed(self, views: list[CameraView]) -> None:
        """The camera consumer's listener (an empty list: a camera was removed)."""
        self.hub.publish(CAMERAS, {"cameras": [v.as_dict() for v in views]})
