"""The dashboard: where the fleet stands, at a glance.

Compliance counts, missing updates by classification (bars), reboots pending and how fresh the
scans are, all counted by the database. While a scan runs it refreshes as machines finish, at
most twice a second, and less often when the inventory is so large that counting takes time.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static

from backends.inventory.compliance import (
    COMPLIANT,
    NON_COMPLIANT,
    NOT_ASSESSED,
    STATES,
    UNREACHABLE,
    Compliance,
    fleet_compliance,
)
from backends.inventory.records import CLASSIFICATIONS
from backends.inventory.runs import FINAL_STATES, LIVE_RUN_STATES, RunSummary, list_runs
from tui.actions import DASHBOARD, MACHINES, bindings
from tui.format import age, plural
from tui.messages import ComplianceLoaded
from tui.safe import plain
from tui.screens.view import View
from tui.widgets.meter import Meter

STATE_LABELS = {
    COMPLIANT: "compliant",
    NON_COMPLIANT: "non-compliant",
    NOT_ASSESSED: "not assessed",
    UNREACHABLE: "unreachable",
}
# Display order of classifications: the urgent ones first, "other" last.
ORDER = ("critical", "security", *CLASSIFICATIONS["windows"][2:], "other")
TICK = 0.25  # how often the screen looks at the scanner
MIN_REFRESH = 0.5  # seconds between two counts while a scan runs, at least
STALE_AFTER = 5.0  # seconds after which coming back to the dashboard counts again
RUNS_SHOWN = 6  # the newest runs read for the runs panel
RUNS_EVERY = 2.0  # seconds between two reads of them while one is live


class RunsCounted(Message):
    """The newest runs, with their machines counted by state (for the runs panel)."""

    def __init__(self, runs: list[RunSummary]) -> None:
        super().__init__()
        self.runs = runs


def run_line(run: RunSummary) -> str:
    """``#12 nightly: running, 340 of 1000 done, 2 failed`` or how it ended and when."""
    done = sum(run.totals.get(s, 0) for s in FINAL_STATES)
    failed = run.totals.get("failed", 0)
    of = run.deployment or "(deleted)"
    if run.state in LIVE_RUN_STATES:
        text = f"#{run.id} {of}: {run.state}" + (" at the gate" if run.gate_waiting else "")
        return text + f", {done} of {run.machines} done" + (f", {failed} failed" if failed else "")
    ok = run.totals.get("succeeded", 0)
    when = f", {age(run.ended_at)} ago" if run.ended_at else ""
    return f"#{run.id} {of}: {run.state}, {ok} of {run.machines} succeeded{when}"


def _order(classification: str) -> tuple[int, str]:
    return (ORDER.index(classification) if classification in ORDER else len(ORDER), classification)


