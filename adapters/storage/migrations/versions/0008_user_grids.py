"""Users: the unit grids an inspector (监督员) is assigned to, which scope the cases they see.

A JSON list of grid codes or grid-code prefixes (a street's 9 digits covers its grids);
empty for everyone else, and for existing users.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("grids", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("grids")
