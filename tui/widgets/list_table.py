"""A table with a `/` filter that never loses a keystroke, and columns it sizes itself.

Textual hands each key to the widget focused when the key arrives. An operator typing ``/web``
in one burst would lose ``web`` to the table if ``/`` were an ordinary binding: the focus moves to
the filter box only after those keys were already given to the table. So the table opens the
filter itself, in its own key handler, and passes on the printable keys that reach it while the
box has focus.

``enter`` is not the table's: the screen binds it (open the row), so that it can be remapped
and shows in the footer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.widgets import DataTable, Input
from textual.widgets.data_table import CellDoesNotExist, RowKey

MAX_COLUMN_WIDTH = 48


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    max_width: int = MAX_COLUMN_WIDTH


class ListTable(DataTable[object], inherit_bindings=False):
    # DataTable's keys, but: enter is the screen's; home and end go to the first and last row
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            b
            for b in DataTable.BINDINGS
            if isinstance(b, Binding) and b.key not in ("enter", "home", "end")
        ),
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(
        self, *, filter_box: str, id: str | None = None, filter_keys: Sequence[str] = ("slash",)
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.filter_box = filter_box
        self.filter_keys = tuple(filter_keys)

    def replace_rows(
        self,
        columns: Sequence[Column | tuple[str, str]],
        rows: Sequence[tuple[str, Sequence[Text]]],
    ) -> None:
        """Show exactly ``rows`` (key, cells), columns sized to their content; the cursor
        stays on the row it was on if that row is still shown.

        Widths are measured here rather than left to the table: DataTable measures new rows
        only when idle, after it may already have drawn (and cached) them at header width.
        """
        specs = tuple(c if isinstance(c, Column) else Column(*c) for c in columns)
        widths = [len(c.label) for c in specs]
        for _, cells in rows:
            for i, cell in enumerate(cells):
                widths[i] = max(widths[i], min(cell.cell_len, specs[i].max_width))
        current = self.current_key()
        cursor = self.cursor_row
        self.clear(columns=True)
        for spec, width in zip(specs, widths, strict=True):
            self.add_column(Text(spec.label, no_wrap=True), key=spec.key, width=width)
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if rows:
            if current is not None and current in self.rows:
                cursor = self.get_row_index(current)
            self.move_cursor(row=min(cursor, len(rows) - 1))

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Every column here has its width and every row one line, so nothing needs measuring:
        DataTable would measure each new cell anyway, seconds for 10,000 rows. Only the
        scrollable size is left to set (as DataTable does; Textual is pinned, see STYLE.md)."""
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            width + self._row_label_column_width, self._total_row_height + header
        )

    def current_key(self) -> str | None:
        """The key of the row under the cursor, if there is one."""
        if not self.row_count or self.cursor_row < 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:  # the cursor is past the rows (they were just replaced)
            return None

    def open_filter(self) -> None:
        box = self.screen.query_one(self.filter_box, Input)
        box.add_class("-shown")
        self.screen.set_focus(box)  # now, not on the next message

    def on_key(self, event: events.Key) -> None:
        box = self.screen.query_one(self.filter_box, Input)
        if self.screen.focused is box and event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
        elif event.key in self.filter_keys:
            self.open_filter()
        else:
            return
        event.stop()
        event.prevent_default()
