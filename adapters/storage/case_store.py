"""The core's database on SQLAlchemy 2 (Core): cases, steps, candidates, evidence, events.

`SqlCaseStore` implements `gateway.core.ports.CaseStore` (users are `user_store`'s). A
`transaction()` is one database transaction (SQLite: ``BEGIN IMMEDIATE``, one writer at a
time; PostgreSQL: ``SELECT ... FOR UPDATE`` on the case being changed). Reads outside a
transaction use plain, short read transactions. The write side, `SqlCaseTransaction`, is
`case_transaction`'s; rows become cases and steps in `case_rows`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.storage import schema as t
from adapters.storage.case_rows import CASE_BY_ID, case_from_row, step_from_row
from adapters.storage.case_transaction import SqlCaseTransaction
from adapters.storage.database import migrate, open_engine
from adapters.storage.wal_checkpoint import WalCheckpointer
from gateway.core.ports import CaseDetail, CaseFilter, CaseScope, EvidenceLink, StoredStep
from gateway.core.workflow import Case

log = logging.getLogger(__name__)


# Statements built once: executing the same statement object reuses its compiled form.
_bp = sa.bindparam
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


def _task_conditions(task: str | None, assignee: str | None) -> list[sa.ColumnElement[bool]]:
    """An open inspector's task (the case fact ``task``, JSON), in the states tasks wait in."""
    col = t.cases.c
    conditions = [
        col.state.in_(["candidate", "reported"]),
        col.facts[("task", "kind")].as_string().is_not(None),
    ]
    if task == "unassigned":
        conditions.append(col.facts[("task", "assignee")].as_string().is_(None))
    if assignee is not None:
        conditions.append(col.facts[("task", "assignee")].as_string() == assignee)
    return conditions


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
            row = c.execute(CASE_BY_ID, {"id": case_id}).mappings().first()
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
        if query.community:
            conditions.append(col.community == query.community)
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
        if query.task is not None or query.task_assignee is not None:
            conditions.extend(_task_conditions(query.task, query.task_assignee))
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
