"""The run view: one run, live, however it was started (this console, another one, the CLI,
``run-due``), followed through the database.

Its runner process does the work; this view only reads what the runner records and writes
what the operator asks (approve the gate, cancel). Leaving the view or quitting the console
never stops the run, and opening the run again re-attaches: there is nothing to attach to but
the database.

**Pulled and batched.** Every ``TICK`` a worker asks the database for the machines changed
since the last look (``RunFollower``: by the run's ``seq``) and posts them in one message; the
handler keeps them, and only rows whose shown facts differ are drawn again (the table draws
only rows on screen). Elapsed times of the machines at work are redrawn once a second. So a
thousand machines streaming progress cost a few small redraws a second, and a key is answered
at once.

One row per machine: state, progress, current package, elapsed, installed / failed, reboot;
the selected machine's output streams beside the table (below it on a narrow terminal).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Input, Log, Static
from textual.worker import Worker, WorkerState

from backends.engine.follow import RunFollower
from backends.inventory.errors import InventoryError
from backends.inventory.run_owners import reap_stale_runs
from backends.inventory.runs import (
    FAILED,
    PENDING,
    REBOOT_RESERVE,
    SUCCEEDED,
    WORKING_STATES,
    Run,
    RunMachine,
    approve,
    request_cancel,
    run_machine,
)
from tui.actions import RUN, bindings
from tui.format import plural
from tui.modals.confirm import Confirm
from tui.modals.export import ExportReport
from tui.safe import neutralise, plain
from tui.screens.view import View
from tui.widgets.list_table import Column, ListTable

TICK = 0.3  # seconds between two looks at the database while the run is live
ENDED_TICK = 3.0  # once it ended (it may be resumed)
CURSOR_TICK = 0.2  # how soon the output follows a cursor moved by the mouse
ELAPSED_EVERY = 1.0
REAP_EVERY = 5.0  # a runner killed meanwhile is noticed this often
WIDE = 150  # from this width the output is beside the table, else below it
FULL = 100  # from this width the table has every column (stage, current package)
BAR = 10
OUTPUT_LINES = 1000


@dataclass
class RunPulled(Message):
    run_id: int
    head: Run
    changed: list[RunMachine]
    first: bool


@dataclass
class OutputLoaded(Message):
    """The selected machine's output, read when the cursor came to it."""

    run_id: int
    machine: RunMachine


@dataclass
class RunAsked(Message):
    """What came of a request (approve, cancel): said to the operator."""

    text: str
    ok: bool


def _facts(m: RunMachine) -> tuple[object, ...]:
    """What a row shows of a machine (its output is not in the row)."""
    return (m.state, m.percent, m.current_item, m.installed, m.failed, m.reboot, m.started_at,
            m.ended_at, m.stage)  # fmt: skip


