"""Inspectors' patrol tracks (巡查, issue 19): ``patrol_points``, one row per position a
phone sent while on patrol, keyed by (inspector, the phone's id for the point) so a batch
resent after a lost answer stores nothing twice; read by inspector and time (a day's
track, the figures) and by time (everyone's last position for the map).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adapters.storage.schema import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patrol_points",
        sa.Column("inspector", sa.String(64), primary_key=True),
        sa.Column("point_id", sa.String(128), primary_key=True),
        sa.Column("patrol_id", sa.String(128), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float()),
        sa.Column("grid_code", sa.String(14)),
        sa.Column("received_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_patrol_points_inspector_at", "patrol_points", ["inspector", "at"])
    op.create_index("ix_patrol_points_at", "patrol_points", ["at"])


def downgrade() -> None:
    op.drop_index("ix_patrol_points_at", table_name="patrol_points")
    op.drop_index("ix_patrol_points_inspector_at", table_name="patrol_points")
    op.drop_table("patrol_points")
