"""Fast multi-row inserts that stay portable.

SQLAlchemy's ``executemany`` builds and processes a parameter dictionary per row, which costs
more than SQLite's own insert for the 10,000-machine imports operators do. Here SQLAlchemy still
writes the statement, for whichever database the inventory is on (``?`` for SQLite,
``%(name)s`` for psycopg), and the rows go to the driver's ``executemany`` as they are. Values
whose column type needs converting (datetimes, booleans, JSON) are converted with that type's own
bind processor: once for a constant, per row for the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam

# Keep IN lists well under every database's parameter limit.
CHUNK = 500


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows`` (values in ``columns`` order) plus ``constants`` into every row."""
    if not rows:
        return
    constants = dict(constants or {})
    names = [*columns, *constants]
    statement = table.insert().values({name: bindparam(name) for name in names})
    compiled = statement.compile(dialect=conn.dialect)
    processors = [table.c[name].type._cached_bind_processor(conn.dialect) for name in names]
    fixed = []
    for process, value in zip(processors[len(columns) :], constants.values(), strict=True):
        fixed.append(process(value) if process is not None else value)
    row_processors = [(i, p) for i, p in enumerate(processors[: len(columns)]) if p is not None]

    def prepared(row: Sequence[Any]) -> list[Any]:
        values = [*row, *fixed]
        for i, process in row_processors:
            values[i] = process(values[i])
        return values

    if compiled.positional:
        order = [names.index(name) for name in compiled.positiontup or ()]
        if order == list(range(len(names))) and not row_processors:
            params: list[Any] = [(*row, *fixed) for row in rows]
        else:
            params = []
            for row in rows:
                values = prepared(row)
                params.append(tuple(values[i] for i in order))
    else:
        params = [dict(zip(names, prepared(row), strict=True)) for row in rows]
    conn.exec_driver_sql(str(compiled), params)
