"""The reduced patrol figures of settled days, kept: ``patrol_day_figures``.

The inspectors' figures (监督员考核, ``gateway.core.inspector_routes``) read every point of
every day of their period; at 500 inspectors a day holds about 480 000 points, so a
30-day period took about 100 s to read after each start of the core. A settled day's
figures (each inspector's patrol minutes, distance and grids visited) are kept here with
the number of points they were made from, and made again only when that count moves
(late points from a phone's offline queue). Keyed by the day's span, as the centre's
time zone cuts it.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adapters.storage.schema import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patrol_day_figures",
        sa.Column("day_start", UtcDateTime(), primary_key=True),
        sa.Column("day_end", UtcDateTime(), primary_key=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("made_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("patrol_day_figures")
