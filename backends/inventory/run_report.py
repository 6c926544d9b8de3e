"""A run's report, for a change ticket: who started it and when, the plan it installed, each
machine's state, the updates installed (at the version the plan pinned), the failures with
their reasons and the reboots.

Read from the run (``backends.inventory.runs``) and its plan (``backends.inventory.plans``);
a plan deleted since (its deployment was changed) leaves the report without versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backends.inventory.errors import NotFound
from backends.inventory.plans import Plan, PlanItem, get_plan
from backends.inventory.reports import inventory_name
from backends.inventory.runs import Run, RunMachine, get_run
from backends.inventory.store import Store
from backends.inventory.tables import utcnow


@dataclass(frozen=True, slots=True)
class ReportedUpdate:
    """One update of a machine's part in the run: what the plan pinned, and what came of it."""

    platform_id: str
    name: str
    version: str | None  # the pinned version (None: not known, the plan is gone)
    classification: str | None
    outcome: str  # installed | failed | not-installed
    reason: str | None = None  # why it failed


@dataclass(frozen=True, slots=True)
class MachineReport:
    """One machine's part in the run."""

    machine: str
    stage: int  # from 1
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    planned: int  # updates the plan pinned for it
    installed: int
    failed: int
    reboot: str | None  # performed | not-needed | pending
    reboot_expected: bool  # the plan expected one
    error: str | None
    error_kind: str | None
    notes: tuple[str, ...]
    updates: tuple[ReportedUpdate, ...]

    @property
    def failures(self) -> tuple[ReportedUpdate, ...]:
        return tuple(u for u in self.updates if u.outcome == "failed")


@dataclass(frozen=True, slots=True)
class RunReport:
    generated_at: datetime
    inventory: str
    run_id: int
    deployment: str | None  # None: deleted since
    state: str
    started_by: str | None
    started_at: datetime | None
    ended_at: datetime | None
    window_end: datetime | None
    window_minutes: int
    reboot_option: str
    classifications: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    concurrency: int
    max_failures: str
    gate: str
    stages: int
    plan_id: int | None
    plan_created_at: datetime | None
    plan_created_by: str | None
    error: str | None
    totals: dict[str, int]  # machines by state, every state present
    machines: tuple[MachineReport, ...]

    @property
    def planned(self) -> int:
        return sum(m.planned for m in self.machines)

    @property
    def installed(self) -> int:
        return sum(m.installed for m in self.machines)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.machines)

    @property
    def reboots(self) -> dict[str, int]:
        """Machines by reboot outcome (performed, not-needed, pending)."""
        counts = {"performed": 0, "not-needed": 0, "pending": 0}
        for m in self.machines:
            if m.reboot in counts:
                counts[m.reboot] += 1
        return counts


def _updates(machine: RunMachine, items: tuple[PlanItem, ...]) -> tuple[ReportedUpdate, ...]:
    installed = set(machine.installed_items)
    failed = dict(machine.failed_items)
    pinned = {i.platform_id: i for i in items}
    shown: list[ReportedUpdate] = []
    for item in items:
        if item.platform_id in installed:
            outcome = "installed"
        elif item.platform_id in failed:
            outcome = "failed"
        else:
            outcome = "not-installed"
        shown.append(
            ReportedUpdate(
                item.platform_id,
                item.name,
                item.version,
                item.classification,
                outcome,
                failed.get(item.platform_id),
            )
        )
    # what the run recorded that the plan does not name (the plan is gone)
    for platform_id in machine.installed_items:
        if platform_id not in pinned:
            shown.append(ReportedUpdate(platform_id, platform_id, None, None, "installed"))
    for platform_id, reason in machine.failed_items:
        if platform_id not in pinned:
            shown.append(ReportedUpdate(platform_id, platform_id, None, None, "failed", reason))
    return tuple(shown)


def build_run_report(
    run: Run, plan: Plan | None, inventory: str, now: datetime | None = None
) -> RunReport:
    """The report of ``run`` (with its machines) and its ``plan`` (``None``: gone)."""
    planned = {m.machine_id: m for m in plan.machines} if plan is not None else {}
    machines = []
    for m in run.machines:
        part = planned.get(m.machine_id)
        items = part.items if part is not None and part.ok else ()
        machines.append(
            MachineReport(
                machine=m.machine,
                stage=m.stage + 1,
                state=m.state,
                started_at=m.started_at,
                ended_at=m.ended_at,
                planned=len(items),
                installed=m.installed,
                failed=m.failed,
                reboot=m.reboot,
                reboot_expected=bool(part and part.ok and part.reboot_expected),
                error=m.error,
                error_kind=m.error_kind,
                notes=m.notes,
                updates=_updates(m, items),
            )
        )
    options = run.options
    return RunReport(
        generated_at=now or utcnow(),
        inventory=inventory,
        run_id=run.id,
        deployment=run.deployment,
        state=run.state,
        started_by=run.started_by,
        started_at=run.started_at,
        ended_at=run.ended_at,
        window_end=run.window_end,
        window_minutes=run.window_minutes,
        reboot_option=options.reboot,
        classifications=tuple(options.classifications),
        include=tuple(options.include),
        exclude=tuple(options.exclude),
        concurrency=options.concurrency,
        max_failures=str(options.max_failures),
        gate=options.gate,
        stages=run.stages,
        plan_id=run.plan_id,
        plan_created_at=plan.created_at if plan is not None else None,
        plan_created_by=plan.created_by if plan is not None else None,
        error=run.error,
        totals=run.totals(),
        machines=tuple(machines),
    )


def run_report(store: Store, run_id: int, now: datetime | None = None) -> RunReport:
    """The report of run ``run_id``; :class:`NotFound` naming it."""
    run = get_run(store, run_id)
    plan: Plan | None = None
    if run.plan_id is not None:
        try:
            plan = get_plan(store, run.plan_id)
        except NotFound:
            plan = None
    return build_run_report(run, plan, inventory_name(store.url), now)
