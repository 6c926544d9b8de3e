"""The machines view: every machine, what it misses and how its last scan went.

``/`` filters the machines read (at each keystroke: see ``_show_rows``), ``o``/``O`` and header
clicks sort, ``space`` marks (marks are database ids, kept here, shown in the first column).
Actions apply to the marked machines, else to the one under the cursor.

The table draws only the rows on screen: how wide each row's cells are and where the filter
looks are kept as plain data, and the cells themselves are made when a row is drawn. So
filtering and sorting 10,000 machines costs what a screenful does, plus a pass over plain
data. The first screenful is read and shown before every machine is.

While scans run, the scanner collects the names of machines that changed; every quarter of a
second the rows of those machines are refreshed (their state from memory, their counts from
the database, a few rows at a time) and only rows whose cells differ are drawn again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static

from backends.inventory.machine_status import MachineStatus, machine_statuses, match_text
from backends.inventory.machines import add_machine
from backends.inventory.records import Machine, MachineSpec
from tui import heap
from tui.actions import MACHINES, bindings
from tui.format import age, os_name, plural
from tui.messages import MachinesLoaded, MachinesRefreshed
from tui.modals.machine_form import MachineForm
from tui.modals.static_group_form import StaticGroupForm
from tui.safe import neutralise, plain
from tui.scanning import QUEUED
from tui.screens.deployment_form import DeploymentForm, Prefill
from tui.screens.machine_actions import MachineActions
from tui.screens.machine_detail import MachineDetailScreen
from tui.screens.sorting import SortedView
from tui.widgets.list_table import MAX_COLUMN_WIDTH, Column, ListTable

MARK = "●"
TICK = 0.25  # seconds between two looks at what a scan changed
AGES_EVERY = 30.0  # seconds between two refreshes of the "Age" column
QUICK = 0.08  # a filter is applied at each key while showing the rows takes less than this
TYPING_PAUSE = 0.15  # else once typing pauses this long
FIRST_PAGE = 60  # machines read first (at least a screenful), while the others are read
STALE_AFTER = 10.0  # seconds after which coming back to the view reads the inventory again
OS_ROOM = 13
FLEX = ("name", "os", "env")  # the columns that share what room the others leave
LIVE = {QUEUED: "queued", "connecting": "connecting…", "scanning": "scanning…"}
REBOOT = {True: "yes", False: "no", None: "?"}


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


def _differ(a: Text, b: Text) -> bool:
    return a.plain != b.plain or a.style != b.style or a.spans != b.spans


def _env_text(m: MachineStatus) -> str:
    tags = " ".join(f"{k}={v}" for k, v in m.tags if not (k == "env" and v == m.environment))
    return " ".join(filter(None, (m.environment, tags)))


class MachinesScreen(SortedView, MachineActions):
    SORTS = SORTS
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
        self._lens: dict[str, tuple[int, ...]] = {}  # how wide each cell of a row is
        self._haystacks: dict[str, str] = {}  # where the filter looks (match_text)
        self._order: list[str] | None = None  # every row key in the sort order, once sorted
        self._drawn: dict[str, tuple[Text, ...]] = {}  # the cells of rows drawn so far
        self._widths: list[int] = []  # the widest cell of each column, among the rows shown
        self._styles: dict[str, str] = {}
        self._flex = (14, 10, 10)  # widest name, OS and env/tags, from the screen's width
        self._scanning = False
        self._typing: Timer | None = None
        self._render_seconds = 0.0  # how long showing the rows took last time
        self._loaded_at = 0.0
        self._partial = False  # only the first screenful is read yet

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

    def _widths_shown(self) -> list[int]:
        """The widest cell of each column among the rows shown (never narrower than its
        label, never wider than ``MAX_COLUMN_WIDTH``)."""
        labels = tuple(len(c.label) for c in self.columns())
        if not self.rows:
            return list(labels)
        lens = self._lens
        widest = map(max, zip(labels, *(lens[key] for key in self.rows), strict=True))
        return [min(w, MAX_COLUMN_WIDTH) for w in widest]

    def _flex_widths(self) -> tuple[int, int, int]:
        """The widths of name, OS and env/tags: what their cells need, within the room the
        screen leaves after the other columns (name first, then OS, env/tags what is left)."""
        columns = self.columns()
        natural = self._widths
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
            self._redraw_rows()

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
        if self._partial:
            return  # every machine is being read
        if self.all and time.monotonic() - self._loaded_at > STALE_AFTER:
            self.load()

    # loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read every machine; the filter then runs on what was read (see ``_show_rows``).
        When nothing is shown yet and the rows go by name, the first screenful comes first:
        it is on screen long before 10,000 machines are read."""
        first = not self.all and self.sort is SORTS[0] and not self.sort_reverse
        self._listing(max(FIRST_PAGE, self.app.size.height) if first else None)

    @work(thread=True, group="machines", exclusive=True, exit_on_error=False, name="listing")
    def _listing(self, first: int | None) -> None:
        store = self.deck.store
        if first is not None:
            page = machine_statuses(store, first=first)
            if len(page) == first:  # else that was every machine
                self.post_message(MachinesLoaded(page, first=True))
        self.post_message(MachinesLoaded(machine_statuses(store)))

    def on_machines_loaded(self, message: MachinesLoaded) -> None:
        self._partial = message.first
        if not message.first:
            self._loaded_at = time.monotonic()
            self.marks &= {m.id for m in message.machines}
        self.all = {str(m.id): m for m in message.machines}
        self.key_by_name = {m.name: key for key, m in self.all.items()}
        self._lens = self._all_widths()
        self._haystacks = {key: match_text(m) for key, m in self.all.items()}
        self._order = None
        self._drawn.clear()
        self._show_rows()
        if not message.first:
            self.call_after_refresh(heap.settle)  # once the rows are on screen

    def _sorted(self, machines: list[MachineStatus]) -> list[MachineStatus]:
        now = self.deck.clock()
        key = self.sort.key
        return sorted(machines, key=lambda m: key(m, now), reverse=self.sort_reverse)

    def _show_rows(self) -> None:
        """Show the machines that match the filter, in the sort order.

        The filter runs on the rows already read rather than as a query per keystroke: the
        table needs every machine's counts anyway, and counting them again for each key
        (a GROUP BY over every update row) would cost a second at 10,000 machines × 100
        updates. It is ``matches``, the query's own rule (a test holds them equal), as one
        substring search per machine in its ``match_text``. Every machine is sorted once
        (again when the sort or a machine changes); the filter keeps that order.
        """
        if self._order is None:
            self._order = [str(m.id) for m in self._sorted(list(self.all.values()))]
        started = time.monotonic()  # what a keystroke in the filter costs (sorting aside)
        wanted = self.filter_text.lower()
        if wanted:
            haystacks = self._haystacks
            keys = [key for key in self._order if wanted in haystacks[key]]
        else:
            keys = self._order
        had_rows = bool(self.rows)
        self.rows = {key: self.all[key] for key in keys}
        self._widths = self._widths_shown()
        self._flex = self._flex_widths()
        table = self.query_one("#machines", ListTable)
        with self.app.batch_update():
            table.show_rows(self.columns(), list(self.rows), self._cells_of, self._widths)
            self._show_status()
        if bool(self.rows) != had_rows:  # what needs a row shows once there is one
            self.refresh_bindings()
        self._render_seconds = time.monotonic() - started

    def _show_status(self) -> None:
        status = self.query_one("#status", Static)
        shown = len(self.rows)
        parts = []
        total = len(self.all)
        if self._partial:
            parts.append(f"the first {total} machines · reading the others…")
        elif self.filter_text:
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

    def _cells_of(self, key: str) -> tuple[Text, ...]:
        """The cells of the row ``key``, made when the table first draws it."""
        cells = self._drawn.get(key)
        if cells is None:
            cells = self._drawn[key] = self.cells(self.all[key], self.deck.clock())
        return cells

    def _texts(self, m: MachineStatus, now: datetime, states: Mapping[str, str]) -> tuple[str, ...]:
        """What the cells of ``m``'s row read, after the mark (``states``: the scanner's live
        states, by machine name)."""
        if not m.assessed:
            security = critical = other = "·"
        else:
            missing = m.missing
            security, other = str(missing.security), str(missing.other)
            critical = str(missing.critical) if m.os_family == "windows" else ""
        return (
            neutralise(m.name),
            neutralise(os_name(m.os_family, m.distro, m.version)),
            neutralise(_env_text(m)),
            security,
            critical,
            other,
            REBOOT[m.reboot_pending],
            age(m.last_scan_at, now) if m.last_scan_at else "never",
            self._state(m, states)[0],
        )

    def _cell_widths(
        self, m: MachineStatus, now: datetime, states: Mapping[str, str]
    ) -> tuple[int, ...]:
        texts = self._texts(m, now, states)
        return (1, *(len(t) if t.isascii() else cell_len(t) for t in texts))

    def _all_widths(self) -> dict[str, tuple[int, ...]]:
        now, states = self.deck.clock(), self.deck.scanner.states
        return {key: self._cell_widths(m, now, states) for key, m in self.all.items()}

    def cells(self, m: MachineStatus, now: datetime) -> tuple[Text, ...]:
        styles = self._styles
        states = self.deck.scanner.states
        name, os_text, env, *counts, reboot, last, state = self._texts(m, now, states)
        count_cells: list[Text] = []
        for which, value in zip(("security", "critical", "other"), counts, strict=True):
            if not m.assessed:
                count_cells.append(Text(value, style=styles["muted"], justify="right"))
            else:
                urgent = which != "other" and value not in ("", "0")
                style = styles["error"] if urgent else ""
                count_cells.append(Text(value, style=style, justify="right"))
        reboot_style = styles["warning"] if m.reboot_pending else ""
        return (
            self._mark(str(m.id)),
            Text(name, no_wrap=True),
            Text(os_text, no_wrap=True),
            Text(env, no_wrap=True),
            *count_cells,
            Text(reboot, style=reboot_style),
            Text(last),
            Text(state, style=self._state(m, states)[1]),
        )

    def _mark(self, key: str) -> Text:
        return Text(MARK if int(key) in self.marks else " ")

    def _state(self, m: MachineStatus, states: Mapping[str, str]) -> tuple[str, str]:
        """What the state cell reads, and its style."""
        live = states.get(m.name)
        if live is not None:
            return LIVE.get(live, neutralise(live)), self._styles["warning"]
        if m.reachable is False:
            return "unreachable", self._styles["error"]
        if m.last_scan_outcome == "failed":
            return "failed", self._styles["error"]
        if m.last_scan_at is None:
            return "never", self._styles["muted"]
        return "ok", ""

    def _update_row(self, key: str, machine: MachineStatus, now: datetime) -> None:
        """Draw one row again if its cells differ from what it shows."""
        if machine is not self.all.get(key):
            self._order = None  # it may sort elsewhere now: the next filter or sort sorts
            self._haystacks[key] = match_text(machine)
        self.all[key] = machine
        self._lens[key] = self._cell_widths(machine, now, self.deck.scanner.states)
        old = self._drawn.pop(key, None)
        if key not in self.rows:
            return  # not shown (filtered out): it is up to date when it is
        self.rows[key] = machine
        if old is None:
            return  # never drawn: drawn as it is when it shows
        new = self._drawn[key] = self.cells(machine, now)
        if any(_differ(a, b) for a, b in zip(old, new, strict=True)):
            self.query_one("#machines", ListTable).refresh_rows([key])

    def _redraw_rows(self) -> None:
        """Every row's cells may have changed (marks, ages, the theme): make them again as
        rows are drawn."""
        self._drawn.clear()
        self.query_one("#machines", ListTable).refresh_rows()

    # live scans -------------------------------------------------------------------------

    def _flush(self) -> None:
        running = self.deck.scanner.progress.running
        if self._scanning and not running and self._flex_widths_now() != self._flex:
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

    def _flex_widths_now(self) -> tuple[int, int, int]:
        """``_flex_widths`` for the cells the rows shown read now."""
        self._widths = self._widths_shown()
        return self._flex_widths()

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
            self._lens = self._all_widths()
            self._redraw_rows()

    # sorting ----------------------------------------------------------------------------

    def _apply_sort(self) -> None:
        self._order = None
        self._show_rows()

    @on(ListTable.HeaderSelected, "#machines")
    def _header(self, event: ListTable.HeaderSelected) -> None:
        self._sort_by(event.column, flip=True)

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
        self._redraw_rows()
        self._show_status()

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
        if action in ("scan", "remove", "trust", "group_from_marks", "deploy_machines"):
            return bool(self.rows or self.marks)  # about the marked machines, else that row
        return True

    # other actions ----------------------------------------------------------------------

    def action_open(self) -> None:
        key = self._current_key()
        if key is not None:
            machine = self.rows[key]
            self.app.push_screen(MachineDetailScreen(machine.id, machine.name))

    @on(ListTable.RowSelected, "#machines")
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

    def action_group_from_marks(self) -> None:
        self.app.push_screen(StaticGroupForm(marked=self.target_names()), self._grouped)

    def _grouped(self, name: str | None) -> None:
        if name is not None:
            self.notify(neutralise(f"saved group {name}"), markup=False)

    def action_deploy_machines(self) -> None:
        prefill = Prefill(targets=tuple(self.target_names()))
        self.app.push_screen(DeploymentForm(prefill=prefill), self._deployed)

    def _deployed(self, name: str | None) -> None:
        if name is not None:
            text = f"saved deployment {name}: plan it in the deployments view"
            self.notify(neutralise(text), markup=False)

    def action_filter(self) -> None:
        self.query_one("#machines", ListTable).open_filter()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("-shown"):
            self.clear_filter()
        elif self.marks:
            self.marks.clear()
            self._redraw_rows()
            self._show_status()
        else:
            self.app_go_back()

    def clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one("#machines", ListTable).focus()

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
        self.query_one("#machines", ListTable).focus()
