"""Update deployments: their targets in ordered stages and their options.

A deployment stores its targets as they were named (machines and groups, by id, so renaming
nothing breaks it) in stages: stage 0 goes first. Groups are expanded only when a deployment is
planned or run (:func:`deployment_machines`), so a dynamic group holds whichever machines match
then; a machine reached through two stages belongs to the first. A machine removed from the
inventory leaves every deployment; a group cannot be deleted while a deployment targets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from backends.inventory import audit
from backends.inventory.bulk import chunks
from backends.inventory.deployment_options import (
    DEFAULTS,
    DeploymentOptions,
    build_options,
    check_command,
    check_deployment_name,
)
from backends.inventory.errors import AlreadyExists, InventoryError, NotFound
from backends.inventory.groups import GROUP, Target, _get, _resolve_names, members_condition
from backends.inventory.machines import MACHINE, _select
from backends.inventory.records import Machine
from backends.inventory.schedules import Schedule
from backends.inventory.store import Store
from backends.inventory.tables import (
    DeploymentRow,
    DeploymentTargetRow,
    PlanRow,
    RunRow,
    utcnow,
)
from backends.inventory.validation import FieldError

DEPLOYMENT = DeploymentRow.__table__  # type: ignore[attr-defined]
TARGET = DeploymentTargetRow.__table__  # type: ignore[attr-defined]
_PLAN = PlanRow.__table__  # type: ignore[attr-defined]
_RUN = RunRow.__table__  # type: ignore[attr-defined]

Stages = tuple[tuple[Target, ...], ...]


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment as stored: its targets by stage (stage 0 first), its options, and when it
    was last planned."""

    id: int
    name: str
    stages: Stages
    options: DeploymentOptions
    created_at: datetime | None
    updated_at: datetime | None
    last_plan_at: datetime | None = None
    # When it runs (None: only when started by hand) and the command told about its runs
    # (None: the settings' default). See backends.inventory.schedules.
    schedule: Schedule | None = None
    notify: str | None = None

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(target for stage in self.stages for target in stage)


@dataclass(frozen=True, slots=True)
class StagedMachine:
    """A machine a deployment reaches now, in the first stage that reaches it."""

    stage: int
    machine: Machine


# -- reading -----------------------------------------------------------------------------------


def _options(row: Any) -> DeploymentOptions:
    return DeploymentOptions(
        classifications=tuple(row.classifications or ()),
        include=tuple(row.include or ()),
        exclude=tuple(row.exclude or ()),
        reboot=row.reboot,
        window_minutes=row.window_minutes,
        concurrency=row.concurrency,
        max_failures=row.max_failures,
        gate=row.gate,
        pre_command=row.pre_command,
        post_command=row.post_command,
    )


def _schedule(row: Any) -> Schedule | None:
    """A row's schedule: ``schedule_rrule`` recurring (``schedule_at`` is when it was set),
    else ``schedule_at`` once, else none."""
    tz = row.schedule_tz or "UTC"
    if row.schedule_rrule:
        offset = timedelta(seconds=row.schedule_offset_seconds or 0)
        return Schedule(tz=tz, rrule=row.schedule_rrule, offset=offset, since=row.schedule_at)
    if row.schedule_at is not None:
        return Schedule(tz=tz, at=row.schedule_at)
    return None


def _schedule_columns(schedule: Schedule | None) -> dict[str, Any]:
    if schedule is None:
        return {
            "schedule_at": None,
            "schedule_rrule": None,
            "schedule_offset_seconds": 0,
            "schedule_tz": None,
        }
    return {
        "schedule_at": schedule.since if schedule.recurring else schedule.at,
        "schedule_rrule": schedule.rrule,
        "schedule_offset_seconds": int(schedule.offset.total_seconds()),
        "schedule_tz": schedule.tz,
    }


def _stages(conn: Connection, deployment_ids: Sequence[int]) -> dict[int, Stages]:
    found: dict[int, dict[int, list[Target]]] = {d: {} for d in deployment_ids}
    for chunk in chunks(list(deployment_ids)):
        query = (
            select(
                TARGET.c.deployment_id,
                TARGET.c.stage,
                TARGET.c.group_id,
                TARGET.c.machine_id,
                GROUP.c.name.label("group_name"),
                MACHINE.c.name.label("machine_name"),
            )
            .outerjoin(GROUP, GROUP.c.id == TARGET.c.group_id)
            .outerjoin(MACHINE, MACHINE.c.id == TARGET.c.machine_id)
            .where(TARGET.c.deployment_id.in_(chunk))
            .order_by(TARGET.c.deployment_id, TARGET.c.stage, TARGET.c.id)
        )
        for row in conn.execute(query):
            if row.group_id is not None:
                target = Target("group", row.group_name, row.group_id)
            else:
                target = Target("machine", row.machine_name, row.machine_id)
            found[row.deployment_id].setdefault(row.stage, []).append(target)
    return {d: tuple(tuple(stages[s]) for s in sorted(stages)) for d, stages in found.items()}


