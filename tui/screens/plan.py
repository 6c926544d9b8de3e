"""One deployment's plan: what a run would install where. Opened from the deployments view
(``enter``: its latest plan, made now when it has none; ``p``: made afresh).

Making a plan scans every target afresh (progress shown as the scans finish), applies the
deployment's filters, runs the pre-flight checks and saves the plan, all in a worker; nothing is
installed. Per machine the screen shows the pinned updates, whether a reboot is expected and the
pre-flight problems, with totals above; ``/`` filters the machines (name, problem, pinned
packages), ``o``/``O`` sort them.

``R`` runs it as ``patchdeck deployment run`` does: a stale plan (older than the
``plan_max_age`` setting, or made before the deployment last changed) is made again first, with
the same progress as ``p``, and shown; then a confirmation (Cancel focused) says what will
happen. The run starts as ``patchdeck deployment run --detach`` starts it
(:func:`tui.launch.start_run`): in a runner process of its own, which outlives the console.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerState

from backends.engine.events import Event, ScanDone
from backends.inventory.deployments import Deployment, deployment_machines, get_deployment
from backends.inventory.plans import PLAN_MAX_AGE, MachinePlan, Plan, latest_plan, plan_is_stale
from backends.inventory.runs import REBOOT_RESERVE
from tui.actions import PLAN, bindings
from tui.cli.deployment import plan_counts, plan_problem
from tui.format import age, plural
from tui.launch import Started, start_run
from tui.modals.confirm import Confirm
from tui.safe import neutralise, plain
from tui.screens.sorting import ColumnSort, FilteredList
from tui.widgets.list_table import Column, ListTable

TICK = 0.25  # seconds between two looks at the planning's progress
FOLLOW = 0.2
COLUMNS = [
    Column("machine", "Machine", 24),
    Column("stage", "Stage", 5),
    Column("updates", "Updates", 7),
    Column("security", "Sec", 3),
    Column("reboot", "Reboot", 6),
    Column("problem", "Problem", 60),
]
SORTS = (
    ColumnSort("machine", "machine", lambda m: m.machine),
    ColumnSort("stage", "stage", lambda m: (m.stage, m.machine)),
    ColumnSort("updates", "updates", lambda m: (_updates(m), m.machine), descending=True),
    ColumnSort("security", "security", lambda m: (_security(m), m.machine), descending=True),
    ColumnSort("reboot", "reboot", lambda m: (not m.error and m.reboot_expected, m.machine), True),
    ColumnSort("problem", "problem", lambda m: (plan_problem(m), m.machine), descending=True),
)
PLANNING = "planning"  # the worker group that makes plans
STARTING = "run-start"  # the worker group that starts runs


@dataclass
class PlanLoaded(Message):
    plan: Plan | None  # None: the deployment was never planned
    deployment: Deployment


@dataclass
class RunStarted(Message):
    run_id: int
    pid: int


def _updates(m: MachinePlan) -> int:
    return -1 if m.error else len(m.items)


def _security(m: MachinePlan) -> int:
    return -1 if m.error else sum(1 for i in m.items if i.classification == "security")


class PlanScreen(FilteredList):
    SORTS = SORTS
    TABLE = "#plan-machines"
    FILTER_HINT = "filter: machine, problem or package"
    VIEW = PLAN
    TITLE = "Plan"
    AUTO_FOCUS = "#plan-machines"
    BINDINGS: ClassVar[list[BindingType]] = bindings(PLAN)

    def __init__(self, deployment: Deployment, *, fresh: bool) -> None:
        super().__init__()
        self.deployment = deployment
        self.fresh = fresh
        self.plan: Plan | None = None
        self.rows: dict[str, MachinePlan] = {}
        self.sub_title = deployment.name
        self._total = 0  # machines being planned
        self._scanned = 0
        self._shown: str | None = None
        self._run_when_planned = False  # R on a stale plan: confirm once planned afresh

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="plan-head")
        yield Static("", id="plan-progress")
        with Horizontal(id="body"):
            yield self.filter_box()
            yield self.list_table()
            with VerticalScroll(id="plan-side", classes="side"):
                yield Static("", id="plan-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(TICK, self._show_progress)
        self.set_interval(FOLLOW, self._follow_cursor)
        if self.fresh:
            self.make_plan()
        else:
            self._latest()

    # getting the plan -------------------------------------------------------------------

    @work(thread=True, group="plan-read", exclusive=True, exit_on_error=False, name="plan")
    def _latest(self) -> None:
        store = self.deck.store
        deployment = get_deployment(store, self.deployment.name)
        self.post_message(PlanLoaded(latest_plan(store, deployment.id), deployment))

    def make_plan(self, why: str = "planning") -> None:
        self._total = self._scanned = 0
        self.query_one("#plan-progress", Static).add_class("-shown")
        self.query_one("#plan-head", Static).update(plain(f"{why}: resolving the targets…"))
        self._planning()

    @work(group=PLANNING, exclusive=True, exit_on_error=False, name="planning")
    async def _planning(self) -> None:
        from backends.engine.connections import ConnectionPool
        from backends.engine.plan import PlanOptions, make_plan

        store = self.deck.store
        deployment = await asyncio.to_thread(get_deployment, store, self.deployment.name)
        targets = await asyncio.to_thread(deployment_machines, store, deployment)
        self._total = len(targets)
        pool = ConnectionPool(self.deck.host_keys(), password_source=self.deck.passwords)
        self.deck.passwords.start_scan()
        options = PlanOptions(concurrency=self.deck.concurrency, timeout=self.deck.scan_timeout)
        try:
            plan = await make_plan(store, deployment, pool, self._publish, options, targets=targets)
        finally:
            await pool.close_all()
        self.post_message(PlanLoaded(plan, deployment))

    def _publish(self, event: Event) -> None:
        """The planning's scans' events (on the UI loop): only counted here; a timer shows
        the count."""
        if isinstance(event, ScanDone):
            self._scanned += 1

    def _show_progress(self) -> None:
        progress = self.query_one("#plan-progress", Static)
        if not progress.has_class("-shown"):
            return
        if self._total:
            text = f"scanning the targets: {self._scanned} of {self._total} done"
            if self._scanned >= self._total:
                text = f"{self._total} scanned: pre-flight checks and saving the plan…"
        else:
            text = "planning…"
        progress.update(plain(text))

    def on_plan_loaded(self, message: PlanLoaded) -> None:
        self.deployment = message.deployment
        if message.plan is None:
            self.make_plan()  # never planned: plan it now
            return
        self.query_one("#plan-progress", Static).remove_class("-shown")
        self.plan = message.plan
        self.rows = {str(m.machine_id): m for m in message.plan.machines}
        self._show_rows()
        self._shown = None
        self._follow_cursor()
        self.refresh_bindings()
        if self._run_when_planned:
            self._run_when_planned = False
            self._confirm_run()

    def haystack(self, row: MachinePlan) -> str:
        packages = " ".join(i.name for i in row.items)
        return f"{row.machine} {plan_problem(row)} {packages}"

    def _show_rows(self) -> None:
        shown = self.rows_shown(self.rows)
        table = self.query_one("#plan-machines", ListTable)
        with self.app.batch_update():
            table.replace_rows(COLUMNS, [(k, self.cells(self.rows[k])) for k in shown])
            self._show_head(len(shown))

    # showing it -------------------------------------------------------------------------

    def stale(self) -> bool:
        if self.plan is None:
            return True
        max_age = getattr(self.deck_app, "settings", None)
        limit = getattr(max_age, "plan_max_age", PLAN_MAX_AGE)
        return plan_is_stale(
            self.plan,
            now=self.deck.clock(),
            max_age=limit,
            deployment_changed_at=self.deployment.updated_at,
        )

    def _show_head(self, shown: int) -> None:
        plan = self.plan
        if plan is None:
            return
        now = self.deck.clock()
        summary = plan.summary()
        text = (
            f"plan #{plan.id}, made {age(plan.created_at, now)} ago by {plan.created_by or '?'}: "
            f"{plan_counts(summary)}"
        )
        options = self.deployment.options
        text += f"\nreboot {options.reboot} · window {options.window} · gate {options.gate}"
        if self.stale():
            text += " · stale: R plans it again first"
        elif plan.machines:
            text += " · R runs it"
        if self.filter_text or self.sort is not SORTS[0] or self.sort_reverse:
            text += "\n" + self.list_status(shown, len(plan.machines), "machine")
        self.query_one("#plan-head", Static).update(plain(text, wrap=True))

    def cells(self, m: MachinePlan) -> tuple[Text, ...]:
        problem = plan_problem(m)
        style = "bold" if m.error else ""
        return (
            plain(m.machine),
            Text(str(m.stage + 1), justify="right"),
            Text("-" if m.error else str(len(m.items)), justify="right"),
            Text(
                "-" if m.error else str(sum(1 for i in m.items if i.classification == "security")),
                justify="right",
            ),
            plain("-" if m.error else ("yes" if m.reboot_expected else "no")),
            plain(" ".join(problem.split()), style),
        )

    def _follow_cursor(self) -> None:
        key = self.query_one("#plan-machines", ListTable).current_key()
        if key == self._shown:
            return
        self._shown = key
        machine = self.rows.get(key) if key is not None else None
        detail = self.query_one("#plan-detail", Static)
        detail.set_class(bool(machine and machine.error), "-problem")
        detail.update(plain(self.detail(machine), wrap=True) if machine else "")

    @staticmethod
    def detail(m: MachinePlan) -> str:
        """One machine's part of the plan, in full."""
        lines = [f"{m.machine} · stage {m.stage + 1}"]
        if m.error:
            lines += [f"not run: {m.error}"]
        lines.append(f"reboot expected: {'yes' if m.reboot_expected else 'no'}")
        lines.append(f"{plural(len(m.items), 'update')} pinned" + (":" if m.items else ""))
        for item in m.items:
            versions = f"{item.installed} → {item.version or '?'}" if item.installed else ""
            versions = versions or (f"→ {item.version}" if item.version else "")
            lines.append(f"  {item.name} {versions} ({item.classification.replace('_', ' ')})")
        if m.excluded:
            lines.append(f"{len(m.excluded)} left out:")
            lines += [f"  {e.name}: {e.reason}" for e in m.excluded]
        for check in m.checks:
            verdict = {True: "ok", False: "FAILED", None: "not checked"}[check.ok]
            lines.append(
                f"pre-flight {check.check}: {verdict}"
                + (f" ({check.detail})" if check.detail else "")
            )
        lines += m.notes
        return "\n".join(lines)

    # actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        planning = any(
            w.group == PLANNING and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.workers
        )
        if action == "plan":
            return not planning
        if action == "run_plan":
            plan = self.plan
            return not planning and plan is not None and (bool(plan.machines) or self.stale())
        return True

    def action_back(self) -> None:
        if self.clear_filter():
            return
        self._run_when_planned = False
        self.workers.cancel_group(self, PLANNING)
        self.dismiss()

    def action_plan(self) -> None:
        self.make_plan()
        self.refresh_bindings()

    def action_run_plan(self) -> None:
        if self.plan is None:
            return
        if self.stale():  # as `deployment run` does: plan again, show it, then ask
            self._run_when_planned = True
            self.make_plan(f"plan #{self.plan.id} is stale: planning again before the run")
            self.refresh_bindings()
            return
        self._confirm_run()

    def _confirm_run(self) -> None:
        plan = self.plan
        if plan is None:
            return
        if not plan.machines:
            self.notify("this plan has no machine: nothing to run", severity="warning")
            return
        summary = plan.summary()
        ready = summary.machines - summary.failed
        if not ready:
            self.notify("no machine of this plan can be run", severity="warning")
            return
        options = self.deployment.options
        now = self.deck.clock()
        end = now + timedelta(minutes=options.window_minutes)
        skipped = (
            f" {summary.failed} could not be planned and are skipped." if summary.failed else ""
        )
        detail = (
            f"{plural(ready, 'machine')}, {plural(summary.updates, 'update')}, "
            f"{plural(summary.reboots, 'reboot')} expected (reboot {options.reboot}). "
            f"The window ends at {_clock(end)}; no install or reboot begins after "
            f"{_clock(end - REBOOT_RESERVE)}.{skipped} The run goes on in a process of its own "
            "if the console closes."
        )
        question = f"Run {self.deployment.name} now (plan #{plan.id})?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(plan)

        self.app.push_screen(Confirm(question, "Run", detail=detail), answered)

    @work(thread=True, group=STARTING, exclusive=True, exit_on_error=False, name="starting a run")
    def _start(self, plan: Plan) -> Started:
        extra = self.deck.known_hosts[1:]
        started = start_run(
            self.deck.store, plan, self.deployment.options, str(extra[0]) if extra else None
        )
        self.post_message(RunStarted(started.run.id, started.process.pid))
        return started

    def on_run_started(self, message: RunStarted) -> None:
        show_run = getattr(self.app, "show_run", None)
        self.notify(f"run #{message.run_id} started (runner pid {message.pid})")
        if callable(show_run):
            self.dismiss()
            show_run(message.run_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == PLANNING and event.state in (
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            self._run_when_planned = False
            self.query_one("#plan-progress", Static).remove_class("-shown")
            what = "failed" if event.state is WorkerState.ERROR else "cancelled"
            self.query_one("#plan-head", Static).update(
                plain(f"planning {what}: {neutralise(str(event.worker.error or ''))}", wrap=True)
            )
        self.refresh_bindings()

    @on(ListTable.RowSelected, "#plan-machines")
    def _clicked(self) -> None:
        self.query_one("#plan-side").focus()


def _clock(when: datetime) -> str:
    """A time of the window, in this machine's zone."""
    return when.astimezone().strftime("%H:%M %Z").strip()
