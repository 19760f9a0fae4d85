"""Hand-off of urgent cases to the city's emergency command centre (应急指挥中心).

An urgent case (an event code under ``core.emergency.event_prefixes``, 突发事件类 04xx by
default, or a candidate marked urgent) is handed over once it is registered (立案), over
an HTTP webhook signed with HMAC-SHA256, durably:

- `HandoffRelay` (one named thread, the same loop as the event relay) first queues every
  urgent registered case without a hand-off row (the queue is a table: a restart loses
  nothing, a case is queued once: its id is the key), then posts the due ones;
- a 2xx answer is the acknowledgement: the receiver's reference (``{"ack": "..."}``) and
  the time are stored and shown on the case; anything else (refused, 5xx, a timeout, no
  connection) is retried with exponential backoff; a duplicate answer (the receiver
  acknowledged a retry of what it had already taken) changes nothing;
- every post carries ``X-Citygw-Delivery`` (stable per case: the receiver's idempotency
  key), ``X-Citygw-Timestamp`` and ``X-Citygw-Signature: sha256=<hex HMAC of
  "<timestamp>.<body>">`` with the shared secret.

Pure parts here (payload, signature, backoff, the loop's decisions); the table and the
HTTP client are adapters (`adapters.storage.handoff_store`, `adapters.emergency_webhook`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.core.outgoing import _Loop
from gateway.core.workflow import Case

log = logging.getLogger(__name__)

SCHEMA = "citygw.emergency_handoff"
#: only cases created this recently are queued (switching the hand-off on does not send
#: the command centre every urgent case of the past)
QUEUE_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Handoff:
    case_id: str
    delivery_id: str
    payload: bytes
    attempts: int = 0
    next_attempt_at: datetime | None = None
    acked_at: datetime | None = None
    ack_ref: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the receiver said: ``ok`` (2xx) with its reference, or why not."""

    ok: bool
    ack_ref: str | None = None
    error: str | None = None


class HandoffStore(Protocol):
    def queue_urgent(
        self,
        prefixes: Sequence[str],
        payload: Callable[[Case], bytes],
        now: datetime,
        since: datetime,
    ) -> int:
        """Queue every urgent case registered (created since ``since``) without a row."""
        ...

    def due(self, now: datetime, limit: int) -> list[Handoff]: ...
    def acknowledged(self, case_id: str, at: datetime, ack_ref: str | None) -> None: ...
    def failed(self, case_id: str, attempts: int, retry_at: datetime, error: str) -> None: ...


class Poster(Protocol):
    def post(self, body: bytes, headers: dict[str, str]) -> Answer: ...


def payload(case: Case, event_name: str = "") -> bytes:
    """The hand-off message: what a command centre needs to act, as JSON (UTF-8)."""
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "version": "1.0",
        "delivery_id": delivery_id(case.id),
        "case_id": case.id,
        "case_number": case.number,
        "event_code": case.event_code,
        "event_name": event_name,
        "urgent": case.urgent,
        "title": case.title,
        "description": case.description,
        "reported_at": case.created_at.isoformat(),
        "grid_code": case.grid_code,
        "district": case.district,
        "address": case.address,
        "lat": case.lat,
        "lon": case.lon,
        "camera_id": case.camera_id,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")


def delivery_id(case_id: str) -> str:
    return f"handoff-{case_id}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """The receiver's check (tests, and a reference for the command centre's side)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def headers(secret: str, handoff: Handoff, now: datetime) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Citygw-Delivery": handoff.delivery_id,
        "X-Citygw-Timestamp": timestamp,
        "X-Citygw-Signature": sign(secret, timestamp, handoff.payload),
    }


def backoff(attempts: int, base_s: float, max_s: float) -> timedelta:
    """Wait before try ``attempts + 1``: base, 2 base, 4 base ... at most ``max_s``."""
    return timedelta(seconds=min(max_s, base_s * 2 ** max(0, attempts - 1)))


class HandoffRelay(_Loop):
    """Queues urgent registered cases and posts what is due, until acknowledged."""

    name = "core.emergency-handoff"

    def __init__(
        self,
        store: HandoffStore,
        poster: Poster,
        *,
        secret: str,
        prefixes: Sequence[str],
        now: Callable[[], datetime],
        event_name: Callable[[str], str] = lambda code: "",
        interval_s: float = 2.0,
        backoff_s: float = 2.0,
        max_backoff_s: float = 300.0,
        batch: int = 20,
        on_acknowledged: Callable[[str, dict[str, Any]], object] | None = None,
    ) -> None:
        super().__init__(interval_s=interval_s)
        self._store = store
        self._poster = poster
        self._secret = secret
        self._prefixes = tuple(prefixes)
        self._now = now
        self._event_name = event_name
        self._backoff = (backoff_s, max_backoff_s)
        self._batch = batch
        self.delivered = 0
        self._on_acknowledged = on_acknowledged

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        close = getattr(self._poster, "close", None)
        if callable(close):
            close()  # the HTTP client's connections

    def _tick(self) -> None:
        now = self._now()
        self._store.queue_urgent(
            self._prefixes,
            lambda c: payload(c, self._event_name(c.event_code)),
            now,
            now - QUEUE_WINDOW,
        )
        for handoff in self._store.due(self._now(), self._batch):
            if self._stopping.is_set():
                return
            self.deliver(handoff)

    def deliver(self, handoff: Handoff) -> Answer:
        """One try; the store learns the outcome (acknowledged, or when to try again)."""
        try:
            answer = self._poster.post(handoff.payload, headers(self._secret, handoff, self._now()))
        except Exception as exc:  # a poster must not stop the relay
            answer = Answer(False, error=f"{type(exc).__name__}: {exc}")
        now = self._now()
        if answer.ok:
            self._store.acknowledged(handoff.case_id, now, answer.ack_ref)
            self.delivered += 1
            if self._on_acknowledged is not None:  # shown on the case: a step in its log
                self._on_acknowledged(
                    handoff.case_id,
                    {
                        "ack_ref": answer.ack_ref,
                        "acked_at": now.isoformat(),
                        "attempts": handoff.attempts + 1,
                        "delivery_id": handoff.delivery_id,
                    },
                )
            log.info(
                "case %s handed to the command centre (ack %s)", handoff.case_id, answer.ack_ref
            )
        else:
            attempts = handoff.attempts + 1
            retry = now + backoff(attempts, *self._backoff)
            self._store.failed(handoff.case_id, attempts, retry, (answer.error or "")[:500])
            log.warning(
                "hand-off of case %s failed (try %d, next at %s): %s",
                handoff.case_id,
                attempts,
                retry.isoformat(),
                answer.error,
            )
        return answer