def _deployments(conn: Connection, names: Sequence[str] | None = None) -> list[Deployment]:
    last_plan = (
        select(_PLAN.c.deployment_id, func.max(_PLAN.c.created_at).label("at"))
        .group_by(_PLAN.c.deployment_id)
        .subquery()
    )
    query = (
        select(DEPLOYMENT, last_plan.c.at.label("last_plan_at"))
        .outerjoin(last_plan, last_plan.c.deployment_id == DEPLOYMENT.c.id)
        .order_by(DEPLOYMENT.c.name)
    )
    if names is not None:
        query = query.where(DEPLOYMENT.c.name.in_(list(names)))
    rows = conn.execute(query).all()
    stages = _stages(conn, [r.id for r in rows])
    return [
        Deployment(
            id=r.id,
            name=r.name,
            stages=stages.get(r.id, ()),
            options=_options(r),
            created_at=r.created_at,
            updated_at=r.updated_at,
            last_plan_at=r.last_plan_at,  # max() keeps the column's (UTC) type
            schedule=_schedule(r),
            notify=r.notify,
        )
        for r in rows
    ]


def _get_deployment(conn: Connection, name: str) -> Deployment:
    found = _deployments(conn, [name])
    if not found:
        raise NotFound("deployment", [name])
    return found[0]


def list_deployments(store: Store) -> list[Deployment]:
    """Every deployment, by name, with its targets and when it was last planned."""
    with store.read() as session:
        return _deployments(session.connection())


def get_deployment(store: Store, name: str) -> Deployment:
    """One deployment; :class:`NotFound` naming it."""
    with store.read() as session:
        return _get_deployment(session.connection(), name)


# -- changing ----------------------------------------------------------------------------------


def check_stages(stages: Sequence[Sequence[str]]) -> list[list[str]]:
    """Target names by stage, cleaned: no stage empty, no name twice."""
    clean: list[list[str]] = []
    seen: dict[str, int] = {}
    for number, stage in enumerate(stages, 1):
        names = [name.strip() for name in stage if name.strip()]
        if not names:
            raise FieldError("stage", ",".join(stage), f"(stage {number}) names no target")
        for name in names:
            if name in seen:
                where = f"stage {seen[name]}" if seen[name] != number else "the same stage"
                raise FieldError("target", name, f"is named twice (stage {number} and {where})")
            seen[name] = number
        clean.append(names)
    if not clean:
        raise FieldError("target", "", "names no target: give --target or --stage")
    return clean


def _write_targets(conn: Connection, deployment_id: int, stages: Sequence[Sequence[str]]) -> Stages:
    resolved: list[tuple[Target, ...]] = []
    for names in stages:
        resolved.append(tuple(_resolve_names(conn, names)))  # NotFound, AmbiguousName
    rows = [
        {
            "deployment_id": deployment_id,
            "stage": stage,
            "group_id": target.id if target.kind == "group" else None,
            "machine_id": target.id if target.kind == "machine" else None,
        }
        for stage, targets in enumerate(resolved)
        for target in targets
    ]
    conn.execute(TARGET.insert(), rows)
    return tuple(resolved)


def _describe(
    name: str,
    stages: Stages,
    options: DeploymentOptions,
    schedule: Schedule | None = None,
    notify: str | None = None,
) -> str:
    def stage_text(stage: tuple[Target, ...]) -> str:
        return ",".join(f"{t.kind}:{t.name}" for t in stage)

    if schedule is None:
        when = "none"
    elif schedule.at is not None:
        when = f"once at {schedule.at.isoformat()} ({schedule.tz})"
    else:
        shift = int(schedule.offset.total_seconds())
        when = f"every {schedule.rrule} offset {shift}s ({schedule.tz})"
    return (
        f"{name}: stages [{' | '.join(stage_text(s) for s in stages)}]; "
        f"classifications {','.join(options.classifications) or 'none'}; "
        f"include {','.join(options.include) or '-'}; exclude {','.join(options.exclude) or '-'}; "
        f"reboot {options.reboot}; window {options.window}; concurrency {options.concurrency}; "
        f"max-failures {options.max_failures}; gate {options.gate}; schedule {when}; "
        f"notify {notify or '-'}"
    )


def _machine_names(stages: Stages) -> list[str]:
    return [t.name for stage in stages for t in stage if t.kind == "machine"]


def _option_columns(options: DeploymentOptions) -> dict[str, Any]:
    return {
        "classifications": list(options.classifications),
        "include": list(options.include),
        "exclude": list(options.exclude),
        "reboot": options.reboot,
        "window_minutes": options.window_minutes,
        "concurrency": options.concurrency,
        "max_failures": options.max_failures,
        "gate": options.gate,
        "pre_command": options.pre_command,
        "post_command": options.post_command,
    }


