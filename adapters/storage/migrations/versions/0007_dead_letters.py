"""Dead letters: the messages a consumer refused for good, kept for admins to see.

One row per refused message: when, its topic, the refusal's code and reason, its size
and first bytes, and its id when one could be read. The store keeps the newest rows
only (``core.intake.dead_letters_keep``); ``seq`` orders them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adapters.storage.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("topic", sa.String(1024), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.String(128)),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_dead_letters")),
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
