"""Dead letters: messages a consumer refused for good, kept where admins can see them.

A consumer refuses a message that breaks the contract (`gateway.contract.ContractError`:
its stable code and a reason for people) or one that fails on its own when stored
(``store_failed``). Either way the message is recorded here *before* it is acknowledged,
so refusing it never loses the fact that it came; the record keeps its topic, its size,
its first `HEAD_BYTES` bytes and, when one can be read, its ``id``. The core keeps the
newest records in its database (`adapters.storage.dead_letter_store`); admins read them
in the API (``GET /api/v1/dead-letters``) and the console.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.contract import ContractError

log = logging.getLogger(__name__)

#: how many bytes of a refused payload are kept
HEAD_BYTES = 2048
#: longest topic kept (an MQTT topic may be 64 KiB long)
MAX_TOPIC_CHARS = 1024
MAX_REASON_CHARS = 4000
#: a valid message that failed alone when stored (not a database outage)
STORE_FAILED = "store_failed"
#: payloads larger than this are not parsed again just to find their id
_ID_SCAN_MAX_BYTES = 1024 * 1024


def message_id_of(payload: bytes) -> str | None:
    """The ``id`` of a refused payload if one can be read (so its producer stops resending it)."""
    if len(payload) > _ID_SCAN_MAX_BYTES:
        return None
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    value = document.get("id") if isinstance(document, dict) else None
    if isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable():
        return value
    return None


@dataclass(frozen=True)
class DeadLetterRecord:
    """One refused message, as the core keeps it."""

    received_at: datetime
    topic: str
    code: str
    reason: str
    size: int
    head: bytes
    message_id: str | None = None

    @classmethod
    def of(
        cls,
        *,
        topic: str,
        payload: bytes,
        error: ContractError,
        at: datetime,
        message_id: str | None = None,
    ) -> DeadLetterRecord:
        return cls(
            received_at=at,
            topic=_text(topic, MAX_TOPIC_CHARS),
            code=_text(error.code, 32),
            reason=_text(error.reason, MAX_REASON_CHARS),
            size=len(payload),
            head=bytes(payload[:HEAD_BYTES]),
            message_id=message_id,
        )


def _text(value: str, most: int) -> str:
    """At most ``most`` characters, NUL written out (PostgreSQL's text refuses NUL)."""
    return value[:most].replace("\x00", "\\x00")


@dataclass(frozen=True)
class StoredDeadLetter:
    """A kept dead letter and its place in the table (``seq``: larger is newer)."""

    seq: int
    record: DeadLetterRecord

    def to_dict(self) -> dict[str, object]:
        record = self.record
        return {
            "seq": self.seq,
            "received_at": record.received_at,
            "topic": record.topic,
            "code": record.code,
            "reason": record.reason,
            "size": record.size,
            "message_id": record.message_id,
            "head_bytes": len(record.head),
            # for people: the first bytes as text, undecodable bytes shown as U+FFFD
            "head_text": record.head.decode("utf-8", errors="replace"),
            "head_hex": record.head[:256].hex(),
        }


class DeadLetterSink(Protocol):
    """Keeps dead letters; returns once they are durable, raises when it could not keep them."""

    def store_dead_letters(self, records: Sequence[DeadLetterRecord]) -> None: ...


class DeadLetterReader(Protocol):
    def dead_letters(self, offset: int, limit: int) -> tuple[list[StoredDeadLetter], int]:
        """Newest first: one page of the kept dead letters, and how many are kept."""
        ...


def keep(
    sink: DeadLetterSink,
    records: Sequence[DeadLetterRecord],
    is_outage: Callable[[BaseException], bool],
) -> bool:
    """Store ``records``; True once stored or given up on. An outage is raised (the caller
    retries it); any other failure is only logged: a record that cannot be kept must not
    hold a consumer back (the log and the dead-letter topic still have it)."""
    try:
        sink.store_dead_letters(records)
    except Exception as exc:
        if is_outage(exc):
            raise
        log.exception("could not keep %d dead letters; they are only logged", len(records))
    return True


class RefusalLog:
    """Log lines for refused messages that a flood of them cannot multiply: the first
    ``burst`` refusals of each ``window_s`` are logged one by one (topic, size, code,
    reason); the rest are counted by code and summed up in one line when the window ends
    (`tick`, on the next refusal, or `flush` when the consumer stops).

    Only the log is bounded: every refused message is still counted (the consumer's stats,
    the metrics) and kept as a dead letter. A fuzzer sending thousands of messages a second
    would otherwise cost a formatted, written log line each, on the consumer's worker.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 0 or window_s <= 0:
            raise ValueError("burst must be >= 0 and window_s > 0")
        self._log = logger
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._window_started = clock()
        self._logged = 0
        self._held: Counter[str] = Counter()
        self._held_bytes = 0

    def refused(self, topic: str, size: int, code: str, reason: str) -> None:
        """One refused message: logged now, or counted for the window's summary."""
        self.tick()
        if self._logged < self._burst:
            self._logged += 1
            self._log.warning(
                "rejected message on %s (%d bytes): %s: %s", topic[:300], size, code, reason[:500]
            )
            return
        self._held[code] += 1
        self._held_bytes += size

    def tick(self) -> None:
        """End the window if its time is up (its summary logged); call it when idle."""
        now = self._clock()
        if now - self._window_started >= self._window_s:
            self.flush()
            self._window_started = now
            self._logged = 0

    def flush(self) -> None:
        """Log the summary of what was held back, if anything was."""
        if not self._held:
            return
        held = sum(self._held.values())
        codes = ", ".join(f"{code} {count}" for code, count in self._held.most_common())
        self._log.warning(
            "rejected %d more messages (%d bytes) not logged one by one: %s",
            held,
            self._held_bytes,
            codes,
        )
        self._held.clear()
        self._held_bytes = 0

    @property
    def held(self) -> int:
        """Refusals counted but not yet logged in a summary."""
        return sum(self._held.values())


def is_os_error(exc: BaseException) -> bool:
    """The default ``is_outage`` of consumers: the connection or the disk, not the data."""
    return isinstance(exc, OSError)