def elapsed(seconds: float) -> str:
    """``4:05`` or ``1:02:03``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def span(delta: timedelta) -> str:
    """``1h05m``, ``12m``, ``40s``."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f"{hours}h{rest // 60:02d}m"
    return f"{rest // 60}m" if rest >= 60 else f"{rest}s"


def hhmm(when: datetime) -> str:
    return f"{when:%H:%M} UTC"


class RunScreen(View):
    VIEW = RUN
    TITLE = "Run"
    AUTO_FOCUS = "#run-machines"
    BINDINGS: ClassVar[list[BindingType]] = bindings(RUN)

    def __init__(self) -> None:
        super().__init__()
        self.run_id: int | None = None
        self.head: Run | None = None
        self.machines: dict[str, RunMachine] = {}  # row key (machine id) -> machine
        self.filter_text = ""
        self._follower: RunFollower | None = None
        self._pulling = False
        self._pulled_at = 0.0
        self._reaped_at = 0.0
        self._working: set[str] = set()
        self._selected: str | None = None
        self._shown_output = 0  # output lines ever of the selected machine, shown so far
        self._styles: dict[str, str] = {}
        self._gate = (False, False)  # (waiting at the gate, live): the footer follows it
        self._full = False  # every column shown (see FULL)

    # layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Static("", id="run-head")
            yield Static("", id="run-window")
            yield Input(placeholder="filter: machine name or state", id="filter")
            with Container(id="run-split"):
                yield ListTable(
                    id="run-machines",
                    filter_box="#filter",
                    filter_keys=self.deck.registry.keys("filter"),
                )
                yield Log(id="run-output", max_lines=OUTPUT_LINES)
            yield Static("", id="run-totals")
        yield Footer()

    def on_mount(self) -> None:
        self._theme_styles()
        self.app.theme_changed_signal.subscribe(self, self._theme_styles)
        self.set_interval(TICK, self._tick)
        self.set_interval(CURSOR_TICK, self._follow_cursor)
        self.set_interval(ELAPSED_EVERY, self._refresh_elapsed)
        self._layout()
        self._follow_wanted()

    def on_screen_resume(self) -> None:
        self._follow_wanted()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        wide = self.size.width >= WIDE
        full = self.size.width >= FULL
        if wide != self.has_class("-wide") or full != self._full:
            self.set_class(wide, "-wide")
            self._full = full
            if self.machines:
                self._show_rows()

    def _theme_styles(self, _: object = None) -> None:
        variables = self.app.theme_variables
        self._styles = {
            "success": variables.get("success", ""),
            "error": f"bold {variables.get('error', '')}".strip(),
            "warning": variables.get("warning", ""),
            "bar": variables.get("accent", ""),
            "muted": "dim",
        }
        if self.machines:
            self.query_one("#run-machines", ListTable).refresh_rows()

    # following --------------------------------------------------------------------------

    def _follow_wanted(self) -> None:
        wanted = self.deck.run_shown
        if wanted is not None and wanted != self.run_id:
            self.follow(wanted)

    def follow(self, run_id: int) -> None:
        """Show run ``run_id`` (from its first look at the database on)."""
        self.run_id = run_id
        self.head = None
        self.machines = {}
        self._working = set()
        self._selected = None
        self._shown_output = 0
        self._follower = RunFollower(self.deck.store, run_id)
        self._follower.output_of = set()  # only the selected machine's output is read
        self._pulling = False  # a pull of the run shown before is ignored when it comes
        self.sub_title = f"run #{run_id}"
        self.query_one("#run-head", Static).update(plain(f"Run #{run_id}: reading…"))
        self.query_one("#run-window", Static).update("")
        self.query_one("#run-output", Log).clear()
        self._show_rows()
        self._reaped_at = time.monotonic()
        self._tick()

    def _tick(self) -> None:
        follower = self._follower
        if follower is None or self._pulling or self.run_id is None:
            return
        ended = self.head is not None and not self.head.live
        if ended and time.monotonic() - self._pulled_at < ENDED_TICK:
            return
        self._pulling = True
        self._pulled_at = time.monotonic()
        reap = self.head is not None and self.head.live
        reap = reap and time.monotonic() - self._reaped_at >= REAP_EVERY
        if reap:
            self._reaped_at = time.monotonic()
        self._pull(self.run_id, follower, reap)

    @work(thread=True, group="run-pull", exit_on_error=False, name="following the run")
    def _pull(self, run_id: int, follower: RunFollower, reap: bool) -> None:
        try:
            if reap:  # a runner that died is found out, as `run follow` does
                reap_stale_runs(self.deck.store)
            before = dict(follower.machines)
            follower.poll()
            changed = [m for key, m in follower.machines.items() if before.get(key) is not m]
            assert follower.head is not None
            self.post_message(RunPulled(run_id, follower.head, changed, not before))
        finally:
            if follower is self._follower:
                self._pulling = False

    def on_run_pulled(self, message: RunPulled) -> None:
        if message.run_id != self.run_id:
            return
        table = self.query_one("#run-machines", ListTable)
        redraw: list[str] = []
        for m in message.changed:
            key = str(m.machine_id)
            old = self.machines.get(key)
            self.machines[key] = m
            if m.state in WORKING_STATES:
                self._working.add(key)
            else:
                self._working.discard(key)
            if old is None or _facts(old) != _facts(m):
                redraw.append(key)
            if key == self._selected:
                self._more_output(m)
        self.head = message.head
        with self.app.batch_update():
            if message.first or (self.filter_text and redraw):
                self._show_rows()
            elif redraw:
                table.refresh_rows(redraw)
            self._show_head()
        if self._selected is None:
            self._follow_cursor()

    # the rows ---------------------------------------------------------------------------

    def _columns(self) -> list[Column]:
        wide = self._full
        name = max((len(m.machine) for m in self.machines.values()), default=7)
        columns = [Column("name", "Machine", min(max(name, 7), 24 if wide else 16))]
        if wide:
            columns.append(Column("stage", "St", 2))
        columns += [
            Column("state", "State", 15),
            Column("progress", "Progress", BAR + 5),
        ]
        if wide:
            columns.append(Column("item", "Current", 20))
        columns += [
            Column("elapsed", "Time", 7),
            Column("installed", "Inst", 4),
            Column("failed", "Fail", 4),
            Column("reboot", "Reboot", 10),
        ]
        return columns

    def _shown_keys(self) -> list[str]:
        text = self.filter_text.lower()
        keys = list(self.machines)  # by stage, then name: the order the database gave
        if not text:
            return keys
        return [
            k
            for k in keys
            if text in self.machines[k].machine.lower() or text in self.machines[k].state
        ]

    def _show_rows(self) -> None:
        columns = self._columns()
        self.query_one("#run-machines", ListTable).show_rows(
            columns, self._shown_keys(), self._cells, [c.max_width for c in columns]
        )

    def _state_style(self, state: str) -> str:
        if state == SUCCEEDED:
            return self._styles.get("success", "")
        if state == FAILED:
            return self._styles.get("error", "")
        if state == PENDING:
            return self._styles.get("muted", "")
        return self._styles.get("warning", "")

    def _cells(self, key: str) -> list[Text]:
        m = self.machines[key]
        working = m.state in WORKING_STATES
        cells = [plain(m.machine)]
        wide = self._full
        if wide:
            cells.append(Text(str(m.stage + 1)))
        cells.append(Text(m.state, style=self._state_style(m.state)))
        if working or m.state == SUCCEEDED:
            percent = 100 if m.state == SUCCEEDED else max(0, min(100, m.percent))
            filled = round(BAR * percent / 100)
            bar = Text("█" * filled, style=self._styles.get("bar", ""))
            bar.append("░" * (BAR - filled), style=self._styles.get("muted", ""))
            bar.append(f"{percent:4d}%")
            cells.append(bar)
        else:
            cells.append(Text(""))
        if wide:
            cells.append(plain(m.current_item if working else ""))
        if m.started_at is not None:
            end = m.ended_at or self.deck.clock()
            cells.append(Text(elapsed((end - m.started_at).total_seconds()), justify="right"))
        else:
            cells.append(Text(""))
        cells.append(Text(str(m.installed), justify="right"))
        failed_style = self._styles.get("error", "") if m.failed else ""
        cells.append(Text(str(m.failed), style=failed_style, justify="right"))
        cells.append(Text(m.reboot or ("" if working or m.state == PENDING else "-")))
        return cells

    def _refresh_elapsed(self) -> None:
        if self._working and self.is_current:
            self.query_one("#run-machines", ListTable).refresh_rows(self._working)
            self._show_window()

    # the head ---------------------------------------------------------------------------

    def _show_head(self) -> None:
        run = self.head
        if run is None:
            return
        of = f" of {run.deployment}" if run.deployment else " (deployment deleted)"
        started = f"{run.started_at:%m-%d %H:%M} UTC" if run.started_at else "-"
        head = Text(f"Run #{run.id}{neutralise(of)} · ", style="bold")
        head.append(run.state, style=f"bold {self._state_style(run.state)}")
        stages = 1 + max((m.stage for m in self.machines.values()), default=0)
        if stages > 1:
            head.append(f" · stage {run.stage + 1} of {stages}")
        head.append(f" · started {started} by {neutralise(run.started_by or '?')}")
        if run.live and run.gate_waiting:
            say = " (a approves)" if self.deck.allows("approve") else ""
            head.append(
                f"\nwaiting at the gate before stage {run.stage + 1}{say}",
                style=f"bold {self._styles.get('warning', '')}",
            )
        if run.live and run.cancel_requested:
            head.append(f"\ncancel requested ({run.cancel_requested}): no new machine starts")
        if run.error:
            head.append("\n" + neutralise(run.error), style=self._styles.get("error", ""))
        self.query_one("#run-head", Static).update(head)
        self._show_window()
        totals = run.totals()
        counted = dict.fromkeys(totals, 0)
        installed = failed = 0
        for m in self.machines.values():
            counted[m.state] = counted.get(m.state, 0) + 1
            installed += m.installed
            failed += m.failed
        words = " · ".join(f"{n} {state}" for state, n in counted.items() if n)
        self.query_one("#run-totals", Static).update(
            plain(
                f"{plural(len(self.machines), 'machine')}: {words or 'none'} · "
                f"updates {installed} installed, {failed} failed"
            )
        )
        gate = (run.gate_waiting, run.live)
        if gate != self._gate:
            self._gate = gate
            self.refresh_bindings()

    def _show_window(self) -> None:
        run = self.head
        line = self.query_one("#run-window", Static)
        if run is None or run.window_end is None:
            line.update("")
            return
        now = self.deck.clock()
        end = run.window_end
        reserve = end - REBOOT_RESERVE
        if not run.live:
            line.update(plain(f"window until {hhmm(end)} (the last 20m kept for reboots)"))
        elif now >= end:
            line.update(plain(f"the window ended at {hhmm(end)}"))
        elif now >= reserve:
            line.update(
                plain(
                    f"window: {span(end - now)} left, until {hhmm(end)} · in the reboot "
                    "reserve: no install or reboot starts now"
                )
            )
        else:
            line.update(
                plain(
                    f"window: {span(end - now)} left, until {hhmm(end)} · reboot reserve "
                    f"from {hhmm(reserve)} (in {span(reserve - now)})"
                )
            )

    # the output of the machine under the cursor -----------------------------------------

    def on_list_table_cursor_moved(self, event: ListTable.CursorMoved) -> None:
        # the output follows the cursor at once (the timer catches rows that moved under it)
        self._follow_cursor()

    def _follow_cursor(self) -> None:
        key = self.query_one("#run-machines", ListTable).current_key()
        if key == self._selected or key not in self.machines:
            return
        self._selected = key
        m = self.machines[key]
        self.query_one("#run-output", Log).clear()
        self._shown_output = 0
        self._title_output(m)
        if self._follower is not None and self.run_id is not None:
            # pulls bring this machine's output from now on; what it has so far is read now
            self._follower.output_of = {m.machine_id}
            self._load_output(self.run_id, m.machine_id)

    @work(thread=True, group="run-output", exclusive=True, exit_on_error=False, name="output")
    def _load_output(self, run_id: int, machine_id: int) -> None:
        self.post_message(OutputLoaded(run_id, run_machine(self.deck.store, run_id, machine_id)))

    def on_output_loaded(self, message: OutputLoaded) -> None:
        m = message.machine
        if message.run_id != self.run_id or str(m.machine_id) != self._selected:
            return  # the cursor moved on meanwhile
        if m.output_count <= self._shown_output:
            return  # a pull showed as much already
        log = self.query_one("#run-output", Log)
        log.clear()
        log.write_lines([neutralise(line) for line in m.output])
        self._shown_output = m.output_count

    def _more_output(self, m: RunMachine) -> None:
        fresh = m.output_count - self._shown_output
        if fresh > 0 and m.output:
            lines = m.output[-min(fresh, len(m.output)) :]
            self.query_one("#run-output", Log).write_lines([neutralise(x) for x in lines])
            self._shown_output = m.output_count
        # (read without its output, from before it was selected: the load brings it)
        self._title_output(m)

    def _title_output(self, m: RunMachine) -> None:
        log = self.query_one("#run-output", Log)
        title = f"{m.machine} · {m.state}"
        if m.state in WORKING_STATES and m.current_item:
            title += f" · {m.current_item}"
        log.border_title = neutralise(title)
        log.border_subtitle = neutralise(m.error or "") if m.final else ""

    # what the operator asks -------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        run = self.head
        if action == "approve":
            return True if run is not None and run.live and run.gate_waiting else None
        if action == "cancel_run":
            return True if run is not None and run.live else None
        return allowed

    def action_approve(self) -> None:
        run = self.head
        if run is None or not (run.live and run.gate_waiting):
            return
        stage = run.stage + 1
        run_id = run.id

        def answered(yes: bool | None) -> None:
            if yes:
                self._approve(run_id)

        self.app.push_screen(
            Confirm(
                f"Approve stage {stage} of run #{run_id}?",
                "Approve",
                detail=f"The machines of stage {stage} start now.",
            ),
            answered,
        )

    @work(thread=True, group="run-ask", exit_on_error=False, name="approve")
    def _approve(self, run_id: int) -> None:
        try:
            run = approve(self.deck.store, run_id)
        except InventoryError as exc:
            self.post_message(RunAsked(str(exc), False))
            return
        self.post_message(RunAsked(f"run #{run.id}: stage {run.stage + 1} approved", True))

    def action_cancel_run(self) -> None:
        run = self.head
        if run is None or not run.live:
            return
        run_id = run.id
        working = sum(1 for m in self.machines.values() if m.state in WORKING_STATES)

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(run_id)

        self.app.push_screen(
            Confirm(
                f"Cancel run #{run_id}?",
                "Cancel run",
                detail=(
                    "No new machine starts; the machines not started end cancelled. "
                    f"{plural(working, 'machine')} at work finish their install, reboot "
                    "and checks."
                ),
            ),
            answered,
        )

    @work(thread=True, group="run-ask", exit_on_error=False, name="cancel")
    def _cancel(self, run_id: int) -> None:
        try:
            request_cancel(self.deck.store, run_id)
        except InventoryError as exc:
            self.post_message(RunAsked(str(exc), False))
            return
        self.post_message(
            RunAsked(f"run #{run_id}: cancel requested; installs already running finish", True)
        )

    def on_run_asked(self, message: RunAsked) -> None:
        self.notify(
            neutralise(message.text),
            severity="information" if message.ok else "warning",
            markup=False,
        )
        self._pulled_at = 0.0
        self._tick()

    def action_export(self) -> None:
        if self.run_id is None:
            return

        def written(path: object) -> None:
            if path is not None:
                self.notify(neutralise(f"report written to {path}"), markup=False)

        self.app.push_screen(ExportReport(self.deck.store, self.run_id), written)

    def action_refresh(self) -> None:
        if self.run_id is not None:
            self.follow(self.run_id)

    def action_filter(self) -> None:
        self.query_one("#run-machines", ListTable).open_filter()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one("#run-machines", ListTable).focus()
        else:
            self.app_go_back()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        if self.machines:
            self._show_rows()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#run-machines", ListTable).focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.group == "run-pull":
            self._pulling = False
            self._follower = None  # said once, not at every tick: `r` tries again
            self.query_one("#run-head", Static).update(
                plain(f"Run #{self.run_id}: {event.worker.error}", wrap=True)
            )
        super().on_worker_state_changed(event)
