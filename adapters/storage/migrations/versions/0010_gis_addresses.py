"""Door-plate addresses (门牌地址, issue 17): the geocoder's gazetteer, one point each.

Spatial index as for the other base data layers (0009): SQLite an R*Tree table refilled by
the store, PostgreSQL a PostGIS ``geom`` column generated from lon/lat with a GiST index.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gis_addresses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("district", sa.String(100), nullable=False),
        sa.Column("road", sa.String(100), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("building", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("text", sa.String(300), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_code", sa.String(14), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gis_addresses"),
    )
    op.create_index("ix_gis_addresses_road", "gis_addresses", ["road"])
    op.create_index("ix_gis_addresses_grid_code", "gis_addresses", ["grid_code"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE gis_addresses ADD COLUMN geom geometry(Point, 4490) "
            "GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4490)) STORED"
        )
        op.execute("CREATE INDEX ix_gis_addresses_geom ON gis_addresses USING gist (geom)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE gis_addresses_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS gis_addresses_rtree")
    op.drop_table("gis_addresses")
