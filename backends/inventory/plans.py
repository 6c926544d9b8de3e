"""Plans: what a deployment would install where, pinned, as a fresh scan found it.

A plan holds, per machine of the deployment (in its stage): exactly which updates (platform id
and the version available then), whether a reboot is expected, the updates the filters left out
and why, the pre-flight checks, and, for a machine that could not be planned (unreachable, scan
failed, pre-flight failed), the reason. A run installs a plan's items and nothing else; a plan
older than :data:`PLAN_MAX_AGE`, or made before its deployment last changed, is stale
(:func:`plan_is_stale`) and is made again before a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from backends.inventory import audit
from backends.inventory.bulk import insert_rows
from backends.inventory.errors import NotFound
from backends.inventory.machines import MACHINE
from backends.inventory.store import Store
from backends.inventory.tables import (
    DeploymentRow,
    PlanItemRow,
    PlanMachineRow,
    PlanRow,
    utcnow,
)

PLAN = PlanRow.__table__  # type: ignore[attr-defined]
PLAN_MACHINE = PlanMachineRow.__table__  # type: ignore[attr-defined]
PLAN_ITEM = PlanItemRow.__table__  # type: ignore[attr-defined]
_DEPLOYMENT = DeploymentRow.__table__  # type: ignore[attr-defined]

# How old a plan may be before a run makes it again (a setting may pass another age).
PLAN_MAX_AGE = timedelta(hours=2)

_ITEM_COLUMNS = (
    "plan_id",
    "machine_id",
    "stage",
    "platform_id",
    "name",
    "version",
    "installed_version",
    "classification",
    "reboot_expected",
)


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One update pinned for a machine: a run installs ``version`` of ``platform_id``."""

    platform_id: str
    name: str
    installed: str | None  # None: a new package the upgrade pulls in
    version: str | None
    classification: str
    reboot_likely: bool = False