def create_deployment(
    store: Store,
    name: str,
    stages: Sequence[Sequence[str]],
    options: DeploymentOptions = DEFAULTS,
    schedule: Schedule | None = None,
    notify: str | None = None,
) -> Deployment:
    """Create a deployment of ``stages`` (target names, stage 0 first) with ``options``
    (checked with :func:`~backends.inventory.deployment_options.build_options`), a
    ``schedule`` (made and checked by :func:`backends.engine.schedule.build_schedule`) and a
    ``notify`` command (one line, run on this machine by ``sh -c``).

    Raises :class:`FieldError` for a bad name or stages, :class:`AlreadyExists` for a name
    taken, :class:`NotFound` naming every unknown target, :class:`AmbiguousName`."""
    name = check_deployment_name(name)
    clean = check_stages(stages)
    notify = check_command("notify", notify)
    now = utcnow()
    with store.write() as session:
        conn = session.connection()
        if conn.execute(select(DEPLOYMENT.c.id).where(DEPLOYMENT.c.name == name)).first():
            raise AlreadyExists("deployment", name)
        inserted = conn.execute(
            DEPLOYMENT.insert().values(
                name=name,
                created_at=now,
                updated_at=now,
                notify=notify,
                **_option_columns(options),
                **_schedule_columns(schedule),
            )
        )
        deployment_id = inserted.inserted_primary_key[0]  # type: ignore[index]
        resolved = _write_targets(conn, deployment_id, clean)
        audit.record(
            session,
            "deployment.create",
            _machine_names(resolved),
            _describe(name, resolved, options, schedule, notify),
        )
        return _get_deployment(conn, name)


def edit_deployment(
    store: Store,
    name: str,
    *,
    stages: Sequence[Sequence[str]] | None = None,
    schedule: Schedule | None = None,
    clear_schedule: bool = False,
    notify: str | None = None,
    **changes: Any,
) -> Deployment:
    """Change a deployment: ``stages`` given replace its targets; ``changes`` are options as
    :func:`~backends.inventory.deployment_options.build_options` takes them, applied to the
    current ones; ``schedule`` replaces the schedule (``clear_schedule``: no schedule any
    more); ``notify`` replaces the command (``""`` removes it). Nothing is written unless
    everything checks."""
    clean = check_stages(stages) if stages is not None else None
    if schedule is not None and clear_schedule:
        raise FieldError("schedule", "", "cannot be both set and cleared")
    with store.write() as session:
        conn = session.connection()
        current = _get_deployment(conn, name)
        options = build_options(current.options, **changes)
        when = None if clear_schedule else schedule or current.schedule
        command = current.notify if notify is None else check_command("notify", notify)
        conn.execute(
            DEPLOYMENT.update()
            .where(DEPLOYMENT.c.id == current.id)
            .values(
                updated_at=utcnow(),
                notify=command,
                **_option_columns(options),
                **_schedule_columns(when),
            )
        )
        resolved = current.stages
        if clean is not None:
            conn.execute(delete(TARGET).where(TARGET.c.deployment_id == current.id))
            resolved = _write_targets(conn, current.id, clean)
        audit.record(
            session,
            "deployment.edit",
            _machine_names(resolved),
            _describe(name, resolved, options, when, command),
        )
        return _get_deployment(conn, name)


def delete_deployment(store: Store, name: str) -> Deployment:
    """Delete a deployment with its targets, plans and runs (never the machines or groups);
    refused while one of its runs is going."""
    with store.write() as session:
        conn = session.connection()
        deployment = _get_deployment(conn, name)
        live = (
            conn.execute(
                select(_RUN.c.id).where(
                    _RUN.c.deployment_id == deployment.id, _RUN.c.state.in_(("pending", "running"))
                )
            )
            .scalars()
            .all()
        )
        if live:
            raise InventoryError(
                f"the deployment {name!r} has a run going (#{', #'.join(map(str, live))}): "
                "cancel it, or wait for it to end, first"
            )
        conn.execute(delete(DEPLOYMENT).where(DEPLOYMENT.c.id == deployment.id))
        audit.record(
            session,
            "deployment.delete",
            _machine_names(deployment.stages),
            _describe(
                name, deployment.stages, deployment.options, deployment.schedule, deployment.notify
            ),
        )
    return deployment


# -- resolving ---------------------------------------------------------------------------------


def deployment_machines(
    store: Store, deployment: Deployment, now: datetime | None = None
) -> list[StagedMachine]:
    """The machines ``deployment`` reaches now, stage by stage (by name within a stage), each
    once, in the first stage that reaches it. A dynamic group whose query no longer applies
    raises :class:`QueryError`."""
    now = now or utcnow()
    placed: dict[int, StagedMachine] = {}
    with store.read() as session:
        conn = session.connection()
        for number, stage in enumerate(deployment.stages):
            found: dict[int, Machine] = {}
            singles = [t.id for t in stage if t.kind == "machine"]
            for chunk in chunks(singles):
                found.update((m.id, m) for m in _select(conn, MACHINE.c.id.in_(chunk)))
            for target in stage:
                if target.kind == "group":
                    where = members_condition(_get(conn, target.name), now)
                    found.update((m.id, m) for m in _select(conn, where))
            for machine in sorted(found.values(), key=lambda m: m.name):
                placed.setdefault(machine.id, StagedMachine(number, machine))
    return list(placed.values())
