"""四级联动: the community a street office passed a case to (``cases.community``).

A district dispatches a case to a street office (``cases.department``); the office may
pass it on to one of its communities (转派社区, `gateway.core.community_linkage`) and take
it back. ``community`` is that community's unit id (community-<12 digits>), NULL while
the case is with no community; a community's users list their cases by it, through a
partial index as the other optional columns' (most cases never reach a community).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("community", sa.String(64), nullable=True))
    where = sa.text("community IS NOT NULL")
    op.create_index(
        "ix_cases_community",
        "cases",
        ["community"],
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_community", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("community")