@dataclass(frozen=True, slots=True)
class PlanExclusion:
    """An update the deployment's filters left out, and why."""

    platform_id: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlanCheck:
    """One pre-flight check: ``ok`` True (passed), False (failed: the machine is skipped) or
    None (not run, ``detail`` says why)."""

    check: str  # disk | packages | holds
    ok: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class MachinePlan:
    """One machine's part in a plan. ``error`` set: the machine could not be planned and a run
    skips it (``error_kind``: unreachable, timeout, auth-refused, … or ``preflight``)."""

    machine_id: int
    machine: str
    stage: int
    items: tuple[PlanItem, ...] = ()
    reboot_expected: bool = False
    excluded: tuple[PlanExclusion, ...] = ()
    error: str | None = None
    error_kind: str | None = None
    checks: tuple[PlanCheck, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    deployment_id: int
    deployment: str
    created_at: datetime
    created_by: str | None
    machines: tuple[MachinePlan, ...]

    @property
    def failed(self) -> tuple[MachinePlan, ...]:
        return tuple(m for m in self.machines if not m.ok)

    def summary(self) -> PlanSummary:
        ok = [m for m in self.machines if m.ok]
        return PlanSummary(
            id=self.id,
            created_at=self.created_at,
            created_by=self.created_by,
            machines=len(self.machines),
            updates=sum(len(m.items) for m in ok),
            reboots=sum(1 for m in ok if m.reboot_expected),
            failed=len(self.machines) - len(ok),
        )


@dataclass(frozen=True, slots=True)
class PlanSummary:
    id: int
    created_at: datetime
    created_by: str | None
    machines: int
    updates: int  # on the machines that could be planned
    reboots: int
    failed: int  # machines that could not be planned


def plan_is_stale(
    plan: Plan | PlanSummary,
    now: datetime | None = None,
    max_age: timedelta = PLAN_MAX_AGE,
    deployment_changed_at: datetime | None = None,
) -> bool:
    """Whether ``plan`` must be made again before a run: it is older than ``max_age``, or its
    deployment changed after it was made (``deployment_changed_at``, its ``updated_at``)."""
    now = now or utcnow()
    if now - plan.created_at > max_age:
        return True
    return deployment_changed_at is not None and deployment_changed_at > plan.created_at


# -- writing -----------------------------------------------------------------------------------


def save_plan(
    store: Store,
    deployment_id: int,
    machines: Sequence[MachinePlan],
    created_at: datetime | None = None,
    user: str | None = None,
) -> Plan:
    """Record a plan for the deployment (kept with the others, newest last) and audit it."""
    created_at = created_at or utcnow()
    user = user or audit.local_user()
    with store.write() as session:
        conn = session.connection()
        name = conn.execute(
            select(_DEPLOYMENT.c.name).where(_DEPLOYMENT.c.id == deployment_id)
        ).scalar_one_or_none()
        if name is None:
            raise NotFound("deployment", [f"#{deployment_id}"])
        inserted = conn.execute(
            PLAN.insert().values(
                deployment_id=deployment_id, created_at=created_at, created_by=user
            )
        )
        plan_id = inserted.inserted_primary_key[0]  # type: ignore[index]
        if machines:
            conn.execute(
                PLAN_MACHINE.insert(),
                [
                    {
                        "plan_id": plan_id,
                        "machine_id": m.machine_id,
                        "stage": m.stage,
                        "reboot_expected": m.reboot_expected,
                        "error": m.error,
                        "error_kind": m.error_kind,
                        "excluded": [
                            {"id": e.platform_id, "name": e.name, "reason": e.reason}
                            for e in m.excluded
                        ],
                        "checks": [
                            {"check": c.check, "ok": c.ok, "detail": c.detail} for c in m.checks
                        ],
                        "notes": list(m.notes),
                    }
                    for m in machines
                ],
            )
        rows = [
            (
                plan_id,
                m.machine_id,
                m.stage,
                i.platform_id,
                i.name,
                i.version,
                i.installed,
                i.classification,
                i.reboot_likely,
            )
            for m in machines
            for i in m.items
        ]
        insert_rows(conn, PLAN_ITEM, _ITEM_COLUMNS, rows)
        failed = sum(1 for m in machines if not m.ok)
        updates = sum(len(m.items) for m in machines if m.ok)
        audit.record(
            session,
            "deployment.plan",
            [m.machine for m in machines],
            f"{name}: plan {plan_id}: {len(machines)} machines, {updates} updates, "
            f"{failed} could not be planned",
            user=user,
        )
        return _load(conn, plan_id)


# -- reading -----------------------------------------------------------------------------------


def _load(conn: Connection, plan_id: int) -> Plan:
    head = conn.execute(
        select(PLAN, _DEPLOYMENT.c.name.label("deployment"))
        .join(_DEPLOYMENT, _DEPLOYMENT.c.id == PLAN.c.deployment_id)
        .where(PLAN.c.id == plan_id)
    ).first()
    if head is None:
        raise NotFound("plan", [str(plan_id)])
    items: dict[int, list[PlanItem]] = {}
    for row in conn.execute(
        select(PLAN_ITEM).where(PLAN_ITEM.c.plan_id == plan_id).order_by(PLAN_ITEM.c.id)
    ):
        items.setdefault(row.machine_id, []).append(
            PlanItem(
                platform_id=row.platform_id or "",
                name=row.name or "",
                installed=row.installed_version,
                version=row.version,
                classification=row.classification or "",
                reboot_likely=bool(row.reboot_expected),
            )
        )
    machines = [
        _machine_plan(row, items.get(row.machine_id, ()))
        for row in conn.execute(
            select(PLAN_MACHINE, MACHINE.c.name.label("machine"))
            .join(MACHINE, MACHINE.c.id == PLAN_MACHINE.c.machine_id)
            .where(PLAN_MACHINE.c.plan_id == plan_id)
            .order_by(PLAN_MACHINE.c.stage, MACHINE.c.name)
        )
    ]
    return Plan(
        id=head.id,
        deployment_id=head.deployment_id,
        deployment=head.deployment,
        created_at=head.created_at,
        created_by=head.created_by,
        machines=tuple(machines),
    )


def _machine_plan(row: Any, items: Sequence[PlanItem]) -> MachinePlan:
    return MachinePlan(
        machine_id=row.machine_id,
        machine=row.machine,
        stage=row.stage,
        items=tuple(items),
        reboot_expected=bool(row.reboot_expected),
        excluded=tuple(
            PlanExclusion(str(e.get("id", "")), str(e.get("name", "")), str(e.get("reason", "")))
            for e in row.excluded or ()
        ),
        error=row.error,
        error_kind=row.error_kind,
        checks=tuple(
            PlanCheck(str(c.get("check", "")), c.get("ok"), str(c.get("detail", "")))
            for c in row.checks or ()
        ),
        notes=tuple(str(n) for n in row.notes or ()),
    )


def get_plan(store: Store, plan_id: int) -> Plan:
    """One plan with every machine's part; :class:`NotFound` naming it."""
    with store.read() as session:
        return _load(session.connection(), plan_id)


def latest_plan(store: Store, deployment_id: int) -> Plan | None:
    """The deployment's newest plan, or ``None`` if it was never planned."""
    with store.read() as session:
        conn = session.connection()
        plan_id = conn.execute(
            select(PLAN.c.id)
            .where(PLAN.c.deployment_id == deployment_id)
            .order_by(PLAN.c.created_at.desc(), PLAN.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return None if plan_id is None else _load(conn, plan_id)
