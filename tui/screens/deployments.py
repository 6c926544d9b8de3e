"""The deployments view: every deployment with its targets, classifications, reboot option,
window, next scheduled time and last result; beside the list, the deployment under the cursor
in full (stages, options, the next 5 occurrences, its latest plan).

``n`` builds a new deployment, ``e`` edits this one, ``d`` deletes it (asks, Cancel focused),
``enter`` opens its latest plan (making one when there is none) and ``p`` plans it afresh.
``/`` filters the list (name, targets, classes, reboot, window, next time, last result),
``o``/``O`` sort it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Static

from backends.engine.schedule import describe, local_text, next_occurrences
from backends.inventory.deployments import Deployment, delete_deployment, list_deployments
from backends.inventory.errors import InventoryError
from backends.inventory.groups import Target
from backends.inventory.plans import PlanSummary, latest_plan
from backends.inventory.runs import RunSummary, list_runs
from tui.actions import DEPLOYMENTS, bindings
from tui.format import age, plural
from tui.modals.confirm import Confirm
from tui.safe import neutralise, plain
from tui.screens.deployment_form import DeploymentForm
from tui.screens.plan import PlanScreen
from tui.screens.sorting import ColumnSort, FilteredList
from tui.widgets.list_table import Column, ListTable

FOLLOW = 0.2  # seconds between two looks at which row the cursor is on
OCCURRENCES = 5
NEVER = datetime.min.replace(tzinfo=UTC)  # sorts with the times, where there is none
COLUMNS = [
    Column("name", "Name", 20),
    Column("targets", "Targets", 28),
    Column("classes", "Classes", 20),
    Column("reboot", "Reboot", 11),
    Column("window", "Window", 6),
    Column("next", "Next", 16),
    Column("last", "Last result", 24),
]


@dataclass
class DeploymentsLoaded(Message):
    deployments: list[Deployment]
    last_runs: dict[str, RunSummary]  # by deployment name: its newest run


@dataclass
class PlanSummaryLoaded(Message):
    deployment: str
    summary: PlanSummary | None


@dataclass
class DeploymentDeleted(Message):
    name: str
    error: str | None = None


def stage_text(stage: Sequence[Target]) -> str:
    return ", ".join(t.name for t in stage)


def targets_text(deployment: Deployment) -> str:
    return " | ".join(stage_text(s) for s in deployment.stages) or "(no targets left)"


def classes_text(deployment: Deployment) -> str:
    classes = deployment.options.classifications
    return ", ".join(c.replace("_", " ") for c in classes) if classes else "none"


def run_text(run: RunSummary | None, now: datetime) -> str:
    """``#4 succeeded 2h ago``, with how many machines did not succeed."""
    if run is None:
        return "never run"
    text = f"#{run.id} {run.state}"
    bad = sum(n for state, n in run.totals.items() if state not in ("succeeded", "pending"))
    if bad and run.state not in ("pending", "running"):
        text += f" ({bad} not ok)"
    when = run.ended_at or run.started_at
    return text + (f" {age(when, now)} ago" if when else "")


@dataclass(frozen=True, slots=True)
class Row:
    """A deployment as the list shows it: its cells' text, computed once per read."""

    deployment: Deployment
    texts: tuple[str, ...]  # name, targets, classes, reboot, window, next, last result
    next_at: datetime | None
    last_at: datetime | None


SORTS = (
    ColumnSort("name", "name", lambda r: r.deployment.name),
    ColumnSort("targets", "targets", lambda r: (r.texts[1], r.deployment.name)),
    ColumnSort("classes", "classes", lambda r: (r.texts[2], r.deployment.name)),
    ColumnSort("reboot", "reboot", lambda r: (r.texts[3], r.deployment.name)),
    ColumnSort(
        "window", "window", lambda r: (r.deployment.options.window_minutes, r.deployment.name)
    ),
    ColumnSort(
        "next",
        "next time",
        lambda r: (r.next_at is None, r.next_at or NEVER, r.deployment.name),
    ),
    ColumnSort(
        "last",
        "last run",
        lambda r: (r.last_at is not None, r.last_at or NEVER, r.deployment.name),
        descending=True,
    ),
)