class DashboardScreen(View):
    VIEW = DASHBOARD
    TITLE = "Dashboard"
    BINDINGS: ClassVar[list[BindingType]] = bindings(DASHBOARD)

    def __init__(self) -> None:
        super().__init__()
        self._changed: set[str] = set()
        self._loading = False
        self._stale = False
        self._loaded_at = 0.0
        self._wait = MIN_REFRESH
        self._missing_rows: list[tuple[Static, Static, Meter]] = []
        self._runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="dashboard"):
            yield Static("", id="scan-progress")
            with Horizontal(id="dash-columns"):
                with Vertical(id="dash-left"):
                    with Grid(id="compliance", classes="panel") as panel:
                        panel.border_title = "Compliance"
                        for state in STATES:
                            yield Static(STATE_LABELS[state], classes=f"label -{state}")
                            yield Static("", id=f"count-{state}", classes="count")
                            yield Meter(id=f"meter-{state}", classes=f"-{state}")
                    with Vertical(id="health", classes="panel") as panel:
                        panel.border_title = "Reboots and scans"
                        yield Static("", id="reboot")
                        yield Static("", id="oldest")
                        yield Static("", id="median")
                        yield Static("", id="never")
                with Grid(id="missing", classes="panel") as panel:
                    panel.border_title = "Missing updates"
                    panel.border_subtitle = "updates · machines"
            with Vertical(id="dash-runs", classes="panel") as panel:
                panel.border_title = "Runs"
                panel.border_subtitle = "6: history"
                yield Static("no runs yet", id="runs-none")
            yield Static("", id="dash-hint")
        yield Footer()

    def on_mount(self) -> None:
        self._changed = self.deck.scanner.watch()
        self.set_interval(TICK, self._tick)
        self.set_interval(RUNS_EVERY, self._runs_tick)
        self.reload()

    def on_screen_resume(self) -> None:
        # back from another view: count again (other commands may have scanned meanwhile)
        if self._loaded_at and time.monotonic() - self._loaded_at > STALE_AFTER:
            self.reload()

    def _tick(self) -> None:
        if not self.is_current:
            return
        progress = self.deck.scanner.progress
        line = self.query_one("#scan-progress", Static)
        if progress.running:
            failed = f", {progress.failed} failed" if progress.failed else ""
            line.update(f"Scanning: {progress.done} of {progress.total} machines done{failed}")
        line.set_class(progress.running, "-shown")
        if self._changed:
            # a machine that is no longer in flight has had its scan recorded
            finished = any(not self.deck.scanner.in_flight(n) for n in self._changed)
            self._changed.clear()
            self._stale = self._stale or finished
        if self._stale and time.monotonic() - self._loaded_at >= self._wait:
            self.reload()

    def _runs_tick(self) -> None:
        if self.is_current and any(r.state in LIVE_RUN_STATES for r in self._runs):
            self.count_runs()

    @work(thread=True, group="dashboard-runs", exclusive=True, exit_on_error=False,
          name="reading the runs")  # fmt: skip
    def count_runs(self) -> None:
        self.post_message(RunsCounted(list_runs(self.deck.store, limit=RUNS_SHOWN)))

    def on_runs_counted(self, message: RunsCounted) -> None:
        self._runs = message.runs
        live = [r for r in message.runs if r.state in LIVE_RUN_STATES]
        ended = [r for r in message.runs if r.state not in LIVE_RUN_STATES][:3]
        panel = self.query_one("#dash-runs", Vertical)
        with self.app.batch_update():
            panel.remove_children()
            widgets: list[Static | Meter] = []
            for run in live:
                widgets.append(Static(plain(run_line(run)), classes="-live"))
                done = sum(run.totals.get(s, 0) for s in FINAL_STATES)
                widgets.append(Meter(value=done, total=run.machines))
            widgets += [Static(plain(run_line(r))) for r in ended]
            if not widgets:
                widgets.append(Static("no runs yet"))
            panel.mount_all(widgets)

    def reload(self) -> None:
        if self._loading:
            self._stale = True  # once this count is in
            return
        self._stale = False
        self._loading = True
        self.count()
        self.count_runs()

    @work(thread=True, group="dashboard", exit_on_error=False, name="counting the fleet")
    def count(self) -> None:
        started = time.monotonic()
        try:
            compliance = fleet_compliance(self.deck.store)
        finally:
            self._loading = False
        self.post_message(ComplianceLoaded(compliance, time.monotonic() - started))

    def on_compliance_loaded(self, message: ComplianceLoaded) -> None:
        self._loaded_at = time.monotonic()
        self._wait = max(MIN_REFRESH, 3 * message.seconds)
        self._show(message.compliance)

    def _show(self, compliance: Compliance) -> None:
        total = compliance.machines
        for state in STATES:
            count = compliance.count(state)
            self.query_one(f"#count-{state}", Static).update(str(count))
            meter = self.query_one(f"#meter-{state}", Meter)
            meter.value, meter.total = count, total
        self._show_missing(compliance)
        now = self.deck.clock()
        self.query_one("#compliance").border_subtitle = plural(total, "machine")
        self.query_one("#reboot", Static).update(f"reboot pending  {compliance.reboot_pending}")
        oldest, median = compliance.oldest_scan, compliance.median_scan
        self.query_one("#oldest", Static).update(
            f"oldest scan     {age(oldest, now)} ago" if oldest else "oldest scan     none yet"
        )
        self.query_one("#median", Static).update(
            f"median scan     {age(median, now)} ago" if median else "median scan     none yet"
        )
        never = total - compliance.scanned
        self.query_one("#never", Static).update(f"never scanned   {never}")
        hint = self.query_one("#dash-hint", Static)
        if not total:
            hint.update(
                "No machines yet: add one in the machines view (2, then a) "
                "or with `patchdeck machine add`."
            )
        elif never:
            hint.update(f"{plural(never, 'machine')} never scanned: S scans every machine.")
        else:
            hint.update(plain(f"{plural(total, 'machine')}; enter opens the machines view."))

    def _show_missing(self, compliance: Compliance) -> None:
        grid = self.query_one("#missing", Grid)
        counts = sorted(compliance.by_classification, key=lambda c: _order(c.classification))
        rows = [(c.classification, c.missing, c.machines) for c in counts if c.missing]
        if not rows:
            rows = [("nothing missing" if compliance.scanned else "nothing known yet", 0, 0)]
        with self.app.batch_update():
            if len(self._missing_rows) != len(rows):
                grid.remove_children()
                self._missing_rows = [
                    (Static("", classes="label"), Static("", classes="count"), Meter())
                    for _ in rows
                ]
                grid.mount_all(w for row in self._missing_rows for w in row)
            for (label, count, meter), (classification, missing, machines) in zip(
                self._missing_rows, rows, strict=True
            ):
                label.update(plain(classification.replace("_", " ")))
                count.update(f"{missing} · {machines}" if missing else "")
                meter.set_classes(f"-{classification}")
                meter.value, meter.total = machines, compliance.machines

    def action_open(self) -> None:
        self.deck_app.show_view(MACHINES)

    def action_scan_all(self) -> None:
        self.deck_app.start_scan(None, "every machine")

    def action_refresh(self) -> None:
        self.reload()
