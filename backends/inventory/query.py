"""The machine query language (docs/query-language.md): what ``machine list --where``,
``scan --where`` and dynamic groups use to choose machines.

``os = linux and tag.env = prod and missing.security > 0`` is read by ``query_lexer`` and
``query_parser`` (checked against ``query_fields``) and compiled by ``query_compile`` to a
SQLAlchemy expression over the machine table. A query that cannot be read or applied raises
:class:`QueryError` with the column of the offending token, and nothing else.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import ColumnElement

from backends.inventory.errors import QueryError
from backends.inventory.machines import _select
from backends.inventory.query_compile import compile_node
from backends.inventory.query_fields import FIELD_NAMES
from backends.inventory.query_parser import Node, parse
from backends.inventory.records import Machine
from backends.inventory.store import Store
from backends.inventory.tables import utcnow

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

__all__ = [
    "FIELD_NAMES",
    "QueryError",
    "caret_line",
    "check_query",
    "display_line",
    "explain",
    "machines_matching",
    "query_condition",
]


def check_query(query: str) -> Node:
    """The parsed ``query``; :class:`QueryError` if it cannot be used."""
    return parse(query)


def query_condition(query: str, now: datetime | None = None) -> ColumnElement[bool]:
    """``query`` as a condition on the machine table. ``now`` (default: the current time) is
    when ``last_scan_age`` counts from."""
    return compile_node(parse(query), now or utcnow())


def machines_matching(store: Store, query: str, now: datetime | None = None) -> list[Machine]:
    """The machines ``query`` matches, by name, as :func:`machines.list_machines` returns
    them (tags and missing counts included)."""
    condition = query_condition(query, now)
    with store.read() as session:
        return _select(session.connection(), condition)


def display_line(query: str) -> str:
    """``query`` as one printable line, character for character (so columns still count):
    line breaks and other control characters become spaces; tabs stay."""
    return _UNPRINTABLE.sub(" ", query)


def caret_line(query: str, column: int, length: int = 1) -> str:
    """Carets under ``length`` characters of ``query`` from 1-based ``column`` (one caret past
    the end for a query that stopped too early), to print under :func:`display_line`."""
    start = max(column - 1, 0)
    prefix = "".join("\t" if c == "\t" else " " for c in query[:start])
    width = max(1, min(length, len(query) - start))
    return prefix + "^" * width


def explain(query: str, error: QueryError) -> list[str]:
    """The query, a caret line under the offending token, and the message: what a console or
    a terminal shows for a bad query."""
    return [display_line(query), caret_line(query, error.column, error.length), error.message]
