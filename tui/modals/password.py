"""The console's WinRM password prompt: masked, never echoed, kept in memory only.

Enter (or OK) answers; esc (or Cancel) declines, and the machine's scan fails saying where a
password can be put instead (environment or keyring).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from tui.passwords import Answer
from tui.safe import plain


class PasswordPrompt(ModalScreen[Answer | None]):
    BINDINGS = [Binding("escape", "decline", "Cancel", show=False)]

    def __init__(self, name: str, user: str | None) -> None:
        super().__init__()
        self.machine = name
        self.user = user

    def compose(self) -> ComposeResult:
        who = f"{self.user}@{self.machine}" if self.user else self.machine
        with Vertical(classes="dialog"):
            yield Static(plain(f"WinRM password for {who}"), classes="dialog-title")
            yield Static(
                "Kept in memory until the console exits; never written anywhere.",
                classes="dialog-detail",
            )
            yield Input(password=True, id="password", placeholder="password")
            yield Checkbox("for every Windows machine", id="every", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("OK", id="ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()

    def _answer(self) -> None:
        password = self.query_one("#password", Input).value
        every = self.query_one("#every", Checkbox).value
        self.dismiss(Answer(password, every) if password else None)

    @on(Input.Submitted, "#password")
    def _submitted(self) -> None:
        self._answer()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._answer()
        else:
            self.dismiss(None)

    def action_decline(self) -> None:
        self.dismiss(None)
