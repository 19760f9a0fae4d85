"""Camera-assisted verification: the requests the core sent to video gateways and their answers.

One row per request (its message id is the key; (case, seq) is unique): who asked and
when, by when an answer is due, and the verdict with its before/after snapshots once a
gateway answered, or when it timed out.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adapters.storage.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_checks",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("reply_by", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(32)),
        sa.Column("result_id", sa.String(128)),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("timed_out_at", UtcDateTime()),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("before_sha256", sa.String(64)),
        sa.Column("after_sha256", sa.String(64)),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_camera_checks"),
        sa.UniqueConstraint("case_id", "seq", name="uq_camera_checks_case_id_seq"),
    )
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_camera_checks_pending",
        "camera_checks",
        ["reply_by"],
        unique=False,
        sqlite_where=pending,
        postgresql_where=pending,
    )


def downgrade() -> None:
    op.drop_index("ix_camera_checks_pending", table_name="camera_checks")
    op.drop_table("camera_checks")
