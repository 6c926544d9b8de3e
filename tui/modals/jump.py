"""``:``: jump to a view by name (``:machines``), with completion, like k9s."""

from __future__ import annotations

import os
from collections.abc import Sequence

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from tui.safe import plain


def resolve_view(text: str, views: Sequence[str]) -> str | None:
    """The view ``text`` names: exactly, or the only one it is the start of."""
    wanted = text.strip().lstrip(":").strip().lower()
    if not wanted:
        return None
    if wanted in views:
        return wanted
    starts = [v for v in views if v.startswith(wanted)]
    return starts[0] if len(starts) == 1 else None


class JumpPrompt(ModalScreen[str | None]):
    """Answers the view's name, or ``None`` when the operator gives up (esc)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("tab", "complete", "Complete", show=False, priority=True),
    ]

    def __init__(self, views: Sequence[str]) -> None:
        super().__init__()
        self.views = tuple(views)

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-box", classes="dialog"):
            yield Input(
                placeholder=" | ".join(self.views),
                suggester=SuggestFromList(self.views, case_sensitive=False),
                id="jump",
                compact=True,
            )
            yield Static(
                plain("tab completes, enter goes, esc cancels"),
                id="jump-hint",
                classes="dialog-hint",
            )

    AUTO_FOCUS = "#jump"

    def on_key(self, event: events.Key) -> None:
        """Keys typed in the same burst as ``:`` reach this screen before its box has the
        focus: they are the operator's, so they go into the box (as ``ListTable`` does for
        ``/``). A printable key typed into the box never gets here (the box stops it); enter
        always does, and is taken here, once, in place of the box's own binding."""
        box = self.query_one("#jump", Input)
        if event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
        elif event.key == "enter":
            self._submit(box.value)
        else:
            return
        event.stop()
        event.prevent_default()

    @on(Input.Submitted, "#jump")
    def _go(self, event: Input.Submitted) -> None:
        self._submit(event.value)

    def _submit(self, value: str) -> None:
        view = resolve_view(value, self.views)
        if view is not None:
            self.dismiss(view)
            return
        hint = self.query_one("#jump-hint", Static)
        hint.update(plain(f"no view named {value.strip()!r}: try {', '.join(self.views)}"))
        hint.add_class("-error")

    @on(Input.Changed, "#jump")
    def _typing(self) -> None:
        self.query_one("#jump-hint", Static).remove_class("-error")

    def action_complete(self) -> None:
        box = self.query_one("#jump", Input)
        typed = box.value.strip().lstrip(":").lower()
        starts = [v for v in self.views if v.startswith(typed)]
        if starts:
            box.value = os.path.commonprefix(starts)
            box.cursor_position = len(box.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
