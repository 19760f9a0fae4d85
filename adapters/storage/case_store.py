"""The core's database on SQLAlchemy 2 (Core): cases, steps, candidates, evidence, events.

`SqlCaseStore` implements `gateway.core.ports.CaseStore` (users are `user_store`'s). A
`transaction()` is one database transaction (SQLite: ``BEGIN IMMEDIATE``, one writer at a
time; PostgreSQL: ``SELECT ... FOR UPDATE`` on the case being changed). Reads outside a
transaction use plain, short read transactions.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic_core
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from adapters.storage import schema as t
from adapters.storage.database import migrate, open_engine
from adapters.storage.wal_checkpoint import WalCheckpointer
from gateway.contract import CandidateCase, Evidence
from gateway.core.ports import (
    Box,
    CaseDetail,
    CaseFilter,
    CaseScope,
    ConcurrentUpdate,
    EvidenceLink,
    StoredStep,
)
from gateway.core.workflow import OPEN_STATES, Action, Case, CaseState, Pending, Role, Step

log = logging.getLogger(__name__)

_OPEN = [str(s) for s in OPEN_STATES]
_CASE_NUMBER_COUNTER = "case_number"


def case_to_row(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "state": str(case.state),
        "event_code": case.event_code,
        "created_at": case.created_at,
        "source_kind": case.source_kind,
        "title": case.title,
        "description": case.description,
        "grid_code": case.grid_code,
        "district": case.district,
        "address": case.address,
        "camera_id": case.camera_id,
        "zone_id": case.zone_id,
        "lat": case.lat,
        "lon": case.lon,
        "urgent": case.urgent,
        "track_key": case.track_key,
        "reporter_name": case.reporter_name,
        "callback_number": case.callback_number,
        "department": case.department,
        "dispatched_at": case.dispatched_at,
        "deadline": case.deadline,
        "suspended_at": case.suspended_at,
        "suspended_minutes": case.suspended_minutes,
        "rework_count": case.rework_count,
        "pending": case.pending.to_dict() if case.pending else None,
        "proposed_merge_into": case.proposed_merge_into,
        "merged_into": case.merged_into,
        "closed_at": case.closed_at,
        "satisfaction": case.satisfaction,
        "facts": case.facts,
        "version": case.version,
    }


def case_from_row(row: RowMapping) -> Case:
    values = {key: row[key] for key in _CASE_FIELDS}
    values["state"] = CaseState(values["state"])
    values["pending"] = Pending.from_dict(row["pending"]) if row["pending"] else None
    values["facts"] = dict(row["facts"] or {})
    return Case(**values)


_CASE_FIELDS = [column.name for column in t.cases.columns if column.name != "overdue_notified"]


def step_from_row(row: RowMapping) -> StoredStep:
    return StoredStep(
        seq=row["seq"],
        step=Step(
            case_id=row["case_id"],
            at=row["at"],
            action=Action(row["action"]),
            from_state=CaseState(row["from_state"]) if row["from_state"] else None,
            to_state=CaseState(row["to_state"]),
            actor=row["actor"],
            role=Role(row["role"]),
            department=row["department"],
            opinion=row["opinion"],
            attachments=tuple(row["attachments"] or ()),
            facts=dict(row["facts"] or {}),
        ),
    )


# Statements built once: executing the same statement object reuses its compiled form.
_bp = sa.bindparam
_CANDIDATE_IDS = sa.select(t.candidates.c.id).where(
    t.candidates.c.id.in_(_bp("ids", expanding=True))
)
_CASES_BY_TRACKS = (
    sa.select(t.cases)
    .where(
        t.cases.c.track_key.in_(_bp("keys", expanding=True)),
        t.cases.c.created_at >= _bp("since"),
    )
    .order_by(t.cases.c.created_at)
)
_OPEN_SINCE = (
    t.cases.c.state.in_(_OPEN),
    t.cases.c.created_at >= _bp("since"),
    t.cases.c.merged_into.is_(None),
)
# Lookups by a batch's (event code, grid) pairs or boxes: one statement with the whole
# list as one parameter (SQLite: a JSON array read by json_each; PostgreSQL: arrays,
# unnested), joined to an index, so the statement is the same for any list and returns
# only cases that match a pair or a box.
_ROWS_PER_QUERY = 500
_BOX_SIDES = ("lat_min", "lat_max", "lon_min", "lon_max")
_CASE_COLUMNS = ", ".join(f"cases.{column.name}" for column in t.cases.columns)
_SQLITE_OPEN_SINCE = (
    f" AND cases.state IN ({', '.join(repr(state) for state in _OPEN)})"
    " AND cases.created_at >= :since AND cases.merged_into IS NULL"
)


def _sqlite_cases(joined_on: str) -> sa.TextualSelect:
    """Open cases joined to the rows of a JSON array; CROSS JOIN keeps SQLite from scanning
    cases by state: each row of the array is one lookup in the index ``joined_on`` uses."""
    return (
        sa.text(
            f"SELECT {_CASE_COLUMNS} FROM json_each(:rows) AS b CROSS JOIN cases"
            f" WHERE {joined_on}{_SQLITE_OPEN_SINCE}"
        )
        .bindparams(sa.bindparam("since", type_=t.cases.c.created_at.type))
        .columns(*t.cases.columns)
    )


def _item(i: int) -> str:
    return f"json_extract(b.value, '$[{i}]')"


# a case already proposed as a duplicate is never itself a merge target
_OPEN_IN_GRIDS_SQLITE = _sqlite_cases(
    f"cases.event_code = {_item(0)} AND cases.grid_code = {_item(1)}"
    " AND cases.proposed_merge_into IS NULL"
)
_pg_pairs = (
    sa.func.unnest(
        _bp("codes", type_=postgresql.ARRAY(sa.String)),
        _bp("grids", type_=postgresql.ARRAY(sa.String)),
    )
    .table_valued("code", "grid")
    .render_derived(name="b")
)
_OPEN_IN_GRIDS_PG = (
    sa.select(t.cases)
    .select_from(_pg_pairs)
    .join(
        t.cases,
        sa.and_(t.cases.c.event_code == _pg_pairs.c.code, t.cases.c.grid_code == _pg_pairs.c.grid),
    )
    .where(t.cases.c.proposed_merge_into.is_(None), *_OPEN_SINCE)
)
# each box is one range lookup in the position index (event code, lat, lon)
_OPEN_IN_BOXES_SQLITE = _sqlite_cases(
    f"cases.event_code = {_item(0)}"
    f" AND cases.lat BETWEEN {_item(1)} AND {_item(2)}"
    f" AND cases.lon BETWEEN {_item(3)} AND {_item(4)}"
)
_pg_boxes = (
    sa.func.unnest(
        _bp("codes", type_=postgresql.ARRAY(sa.String)),
        *(_bp(name, type_=postgresql.ARRAY(sa.Float)) for name in _BOX_SIDES),
    )
    .table_valued("code", *_BOX_SIDES)
    .render_derived(name="b")
)
_OPEN_IN_BOXES_PG = (
    sa.select(t.cases)
    .select_from(_pg_boxes)
    .join(
        t.cases,
        sa.and_(
            t.cases.c.event_code == _pg_boxes.c.code,
            t.cases.c.lat.between(_pg_boxes.c.lat_min, _pg_boxes.c.lat_max),
            t.cases.c.lon.between(_pg_boxes.c.lon_min, _pg_boxes.c.lon_max),
        ),
    )
    .where(*_OPEN_SINCE)
)
_NUMBERS_TAKEN = sa.select(t.cases.c.number).where(
    t.cases.c.number.in_(_bp("numbers", expanding=True))
)
_BUMP_COUNTER = (
    sa.update(t.counters)
    .where(t.counters.c.name == _bp("counter"))
    .values(value=t.counters.c.value + _bp("count"))
    .returning(t.counters.c.value)
)
_CASE_BY_ID = sa.select(t.cases).where(t.cases.c.id == _bp("id"))
_COUNT_CASES = sa.select(sa.func.count()).select_from(t.cases)
_PAGE_OF_CASES = (
    sa.select(t.cases.c.id, t.cases.c.version)
    .order_by(t.cases.c.created_at.desc(), t.cases.c.id)
    .offset(_bp("offset", type_=sa.Integer))
    .limit(_bp("limit", type_=sa.Integer))
)
_CASES_BY_IDS = sa.select(t.cases).where(t.cases.c.id.in_(_bp("ids", expanding=True)))
#: cases kept by `SqlCaseStore` for lists (each checked against its stored version)
CASE_CACHE_SIZE = 20_000
_CANDIDATES_OF = (
    sa.select(t.candidates.c.id)
    .where(t.candidates.c.case_id == _bp("case_id"))
    .order_by(t.candidates.c.received_at, t.candidates.c.id)
)
_EVIDENCE_OF = (
    sa.select(t.case_evidence, t.evidence.c.media_type, t.evidence.c.size, t.evidence.c.stored)
    .join(t.evidence, t.evidence.c.sha256 == t.case_evidence.c.sha256)
    .where(t.case_evidence.c.case_id == _bp("case_id"))
    .order_by(t.case_evidence.c.added_at, t.case_evidence.c.sha256)
)
_CASE_BY_NUMBER = sa.select(t.cases).where(t.cases.c.number == _bp("number"))
_EVIDENCE_STORED = sa.select(t.evidence.c.stored).where(t.evidence.c.sha256 == _bp("sha"))
_EVIDENCE_MARK_STORED = (
    sa.update(t.evidence).where(t.evidence.c.sha256 == _bp("sha")).values(stored=True)
)
_LINKED = sa.select(t.case_evidence.c.sha256).where(
    t.case_evidence.c.case_id == _bp("case_id"), t.case_evidence.c.sha256 == _bp("sha")
)


# ---------------------------------------------------------------- multi-row inserts
#
# An intake batch writes hundreds of rows per table. SQLAlchemy's per-row parameter
# processing cost more than the database's own work, so these rows are written by a
# statement built once per (table, columns, dialect) from plain tuples, converted here as
# the column types would: JSON as text (``null`` for None, as sa.JSON stores it),
# timestamps as naive UTC (SQLite: SQLAlchemy's own text format, so comparisons with
# bound times still hold). PostgreSQL takes them by COPY.


def _postgres_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).replace(tzinfo=None)


class JsonText(str):
    """A value already serialised to JSON text: written to a JSON column as it is."""


def _json_text(value: Any) -> str:
    if isinstance(value, JsonText):
        return str(value)  # a plain str: sqlite3 binds those without an adapter lookup
    # compiled (several times json.dumps' speed); infinities and NaN as null: JSON has
    # neither (PostgreSQL's json type refuses them)
    return pydantic_core.to_json(value, inf_nan_mode="null").decode()


#: an intake batch stamps most of its rows with one `now`: convert each moment once
_sqlite_time_text = functools.lru_cache(maxsize=1024)(t.sqlite_time_text)


def _sqlite_bool(value: bool | None) -> int | None:
    """SQLite stores booleans as 0/1; sqlite3 binds an exact int without an adapter lookup."""
    return None if value is None else int(value)


def _converter(column: sa.Column[Any], postgres: bool) -> Callable[[Any], Any] | None:
    if isinstance(column.type, t.UtcDateTime):
        return _postgres_time if postgres else _sqlite_time_text
    if isinstance(column.type, sa.JSON):
        return _json_text
    if isinstance(column.type, sa.Boolean) and not postgres:
        return _sqlite_bool
    return None


@functools.cache
def _json_columns(table: sa.Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, sa.JSON))


@functools.lru_cache(maxsize=512)  # one per (table, columns with a value, dialect)
def _insert_plan(
    table: sa.Table, names: tuple[str, ...], dialect: str
) -> tuple[str, Callable[[dict[str, Any]], Any], tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """The statement, a getter of a row's values in column order, and (index, converter)
    for the columns whose Python value is not what the driver takes."""
    postgres = dialect == "postgresql"
    quote = (postgresql.dialect() if postgres else sqlite.dialect()).identifier_preparer.quote
    columns = ", ".join(quote(n) for n in names)
    if postgres:
        sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
    else:
        sql = (
            f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join('?' for _ in names)})"
        )
    getter = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    converters = tuple(
        (i, convert)
        for i, n in enumerate(names)
        if (convert := _converter(table.c[n], postgres)) is not None
    )
    return sql, getter, converters


def _insert_many(connection: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """SQLite: one prepared INSERT run per row (``executemany``, cheap in-process);
    PostgreSQL: ``COPY`` (a statement per row would cost the server several times more).

    Columns that no row has a value for are left out, and the database writes NULL: a
    new case leaves a dozen empty, and sqlite3 looks up an adapter for every None (and
    every bool, and every str subclass) it binds, the largest part of its own work here.
    JSON columns are always written (None is the JSON text ``null`` there, as sa.JSON
    stores it, not SQL NULL).
    """
    json_columns = _json_columns(table)
    names = tuple(
        name
        for name in rows[0]
        if name in json_columns or any(row[name] is not None for row in rows)
    )
    sql, getter, converters = _insert_plan(table, names, connection.dialect.name)
    values: list[tuple[Any, ...]] = []
    for row in rows:
        value = getter(row)
        if converters:
            value = list(value)
            for i, convert in converters:
                value[i] = convert(value[i])
            value = tuple(value)
        values.append(value)
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql(sql, values)
        return
    driver = connection.connection.driver_connection  # psycopg, inside this transaction
    with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
        for value in values:
            copy.write_row(value)


class SqlCaseTransaction:
    """The `CaseTransaction` port on one open connection (inside a transaction).

    New rows (cases, steps, candidates, events, evidence links) are buffered and written
    with one multi-row statement per table in `flush()`, which the store calls before
    the commit; lookups see the buffered cases too, so a batch sees its own new cases.
    """

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._postgres = connection.dialect.name == "postgresql"
        self._new_cases: dict[str, Case] = {}
        self._rows: dict[sa.Table, list[dict[str, Any]]] = {
            t.cases: [],
            t.candidates: [],
            t.steps: [],
            t.event_outbox: [],
            t.evidence: [],
            t.case_evidence: [],
        }
        self._evidence_seen: set[str] = set()
        self._links_seen: set[tuple[str, str]] = set()

    def flush(self) -> None:
        for table, rows in self._rows.items():
            if rows:
                _insert_many(self._c, table, rows)
                rows.clear()
        self._new_cases.clear()

    def known_candidate_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            rows = self._c.execute(_CANDIDATE_IDS, {"ids": list(ids[start : start + 500])})
            found.update(row[0] for row in rows)
        return found

    def cases_by_tracks(self, track_keys: Sequence[str], since: datetime) -> dict[str, Case]:
        found: dict[str, Case] = {}
        for start in range(0, len(track_keys), 500):
            chunk = list(track_keys[start : start + 500])
            for row in self._c.execute(
                _CASES_BY_TRACKS, {"keys": chunk, "since": since}
            ).mappings():
                found[row["track_key"]] = case_from_row(row)  # ordered by time: newest wins
        for case in self._new_cases.values():
            key = case.track_key
            if key is not None and key in track_keys and case.created_at >= since:
                found[key] = case
        return found

    def open_cases_in_grids(self, pairs: Sequence[tuple[str, str]], since: datetime) -> list[Case]:
        wanted = set(pairs)
        found: list[Case] = []
        for start in range(0, len(pairs), _ROWS_PER_QUERY):
            chunk = pairs[start : start + _ROWS_PER_QUERY]
            query: sa.Executable
            if self._postgres:
                query = _OPEN_IN_GRIDS_PG
                params: dict[str, Any] = {
                    "codes": [code for code, _grid in chunk],
                    "grids": [grid for _code, grid in chunk],
                }
            else:
                query = _OPEN_IN_GRIDS_SQLITE
                params = {"rows": json.dumps([list(pair) for pair in chunk])}
            for row in self._c.execute(query, {**params, "since": since}).mappings():
                found.append(case_from_row(row))
        found += [
            c
            for c in self._new_cases.values()
            if (c.event_code, c.grid_code) in wanted and c.created_at >= since and c.is_open
        ]
        return sorted(found, key=lambda c: c.created_at)

    def open_cases_in_boxes(self, boxes: Sequence[tuple[str, Box]], since: datetime) -> list[Case]:
        found: dict[str, Case] = {}
        for start in range(0, len(boxes), _ROWS_PER_QUERY):
            chunk = boxes[start : start + _ROWS_PER_QUERY]
            query: sa.Executable
            if self._postgres:
                query = _OPEN_IN_BOXES_PG
                params: dict[str, Any] = {
                    "codes": [code for code, _box in chunk],
                    **{name: [box[i] for _code, box in chunk] for i, name in enumerate(_BOX_SIDES)},
                }
            else:
                query = _OPEN_IN_BOXES_SQLITE
                params = {"rows": json.dumps([[code, *box] for code, box in chunk])}
            for row in self._c.execute(query, {**params, "since": since}).mappings():
                if row["id"] not in found:  # a case inside two boxes comes twice
                    found[row["id"]] = case_from_row(row)
        return sorted(found.values(), key=lambda c: c.created_at)

    def existing_numbers(self, numbers: Sequence[str]) -> set[str]:
        taken: set[str] = set()
        for start in range(0, len(numbers), 500):
            chunk = list(numbers[start : start + 500])
            taken.update(row[0] for row in self._c.execute(_NUMBERS_TAKEN, {"numbers": chunk}))
        taken.update(c.number for c in self._new_cases.values() if c.number in numbers)
        return taken

    def reserve_numbers(self, count: int) -> int:
        updated = self._c.execute(
            _BUMP_COUNTER, {"counter": _CASE_NUMBER_COUNTER, "count": count}
        ).first()
        if updated is None:
            self._c.execute(sa.insert(t.counters), [{"name": _CASE_NUMBER_COUNTER, "value": count}])
            return 1
        return int(updated[0]) - count + 1

    def get_case(self, case_id: str, *, for_update: bool = False) -> Case | None:
        if case_id in self._new_cases:
            return self._new_cases[case_id]
        query = _CASE_BY_ID.with_for_update() if for_update and self._postgres else _CASE_BY_ID
        row = self._c.execute(query, {"id": case_id}).mappings().first()
        return case_from_row(row) if row else None

    def case_by_number(self, number: str) -> Case | None:
        for case in self._new_cases.values():
            if case.number == number:
                return case
        row = self._c.execute(_CASE_BY_NUMBER, {"number": number}).mappings().first()
        return case_from_row(row) if row else None

    def insert_case(self, case: Case) -> None:
        self._new_cases[case.id] = case
        self._rows[t.cases].append({**case_to_row(case), "overdue_notified": False})

    def update_case(self, case: Case, expected_version: int) -> None:
        if case.id in self._new_cases:
            raise ConcurrentUpdate(f"case {case.id} is being created in this transaction")
        if case.version <= expected_version:  # readers trust (id, version) to name one state
            raise ValueError(f"case {case.id} changed without a new version")
        values = case_to_row(case)
        del values["id"]
        # a new deadline (extension, resume, re-dispatch) may become overdue again
        notified: Any = False
        if case.deadline is not None:
            notified = sa.case(
                (t.cases.c.deadline == case.deadline, t.cases.c.overdue_notified), else_=False
            )
        result = self._c.execute(
            sa.update(t.cases)
            .where(t.cases.c.id == case.id, t.cases.c.version == expected_version)
            .values(**values, overdue_notified=notified)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"case {case.id} changed since version {expected_version}")

    def add_step(self, step: Step) -> None:
        self._rows[t.steps].append(
            {
                "case_id": step.case_id,
                "at": step.at,
                "action": str(step.action),
                "from_state": str(step.from_state) if step.from_state else None,
                "to_state": str(step.to_state),
                "actor": step.actor,
                "role": str(step.role),
                "department": step.department,
                "opinion": step.opinion,
                "attachments": list(step.attachments),
                "facts": step.facts,
            }
        )

    def add_candidate(
        self,
        candidate: CandidateCase,
        case_id: str,
        outcome: str,
        received_at: datetime,
        received: bytes | None = None,
    ) -> None:
        if received is not None and all(item.data is None for item in candidate.evidence):
            body = JsonText(received.decode("utf-8"))  # byte for byte what the producer sent
        else:  # as parsed, less the evidence bytes (those are in the evidence store)
            body = JsonText(
                candidate.model_dump_json(
                    by_alias=True, exclude_none=True, exclude={"evidence": {"__all__": {"data"}}}
                )
            )
        self._rows[t.candidates].append(
            {
                "id": candidate.id,
                "case_id": case_id,
                "source_kind": str(candidate.source.kind),
                "source_id": candidate.source.id,
                "event_code": candidate.event_code,
                "produced_at": candidate.ts,
                "received_at": received_at,
                "outcome": outcome,
                "body": body,
            }
        )

    def link_evidence(self, case_id: str, evidence: Evidence, stored: bool, at: datetime) -> None:
        sha = evidence.sha256
        if sha not in self._evidence_seen:
            self._evidence_seen.add(sha)
            existing = self._c.execute(_EVIDENCE_STORED, {"sha": sha}).first()
            if existing is None:
                self._rows[t.evidence].append(
                    {
                        "sha256": sha,
                        "media_type": evidence.media_type,
                        "size": evidence.size,
                        "stored": stored,
                        "first_seen": at,
                    }
                )
            elif stored and not existing[0]:
                self._c.execute(_EVIDENCE_MARK_STORED, {"sha": sha})
        if (case_id, sha) in self._links_seen:
            return
        self._links_seen.add((case_id, sha))
        if self._c.execute(_LINKED, {"case_id": case_id, "sha": sha}).first() is None:
            self._rows[t.case_evidence].append(
                {
                    "case_id": case_id,
                    "sha256": sha,
                    "role": str(evidence.role),
                    "name": evidence.name,
                    "added_at": at,
                }
            )

    def add_event(self, topic: str, payload: bytes) -> None:
        self._rows[t.event_outbox].append({"topic": topic, "payload": payload})

    def overdue_unnotified(self, now: datetime, limit: int) -> list[Case]:
        rows = self._c.execute(
            sa.select(t.cases)
            .where(
                t.cases.c.state == str(CaseState.PROCESSING),
                t.cases.c.deadline < now,
                t.cases.c.overdue_notified.is_(False),
            )
            .order_by(t.cases.c.deadline)
            .limit(limit)
        ).mappings()
        return [case_from_row(row) for row in rows]

    def mark_overdue_notified(self, case_ids: Sequence[str]) -> None:
        if case_ids:
            self._c.execute(
                sa.update(t.cases)
                .where(t.cases.c.id.in_(list(case_ids)))
                .values(overdue_notified=True)
            )


def _in_scope(scope: CaseScope) -> sa.ColumnElement[bool]:
    col = t.cases.c
    reported = (
        sa.select(t.candidates.c.id)
        .where(
            t.candidates.c.case_id == col.id,
            t.candidates.c.source_kind.in_(["inspector", "api"]),
            t.candidates.c.source_id == scope.reporter_id,
        )
        .exists()
    )
    on_grids = [col.grid_code.startswith(g, autoescape=True) for g in scope.grids]
    return sa.or_(reported, *on_grids)


class SqlCaseStore:
    """`CaseStore` on one engine. ``close()`` disposes the pool."""

    def __init__(
        self,
        engine: Engine,
        *,
        write_timeout_s: float = 10.0,
        checkpointer: WalCheckpointer | None = None,
    ) -> None:
        self.engine = engine
        self._checkpointer = checkpointer  # SQLite file opened by `open`: WAL checkpoints
        # SQLite has one writer at a time; writers of this process queue on a lock here
        # (woken the moment the writer before them commits) instead of in SQLite's busy
        # handler, which sleeps in growing steps. Other processes still meet busy_timeout.
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        self._write_timeout_s = write_timeout_s
        self._case_cache: OrderedDict[str, Case] = OrderedDict()  # least recently listed first
        self._cache_lock = threading.Lock()

    @classmethod
    def open(
        cls, url: str, *, timeout_s: float = 10.0, run_migrations: bool = True
    ) -> SqlCaseStore:
        engine = open_engine(url, timeout_s=timeout_s, background_checkpoints=True)
        if run_migrations:
            migrate(engine)
        database = engine.url.database
        checkpointer = None
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            # an intake batch writes hundreds of pages: checkpoint every few commits
            checkpointer = WalCheckpointer(
                Path(database), every_commits=10, idle_s=1.0, name="core.db.checkpoint"
            )
        return cls(engine, write_timeout_s=timeout_s, checkpointer=checkpointer)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """This process's turn to write (SQLite); waits as long as SQLite's busy timeout."""
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=self._write_timeout_s):
            raise TimeoutError(f"another writer held the database for {self._write_timeout_s}s")
        try:
            yield
        finally:
            self._write_lock.release()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SqlCaseTransaction]:
        with self.writing(), self.engine.begin() as connection:
            tx = SqlCaseTransaction(connection)
            yield tx
            tx.flush()
        if self._checkpointer is not None:
            self._checkpointer.committed()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            yield connection

    # ------------------------------------------------------------------ cases

    def get_case(self, case_id: str) -> Case | None:
        with self._read() as c:
            row = c.execute(sa.select(t.cases).where(t.cases.c.id == case_id)).mappings().first()
        return case_from_row(row) if row else None

    def case_detail(self, case_id: str) -> CaseDetail | None:
        with self._read() as c:
            row = c.execute(_CASE_BY_ID, {"id": case_id}).mappings().first()
            if row is None:
                return None
            return CaseDetail(
                case_from_row(row), self._candidate_ids(c, case_id), self._evidence_of(c, case_id)
            )

    def case_by_number(self, number: str) -> Case | None:
        with self._read() as c:
            row = c.execute(sa.select(t.cases).where(t.cases.c.number == number)).mappings().first()
        return case_from_row(row) if row else None

    def list_cases(self, query: CaseFilter) -> tuple[list[Case], int]:
        conditions: list[sa.ColumnElement[bool]] = []
        col = t.cases.c
        if query.states:
            conditions.append(col.state.in_(list(query.states)))
        if query.event_code:
            conditions.append(col.event_code.startswith(query.event_code, autoescape=True))
        if query.grid_prefix:
            conditions.append(col.grid_code.startswith(query.grid_prefix, autoescape=True))
        if query.department:
            conditions.append(col.department == query.department)
        if query.created_from:
            conditions.append(col.created_at >= query.created_from)
        if query.created_to:
            conditions.append(col.created_at < query.created_to)
        if query.deadline_before:
            conditions.append(col.deadline < query.deadline_before)
        if query.number:
            conditions.append(col.number == query.number)
        if query.scope is not None:
            conditions.append(_in_scope(query.scope))
        page = {"offset": query.offset, "limit": query.limit}
        if conditions:
            count: sa.Executable = _COUNT_CASES.where(*conditions)
            select: sa.Executable = _PAGE_OF_CASES.where(*conditions)
        else:  # the console's default view: statements built once
            count, select = _COUNT_CASES, _PAGE_OF_CASES
        with self._read() as c:
            total = c.execute(count).scalar_one()
            listed = [(row[0], row[1]) for row in c.execute(select, page)]
            cases = self._cases_at(c, listed)
        return cases, int(total)

    def _cases_at(self, c: Connection, listed: list[tuple[str, int]]) -> list[Case]:
        """The cases named, at the versions named: from the cache where it holds that
        version, the rest read in one query (same read transaction). Every change to a
        case raises its version (`update_case` is the only writer of case fields), so a
        cached case at the stored version is the stored case."""
        with self._cache_lock:
            found = {
                case_id: hit
                for case_id, version in listed
                if (hit := self._case_cache.get(case_id)) is not None and hit.version == version
            }
        missing = [case_id for case_id, _version in listed if case_id not in found]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            for row in c.execute(_CASES_BY_IDS, {"ids": chunk}).mappings():
                found[row["id"]] = case_from_row(row)
        with self._cache_lock:
            for case_id, _version in listed:
                self._case_cache[case_id] = found[case_id]
                self._case_cache.move_to_end(case_id)
            while len(self._case_cache) > CASE_CACHE_SIZE:
                self._case_cache.popitem(last=False)
        return [found[case_id] for case_id, _version in listed]

    def count_cases(self) -> int:
        with self._read() as c:
            return int(c.execute(_COUNT_CASES).scalar_one())

    def steps(self, case_id: str) -> list[StoredStep]:
        with self._read() as c:
            rows = c.execute(
                sa.select(t.steps).where(t.steps.c.case_id == case_id).order_by(t.steps.c.seq)
            ).mappings()
            return [step_from_row(row) for row in rows]

    def all_steps(self, since_seq: int = 0, limit: int = 100_000) -> list[StoredStep]:
        with self._read() as c:
            rows = c.execute(
                sa.select(t.steps)
                .where(t.steps.c.seq > since_seq)
                .order_by(t.steps.c.seq)
                .limit(limit)
            ).mappings()
            return [step_from_row(row) for row in rows]

    def candidate_ids(self, case_id: str) -> list[str]:
        with self._read() as c:
            return self._candidate_ids(c, case_id)

    @staticmethod
    def _candidate_ids(c: Connection, case_id: str) -> list[str]:
        return [row[0] for row in c.execute(_CANDIDATES_OF, {"case_id": case_id})]

    def candidate_count(self) -> int:
        with self._read() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(t.candidates)).scalar_one())

    def evidence_of(self, case_id: str) -> list[EvidenceLink]:
        with self._read() as c:
            return self._evidence_of(c, case_id)

    @staticmethod
    def _evidence_of(c: Connection, case_id: str) -> list[EvidenceLink]:
        rows = c.execute(_EVIDENCE_OF, {"case_id": case_id}).mappings()
        return [
            EvidenceLink(r["sha256"], r["media_type"], r["size"], r["role"], r["name"], r["stored"])
            for r in rows
        ]

    def evidence_meta(self, sha256: str) -> EvidenceLink | None:
        with self._read() as c:
            row = (
                c.execute(sa.select(t.evidence).where(t.evidence.c.sha256 == sha256))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return EvidenceLink(row["sha256"], row["media_type"], row["size"], "", "", row["stored"])

    # ------------------------------------------------------------------ event outbox

    def pending_events(self, limit: int, after_seq: int = 0) -> list[tuple[int, str, bytes]]:
        with self._read() as c:
            rows = c.execute(
                sa.select(t.event_outbox)
                .where(t.event_outbox.c.seq > after_seq)
                .order_by(t.event_outbox.c.seq)
                .limit(limit)
            ).mappings()
            return [(r["seq"], r["topic"], bytes(r["payload"])) for r in rows]

    def delete_events(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        with self.writing(), self.engine.begin() as c:
            for start in range(0, len(seqs), 500):
                c.execute(
                    sa.delete(t.event_outbox).where(
                        t.event_outbox.c.seq.in_(list(seqs[start : start + 500]))
                    )
                )
