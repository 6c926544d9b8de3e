"""``patchdeck run-due``: start what the calendar says is due, once, then exit.

Safe to run every minute from cron or a systemd timer, from several machines against one
inventory: each occurrence of a deployment's schedule is claimed by exactly one process
(:mod:`backends.inventory.schedules`), each periodic group scan likewise
(:mod:`backends.inventory.group_scans`). An occurrence whose window has passed is recorded as
missed (and the notify command told), never run late. Quiet when nothing is due.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from backends.engine.due import DueOccurrence, due_occurrences
from backends.engine.notify import OCCURRENCE_MISSED, make_event, notify, notify_command
from backends.inventory.deployments import Deployment
from backends.inventory.errors import InventoryError
from backends.inventory.group_scans import GroupScanSchedule, claim_group_scan
from backends.inventory.groups import resolve_group
from backends.inventory.schedules import (
    MISSED,
    NOT_STARTED,
    STARTED,
    STARTING,
    claim_occurrence,
    settle_claim,
)
from tui.cli.context import Context
from tui.cli.exits import NOT_ALL_SUCCEEDED, OK
from tui.cli.output import iso_z, json_line
from tui.cli.scan import run_scan


class NotStarted(Exception):
    """A due occurrence whose run could not be started; ``str()`` says why."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    due = commands.add_parser(
        "run-due",
        help="start the deployments and group scans whose time has come (for cron or a timer)",
    )
    due.add_argument("--json", action="store_true", help="one JSON object per action")
    due.set_defaults(func=_run_due)


def start_deployment_run(ctx: Context, deployment: Deployment, occurrence: datetime) -> int:
    """Start a run of ``deployment`` for ``occurrence`` in a runner process of its own, its
    window counted from the occurrence; returns the run's id. Plans afresh first when the
    latest plan is stale. :class:`NotStarted` says why when no run could start."""
    from backends.engine.connections import ConnectionPool
    from backends.engine.plan import PlanOptions, make_plan
    from backends.inventory.deployments import deployment_machines
    from backends.inventory.plans import Plan, latest_plan, plan_is_stale
    from backends.inventory.runs import create_run
    from tui.cli.runner_process import spawn_runner

    store = ctx.store()
    plan = latest_plan(store, deployment.id)
    if plan is None or plan_is_stale(
        plan, max_age=ctx.settings().plan_max_age, deployment_changed_at=deployment.updated_at
    ):
        targets = deployment_machines(store, deployment)
        if not targets:
            raise NotStarted("its targets hold no machine now")
        pool = ConnectionPool(ctx.host_keys())
        options = PlanOptions(concurrency=ctx.settings().concurrency)

        async def go() -> Plan:
            try:
                return await make_plan(
                    store, deployment, pool, lambda _event: None, options, targets=targets
                )
            finally:
                await pool.close_all()

        plan = asyncio.run(go())
    summary = plan.summary()
    if not plan.machines:
        raise NotStarted("its targets hold no machine now")
    if summary.failed == summary.machines:
        raise NotStarted(f"no machine of plan #{plan.id} can be run")
    run = create_run(store, plan, deployment.options, now=occurrence)
    spawn_runner(ctx, run.id)
    return run.id


def _say(as_json: bool, obj: dict[str, Any], text: str) -> None:
    if as_json:
        json_line(obj)
    else:
        print(text)
    sys.stdout.flush()


def _machines(deployment: Deployment) -> list[str]:
    return [t.name for t in deployment.targets if t.kind == "machine"]


def _missed(ctx: Context, item: DueOccurrence, as_json: bool) -> bool:
    """Record a missed occurrence (if no other process did) and tell the notify command."""
    deployment = item.deployment
    store = ctx.store()
    if not claim_occurrence(
        store,
        deployment.id,
        item.occurrence,
        MISSED,
        deployment=deployment.name,
        machines=_machines(deployment),
        detail=item.reason,
    ):
        return False
    _say(
        as_json,
        _occurrence_json(item, MISSED, None, item.reason),
        f"{deployment.name}: occurrence {iso_z(item.occurrence)} missed: {item.reason}",
    )
    event = make_event(
        OCCURRENCE_MISSED,
        deployment.name,
        occurrence=item.occurrence,
        window_end=item.window_end,
        reason=item.reason,
    )
    notify(notify_command(deployment.notify, ctx.settings().notify), event)
    return True


