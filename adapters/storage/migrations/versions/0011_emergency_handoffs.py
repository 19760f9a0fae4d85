"""Emergency hand-offs: the durable queue of urgent cases posted to the command centre.

One row per urgent case (its id the key): the signed message, tries, when to try again,
and the acknowledgement (time and the receiver's reference) shown on the case.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adapters.storage.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emergency_handoffs",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("queued_at", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime()),
        sa.Column("acked_at", UtcDateTime()),
        sa.Column("ack_ref", sa.String(200)),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_emergency_handoffs")),
    )


def downgrade() -> None:
    op.drop_table("emergency_handoffs")
