"""The updates view: every update missing somewhere in the fleet, with its classification, its
severity and how many machines miss it (counted by the database); ``enter`` lists them.

``/`` filters by name, id, classification or advisory (a query, started once typing pauses);
``o``/``O`` and header clicks sort. After scans the counts are read again, no more often than
counting takes time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static

from backends.inventory.fleet_updates import FleetUpdate, fleet_updates
from tui.actions import UPDATES, bindings
from tui.format import plural
from tui.messages import UpdatesLoaded
from tui.safe import plain
from tui.screens.deployment_form import DeploymentForm, Prefill
from tui.screens.sorting import SortedView
from tui.screens.update_machines import UpdateMachinesScreen
from tui.screens.view import View
from tui.widgets.list_table import Column, ListTable

TICK = 0.5
STALE_AFTER = 10.0  # seconds after which coming back to the view reads the pivot again
TYPING_PAUSE = 0.15  # seconds without a keystroke before the filter's query starts
SEVERITY_RANK = {"critical": 4, "important": 3, "high": 3, "moderate": 2, "medium": 2, "low": 1}
URGENT = ("security", "critical")


@dataclass(frozen=True, slots=True)
class SortKey:
    column: str
    label: str
    key: Callable[[FleetUpdate], Any]
    descending: bool = False


SORTS = (
    SortKey("machines", "machines", lambda u: (u.machines, u.name), descending=True),
    SortKey("name", "name", lambda u: (u.name, u.classification)),
    SortKey("class", "classification", lambda u: (u.classification not in URGENT, u.name)),
    SortKey(
        "severity",
        "severity",
        lambda u: (SEVERITY_RANK.get((u.severity or "").lower(), 0), u.machines),
        descending=True,
    ),
    SortKey("id", "id", lambda u: u.platform_id),
)
MARK = "●"
COLUMNS = [
    Column("mark", " ", 1),
    Column("name", "Update", 40),
    Column("class", "Class", 14),
    Column("severity", "Severity", 10),
    Column("machines", "Machines"),
    Column("id", "Id", 38),
]


class UpdatesScreen(SortedView, View):
    SORTS = SORTS
    VIEW = UPDATES
    TITLE = "Updates"
    AUTO_FOCUS = "#updates"
    BINDINGS: ClassVar[list[BindingType]] = bindings(UPDATES)

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.rows: dict[str, FleetUpdate] = {}
        self.marks: set[str] = set()  # row keys: what D deploys
        self.sort = SORTS[0]
        self.sort_reverse = True
        self._changed: set[str] = set()
        self._stale = False
        self._loaded_at = 0.0
        self._wait = TICK
        self._typing: Timer | None = None
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Input(
                placeholder="filter: name, id, classification or advisory",
                id="filter",
                select_on_focus=False,
            )
            yield ListTable(
                id="updates",
                filter_box="#filter",
                filter_keys=self.deck.registry.keys("filter"),
            )
            yield Static("loading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._changed = self.deck.scanner.watch()
        self.set_interval(TICK, self._tick)
        self.load(self.filter_text)

    def on_screen_resume(self) -> None:
        if self._loaded and time.monotonic() - self._loaded_at > STALE_AFTER:
            self.load(self.filter_text)

    def _tick(self) -> None:
        if self._changed:
            finished = any(not self.deck.scanner.in_flight(n) for n in self._changed)
            self._changed.clear()
            self._stale = self._stale or finished
        if self._stale and self.is_current and time.monotonic() - self._loaded_at >= self._wait:
            self._stale = False
            self.load(self.filter_text)

    @work(thread=True, group="updates", exclusive=True, exit_on_error=False, name="pivot")
    def load(self, text: str) -> None:
        started = time.monotonic()
        found = fleet_updates(self.deck.store, text or None)
        self.post_message(UpdatesLoaded(found, text, time.monotonic() - started))

    def on_updates_loaded(self, message: UpdatesLoaded) -> None:
        if message.filter_text != self.filter_text:
            return  # an older keystroke's answer
        self._loaded = True
        self._loaded_at = time.monotonic()
        self._wait = max(TICK, 3 * message.seconds)
        self._show(sorted(message.updates, key=self.sort.key, reverse=self.sort_reverse))

    def _show(self, updates: list[FleetUpdate]) -> None:
        self.rows = {u.key: u for u in updates}
        table = self.query_one("#updates", ListTable)
        with self.app.batch_update():
            table.replace_rows(COLUMNS, [(u.key, self.cells(u)) for u in updates])
        self._show_status()
        self.refresh_bindings()

    def cells(self, u: FleetUpdate) -> tuple[Text, ...]:
        style = "bold" if u.classification in URGENT else ""
        return (
            Text(MARK if u.key in self.marks else " "),
            plain(u.name),
            plain(u.classification.replace("_", " "), style),
            plain(u.severity or ""),
            Text(str(u.machines), justify="right"),
            plain(u.platform_id if u.platform_id != u.name else ""),
        )

    def _show_status(self) -> None:
        shown = len(self.rows)
        arrow = "▼" if self.sort_reverse else "▲"
        if self.filter_text:
            text = f"{plural(shown, 'update')} match {self.filter_text!r}   esc clears"
        elif shown:
            text = f"{plural(shown, 'update')} missing in the fleet"
        else:
            text = "no missing update recorded: scan machines first (S on the dashboard)"
        if shown:
            text += f" · by {self.sort.label} {arrow} · enter lists the machines"
        if self.marks:
            text = f"{len(self.marks)} marked: D deploys them · {text}"
        self.query_one("#status", Static).update(plain(text))

    # sorting ----------------------------------------------------------------------------

    def _apply_sort(self) -> None:
        updates = sorted(self.rows.values(), key=self.sort.key, reverse=self.sort_reverse)
        self._show(updates)

    @on(ListTable.HeaderSelected, "#updates")
    def _header(self, event: ListTable.HeaderSelected) -> None:
        self._sort_by(event.column, flip=True)

    # actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action in ("open", "sort", "reverse", "mark", "mark_all"):
            return bool(self.rows)
        if action == "deploy_updates":
            return bool(self.rows or self.marks)
        return True

    def action_open(self) -> None:
        key = self.query_one("#updates", ListTable).current_key()
        if key is not None and key in self.rows:
            self.app.push_screen(UpdateMachinesScreen(self.rows[key]))

    @on(ListTable.RowSelected, "#updates")
    def _clicked(self) -> None:
        self.action_open()

    def action_refresh(self) -> None:
        self.load(self.filter_text)

    # marks and deploying them -----------------------------------------------------------

    def action_mark(self) -> None:
        table = self.query_one("#updates", ListTable)
        key = table.current_key()
        if key is None or key not in self.rows:
            return
        self.marks.symmetric_difference_update({key})
        table.update_cell(key, "mark", Text(MARK if key in self.marks else " "))
        table.action_cursor_down()
        self._show_status()

    def action_mark_all(self) -> None:
        shown = set(self.rows)
        self.marks = self.marks - shown if shown <= self.marks else self.marks | shown
        self._apply_sort()

    def action_deploy_updates(self) -> None:
        """A new deployment of the marked updates (else the one under the cursor), by their
        ids, and no classification: exactly those."""
        key = self.query_one("#updates", ListTable).current_key()
        keys = sorted(self.marks) or ([key] if key in self.rows else [])
        chosen = [self.rows[k] for k in keys if k in self.rows]
        patterns = tuple(
            dict.fromkeys(u.platform_id if " " not in u.platform_id else u.name for u in chosen)
        )
        prefill = Prefill(include=patterns, classifications=())
        self.app.push_screen(DeploymentForm(prefill=prefill))

    def action_filter(self) -> None:
        self.query_one("#updates", ListTable).open_filter()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one("#updates", ListTable).focus()
        else:
            self.app_go_back()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        if self._typing is not None:
            self._typing.stop()
        self._typing = self.set_timer(TYPING_PAUSE, lambda: self.load(self.filter_text))

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#updates", ListTable).focus()
