"""Make or edit a dynamic group: a name and a query, with the machines the query matches
previewed while it is typed and a bad query's error shown at the offending token (a caret
under it, the parser's message below).

Each keystroke restarts a short timer; when typing pauses the query runs in a worker of its own
exclusive group (``group-preview``), so only the newest query's answer is shown. The form saves
through ``create_group`` / ``edit_group`` in a worker and closes with the group's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from backends.inventory.errors import InventoryError, QueryError
from backends.inventory.group_edit import edit_group
from backends.inventory.groups import Group, create_group
from backends.inventory.query import caret_line, machines_matching
from backends.inventory.validation import FieldError
from tui.deck import Deck, DeckApp
from tui.format import plural
from tui.safe import neutralise, plain

TYPING_PAUSE = 0.25  # seconds without a keystroke before the preview's query runs
PREVIEW_NAMES = 12


@dataclass
class PreviewReady(Message):
    query: str
    names: list[str]


@dataclass
class PreviewFailed(Message):
    query: str
    error: QueryError


class GroupForm(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+s", "save", "Save", show=False),
    ]

    def __init__(self, group: Group | None = None) -> None:
        super().__init__()
        self.group = group
        self.error: QueryError | None = None  # the query's error shown now
        self._typing: Timer | None = None
        self._asked = ""  # the query whose preview was asked last

    @property
    def deck(self) -> Deck:
        return cast(DeckApp, self.app).deck

    def compose(self) -> ComposeResult:
        title = f"Edit the group {self.group.name}" if self.group else "New dynamic group"
        with Vertical(id="group-form", classes="dialog"):
            yield Static(plain(title), classes="dialog-title")
            with Grid(id="group-fields"):
                yield Label("Name")
                yield Input(
                    self.group.name if self.group else "",
                    placeholder="letters, digits and . _ -",
                    id="field-name",
                    compact=True,
                    disabled=self.group is not None,
                )
                yield Label("Query")
                yield Input(
                    self.group.query or "" if self.group else "",
                    placeholder="os = linux and tag.env = prod and missing.security > 0",
                    id="field-query",
                    compact=True,
                )
                yield Label("")
                yield Static("", id="query-caret")
            yield Static("", id="query-message", classes="dialog-hint")
            yield Static("type a query to see the machines it matches", id="query-preview")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)

    def on_mount(self) -> None:
        if self.group is None:
            self.query_one("#field-name", Input).focus()
        else:
            box = self.query_one("#field-query", Input)
            box.focus()
            box.action_end()  # typing goes on from the end of the query
            self._preview(self.query_text())

    def query_text(self) -> str:
        return self.query_one("#field-query", Input).value

    # the preview ------------------------------------------------------------------------

    @on(Input.Changed, "#field-query")
    def _query_changed(self) -> None:
        if self._typing is not None:
            self._typing.stop()
        self._typing = self.set_timer(TYPING_PAUSE, lambda: self._preview(self.query_text()))

    def _preview(self, query: str) -> None:
        self._asked = query
        if not query.strip():
            self._show_error(None)
            self.query_one("#query-preview", Static).update(
                plain("type a query to see the machines it matches")
            )
            return
        self.query_one("#query-preview", Static).add_class("-busy")
        self._match(query)

    @work(thread=True, group="group-preview", exclusive=True, exit_on_error=False, name="preview")
    def _match(self, query: str) -> None:
        try:
            machines = machines_matching(self.deck.store, query, self.deck.clock())
        except QueryError as exc:
            self.post_message(PreviewFailed(query, exc))
            return
        self.post_message(PreviewReady(query, [m.name for m in machines]))

    def on_preview_ready(self, message: PreviewReady) -> None:
        if message.query != self._asked:
            return  # an older keystroke's answer
        self._show_error(None)
        preview = self.query_one("#query-preview", Static)
        preview.remove_class("-busy")
        names = message.names
        if not names:
            preview.update(plain("matches no machine now", wrap=True))
            return
        shown = ", ".join(names[:PREVIEW_NAMES])
        more = f" and {len(names) - PREVIEW_NAMES} more" if len(names) > PREVIEW_NAMES else ""
        preview.update(
            plain(f"matches {plural(len(names), 'machine')} now: {shown}{more}", wrap=True)
        )

    def on_preview_failed(self, message: PreviewFailed) -> None:
        if message.query != self._asked:
            return
        self.query_one("#query-preview", Static).remove_class("-busy")
        self._show_error(message.error)

    def _show_error(self, error: QueryError | None) -> None:
        """The caret under the offending token of the query box (as it is scrolled now) and
        the parser's message; nothing for ``None``."""
        self.error = error
        caret = self.query_one("#query-caret", Static)
        text = self.query_one("#query-message", Static)
        box = self.query_one("#field-query", Input)
        box.set_class(error is not None, "-invalid")
        if error is None:
            caret.update("")
            text.update("")
            text.remove_class("-error")
            return
        line = caret_line(self.query_text(), error.column, error.length)
        caret.update(plain(line[int(box.scroll_x) :]))
        text.update(plain(error.message, wrap=True))
        text.add_class("-error")
        if error.query == self.query_text():
            self.query_one("#query-preview", Static).update(plain("no preview: fix the query"))

    # saving -----------------------------------------------------------------------------

    def action_save(self) -> None:
        name = self.query_one("#field-name", Input).value
        self._save(name, self.query_text())

    @work(thread=True, group="form", exclusive=True, exit_on_error=False, name="saving a group")
    def _save(self, name: str, query: str) -> str:
        store = self.deck.store
        if self.group is not None:
            return edit_group(store, self.group.name, query=query).name
        return create_group(store, name, query=query).name

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "form":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, str):
            self.dismiss(event.worker.result)
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, QueryError):
                self._asked = self.query_text()
                self._show_error(error)
                self.query_one("#field-query", Input).focus()
            elif isinstance(error, (InventoryError, FieldError)):
                self._message(str(error))
            else:
                self.log.error(f"saving a group failed: {error!r}")
                self._message(f"could not save: {error!r}")

    def _message(self, text: str) -> None:
        message = self.query_one("#query-message", Static)
        message.update(plain(neutralise(text), wrap=True))
        message.add_class("-error")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
