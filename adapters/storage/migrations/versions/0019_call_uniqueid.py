"""A hotline call's Asterisk uniqueid on its candidates (``candidates.call_uniqueid``).

`citygw ami` records a call that never reached the IVR from its CDR, after a grace in
which the IVR's own record of the call may still come (issue 20 §3). When the IVR's
record comes later than that (its gateway was restarting, its outbox waited on the
broker), the centre held two records of one call, one of them saying the call never
reached the IVR. With the uniqueid in a column of its own (partial index: only calls
have one), the core finds both records of a call and sets the CDR's aside
(`gateway.core.call_records`). This migration fills the column for the calls already
stored and sets aside the CDR records that already have an IVR twin.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _facts_text(table: str, key: str, postgres: bool) -> str:
    if postgres:
        return f"({table}.body -> 'facts' ->> '{key}')"
    return f"json_extract({table}.body, '$.facts.{key}')"


def upgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("call_uniqueid", sa.String(64), nullable=True))
    where = sa.text("call_uniqueid IS NOT NULL")
    op.create_index(
        "ix_candidates_call_uniqueid",
        "candidates",
        ["call_uniqueid"],
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    uniqueid = _facts_text("candidates", "uniqueid", postgres)
    op.execute(
        f"UPDATE candidates SET call_uniqueid = {uniqueid}"
        f" WHERE source_kind = 'call' AND {uniqueid} <> '' AND length({uniqueid}) <= 64"
    )
    from_cdr = f"coalesce({_facts_text('candidates', 'recorded_from', postgres)}, '')"
    twin_from = f"coalesce({_facts_text('reached', 'recorded_from', postgres)}, '')"
    op.execute(
        "UPDATE candidates SET outcome = 'call_set_aside'"
        f" WHERE call_uniqueid IS NOT NULL AND outcome = 'call_record' AND {from_cdr} = 'cdr'"
        " AND EXISTS (SELECT 1 FROM candidates AS reached"
        f" WHERE reached.call_uniqueid = candidates.call_uniqueid AND {twin_from} <> 'cdr')"
    )


def downgrade() -> None:
    op.execute("UPDATE candidates SET outcome = 'call_record' WHERE outcome = 'call_set_aside'")
    op.drop_index("ix_candidates_call_uniqueid", table_name="candidates")
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("call_uniqueid")
