"""A table with a `/` filter that never loses a keystroke.

Textual hands each key to the widget focused when the key arrives. An operator typing ``/web``
in one burst would lose ``web`` to the table if ``/`` were an ordinary binding: the focus moves to
the filter box only after those keys were already given to the table. So the table opens the
filter itself, in its own key handler, and passes on the printable keys that reach it while the
box has focus.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable, Input

MAX_COLUMN_WIDTH = 48


class ListTable(DataTable[object]):
    def __init__(self, *, filter_box: str, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.filter_box = filter_box

    def replace_rows(
        self, columns: Sequence[tuple[str, str]], rows: Sequence[tuple[str, Sequence[Text]]]
    ) -> None:
        """Show exactly ``rows`` (key, cells), columns sized to their content.

        Widths are measured here rather than left to the table: DataTable measures new rows
        only when idle, after it may already have drawn (and cached) them at header width.
        """
        widths = [len(label) for _, label in columns]
        for _, cells in rows:
            for i, cell in enumerate(cells):
                widths[i] = max(widths[i], min(cell.cell_len, MAX_COLUMN_WIDTH))
        cursor = self.cursor_row
        self.clear(columns=True)
        for (key, label), width in zip(columns, widths, strict=True):
            self.add_column(label, key=key, width=width)
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if rows:
            self.move_cursor(row=min(cursor, len(rows) - 1))

    def open_filter(self) -> None:
        box = self.screen.query_one(self.filter_box, Input)
        box.add_class("-shown")
        self.screen.set_focus(box)  # now, not on the next message

    def on_key(self, event: events.Key) -> None:
        box = self.screen.query_one(self.filter_box, Input)
        if self.screen.focused is box and event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
        elif event.key == "slash":
            self.open_filter()
        else:
            return
        event.stop()
        event.prevent_default()
