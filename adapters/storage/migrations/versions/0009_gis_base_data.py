"""Base data (issue 17): unit grids, management areas and census components.

Geometry as WKB with its bounding box on both databases, and a spatial index for
viewport queries: on SQLite an R*Tree virtual table per layer, refilled by the store; on
PostgreSQL a PostGIS ``geom`` column generated from the stored WKB (components: from
lon/lat) with a GiST index. PostgreSQL needs the PostGIS extension (Debian's
``postgresql-15-postgis-3``): the migration stops with that name when it is missing.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_POLYGON_LAYERS = ("gis_grids", "gis_areas")


def _bbox() -> list[sa.Column[float]]:
    return [
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
    ]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _require_postgis()
    op.create_table(
        "gis_grids",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(14), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("district", sa.String(100), nullable=False),
        sa.Column("street", sa.String(100), nullable=False),
        sa.Column("community", sa.String(100), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("wkb", sa.LargeBinary(), nullable=False),
        *_bbox(),
        sa.PrimaryKeyConstraint("id", name="pk_gis_grids"),
        sa.UniqueConstraint("code", name="uq_gis_grids_code"),
    )
    op.create_table(
        "gis_areas",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("district", sa.String(100), nullable=False),
        sa.Column("derived", sa.Boolean(), nullable=False),
        sa.Column("wkb", sa.LargeBinary(), nullable=False),
        *_bbox(),
        sa.PrimaryKeyConstraint("id", name="pk_gis_areas"),
        sa.UniqueConstraint("code", name="uq_gis_areas_code"),
    )
    op.create_table(
        "gis_components",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("component_id", sa.String(16), nullable=False),
        sa.Column("type_code", sa.String(4), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_code", sa.String(14), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gis_components"),
        sa.UniqueConstraint("component_id", name="uq_gis_components_component_id"),
    )
    op.create_index("ix_gis_components_type_code", "gis_components", ["type_code"])
    op.create_index("ix_gis_components_grid_code", "gis_components", ["grid_code"])
    if postgres:
        for table in _POLYGON_LAYERS:
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN geom geometry(Geometry, 4490) "
                "GENERATED ALWAYS AS (ST_GeomFromWKB(wkb, 4490)) STORED"
            )
        op.execute(
            "ALTER TABLE gis_components ADD COLUMN geom geometry(Point, 4490) "
            "GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4490)) STORED"
        )
        for table in (*_POLYGON_LAYERS, "gis_components"):
            op.execute(f"CREATE INDEX ix_{table}_geom ON {table} USING gist (geom)")
        return
    for table in (*_POLYGON_LAYERS, "gis_components"):
        # filled by the store after each replace (one INSERT ... SELECT: far cheaper than a
        # trigger per row on a 500 000-row import)
        op.execute(
            f"CREATE VIRTUAL TABLE {table}_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)"
        )


def _require_postgis() -> None:
    available = (
        op.get_bind()
        .exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        .first()
    )
    if available is None:
        raise RuntimeError(
            "PostgreSQL has no PostGIS extension: install Debian's postgresql-15-postgis-3 "
            "(scripts/apt-packages.txt) on the database server"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def downgrade() -> None:
    for table in ("gis_components", *_POLYGON_LAYERS):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"DROP TABLE IF EXISTS {table}_rtree")
        op.drop_table(table)
