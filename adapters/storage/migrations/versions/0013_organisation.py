"""Two-level supervision and command (两级监督、两级指挥): where users and cases sit in the
organisation tree (`gateway.core.organisation`).

- ``users.org_node``: the node a user belongs to (a district centre, a street, ...);
  NULL for existing users, who stay at the city centre.
- ``cases.centre``: the centre (city or district node id) that handles the case after an
  escalation (上报) or a hand-down (下派); NULL: the district of its grid, else the city.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("org_node", sa.String(64), nullable=True))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("centre", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("centre")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("org_node")
