"""Drop two indexes of ``cases`` that no query needs; each cost every inserted case.

- ``ix_cases_event_code`` (event code): the first column of ``ix_cases_near_grid`` and
  ``ix_cases_near_position``, which serve any lookup by event code as well;
- ``ix_cases_dup_lookup`` (event code, state, created): written for the first duplicate
  lookup, which revisions 0002 and 0003 replaced by lookups by grid and by position.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cases_dup_lookup", table_name="cases")
    op.drop_index("ix_cases_event_code", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_event_code", "cases", ["event_code"], unique=False)
    op.create_index(
        "ix_cases_dup_lookup", "cases", ["event_code", "state", "created_at"], unique=False
    )
