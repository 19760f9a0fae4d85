"""An index for the map's viewport query: the cases with a point, by lat and lon.

The duplicate lookup's ``ix_cases_near_position`` leads with the event code; the map asks
for every case in a box whatever its code (``adapters.storage.case_map_store``).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("lat IS NOT NULL")
    op.create_index(
        "ix_cases_position",
        "cases",
        ["lat", "lon"],
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_position", table_name="cases")
