"""Fast multi-row inserts that stay portable.

SQLAlchemy's ``executemany`` builds and processes a parameter dictionary per row, which costs
more than SQLite's own insert for the 10,000-machine imports operators do. Here SQLAlchemy still
writes the statement, for whichever database the inventory is on (``?`` for SQLite,
``%(name)s`` for psycopg), and the rows go to the driver's ``executemany`` as they are. Values
whose column type needs converting (datetimes, booleans, JSON) are converted with that type's own
bind processor: once for a constant, per row for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
    sql, positions = _compiled(conn, table, tuple(names))
    processors = [table.c[name].type._cached_bind_processor(conn.dialect) for name in names]
    fixed = []
    for process, value in zip(processors[len(columns) :], constants.values(), strict=True):
        fixed.append(process(value) if process is not None else value)
    row_processors = [
        (i, _remembering(p)) for i, p in enumerate(processors[: len(columns)]) if p is not None
    ]

    def prepared(row: Sequence[Any]) -> list[Any]:
        values = [*row, *fixed]
        for i, process in row_processors:
            values[i] = process(values[i])
        return values

    if positions is not None:
        order = [names.index(name) for name in positions]
        if order == list(range(len(names))) and not row_processors:
            params: list[Any] = [(*row, *fixed) for row in rows]
        else:
            params = []
            for row in rows:
                values = prepared(row)
                params.append(tuple(values[i] for i in order))
    else:
        params = [dict(zip(names, prepared(row), strict=True)) for row in rows]
    conn.exec_driver_sql(sql, params)


def _remembering(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` that converts each distinct hashable value once per call of insert_rows:
    the rows of one batch repeat few values (no advisories, the same flags)."""
    seen: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            result = seen[value] = process(value)
            return result
        except TypeError:  # unhashable (a list): convert it every time
            return process(value)

    return converted


_COMPILED: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


def _compiled(
    conn: Connection, table: Table, names: tuple[str, ...]
) -> tuple[str, tuple[str, ...] | None]:
    """The INSERT statement for ``names`` in the connection's dialect, compiled once: the
    statement text and, for positional parameter styles, the order of its parameters."""
    key = (conn.dialect.name, table.name, names)
    found = _COMPILED.get(key)
    if found is None:
        statement = table.insert().values({name: bindparam(name) for name in names})
        compiled = statement.compile(dialect=conn.dialect)
        positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _COMPILED[key] = (str(compiled), positions)
    return found
