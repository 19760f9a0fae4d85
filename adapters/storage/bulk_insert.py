"""Multi-row inserts: the many rows of one transaction written by one prepared statement.

An intake batch writes hundreds of rows per table. SQLAlchemy's per-row parameter
processing cost more than the database's own work, so these rows are written by a
statement built once per (table, columns, dialect) from plain tuples, converted here as
the column types would: JSON as text (``null`` for None, as sa.JSON stores it),
timestamps as naive UTC (SQLite: SQLAlchemy's own text format, so comparisons with
bound times still hold). PostgreSQL takes them by COPY.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pydantic_core
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from adapters.storage import schema as t


def _postgres_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).replace(tzinfo=None)


class JsonText(str):
    """A value already serialised to JSON text: written to a JSON column as it is."""


def _json_text(value: Any) -> str:
    if isinstance(value, JsonText):
        return str(value)  # a plain str: sqlite3 binds those without an adapter lookup
    # compiled (several times json.dumps' speed); infinities and NaN as null: JSON has
    # neither (PostgreSQL's json type refuses them)
    return pydantic_core.to_json(value, inf_nan_mode="null").decode()


#: an intake batch stamps most of its rows with one `now`: convert each moment once
_sqlite_time_text = functools.lru_cache(maxsize=1024)(t.sqlite_time_text)


def _sqlite_bool(value: bool | None) -> int | None:
    """SQLite stores booleans as 0/1; sqlite3 binds an exact int without an adapter lookup."""
    return None if value is None else int(value)


def _converter(column: sa.Column[Any], postgres: bool) -> Callable[[Any], Any] | None:
    if isinstance(column.type, t.UtcDateTime):
        return _postgres_time if postgres else _sqlite_time_text
    if isinstance(column.type, sa.JSON):
        return _json_text
    if isinstance(column.type, sa.Boolean) and not postgres:
        return _sqlite_bool
    return None


@functools.cache
def _json_columns(table: sa.Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, sa.JSON))


@functools.lru_cache(maxsize=512)  # one per (table, columns with a value, dialect)
def _insert_plan(
    table: sa.Table, names: tuple[str, ...], dialect: str
) -> tuple[str, Callable[[dict[str, Any]], Any], tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """The statement, a getter of a row's values in column order, and (index, converter)
    for the columns whose Python value is not what the driver takes."""
    postgres = dialect == "postgresql"
    quote = (postgresql.dialect() if postgres else sqlite.dialect()).identifier_preparer.quote
    columns = ", ".join(quote(n) for n in names)
    if postgres:
        sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
    else:
        sql = (
            f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join('?' for _ in names)})"
        )
    getter = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    converters = tuple(
        (i, convert)
        for i, n in enumerate(names)
        if (convert := _converter(table.c[n], postgres)) is not None
    )
    return sql, getter, converters


def insert_many(connection: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """SQLite: one prepared INSERT run per row (``executemany``, cheap in-process);
    PostgreSQL: ``COPY`` (a statement per row would cost the server several times more).

    Columns that no row has a value for are left out, and the database writes NULL: a
    new case leaves a dozen empty, and sqlite3 looks up an adapter for every None (and
    every bool, and every str subclass) it binds, the largest part of its own work here.
    JSON columns are always written (None is the JSON text ``null`` there, as sa.JSON
    stores it, not SQL NULL).
    """
    json_columns = _json_columns(table)
    names = tuple(
        name
        for name in rows[0]
        if name in json_columns or any(row[name] is not None for row in rows)
    )
    sql, getter, converters = _insert_plan(table, names, connection.dialect.name)
    values: list[tuple[Any, ...]] = []
    for row in rows:
        value = getter(row)
        if converters:
            value = list(value)
            for i, convert in converters:
                value[i] = convert(value[i])
            value = tuple(value)
        values.append(value)
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql(sql, values)
        return
    driver = connection.connection.driver_connection  # psycopg, inside this transaction
    with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
        for value in values:
            copy.write_row(value)
