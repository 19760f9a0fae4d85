"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from adapters.storage.database import migrate, open_engine
from adapters.storage.schema import SPATIAL_EXTRAS, metadata


def _declared(name: str | None, type_: str, _parent: object) -> bool:
    """False for the per-dialect spatial objects migration 0009 adds outside the metadata."""
    name = name or ""
    if type_ == "table":
        return name not in SPATIAL_EXTRAS["tables"] and not any(
            name.startswith(prefix) for prefix in SPATIAL_EXTRAS["table_prefixes"]
        )
    if type_ == "column":
        return name not in SPATIAL_EXTRAS["columns"]
    if type_ == "index":
        return name not in SPATIAL_EXTRAS["indexes"]
    return True


def test_the_migrated_database_matches_the_declared_schema(db_url: str) -> None:
    engine = open_engine(db_url)
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"include_name": _declared}), metadata
        )
        version = connection.execute(
            sa.text("SELECT version_num FROM alembic_version")
        ).scalar_one()
    engine.dispose()
    assert differences == []
    assert version == "0020"
