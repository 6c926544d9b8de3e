"""A table with a `/` filter that never loses a keystroke.

Textual hands each key to the widget focused when the key arrives. An operator typing ``/web``
in one burst would lose ``web`` to the table if ``/`` were an ordinary binding: the focus moves to
the filter box only after those keys were already given to the table. So the table opens the
filter itself, in its own key handler, and passes on the printable keys that reach it while the
box has focus.
"""

from __future__ import annotations

from textual import events
from textual.widgets import DataTable, Input


class ListTable(DataTable[object]):
    def __init__(self, *, filter_box: str, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.filter_box = filter_box

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
