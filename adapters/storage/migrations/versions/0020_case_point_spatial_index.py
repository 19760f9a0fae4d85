"""The map's viewport query through a spatial index: an R*Tree on SQLite, GiST on PostGIS.

Replaces migration 0012's b-tree ``ix_cases_position`` (lat, lon), which narrowed a
viewport by latitude alone and read every longitude of that band (issue 17 §4).

SQLite: ``cases_rtree`` (R*Tree; ``id`` is the case row's ``rowid``, a point is a box of
zero size), kept in step with ``cases.lat``/``cases.lon`` by three triggers, so every
write that sets, changes or clears a case's point (the store, bulk inserts, imports, later
migrations' UPDATEs) moves its entry; the cases already stored are copied in here. The
R*Tree keeps 32-bit floats rounded outward: the query still compares the exact lat/lon
(``adapters.storage.case_map_store``). A later migration that rebuilds ``cases``
(``batch_alter_table``: copy, drop, rename) drops these triggers with the old table and
renumbers the rows: it must create them again and refill the R*Tree (``_create_sqlite``).

PostgreSQL: ``ix_cases_point``, a GiST index on the expression
``ST_SetSRID(ST_MakePoint(lon, lat), 4490)`` of the cases that have a point; the query
asks ``&&`` against ``ST_MakeEnvelope`` with that same expression. PostGIS is already
required (migration 0009).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_HAS_POINT = "lat IS NOT NULL AND lon IS NOT NULL"
_NEW_POINT = "new.lat IS NOT NULL AND new.lon IS NOT NULL"
_INSERT_NEW = (
    "INSERT INTO cases_rtree (id, min_lon, max_lon, min_lat, max_lat)"
    f" SELECT new.rowid, new.lon, new.lon, new.lat, new.lat WHERE {_NEW_POINT};"
)


def _create_sqlite() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE cases_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)"
    )
    op.execute(f"CREATE TRIGGER cases_rtree_insert AFTER INSERT ON cases BEGIN {_INSERT_NEW} END")
    op.execute(
        # the store's UPDATE sets every column: only a point that differs moves the entry
        "CREATE TRIGGER cases_rtree_update AFTER UPDATE OF lat, lon ON cases"
        " WHEN old.lat IS NOT new.lat OR old.lon IS NOT new.lon BEGIN"
        f" DELETE FROM cases_rtree WHERE id = old.rowid; {_INSERT_NEW} END"
    )
    op.execute(
        "CREATE TRIGGER cases_rtree_delete AFTER DELETE ON cases BEGIN"
        " DELETE FROM cases_rtree WHERE id = old.rowid; END"
    )
    op.execute(
        "INSERT INTO cases_rtree (id, min_lon, max_lon, min_lat, max_lat)"
        f" SELECT rowid, lon, lon, lat, lat FROM cases WHERE {_HAS_POINT}"
    )


def upgrade() -> None:
    op.drop_index("ix_cases_position", table_name="cases")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_cases_point ON cases USING gist"
            f" ((ST_SetSRID(ST_MakePoint(lon, lat), 4490))) WHERE {_HAS_POINT}"
        )
        return
    _create_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_point")
    else:
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS cases_rtree_{trigger}")
        op.execute("DROP TABLE IF EXISTS cases_rtree")
    where = sa.text("lat IS NOT NULL")
    op.create_index(
        "ix_cases_position",
        "cases",
        ["lat", "lon"],
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )
