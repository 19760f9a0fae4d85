"""The write side of the core's database: `SqlCaseTransaction`, one open transaction.

It implements `gateway.core.ports.CaseTransaction` for `SqlCaseStore.transaction()`: the
lookups a change needs (known candidate ids, cases by track, open cases by grid or
position, case numbers; SQLite and PostgreSQL forms of the batch lookups) and the
writes (cases, steps, candidates, evidence links, events), buffered and written per
table in `flush()` by `bulk_insert`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from adapters.storage import schema as t
from adapters.storage.bulk_insert import JsonText, insert_many
from adapters.storage.case_rows import CASE_BY_ID, case_from_row, case_to_row
from gateway.contract import CandidateCase, Evidence
from gateway.core.call_records import (
    CALL_RECORD_OUTCOME,
    CALL_SET_ASIDE_OUTCOME,
    RECORDED_FROM_CDR,
    call_uniqueid,
)
from gateway.core.ports import Box, ConcurrentUpdate
from gateway.core.workflow import OPEN_STATES, Case, CaseState, Step

_OPEN = [str(s) for s in OPEN_STATES]

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
#: the first key of the advisory locks on camera tracks ("tr"; the second is the track's hash)
TRACK_LOCK_CLASS = 0x7472
# Several cores: each transaction that looks up camera tracks first takes a lock per track
# (in key order, so two transactions never wait on each other crosswise), held until it
# commits; a second core's candidate of the same track waits for it and then finds its case
# (a re-detection), instead of opening a second case for the same object.
_ADVISORY_LOCKS_PG = sa.text(
    "SELECT count(pg_advisory_xact_lock(CAST(:class AS integer), hashtext(k)))"
    " FROM (SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k OFFSET 0) AS tracks"
)
#: the first key of the advisory locks on hotline calls ("ca"; the second: the uniqueid's hash)
CALL_LOCK_CLASS = 0x6361
_reached = t.candidates.alias("reached")


def _recorded_from(columns: Any) -> sa.ColumnElement[str]:
    return sa.func.coalesce(columns.body[("facts", "recorded_from")].as_string(), "")


# The CDR records of some calls that also have a record from the IVR (any record of the
# call not made from the CDR): set aside, in one statement, whichever came first.
_SET_ASIDE_CDR_RECORDS = (
    sa.update(t.candidates)
    .where(
        t.candidates.c.call_uniqueid.in_(_bp("ids", expanding=True)),
        t.candidates.c.outcome == CALL_RECORD_OUTCOME,
        _recorded_from(t.candidates.c) == RECORDED_FROM_CDR,
        sa.exists().where(
            _reached.c.call_uniqueid == t.candidates.c.call_uniqueid,
            _recorded_from(_reached.c) != RECORDED_FROM_CDR,
        ),
    )
    .values(outcome=CALL_SET_ASIDE_OUTCOME)
    .returning(t.candidates.c.id)
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


def _pg_cases_for_each(rows: Any, *matching: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Open cases matching each of ``rows`` (an unnested parameter list), looked up row by
    row: a LATERAL subquery that OFFSET 0 keeps PostgreSQL from flattening into a join.
    As a plain join the plan hung on the statistics: on a table filled faster than
    autovacuum analyses it (a fresh or busy core), the planner took it for a few rows and
    hashed every recent open case for each batch (61 ms a batch at 10 000 cases, half the
    database's time in intake); row by row it is a few index lookups, 0.3-0.9 ms."""
    found = sa.select(t.cases).where(*matching, *_OPEN_SINCE).offset(0).lateral("c")
    return sa.select(*found.c).select_from(rows).join(found, sa.true())


_OPEN_IN_GRIDS_PG = _pg_cases_for_each(
    _pg_pairs,
    t.cases.c.event_code == _pg_pairs.c.code,
    t.cases.c.grid_code == _pg_pairs.c.grid,
    t.cases.c.proposed_merge_into.is_(None),
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
_OPEN_IN_BOXES_PG = _pg_cases_for_each(
    _pg_boxes,
    t.cases.c.event_code == _pg_boxes.c.code,
    t.cases.c.lat.between(_pg_boxes.c.lat_min, _pg_boxes.c.lat_max),
    t.cases.c.lon.between(_pg_boxes.c.lon_min, _pg_boxes.c.lon_max),
)
_NUMBERS_TAKEN = sa.select(t.cases.c.number).where(
    t.cases.c.number.in_(_bp("numbers", expanding=True))
)


def _bump_counter(insert: Any) -> Any:
    """Add to a named counter, creating it at the first use (one statement, so two cores
    starting a day's counter at once both succeed: the second adds to the first's row)."""
    statement = insert(t.counters).values(name=_bp("counter"), value=_bp("count"))
    return statement.on_conflict_do_update(
        index_elements=[t.counters.c.name],
        set_={"value": t.counters.c.value + statement.excluded.value},
    ).returning(t.counters.c.value)


_BUMP_COUNTER_PG = _bump_counter(postgresql.insert)
_BUMP_COUNTER_SQLITE = _bump_counter(sqlite.insert)
_CASE_BY_NUMBER = sa.select(t.cases).where(t.cases.c.number == _bp("number"))
_EVIDENCE_STORED = sa.select(t.evidence.c.stored).where(t.evidence.c.sha256 == _bp("sha"))
_EVIDENCE_MARK_STORED = (
    sa.update(t.evidence).where(t.evidence.c.sha256 == _bp("sha")).values(stored=True)
)
_LINKED = sa.select(t.case_evidence.c.sha256).where(
    t.case_evidence.c.case_id == _bp("case_id"), t.case_evidence.c.sha256 == _bp("sha")
)


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
                insert_many(self._c, table, rows)
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
        if self._postgres and track_keys:  # SQLite: one writer at a time already
            self._c.execute(
                _ADVISORY_LOCKS_PG, {"class": TRACK_LOCK_CLASS, "keys": list(track_keys)}
            )
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

    def reserve_serials(self, counter: str, count: int) -> int:
        bump = _BUMP_COUNTER_PG if self._postgres else _BUMP_COUNTER_SQLITE
        (last,) = self._c.execute(bump, {"counter": counter, "count": count}).one()
        return int(last) - count + 1

    def get_case(self, case_id: str, *, for_update: bool = False) -> Case | None:
        if case_id in self._new_cases:
            return self._new_cases[case_id]
        query = CASE_BY_ID.with_for_update() if for_update and self._postgres else CASE_BY_ID
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
                "call_uniqueid": call_uniqueid(candidate),
            }
        )

    def set_aside_cdr_records(self, uniqueids: Sequence[str]) -> list[str]:
        keys = sorted(set(uniqueids))
        if not keys:
            return []
        if self._postgres:  # SQLite: one writer at a time already
            self._c.execute(_ADVISORY_LOCKS_PG, {"class": CALL_LOCK_CLASS, "keys": keys})
        self.flush()  # the batch's own records take part
        set_aside: list[str] = []
        for start in range(0, len(keys), 500):
            rows = self._c.execute(_SET_ASIDE_CDR_RECORDS, {"ids": keys[start : start + 500]})
            set_aside.extend(row[0] for row in rows)
        return sorted(set_aside)

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