class DeploymentsScreen(FilteredList):
    SORTS = SORTS
    TABLE = "#deployments"
    FILTER_HINT = "filter: name, targets, classes, reboot, window, next or last result"
    VIEW = DEPLOYMENTS
    TITLE = "Deployments"
    AUTO_FOCUS = "#deployments"
    BINDINGS: ClassVar[list[BindingType]] = bindings(DEPLOYMENTS)

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, Deployment] = {}  # every deployment, by name
        self.list_rows: dict[str, Row] = {}
        self.last_runs: dict[str, RunSummary] = {}
        self._shown: str | None = None
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield self.filter_box()
            yield self.list_table()
            with Vertical(id="deployment-side", classes="side"):
                yield Static("", id="deployment-about")
        yield Static("loading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(FOLLOW, self._follow_cursor)
        self.load()

    def on_screen_resume(self) -> None:
        if self._loaded:  # back from another view or a form: read again
            self.load()

    # loading ----------------------------------------------------------------------------

    @work(thread=True, group="deployments", exclusive=True, exit_on_error=False, name="deployments")
    def load(self) -> None:
        store = self.deck.store
        deployments = list_deployments(store)
        last: dict[str, RunSummary] = {}
        for run in list_runs(store):  # newest first
            if run.deployment is not None:
                last.setdefault(run.deployment, run)
        self.post_message(DeploymentsLoaded(deployments, last))

    def on_deployments_loaded(self, message: DeploymentsLoaded) -> None:
        self._loaded = True
        self.rows = {d.name: d for d in message.deployments}
        self.last_runs = message.last_runs
        now = self.deck.clock()
        self.list_rows = {n: self.row(d, now) for n, d in self.rows.items()}
        self._show_rows()
        self._shown = None
        self._follow_cursor()
        self.refresh_bindings()

    def next_runs(self, deployment: Deployment, now: datetime, n: int) -> list[datetime]:
        schedule = deployment.schedule
        return next_occurrences(schedule, now, n) if schedule is not None else []

    def row(self, d: Deployment, now: datetime) -> Row:
        upcoming = self.next_runs(d, now, 1)
        zone = ZoneInfo(d.schedule.tz if d.schedule is not None else "UTC")
        when = upcoming[0].astimezone(zone).strftime("%Y-%m-%d %H:%M") if upcoming else "-"
        last = self.last_runs.get(d.name)
        texts = (
            d.name,
            targets_text(d),
            classes_text(d),
            d.options.reboot,
            d.options.window,
            when,
            run_text(last, now),
        )
        last_at = (last.ended_at or last.started_at) if last is not None else None
        return Row(d, texts, upcoming[0] if upcoming else None, last_at)

    def cells(self, row: Row) -> tuple[Text, ...]:
        bold = "bold" if row.deployment.options.reboot == "reboot-only" else ""
        return tuple(plain(text, bold if i == 3 else "") for i, text in enumerate(row.texts))

    def haystack(self, row: Row) -> str:
        return " ".join(row.texts)

    def _show_rows(self) -> None:
        shown = self.rows_shown(self.list_rows)
        table = self.query_one("#deployments", ListTable)
        with self.app.batch_update():
            table.replace_rows(COLUMNS, [(n, self.cells(self.list_rows[n])) for n in shown])
            self._show_status(len(shown))

    def _show_status(self, shown: int) -> None:
        if self.rows:
            text = self.list_status(shown, len(self.rows), "deployment")
            if not self.filter_text:
                text += " · enter plan · n new"
        else:
            text = "no deployments yet: n builds one (or D in the machines or updates view)"
        self.query_one("#status", Static).update(plain(text))

    # the side panel ---------------------------------------------------------------------

    def current(self) -> Deployment | None:
        key = self.query_one("#deployments", ListTable).current_key()
        return self.rows.get(key) if key is not None else None

    def _follow_cursor(self) -> None:
        deployment = self.current()
        name = deployment.name if deployment else None
        if name == self._shown:
            return
        self._shown = name
        about = self.query_one("#deployment-about", Static)
        if deployment is None:
            about.update("")
            return
        about.update(plain(self.describe(deployment, None, loading=True), wrap=True))
        self._plan_summary(deployment)

    @work(thread=True, group="deployment-plan", exclusive=True, exit_on_error=False, name="plan")
    def _plan_summary(self, deployment: Deployment) -> None:
        plan = latest_plan(self.deck.store, deployment.id)
        summary = plan.summary() if plan is not None else None
        self.post_message(PlanSummaryLoaded(deployment.name, summary))

    def on_plan_summary_loaded(self, message: PlanSummaryLoaded) -> None:
        deployment = self.rows.get(message.deployment)
        if deployment is None or message.deployment != self._shown:
            return
        text = self.describe(deployment, message.summary)
        self.query_one("#deployment-about", Static).update(plain(text, wrap=True))

    def describe(self, d: Deployment, plan: PlanSummary | None, *, loading: bool = False) -> str:
        """The deployment in full, as the side panel shows it."""
        now = self.deck.clock()
        options = d.options
        lines = [d.name, ""]
        for number, stage in enumerate(d.stages, 1):
            lines.append(f"stage {number}: {stage_text(stage)}")
        if not d.stages:
            lines.append("targets: (no targets left)")
        lines += [
            f"classes: {classes_text(d)}",
            f"include: {' '.join(options.include) or '-'}",
            f"exclude: {' '.join(options.exclude) or '-'}",
            f"reboot: {options.reboot} · window {options.window}",
            f"concurrency {options.concurrency} · max failures {options.max_failures}",
            f"gate: {options.gate}",
        ]
        if options.pre_command:
            lines.append(f"pre: {options.pre_command}")
        if options.post_command:
            lines.append(f"post: {options.post_command}")
        lines.append(f"last run: {run_text(self.last_runs.get(d.name), now)}")
        if d.schedule is None:
            lines.append("schedule: none (started by hand)")
        else:
            lines.append(f"schedule: {describe(d.schedule)}")
            upcoming = self.next_runs(d, now, OCCURRENCES)
            lines.append("next:" if upcoming else "next: none to come")
            lines += [f"  {local_text(t, d.schedule.tz)}" for t in upcoming]
        if loading:
            lines.append("plan: …")
        elif plan is None:
            lines.append("plan: never planned (enter plans it)")
        else:
            lines.append(
                f"plan #{plan.id}, {age(plan.created_at, now)} ago: "
                f"{plural(plan.machines, 'machine')}, {plural(plan.updates, 'update')}, "
                f"{plural(plan.reboots, 'reboot')}"
                + (f", {plan.failed} not plannable" if plan.failed else "")
            )
        return "\n".join(lines)

    # actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action in ("open", "plan", "edit_deployment", "delete_deployment"):
            return bool(self.rows)
        return True

    def action_refresh(self) -> None:
        self.load()

    def action_new_deployment(self) -> None:
        self.app.push_screen(DeploymentForm(), self._saved)

    def action_edit_deployment(self) -> None:
        deployment = self.current()
        if deployment is not None:
            self.app.push_screen(DeploymentForm(deployment), self._saved)

    def _saved(self, name: str | None) -> None:
        if name is not None:
            self.notify(neutralise(f"saved deployment {name}"), markup=False)
            self.load()

    def action_open(self) -> None:
        deployment = self.current()
        if deployment is not None:
            self.app.push_screen(PlanScreen(deployment, fresh=False))

    @on(ListTable.RowSelected, "#deployments")
    def _clicked(self) -> None:
        self.action_open()

    def action_plan(self) -> None:
        deployment = self.current()
        if deployment is not None:
            self.app.push_screen(PlanScreen(deployment, fresh=True))

    def action_delete_deployment(self) -> None:
        deployment = self.current()
        if deployment is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(deployment.name)

        self.app.push_screen(
            Confirm(
                f"Delete the deployment {deployment.name} "
                f"({plural(len(deployment.targets), 'target')}) with its plans and runs?",
                "Delete",
                detail="Its machines and groups stay.",
            ),
            answered,
        )

    @work(thread=True, group="deployment-delete", exit_on_error=False, name="deleting")
    def _delete(self, name: str) -> None:
        try:
            delete_deployment(self.deck.store, name)
        except InventoryError as exc:
            self.post_message(DeploymentDeleted(name, str(exc)))
            return
        self.post_message(DeploymentDeleted(name))

    def on_deployment_deleted(self, message: DeploymentDeleted) -> None:
        if message.error:
            self.notify(neutralise(message.error), severity="error", timeout=10, markup=False)
        else:
            self.notify(neutralise(f"deleted deployment {message.name}"), markup=False)
        self.load()