def _occurrence_json(
    item: DueOccurrence, state: str, run_id: int | None, detail: str
) -> dict[str, Any]:
    return {
        "kind": "occurrence",
        "deployment": item.deployment.name,
        "occurrence": iso_z(item.occurrence),
        "window_end": iso_z(item.window_end),
        "state": state,
        "run_id": run_id,
        "detail": detail,
    }


def _start(ctx: Context, item: DueOccurrence, as_json: bool) -> bool | None:
    """Claim a due occurrence and start its run: ``True`` started, ``False`` not started,
    ``None`` another process has it."""
    deployment = item.deployment
    store = ctx.store()
    if not claim_occurrence(
        store,
        deployment.id,
        item.occurrence,
        STARTING,
        deployment=deployment.name,
        machines=_machines(deployment),
    ):
        return None
    try:
        run_id = start_deployment_run(ctx, deployment, item.occurrence)
    except (NotStarted, InventoryError, OSError) as exc:
        reason = str(exc)
        settle_claim(store, deployment.id, item.occurrence, NOT_STARTED, detail=reason)
        _say(
            as_json,
            _occurrence_json(item, NOT_STARTED, None, reason),
            f"{deployment.name}: occurrence {iso_z(item.occurrence)} not started: {reason}",
        )
        return False
    except BaseException as exc:  # a bug, or Ctrl-C: the claim says so, then it goes on up
        reason = f"run-due stopped while starting it: {exc!r}"
        settle_claim(store, deployment.id, item.occurrence, NOT_STARTED, detail=reason)
        raise
    settle_claim(store, deployment.id, item.occurrence, STARTED, run_id=run_id)
    _say(
        as_json,
        _occurrence_json(item, STARTED, run_id, ""),
        f"{deployment.name}: occurrence {iso_z(item.occurrence)}: run #{run_id} started "
        f"(follow it with `patchdeck run follow {run_id}`)",
    )
    return True


def _scan(ctx: Context, schedule: GroupScanSchedule, now: datetime, as_json: bool) -> bool | None:
    """Claim a group's due periodic scan and scan its machines: ``True`` all scanned,
    ``False`` some failed, ``None`` another process has it."""
    from backends.engine.scan import ScanOptions

    store = ctx.store()
    if not claim_group_scan(store, schedule, now):
        return None
    try:
        machines = resolve_group(store, schedule.group, now)
    except InventoryError as exc:  # a dynamic group's query no longer applies
        _say(
            as_json,
            {"kind": "scan", "group": schedule.group, "machines": 0, "failed": 0,
             "detail": str(exc)},
            f"group {schedule.group}: periodic scan not done: {exc}",
        )  # fmt: skip
        return False
    results = (
        run_scan(ctx, machines, ScanOptions(ctx.settings().concurrency), progress=False)
        if machines
        else {}
    )
    failed = sum(1 for s in results.values() if not s.ok)
    _say(
        as_json,
        {"kind": "scan", "group": schedule.group, "machines": len(results), "failed": failed,
         "detail": ""},
        f"group {schedule.group}: periodic scan of {len(results)} machines, {failed} failed",
    )  # fmt: skip
    return failed == 0


def _run_due(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    now = datetime.now(UTC)
    due = due_occurrences(store, now)
    if due.occurrences or due.scans:
        ctx.settings()  # a broken config file stops run-due before it claims anything
    trouble = False
    for item in due.occurrences:
        if item.missed:
            trouble |= _missed(ctx, item, args.json)
        else:
            trouble |= _start(ctx, item, args.json) is False
    for schedule in due.scans:
        trouble |= _scan(ctx, schedule, now, args.json) is False
    return NOT_ALL_SUCCEEDED if trouble else OK
