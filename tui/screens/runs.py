"""The run history: every run, newest first, active ones too (deployment, when, by whom,
state, machines by result). ``enter`` opens a run in the run view (live, or as it ended);
``e`` exports its report (Markdown, CSV or JSON) to a file.

While a run is live the list is read again every few seconds (a count per run and state, in
the database)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static

from backends.inventory.runs import (
    FAILED,
    FINAL_STATES,
    LIVE_RUN_STATES,
    SUCCEEDED,
    RunSummary,
    list_runs,
)
from backends.inventory.store import Store
from tui.actions import RUNS, bindings
from tui.format import plural
from tui.modals.export import ExportReport
from tui.safe import neutralise, plain
from tui.screens.view import View
from tui.widgets.list_table import Column, ListTable

LIMIT = 500  # runs listed
LIVE_EVERY = 2.0  # seconds between two reads while a run is live
IDLE_EVERY = 15.0  # else (another console or cron may start one)


@dataclass
class RunsLoaded(Message):
    runs: list[RunSummary]


def results_text(run: RunSummary) -> str:
    """``2 succeeded, 1 failed`` (finished machines), ``3 of 5 done`` while live."""
    totals = run.totals
    ended = ", ".join(f"{totals[s]} {s}" for s in FINAL_STATES if totals.get(s))
    if run.state in LIVE_RUN_STATES:
        done = sum(totals.get(s, 0) for s in FINAL_STATES)
        return f"{done} of {run.machines} done" + (f" ({ended})" if ended else "")
    return ended or "-"


def state_text(run: RunSummary) -> str:
    text = run.state
    if run.state in LIVE_RUN_STATES and run.gate_waiting:
        text += " (gate)"
    elif run.state in LIVE_RUN_STATES and run.cancel_requested:
        text += " (cancel)"
    return text


class RunsScreen(View):
    VIEW = RUNS
    TITLE = "Runs"
    AUTO_FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = bindings(RUNS)

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunSummary] = []
        self.filter_text = ""
        self._loading = False
        self._loaded_at = 0.0
        self._styles: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            yield Input(placeholder="filter: deployment, state or user", id="filter")
            yield ListTable(
                id="runs", filter_box="#filter", filter_keys=self.deck.registry.keys("filter")
            )
            yield Static("loading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        variables = self.app.theme_variables
        self._styles = {
            SUCCEEDED: variables.get("success", ""),
            FAILED: f"bold {variables.get('error', '')}".strip(),
            "live": f"bold {variables.get('warning', '')}".strip(),
        }
        self.set_interval(1.0, self._tick)
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def _tick(self) -> None:
        if not self.is_current:
            return
        live = any(r.state in LIVE_RUN_STATES for r in self.runs)
        if time.monotonic() - self._loaded_at >= (LIVE_EVERY if live else IDLE_EVERY):
            self.load()

    def load(self) -> None:
        if self._loading:
            return
        self._loading = True
        self._list()

    @work(thread=True, group="runs", exit_on_error=False, name="listing the runs")
    def _list(self) -> None:
        try:
            runs = list_runs(self.deck.store, limit=LIMIT)
        finally:
            self._loading = False
        self.post_message(RunsLoaded(runs))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self._loaded_at = time.monotonic()
        self.runs = message.runs
        self._show_rows()

    def _show_rows(self) -> None:
        text = self.filter_text.lower()
        shown = [
            r
            for r in self.runs
            if not text
            or text in " ".join((r.deployment or "", state_text(r), r.started_by or "")).lower()
            or text == f"#{r.id}"
        ]
        columns = [
            Column("id", "Run", 6),
            Column("deployment", "Deployment", 20),
            Column("state", "State", 17),
            Column("started", "Started (UTC)", 16),
            Column("by", "By", 10),
            Column("machines", "Mach", 5),
            Column("results", "Results", 48),
        ]
        rows = [(str(r.id), self._cells(r)) for r in shown]
        self.query_one("#runs", ListTable).replace_rows(columns, rows)
        live = sum(1 for r in self.runs if r.state in LIVE_RUN_STATES)
        status = plural(len(self.runs), "run") + (f", {live} live" if live else "")
        if text:
            status += f" · {len(shown)} match {self.filter_text!r}"
        if not self.runs:
            status = "no runs yet: run a deployment from the deployments view (5)"
        self.query_one("#status", Static).update(plain(status))

    def _cells(self, r: RunSummary) -> list[Text]:
        live = r.state in LIVE_RUN_STATES
        style = self._styles["live"] if live else self._styles.get(r.state, "")
        return [
            Text(f"#{r.id}", justify="right"),
            plain(r.deployment or "(deleted)"),
            Text(state_text(r), style=style),
            Text(f"{r.started_at:%Y-%m-%d %H:%M}" if r.started_at else "-"),
            plain(r.started_by or "?"),
            Text(str(r.machines), justify="right"),
            Text(results_text(r)),
        ]

    def _current(self) -> int | None:
        key = self.query_one("#runs", ListTable).current_key()
        return int(key) if key is not None else None

    def action_open(self) -> None:
        run_id = self._current()
        if run_id is not None:
            self.deck_app.show_run(run_id)

    @on(ListTable.RowSelected, "#runs")
    def _clicked(self, event: ListTable.RowSelected) -> None:
        self.deck_app.show_run(int(event.key))

    def action_export(self) -> None:
        run_id = self._current()
        if run_id is None:
            return

        def written(path: object) -> None:
            if path is not None:
                self.notify(neutralise(f"report of run #{run_id} written to {path}"), markup=False)

        self.app.push_screen(ExportReport(self.deck.store, run_id), written)

    def action_refresh(self) -> None:
        self.load()

    def action_filter(self) -> None:
        self.query_one("#runs", ListTable).open_filter()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one("#runs", ListTable).focus()
        else:
            self.app_go_back()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._show_rows()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#runs", ListTable).focus()


def live_runs_text(store: Store) -> str | None:
    """The live runs, in words (``run #12 of nightly is running``); ``None`` for none. For the
    question before quitting: a run goes on without the console."""
    live = [r for r in list_runs(store, limit=50) if r.state in LIVE_RUN_STATES]
    if not live:
        return None
    named = ", ".join(f"#{r.id}" + (f" of {r.deployment}" if r.deployment else "") for r in live)
    return f"run {named} is running" if len(live) == 1 else f"runs {named} are running"
