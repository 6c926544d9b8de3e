"""How the CLI shows a query it cannot use: the query, a caret line under the offending
token, and the message (the console shows the same three things inline)."""

from __future__ import annotations

import sys
from typing import TextIO

from backends.inventory.errors import QueryError
from backends.inventory.query import explain
from tui.safe import neutralise


def print_query_error(exc: QueryError, out: TextIO | None = None) -> None:
    """Print ``exc`` on stderr: the query and carets indented, then ``patchdeck: message``."""
    stream = out or sys.stderr
    if exc.query:
        shown, carets, _ = explain(exc.query, exc)
        stream.write(f"  {neutralise(shown)}\n  {carets}\n")
    stream.write(f"patchdeck: {neutralise(exc.message)}\n")
