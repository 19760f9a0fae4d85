"""An index for the duplicate lookup by position (event code, lat, lon).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_near_position", "cases", ["event_code", "lat", "lon"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_near_position", table_name="cases")
