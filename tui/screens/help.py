"""``?``: the keys of the current view, then those that work everywhere."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.safe import plain

KeyRow = tuple[str, str]  # key as shown, what it does


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", show=False),
    ]

    def __init__(self, title: str, own: Sequence[KeyRow], everywhere: Sequence[KeyRow]) -> None:
        super().__init__()
        self.title_text = title
        self.own = own
        self.everywhere = everywhere

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Static(plain(f"Keys: {self.title_text}"), classes="dialog-title")
            yield DataTable(id="help-keys", cursor_type="none", show_header=False)
            yield Static("esc closes", classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("key", "action")
        for key, text in self.own:
            table.add_row(plain(key, "bold"), plain(text))
        if self.own and self.everywhere:
            table.add_row("", "")
        for key, text in self.everywhere:
            table.add_row(plain(key, "bold"), plain(text))
        table.focus()
