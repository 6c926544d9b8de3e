"""The machines that miss one update (the updates view's ``enter``): what each has and would
get. ``enter`` opens a machine; ``space`` marks and ``s`` scans them again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Header, Input, Static

from backends.inventory.fleet_updates import FleetUpdate, MissingOn, machines_missing
from tui.actions import UPDATE, bindings
from tui.format import os_name, plural
from tui.messages import MissingOnLoaded
from tui.safe import plain
from tui.screens.machine_detail import MachineDetailScreen
from tui.screens.view import View
from tui.widgets.list_table import Column, ListTable

MARK = "●"
TICK = 0.5
COLUMNS = [
    Column("mark", " ", 1),
    Column("machine", "Machine"),
    Column("os", "OS", 16),
    Column("installed", "Installed", 24),
    Column("available", "Available", 24),
    Column("severity", "Severity", 10),
    Column("advisories", "Advisories", 30),
    Column("source", "Source", 30),
]
SORTS: tuple[tuple[str, Callable[[MissingOn], Any]], ...] = (
    ("machine", lambda m: m.machine),
    ("os", lambda m: (os_name(m.os_family, m.distro, m.version), m.machine)),
    ("installed", lambda m: (m.installed or "", m.machine)),
    ("available", lambda m: (m.available or "", m.machine)),
    ("source", lambda m: (m.source or "", m.machine)),
)


class UpdateMachinesScreen(View):
    VIEW = UPDATE
    TITLE = "Update"
    AUTO_FOCUS = "#missing-on"
    BINDINGS: ClassVar[list[BindingType]] = bindings(UPDATE)

    def __init__(self, update: FleetUpdate) -> None:
        super().__init__()
        self.fleet_update = update
        self.sub_title = f"{update.name} ({update.classification.replace('_', ' ')})"
        self.all: list[MissingOn] = []
        self.rows: dict[str, MissingOn] = {}
        self.marks: set[int] = set()
        self.filter_text = ""
        self.sort_index = 0
        self.sort_reverse = False
        self._changed: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Input(placeholder="filter: machine name", id="filter", select_on_focus=False)
            yield ListTable(
                id="missing-on",
                filter_box="#filter",
                filter_keys=self.deck.registry.keys("filter"),
            )
            yield Static("loading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._changed = self.deck.scanner.watch()
        self.set_interval(TICK, self._tick)
        self.load()

    def _tick(self) -> None:
        if self._changed:
            names = {m.machine for m in self.all}
            finished = any(n in names and not self.deck.scanner.in_flight(n) for n in self._changed)
            self._changed.clear()
            if finished:
                self.load()

    @work(thread=True, group="missing-on", exclusive=True, exit_on_error=False, name="listing")
    def load(self) -> None:
        u = self.fleet_update
        self.post_message(
            MissingOnLoaded(machines_missing(self.deck.store, u.platform_id, u.classification))
        )

    def on_missing_on_loaded(self, message: MissingOnLoaded) -> None:
        self.all = message.machines
        self._show()

    def _show(self) -> None:
        text = self.filter_text.lower()
        shown = [m for m in self.all if text in m.machine.lower()]
        _, key = SORTS[self.sort_index]
        shown.sort(key=key, reverse=self.sort_reverse)
        self.rows = {str(m.machine_id): m for m in shown}
        table = self.query_one("#missing-on", ListTable)
        with self.app.batch_update():
            table.replace_rows(COLUMNS, [(k, self.cells(m)) for k, m in self.rows.items()])
        u = self.fleet_update
        parts = [f"{plural(len(self.all), 'machine')} miss {u.name}"]
        if self.filter_text:
            parts.append(f"{len(shown)} match {self.filter_text!r}")
        if self.marks:
            parts.append(f"{len(self.marks)} marked")
        label, _ = SORTS[self.sort_index]
        parts.append(f"by {label} {'▼' if self.sort_reverse else '▲'}")
        self.query_one("#status", Static).update(plain(" · ".join(parts)))
        self.refresh_bindings()

    def cells(self, m: MissingOn) -> tuple[Text, ...]:
        return (
            Text(MARK if m.machine_id in self.marks else " "),
            plain(m.machine),
            plain(os_name(m.os_family, m.distro, m.version)),
            plain(m.installed or "(new)"),
            plain(m.available or ""),
            plain(m.severity or ""),
            plain(" ".join(m.advisories)),
            plain(m.source or ""),
        )

    def _current(self) -> MissingOn | None:
        key = self.query_one("#missing-on", ListTable).current_key()
        return self.rows.get(key) if key is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action in ("open", "mark", "mark_all", "sort", "reverse"):
            return bool(self.rows)
        if action == "scan":
            return bool(self.rows or self.marks)
        return True

    def action_open(self) -> None:
        current = self._current()
        if current is not None:
            self.app.push_screen(MachineDetailScreen(current.machine_id, current.machine))

    @on(ListTable.RowSelected, "#missing-on")
    def _clicked(self) -> None:
        self.action_open()

    def action_mark(self) -> None:
        current = self._current()
        if current is None:
            return
        self.marks.symmetric_difference_update({current.machine_id})
        table = self.query_one("#missing-on", ListTable)
        mark = MARK if current.machine_id in self.marks else " "
        table.update_cell(str(current.machine_id), "mark", Text(mark))
        table.action_cursor_down()

    def action_mark_all(self) -> None:
        shown = {m.machine_id for m in self.rows.values()}
        self.marks = self.marks - shown if shown <= self.marks else self.marks | shown
        self._show()

    def action_scan(self) -> None:
        if self.marks:
            ids = sorted(self.marks)
        else:
            current = self._current()
            ids = [current.machine_id] if current is not None else []
        if ids:
            what = plural(len(ids), "machine") if len(ids) > 1 else self.rows[str(ids[0])].machine
            self.deck_app.start_scan(ids, what)

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.sort_reverse = False
        self._show()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._show()

    @on(ListTable.HeaderSelected, "#missing-on")
    def _header(self, event: ListTable.HeaderSelected) -> None:
        names = [label for label, _ in SORTS]
        column = event.column
        if column not in names:
            return
        index = names.index(column)
        self.sort_reverse = not self.sort_reverse if index == self.sort_index else False
        self.sort_index = index
        self._show()

    def action_refresh(self) -> None:
        self.load()

    def action_filter(self) -> None:
        self.query_one("#missing-on", ListTable).open_filter()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one("#missing-on", ListTable).focus()
        else:
            self.dismiss()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._show()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#missing-on", ListTable).focus()
