"""Index only the cases that have the value: department, deadline, camera track, position.

A new case has no department or deadline yet (dispatch sets them), most have no camera
track and many no position; their indexes held an entry for each of them all the same,
written on every insert. Every query that uses these indexes compares the column with
a value, which implies it is not null, so SQLite and PostgreSQL use the partial indexes
for them (tests/core/test_query_plans.py).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: index name -> (columns, the column that must not be null)
PARTIAL = {
    "ix_cases_department": (["department"], "department"),
    "ix_cases_deadline": (["deadline"], "deadline"),
    "ix_cases_track_key": (["track_key"], "track_key"),
    "ix_cases_near_position": (["event_code", "lat", "lon"], "lat"),
}


def upgrade() -> None:
    for name, (columns, present) in PARTIAL.items():
        where = sa.text(f"{present} IS NOT NULL")
        op.drop_index(name, table_name="cases")
        op.create_index(
            name, "cases", columns, unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for name, (columns, _present) in PARTIAL.items():
        op.drop_index(name, table_name="cases")
        op.create_index(name, "cases", columns, unique=False)
