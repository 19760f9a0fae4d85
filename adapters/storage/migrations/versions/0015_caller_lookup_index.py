"""An index for looking up a caller by number: the cases a phone number reported.

The agent's screen pop (issue 20 §2, ``adapters.storage.caller_history_store``) asks for
the cases whose ``callback_number`` (the hotline caller's number, the reporter's phone of
an Open311 or console report) is the caller's, newest first, and counts them: without an
index every pop scanned the whole cases table. Partial, as the other optional columns'
indexes: most cases (cameras, inspectors) have no number.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("callback_number IS NOT NULL")
    op.create_index(
        "ix_cases_callback_number",
        "cases",
        ["callback_number", "created_at"],
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_callback_number", table_name="cases")
