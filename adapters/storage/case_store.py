"""The core's database on SQLAlchemy 2 (Core): cases, steps, candidates, evidence, events, users.

`SqlCaseStore` implements `gateway.core.ports.CaseStore` and `UserStore`. A
`transaction()` is one database transaction (SQLite: ``BEGIN IMMEDIATE``, one writer at a
time; PostgreSQL: ``SELECT ... FOR UPDATE`` on the case being changed). Reads outside a
transaction use plain, short read transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from adapters.storage import schema as t
from adapters.storage.database import migrate, open_engine
from gateway.contract import CandidateCase, Evidence
from gateway.core.ports import CaseFilter, ConcurrentUpdate, EvidenceLink, StoredStep
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
# a case already proposed as a duplicate is never itself a merge target
_OPEN_IN_GRIDS = sa.select(t.cases).where(
    t.cases.c.event_code.in_(_bp("codes", expanding=True)),
    t.cases.c.grid_code.in_(_bp("grids", expanding=True)),
    t.cases.c.proposed_merge_into.is_(None),
    *_OPEN_SINCE,
)
_OPEN_IN_BOX = (
    sa.select(t.cases)
    .where(
        t.cases.c.event_code == _bp("code"),
        t.cases.c.lat.between(_bp("lat_min"), _bp("lat_max")),
        t.cases.c.lon.between(_bp("lon_min"), _bp("lon_max")),
        *_OPEN_SINCE,
    )
    .order_by(t.cases.c.created_at)
    .limit(50)
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
                self._c.execute(sa.insert(table), rows)
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
        for start in range(0, len(pairs), 200):
            chunk = pairs[start : start + 200]
            params = {
                "codes": sorted({code for code, _ in chunk}),
                "grids": sorted({grid for _, grid in chunk}),
                "since": since,
            }
            for row in self._c.execute(_OPEN_IN_GRIDS, params).mappings():
                if (row["event_code"], row["grid_code"]) in wanted:
                    found.append(case_from_row(row))
        found += [
            c
            for c in self._new_cases.values()
            if (c.event_code, c.grid_code) in wanted and c.created_at >= since and c.is_open
        ]
        return sorted(found, key=lambda c: c.created_at)

    def open_cases_in_box(
        self, event_code: str, since: datetime, box: tuple[float, float, float, float]
    ) -> list[Case]:
        lat_min, lat_max, lon_min, lon_max = box
        params = {"code": event_code, "since": since, "lat_min": lat_min, "lat_max": lat_max}
        params.update(lon_min=lon_min, lon_max=lon_max)
        return [case_from_row(row) for row in self._c.execute(_OPEN_IN_BOX, params).mappings()]

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
        self, candidate: CandidateCase, case_id: str, outcome: str, received_at: datetime
    ) -> None:
        body = candidate.model_dump(mode="json", by_alias=True, exclude_none=True)
        for item in body.get("evidence", []):
            item.pop("data", None)
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


class SqlCaseStore:
    """`CaseStore` + `UserStore` on one engine. ``close()`` disposes the pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(
        cls, url: str, *, timeout_s: float = 10.0, run_migrations: bool = True
    ) -> SqlCaseStore:
        engine = open_engine(url, timeout_s=timeout_s)
        if run_migrations:
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[SqlCaseTransaction]:
        with self.engine.begin() as connection:
            tx = SqlCaseTransaction(connection)
            yield tx
            tx.flush()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            yield connection

    # ------------------------------------------------------------------ cases

    def get_case(self, case_id: str) -> Case | None:
        with self._read() as c:
            row = c.execute(sa.select(t.cases).where(t.cases.c.id == case_id)).mappings().first()
        return case_from_row(row) if row else None

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
        with self._read() as c:
            total = c.execute(
                sa.select(sa.func.count()).select_from(t.cases).where(*conditions)
            ).scalar_one()
            rows = c.execute(
                sa.select(t.cases)
                .where(*conditions)
                .order_by(col.created_at.desc(), col.id)
                .offset(query.offset)
                .limit(query.limit)
            ).mappings()
            cases = [case_from_row(row) for row in rows]
        return cases, int(total)

    def count_cases(self) -> int:
        with self._read() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one())

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
            rows = c.execute(
                sa.select(t.candidates.c.id)
                .where(t.candidates.c.case_id == case_id)
                .order_by(t.candidates.c.received_at, t.candidates.c.id)
            )
            return [row[0] for row in rows]

    def candidate_count(self) -> int:
        with self._read() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(t.candidates)).scalar_one())

    def evidence_of(self, case_id: str) -> list[EvidenceLink]:
        with self._read() as c:
            rows = c.execute(
                sa.select(
                    t.case_evidence, t.evidence.c.media_type, t.evidence.c.size, t.evidence.c.stored
                )
                .join(t.evidence, t.evidence.c.sha256 == t.case_evidence.c.sha256)
                .where(t.case_evidence.c.case_id == case_id)
                .order_by(t.case_evidence.c.added_at, t.case_evidence.c.sha256)
            ).mappings()
            return [
                EvidenceLink(
                    r["sha256"], r["media_type"], r["size"], r["role"], r["name"], r["stored"]
                )
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
        with self.engine.begin() as c:
            for start in range(0, len(seqs), 500):
                c.execute(
                    sa.delete(t.event_outbox).where(
                        t.event_outbox.c.seq.in_(list(seqs[start : start + 500]))
                    )
                )

    # ------------------------------------------------------------------ users

    def add_user(
        self, name: str, role: str, department: str | None, password_hash: str, at: datetime
    ) -> None:
        with self.engine.begin() as c:
            exists = c.execute(sa.select(t.users.c.name).where(t.users.c.name == name)).first()
            values = {
                "role": role,
                "department": department,
                "password_hash": password_hash,
                "active": True,
            }
            if exists:
                c.execute(sa.update(t.users).where(t.users.c.name == name).values(**values))
            else:
                c.execute(sa.insert(t.users).values(name=name, created_at=at, **values))

    def user(self, name: str) -> dict[str, Any] | None:
        with self._read() as c:
            row = c.execute(sa.select(t.users).where(t.users.c.name == name)).mappings().first()
        return dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        with self._read() as c:
            return [
                dict(r) for r in c.execute(sa.select(t.users).order_by(t.users.c.name)).mappings()
            ]

    def set_active(self, name: str, active: bool) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                sa.update(t.users).where(t.users.c.name == name).values(active=active)
            )
            if not active:
                c.execute(sa.delete(t.tokens).where(t.tokens.c.user_name == name))
            return result.rowcount == 1

    def add_token(self, token_hash: str, user_name: str, expires_at: datetime) -> None:
        with self.engine.begin() as c:
            c.execute(
                sa.insert(t.tokens).values(
                    token_hash=token_hash, user_name=user_name, expires_at=expires_at
                )
            )

    def token_user(self, token_hash: str, now: datetime) -> dict[str, Any] | None:
        with self._read() as c:
            row = (
                c.execute(
                    sa.select(t.users)
                    .join(t.tokens, t.tokens.c.user_name == t.users.c.name)
                    .where(
                        t.tokens.c.token_hash == token_hash,
                        t.tokens.c.expires_at > now,
                        t.users.c.active.is_(True),
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def delete_token(self, token_hash: str) -> None:
        with self.engine.begin() as c:
            c.execute(sa.delete(t.tokens).where(t.tokens.c.token_hash == token_hash))
