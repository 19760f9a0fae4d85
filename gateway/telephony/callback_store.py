"""The callbacks' durable state on the gateway: one small SQLite file.

- ``reporters``: the callback number of each case this gateway took on the hotline
  (case number → number), written when its candidate is safely in the outbox. Case
  events carry no phone numbers; the number stays on the edge that heard it.
- ``callbacks``: one row per case id (the idempotency key: a redelivered or repeated
  close event, a restarted gateway or core, finds the row and adds nothing).
- ``ivr_calls``: the uniqueids of calls the IVR published (a week), so that a CDR of a
  call it handled is not taken for a call that never reached it (`unhandled_calls`).
- ``cdr_calls``: the uniqueids of calls recorded from a CDR (30 days), whether the CDR came
  over AMI or from ``Master.csv``, so that no call is recorded twice (`unhandled_calls`).
- ``attempts``: one row per call made, written *before* the Originate is sent; its
  outcome is filled in after. At start-up an attempt without an outcome was cut short
  by a crash: its callback ends as ``outcome_unknown`` and nobody is called again.

Every method takes the one lock: the MQTT thread adds callbacks while the callbacks'
loop works on them.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

from gateway.telephony.callback_policy import (
    Callback,
    CallbackResult,
    CallbackState,
    DialOutcome,
    WaitReason,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reporters (
    case_number TEXT PRIMARY KEY, number TEXT NOT NULL, candidate_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callbacks (
    case_id TEXT PRIMARY KEY, case_number TEXT NOT NULL, number TEXT NOT NULL,
    closed_at TEXT NOT NULL, next_at TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL, wait_reason TEXT, result TEXT, satisfaction TEXT,
    last_outcome TEXT, event_code TEXT, notified TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks (state, next_at);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, number TEXT NOT NULL,
    day TEXT NOT NULL, started_at TEXT NOT NULL, outcome TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS attempts_by_number ON attempts (number, day);
CREATE TABLE IF NOT EXISTS ivr_calls (uniqueid TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cdr_calls (uniqueid TEXT PRIMARY KEY, at TEXT NOT NULL);
"""

_COLUMNS = (
    "case_id, case_number, number, closed_at, next_at, state, attempts, wait_reason,"
    " result, satisfaction, last_outcome, event_code, notified"
)


class CallbackStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ reporters

    def remember_reporter(
        self, case_number: str, number: str, candidate_id: str, at: datetime
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO reporters VALUES (?, ?, ?, ?)",
                (case_number, number, candidate_id, at.isoformat()),
            )

    def reporter_number(self, case_number: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT number FROM reporters WHERE case_number = ?", (case_number,)
            ).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ calls the IVR handled

    def remember_ivr_call(self, uniqueid: str, at: datetime) -> None:
        """A call the IVR published (its CDR is then no unhandled call); kept 7 days."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO ivr_calls VALUES (?, ?)", (uniqueid, at.isoformat()))
            db.execute(
                "DELETE FROM ivr_calls WHERE at < ?", ((at - timedelta(days=7)).isoformat(),)
            )

    def ivr_handled(self, uniqueid: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM ivr_calls WHERE uniqueid = ?", (uniqueid,)
            ).fetchone()
        return row is not None

    # ------------------------------------------------------------------ calls recorded from CDRs

    def remember_cdr_call(self, uniqueid: str, at: datetime) -> None:
        """A call recorded from its CDR (over AMI or from Master.csv); kept 30 days."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO cdr_calls VALUES (?, ?)", (uniqueid, at.isoformat()))
            db.execute(
                "DELETE FROM cdr_calls WHERE at < ?", ((at - timedelta(days=30)).isoformat(),)
            )

    def cdr_recorded(self, uniqueid: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM cdr_calls WHERE uniqueid = ?", (uniqueid,)
            ).fetchone()
        return row is not None

    # ------------------------------------------------------------------ callbacks

    def add(self, callback: Callback) -> bool:
        """Store a new callback; False if this case already has one (idempotent)."""
        with self._tx() as db:
            cursor = db.execute(
                f"INSERT OR IGNORE INTO callbacks ({_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _row(callback),
            )
            return cursor.rowcount == 1

    def get(self, case_id: str) -> Callback | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM callbacks WHERE case_id = ?", (case_id,)
            ).fetchone()
        return _callback(row) if row else None

    def save(self, callback: Callback) -> None:
        with self._tx() as db:
            db.execute(
                f"REPLACE INTO callbacks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _row(callback),
            )

    def due(self, now: datetime, limit: int) -> list[Callback]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM callbacks WHERE state = ? AND next_at <= ?"
                " ORDER BY next_at, case_id LIMIT ?",
                (CallbackState.WAITING.value, now.isoformat(), limit),
            ).fetchall()
        return [_callback(row) for row in rows]

    def next_due(self) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_at) FROM callbacks WHERE state = ?",
                (CallbackState.WAITING.value,),
            ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def counts(self) -> dict[str, int]:
        """Callbacks by state; done ones by result (``done:answered``), waiting ones by
        reason (``waiting:do_not_call``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT state, COALESCE(result, wait_reason, ''), COUNT(*) FROM callbacks GROUP BY 1, 2"
            ).fetchall()
        out: dict[str, int] = {}
        for state, result, n in rows:
            out[state] = out.get(state, 0) + n
            if result:
                out[f"{state}:{result}"] = n
        return out

    # ------------------------------------------------------------------ attempts

    def begin_attempt(self, callback: Callback, day: date, now: datetime) -> tuple[Callback, str]:
        """Count the attempt and mark the callback dialling, durably, before the call;
        returns it and the attempt's id (unique: calls Asterisk refused have one too)."""
        dialing = dataclasses.replace(
            callback, state=CallbackState.DIALING, attempts=callback.attempts + 1
        )
        with self._tx() as db:
            (made,) = db.execute(
                "SELECT COUNT(*) FROM attempts WHERE case_id = ?", (callback.case_id,)
            ).fetchone()
            attempt_id = callback.attempt_id(int(made) + 1)
            db.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                (
                    attempt_id,
                    callback.case_id,
                    callback.number,
                    day.isoformat(),
                    now.isoformat(),
                ),
            )
            db.execute(
                f"REPLACE INTO callbacks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _row(dialing),
            )
        return dialing, attempt_id

    def finish_attempt(
        self, attempt_id: str, outcome: DialOutcome, detail: str, callback: Callback
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET outcome = ?, detail = ? WHERE attempt_id = ?",
                (outcome.value, detail[:500], attempt_id),
            )
            db.execute(
                f"REPLACE INTO callbacks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _row(callback),
            )

    def calls_on(self, number: str, day: date) -> int:
        """Calls made to ``number`` on local ``day`` (those Asterisk did not take excluded)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM attempts WHERE number = ? AND day = ?"
                " AND (outcome IS NULL OR outcome != ?)",
                (number, day.isoformat(), DialOutcome.NOT_SENT.value),
            ).fetchone()
        return int(row[0])

    def attempts_of(self, case_id: str) -> list[tuple[str, str | None]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT attempt_id, outcome FROM attempts WHERE case_id = ? ORDER BY started_at",
                (case_id,),
            ).fetchall()
        return [(a, o) for a, o in rows]

    def recover(self) -> list[Callback]:
        """After a crash: callbacks left dialling end as outcome unknown (never re-called)."""
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM callbacks WHERE state = ?", (CallbackState.DIALING.value,)
            ).fetchall()
            recovered = []
            for row in rows:
                cut = _callback(row)
                ended = dataclasses.replace(
                    cut,
                    state=CallbackState.DONE,
                    wait_reason=None,
                    result=CallbackResult.OUTCOME_UNKNOWN,
                    last_outcome=DialOutcome.LOST,
                )
                db.execute(
                    "UPDATE attempts SET outcome = ?, detail = ? WHERE case_id = ? AND outcome IS NULL",
                    (DialOutcome.LOST.value, "gateway stopped during the call", cut.case_id),
                )
                db.execute(
                    f"REPLACE INTO callbacks ({_COLUMNS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _row(ended),
                )
                recovered.append(ended)
        return recovered


def _row(c: Callback) -> tuple[object, ...]:
    return (
        c.case_id,
        c.case_number,
        c.number,
        c.closed_at.isoformat(),
        c.next_at.isoformat(),
        c.state.value,
        c.attempts,
        c.wait_reason.value if c.wait_reason else None,
        c.result.value if c.result else None,
        c.satisfaction,
        c.last_outcome.value if c.last_outcome else None,
        c.event_code,
        ",".join(sorted(c.notified)),
    )


def _callback(row: tuple[object, ...]) -> Callback:
    (
        case_id,
        case_number,
        number,
        closed_at,
        next_at,
        state,
        attempts,
        wait,
        result,
        satisfaction,
        last,
        event_code,
        notified,
    ) = row
    return Callback(
        case_id=str(case_id),
        case_number=str(case_number),
        number=str(number),
        closed_at=datetime.fromisoformat(str(closed_at)),
        next_at=datetime.fromisoformat(str(next_at)),
        state=CallbackState(str(state)),
        attempts=int(attempts),  # type: ignore[call-overload]
        wait_reason=WaitReason(str(wait)) if wait else None,
        result=CallbackResult(str(result)) if result else None,
        satisfaction=str(satisfaction) if satisfaction else None,
        last_outcome=DialOutcome(str(last)) if last else None,
        event_code=str(event_code) if event_code else None,
        notified=frozenset(str(notified).split(",")) - {""} if notified else frozenset(),
    )
