"""Make or edit a static group: a name and the machines it holds, picked with marks (``space``)
in a list of every machine. The machines view's marks arrive here already marked.

It saves through ``create_group`` / ``edit_group`` in a worker and closes with the group's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, SelectionList, Static
from textual.worker import Worker, WorkerState

from backends.inventory.errors import InventoryError
from backends.inventory.group_edit import edit_group
from backends.inventory.groups import Group, create_group
from backends.inventory.machine_status import machine_statuses
from backends.inventory.validation import FieldError
from tui.deck import Deck, DeckApp
from tui.format import plural
from tui.safe import neutralise, plain


@dataclass
class MachineNamesLoaded(Message):
    names: list[str]


class StaticGroupForm(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+s", "save", "Save", show=False),
    ]

    def __init__(self, group: Group | None = None, marked: Sequence[str] = ()) -> None:
        super().__init__()
        self.group = group
        self.marked = set(group.machines if group is not None else marked)

    @property
    def deck(self) -> Deck:
        return cast(DeckApp, self.app).deck

    def compose(self) -> ComposeResult:
        title = f"Edit the group {self.group.name}" if self.group else "New static group"
        with Vertical(id="static-group-form", classes="dialog"):
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
            yield Static("space marks a machine; ctrl+s saves", classes="dialog-hint")
            yield SelectionList[str](id="group-machines", compact=True)
            yield Static("reading the machines…", id="picked", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)

    def on_mount(self) -> None:
        if self.group is None:
            self.query_one("#field-name", Input).focus()
        else:
            self.query_one("#group-machines", SelectionList).focus()
        self._load()

    @work(thread=True, group="group-machines", exclusive=True, exit_on_error=False, name="machines")
    def _load(self) -> None:
        self.post_message(MachineNamesLoaded([m.name for m in machine_statuses(self.deck.store)]))

    def on_machine_names_loaded(self, message: MachineNamesLoaded) -> None:
        picker = self.query_one("#group-machines", SelectionList)
        picker.clear_options()
        picker.add_options([(neutralise(n), n, n in self.marked) for n in message.names])
        if message.names:
            picker.highlighted = 0
        self._count()

    def picked(self) -> list[str]:
        return list(self.query_one("#group-machines", SelectionList).selected)

    @on(SelectionList.SelectedChanged)
    def _count(self) -> None:
        picked = self.picked()
        self.query_one("#picked", Static).remove_class("-error")
        self.query_one("#picked", Static).update(plain(f"{plural(len(picked), 'machine')} marked"))

    def action_save(self) -> None:
        self._save(self.query_one("#field-name", Input).value, self.picked())

    @work(thread=True, group="form", exclusive=True, exit_on_error=False, name="saving a group")
    def _save(self, name: str, machines: list[str]) -> str:
        store = self.deck.store
        if self.group is not None:
            return edit_group(store, self.group.name, machines=machines).name
        return create_group(store, name, machines=machines).name

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "form":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, str):
            self.dismiss(event.worker.result)
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, (InventoryError, FieldError)):
                text = str(error)
            else:
                self.log.error(f"saving a group failed: {error!r}")
                text = f"could not save: {error!r}"
            picked = self.query_one("#picked", Static)
            picked.update(plain(text, wrap=True))
            picked.add_class("-error")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.query_one("#group-machines", SelectionList).focus()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
