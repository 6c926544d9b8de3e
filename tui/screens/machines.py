"""The machines view: every machine, what it misses and how its last scan went.

``/`` filters (a query, in a worker of its own: only the newest keystroke's answer is shown),
``o``/``O`` and header clicks sort, ``space`` marks (marks are database ids, kept here, shown in
the first column). Actions apply to the marked machines, else to the one under the cursor.

While scans run, the scanner collects the names of machines that changed; every quarter of a
second the rows of those machines are refreshed (their state from memory, their counts from
the database, a few rows at a time) and only cells that differ are rewritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from backends.inventory.machine_status import MachineStatus, machine_statuses, matches
from backends.inventory.machines import add_machine
from backends.inventory.records import Machine, MachineSpec
from tui.actions import MACHINES, bindings
from tui.format import age, os_name, plural
from tui.messages import MachinesLoaded, MachinesRefreshed
from tui.modals.machine_form import MachineForm
from tui.safe import neutralise, plain
from tui.scanning import QUEUED
from tui.screens.machine_actions import MachineActions
from tui.screens.machine_detail import MachineDetailScreen
from tui.widgets.list_table import MAX_COLUMN_WIDTH, Column, ListTable

MARK = "●"
TICK = 0.25  # seconds between two looks at what a scan changed
AGES_EVERY = 30.0  # seconds between two refreshes of the "Age" column
QUICK = 0.05  # a filter is applied at each key while showing the rows takes less than this
TYPING_PAUSE = 0.15  # else once typing pauses this long
STALE_AFTER = 10.0  # seconds after which coming back to the view reads the inventory again
OS_ROOM = 13
FLEX = ("name", "os", "env")  # the columns that share what room the others leave
LIVE = {QUEUED: "queued", "connecting": "connecting…", "scanning": "scanning…"}


@dataclass(frozen=True, slots=True)
class SortKey:
    column: str
    label: str
    key: Callable[[MachineStatus, datetime], Any]
    descending: bool = False  # the first press sorts this way (counts: most first)


def _count(which: str) -> Callable[[MachineStatus, datetime], Any]:
    def key(m: MachineStatus, _now: datetime) -> Any:
        return (getattr(m.missing, which) if m.assessed else -1, m.name)

    return key


def _state_rank(m: MachineStatus) -> int:
    if m.reachable is False:
        return 0
    if m.last_scan_outcome == "failed":
        return 1
    return 2 if m.last_scan_at is None else 3


SORTS = (
    SortKey("name", "name", lambda m, _: m.name),
    SortKey("os", "OS", lambda m, _: (os_name(m.os_family, m.distro, m.version), m.name)),
    SortKey("env", "env/tags", lambda m, _: (_env_text(m), m.name)),
    SortKey("sec", "security", _count("security"), descending=True),
    SortKey("crit", "critical", _count("critical"), descending=True),
    SortKey("other", "other", _count("other"), descending=True),
    SortKey("reboot", "reboot", lambda m, _: (m.reboot_pending is True, m.name), True),
    SortKey(
        "age",
        "last scan age",
        lambda m, now: (m.last_scan_at is None, (now - m.last_scan_at) if m.last_scan_at else 0),
    ),
    SortKey("state", "state", lambda m, _: (_state_rank(m), m.name)),
)
SORT_BY_COLUMN = {s.column: s for s in SORTS}


def _env_text(m: MachineStatus) -> str:
    tags = " ".join(f"{k}={v}" for k, v in m.tags if not (k == "env" and v == m.environment))
    return " ".join(filter(None, (m.environment, tags)))


class MachinesScreen(MachineActions):
    VIEW = MACHINES
    TITLE = "Machines"
    AUTO_FOCUS = "#machines"
    BINDINGS: ClassVar[list[BindingType]] = bindings(MACHINES)

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.all: dict[str, MachineStatus] = {}  # row key (database id) -> every machine
        self.rows: dict[str, MachineStatus] = {}  # the rows shown (filtered), in order
        self.key_by_name: dict[str, str] = {}
        self.marks: set[int] = set()
        self.sort = SORTS[0]
        self.sort_reverse = False
        self._changed: set[str] = set()
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._styles: dict[str, str] = {}
        self._flex = (14, 10, 10)  # widest name, OS and env/tags, from the screen's width
        self._scanning = False
        self._typing: Timer | None = None
        self._render_seconds = 0.0  # how long showing the rows took last time
        self._loaded_at = 0.0

    # layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            # Not select_on_focus: keys typed in the same burst as `/` must not be replaced.
            yield Input(
                placeholder="filter: name, address or tag", id="filter", select_on_focus=False
            )
            yield ListTable(
                id="machines",
                filter_box="#filter",
                filter_keys=self.deck.registry.keys("filter"),
            )
            yield Static("loading…", id="status")
        yield Footer()

    def columns(self) -> list[Column]:
        name, os_width, env = self._flex
        return [
            Column("mark", " ", 1),
            Column("name", "Name", name),
            Column("os", "OS", os_width),
            Column("env", "Env/tags", env),
            Column("sec", "Sec", 3),
            Column("crit", "Crit", 4),
            Column("other", "Oth", 3),
            Column("reboot", "Rbt", 3),
            Column("age", "Age", 5),
            Column("state", "State", 11),
        ]

    def _flex_widths(self) -> tuple[int, int, int]:
        """The widths of name, OS and env/tags: what their cells need, within the room the
        screen leaves after the other columns (name first, then OS, env/tags what is left)."""
        columns = self.columns()
        natural = [len(c.label) for c in columns]
        for key in self.rows:
            for i, cell in enumerate(self._cells[key]):
                natural[i] = max(natural[i], min(cell.cell_len, MAX_COLUMN_WIDTH))
        fixed = sum(w for c, w in zip(columns, natural, strict=True) if c.key not in FLEX)
        # two cells of padding around each column, and the scrollbar
        room = max(28, self.size.width - fixed - 2 * len(columns) - 2)
        name_need, os_need, env_need = (natural[i] for i in (1, 2, 3))
        os_need = max(os_need, OS_ROOM)  # a scan turns "linux" into "almalinux 9.4"
        name = min(name_need, max(10, room * 2 // 5))
        os_width = min(os_need, max(9, room - name - 8))
        return name, os_width, max(6, min(env_need, room - name - os_width))

    def _theme_styles(self, _: object = None) -> None:
        """Cell colours from the theme's variables (none is written here); again when the
        theme changes."""
        variables = self.app.theme_variables
        self._styles = {
            "error": f"bold {variables.get('error', '')}".strip(),
            "warning": variables.get("warning", ""),
            "muted": "dim",
        }
        if self.all:
            now = self.deck.clock()
            self._cells = {key: self.cells(m, now) for key, m in self.all.items()}
            self._show_rows()

    def on_mount(self) -> None:
        self._theme_styles()
        self.app.theme_changed_signal.subscribe(self, self._theme_styles)
        self._changed = self.deck.scanner.watch()
        self.set_interval(TICK, self._flush)
        self.set_interval(AGES_EVERY, self._refresh_ages)
        self.load()

    def on_resize(self) -> None:
        if self.rows and self._flex_widths() != self._flex:
            self._show_rows()

    def on_screen_resume(self) -> None:
        # back from another view: other commands may have changed the inventory meanwhile
        # (not after a moment's help or question: that would read 10,000 machines again)
        if self.all and time.monotonic() - self._loaded_at > STALE_AFTER:
            self.load()

    # loading ----------------------------------------------------------------------------

    @work(thread=True, group="machines", exclusive=True, exit_on_error=False, name="listing")
    def load(self) -> None:
        """Read every machine; the filter then runs on what was read (see ``_show_rows``)."""
        self.post_message(MachinesLoaded(machine_statuses(self.deck.store)))

    def on_machines_loaded(self, message: MachinesLoaded) -> None:
        self._loaded_at = time.monotonic()
        now = self.deck.clock()
        self.all = {str(m.id): m for m in message.machines}
        self.key_by_name = {m.name: key for key, m in self.all.items()}
        self._cells = {key: self.cells(m, now) for key, m in self.all.items()}
        self.marks &= {m.id for m in message.machines}
        self._show_rows()

    def _sorted(self, machines: list[MachineStatus]) -> list[MachineStatus]:
        now = self.deck.clock()
        key = self.sort.key
        return sorted(machines, key=lambda m: key(m, now), reverse=self.sort_reverse)

    def _show_rows(self) -> None:
        """Show the machines that match the filter, in the sort order.

        The filter runs on the rows already read rather than as a query per keystroke: the
        table needs every machine's counts anyway, and counting them again for each key
        (a GROUP BY over every update row) would cost a second at 10,000 machines × 100
        updates. ``matches`` is the query's own rule (a test holds them equal).
        """
        started = time.monotonic()
        text = self.filter_text
        shown = [m for m in self.all.values() if not text or matches(m, text)]
        shown = self._sorted(shown)
        self.rows = {str(m.id): m for m in shown}
        self._flex = self._flex_widths()
        table = self.query_one("#machines", ListTable)
        for key in self.rows:  # marks change while a row is not shown (esc clears them all)
            self._cells[key] = (self._mark(key), *self._cells[key][1:])
        with self.app.batch_update():
            table.replace_rows(self.columns(), [(key, self._cells[key]) for key in self.rows])
        self._show_status()
        self.refresh_bindings()  # what needs a row shows once there is one
        self._render_seconds = time.monotonic() - started

    def _show_status(self) -> None:
        status = self.query_one("#status", Static)
        shown = len(self.rows)
        parts = []
        total = len(self.all)
        if self.filter_text:
            parts.append(f"{shown} of {total} machines match {self.filter_text!r}   esc clears")
        elif total:
            parts.append(plural(total, "machine"))
        else:
            parts.append("no machines yet: a adds one (or `patchdeck machine add` / `import`)")
        if self.marks:
            hidden = len(self.marks - {m.id for m in self.rows.values()})
            parts.append(f"{len(self.marks)} marked" + (f" ({hidden} not shown)" if hidden else ""))
        if total:
            arrow = "▼" if self.sort_reverse else "▲"
            parts.append(f"by {self.sort.label} {arrow}")
        status.update(plain(" · ".join(parts)))

    # cells ------------------------------------------------------------------------------

    def cells(self, m: MachineStatus, now: datetime) -> tuple[Text, ...]:
        styles = self._styles
        counts: list[Text] = []
        for which in ("security", "critical", "other"):
            if not m.assessed:
                counts.append(Text("·", style=styles["muted"], justify="right"))
            elif which == "critical" and m.os_family != "windows":
                counts.append(Text("", justify="right"))
            else:
                value = getattr(m.missing, which)
                urgent = value and which != "other"
                style = styles["error"] if urgent else ""
                counts.append(Text(str(value), style=style, justify="right"))
        reboot = {True: ("yes", styles["warning"]), False: ("no", ""), None: ("?", "")}
        reboot_text, reboot_style = reboot[m.reboot_pending]
        return (
            self._mark(str(m.id)),
            plain(m.name),
            plain(os_name(m.os_family, m.distro, m.version)),
            plain(_env_text(m)),
            *counts,
            Text(reboot_text, style=reboot_style),
            Text(age(m.last_scan_at, now) if m.last_scan_at else "never"),
            self._state(m),
        )

    def _mark(self, key: str) -> Text:
        return Text(MARK if int(key) in self.marks else " ")

    def _state(self, m: MachineStatus) -> Text:
        live = self.deck.scanner.states.get(m.name)
        if live is not None:
            return Text(LIVE.get(live, neutralise(live)), style=self._styles["warning"])
        if m.reachable is False:
            return Text("unreachable", style=self._styles["error"])
        if m.last_scan_outcome == "failed":
            return Text("failed", style=self._styles["error"])
        if m.last_scan_at is None:
            return Text("never", style=self._styles["muted"])
        return Text("ok")

    def _update_row(self, key: str, machine: MachineStatus, now: datetime) -> None:
        """Rewrite the cells of one row that differ from what it shows."""
        new = self.cells(machine, now)
        old = self._cells.get(key, ())
        self._cells[key] = new
        self.all[key] = machine
        if key not in self.rows:
            return  # not shown (filtered out): it is up to date when it is
        self.rows[key] = machine
        table = self.query_one("#machines", ListTable)
        for column, before, after in zip(self.columns(), old, new, strict=True):
            if before != after:
                table.update_cell(key, column.key, after, update_width=False)

    # live scans -------------------------------------------------------------------------

    def _flush(self) -> None:
        running = self.deck.scanner.progress.running
        if self._scanning and not running and self._flex_widths() != self._flex:
            # every scan is over and the OS names it found need more room: lay out again
            self._show_rows()
        self._scanning = running
        if not self._changed or not self.all:
            self._changed.clear()
            return
        names = list(self._changed)
        self._changed.clear()
        scanner = self.deck.scanner
        now = self.deck.clock()
        finished: list[int] = []
        with self.app.batch_update():
            for name in names:
                key = self.key_by_name.get(name)
                if key is None:
                    continue
                self._update_row(key, self.all[key], now)  # its live state
                if not scanner.in_flight(name):
                    finished.append(int(key))
        if finished:
            self.refresh_rows(finished)

    @work(thread=True, group="machine-rows", exit_on_error=False, name="refreshing rows")
    def refresh_rows(self, ids: list[int]) -> None:
        self.post_message(MachinesRefreshed(machine_statuses(self.deck.store, ids=ids), ids))

    def on_machines_refreshed(self, message: MachinesRefreshed) -> None:
        now = self.deck.clock()
        found = {str(m.id) for m in message.machines}
        with self.app.batch_update():
            for machine in message.machines:
                self._update_row(str(machine.id), machine, now)
            gone = [str(i) for i in message.asked if str(i) not in found]
        if gone:
            self.load()

    def _refresh_ages(self) -> None:
        if self.is_current and self.rows:
            self._rewrite_rows()

    # sorting ----------------------------------------------------------------------------

    def _apply_sort(self) -> None:
        table = self.query_one("#machines", ListTable)
        now = self.deck.clock()
        key, rows = self.sort.key, self.rows
        by_cell = {cells[1].plain: row for row, cells in self._cells.items()}  # the name cell
        table.sort(
            "name",
            key=lambda name: key(rows[by_cell[name.plain]], now),
            reverse=self.sort_reverse,
        )
        self._show_status()

    def _sort_by(self, column: str, flip: bool) -> None:
        sort = SORT_BY_COLUMN.get(column)
        if sort is None:
            return
        if flip and sort is self.sort:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort, self.sort_reverse = sort, sort.descending
        self._apply_sort()

    def action_sort(self) -> None:
        following = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._sort_by(following.column, flip=False)

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._apply_sort()

    @on(DataTable.HeaderSelected, "#machines")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self._sort_by(str(event.column_key.value), flip=True)

    # marks and targets ------------------------------------------------------------------

    def _current_key(self) -> str | None:
        return self.query_one("#machines", ListTable).current_key()

    def action_mark(self) -> None:
        key = self._current_key()
        if key is None:
            return
        machine_id = int(key)
        self.marks.symmetric_difference_update({machine_id})
        self._update_row(key, self.rows[key], self.deck.clock())
        table = self.query_one("#machines", ListTable)
        table.action_cursor_down()
        self._show_status()

    def action_mark_all(self) -> None:
        shown = {m.id for m in self.rows.values()}
        if shown <= self.marks:
            self.marks -= shown
        else:
            self.marks |= shown
        self._rewrite_rows()
        self._show_status()

    def _rewrite_rows(self) -> None:
        now = self.deck.clock()
        with self.app.batch_update():
            for key, machine in list(self.rows.items()):
                self._update_row(key, machine, now)

    def target_ids(self) -> list[int]:
        if self.marks:
            return sorted(self.marks)
        current = self.current_id()
        return [current] if current is not None else []

    def target_names(self) -> list[str]:
        if self.marks:
            return sorted(self.all[str(i)].name for i in self.marks if str(i) in self.all)
        key = self._current_key()
        return [self.rows[key].name] if key is not None else []

    def current_id(self) -> int | None:
        key = self._current_key()
        return int(key) if key is not None else None

    def machines_changed(self, removed: list[str]) -> None:
        if removed:
            gone = {int(self.key_by_name[n]) for n in removed if n in self.key_by_name}
            self.marks -= gone
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action in ("open", "mark", "edit", "ssh"):
            return bool(self.rows)  # about the row under the cursor
        if action in ("scan", "remove", "trust"):
            return bool(self.rows or self.marks)  # about the marked machines, else that row
        return True

    # other actions ----------------------------------------------------------------------

    def action_open(self) -> None:
        key = self._current_key()
        if key is not None:
            machine = self.rows[key]
            self.app.push_screen(MachineDetailScreen(machine.id, machine.name))

    @on(DataTable.RowSelected, "#machines")
    def _clicked(self) -> None:
        self.action_open()

    def action_scan_all(self) -> None:
        self.deck_app.start_scan(None, "every machine")

    def action_add(self) -> None:
        store = self.deck.store

        def save(spec: MachineSpec) -> Machine:
            return add_machine(store, spec)

        def added(machine: Machine | None) -> None:
            if machine is not None:
                self.notify(neutralise(f"added {machine.name}"), markup=False)
                self.load()

        self.app.push_screen(MachineForm(save), added)

    def action_refresh(self) -> None:
        self.load()

    def action_filter(self) -> None:
        self.query_one("#machines", ListTable).open_filter()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("-shown"):
            self.clear_filter()
        elif self.marks:
            self.marks.clear()
            self._rewrite_rows()
            self._show_status()
        else:
            self.app_go_back()

    def clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one("#machines", DataTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        if self._typing is not None:
            self._typing.stop()
            self._typing = None
        if self._render_seconds < QUICK:
            self._show_rows()
        else:  # a table this large: wait for typing to pause, and show only the last filter
            self._typing = self.set_timer(TYPING_PAUSE, self._show_rows)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#machines", DataTable).focus()
