"""Planning a deployment: resolve its targets stage by stage, scan every one of them afresh,
apply the deployment's filters, run the pre-flight checks where something would be installed,
and save the plan (``backends.inventory.plans``).

A machine that cannot be planned (unreachable, its scan failed, a pre-flight check failed) is
in the plan with the reason, and a run skips it; one machine's trouble never stops the others.
Planning installs nothing and changes nothing on the machines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from backends.engine.commands import run_rounds
from backends.engine.connections import ConnectionPool
from backends.engine.defaults import SCAN_CONCURRENCY, SCAN_TIMEOUT
from backends.engine.events import MachineState, Publish, ScanSummary
from backends.engine.scan import ScanOptions, scan
from backends.engine.selection import Selection, reboot_expected, select
from backends.inventory.deployments import Deployment, StagedMachine, deployment_machines
from backends.inventory.plans import (
    MachinePlan,
    Plan,
    PlanCheck,
    PlanExclusion,
    PlanItem,
    save_plan,
)
from backends.inventory.store import Store
from backends.platforms import linux
from backends.platforms.preflight import LIMITS, Limits, Planned, Preflight, preflight
from backends.platforms.records import PlatformError
from backends.transports.base import TransportError

log = logging.getLogger(__name__)

PREFLIGHT = "preflight"  # the error kind of a machine a pre-flight check failed


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """How planning scans: machines at once and the time limit of each machine's scan and of
    its pre-flight; the pre-flight's free-space thresholds."""

    concurrency: int = SCAN_CONCURRENCY
    timeout: float = SCAN_TIMEOUT
    limits: Limits = LIMITS


def _items(selection: Selection) -> tuple[PlanItem, ...]:
    return tuple(
        PlanItem(
            platform_id=u.platform_id,
            name=u.name,
            installed=u.installed,
            version=u.available,
            classification=u.classification,
            reboot_likely=u.reboot_likely,
        )
        for u in selection.selected
    )


def _excluded(selection: Selection) -> tuple[PlanExclusion, ...]:
    return tuple(
        PlanExclusion(e.update.platform_id, e.update.name, e.reason) for e in selection.excluded
    )


def _checks(outcome: Preflight) -> tuple[PlanCheck, ...]:
    return tuple(PlanCheck(c.check, c.ok, c.detail) for c in outcome.checks)


async def _preflight(
    staged: StagedMachine,
    selection: Selection,
    pool: ConnectionPool,
    options: PlanOptions,
) -> tuple[Preflight | None, str | None, str | None]:
    """The pre-flight outcome, or the error (and its kind) that kept it from running."""
    machine = staged.machine
    planned = [Planned(u.platform_id, u.name) for u in selection.selected]
    try:
        async with asyncio.timeout(options.timeout):
            connection = await pool.get(machine)
            return await run_rounds(preflight(planned, options.limits), connection), None, None
    except TransportError as exc:
        await pool.discard(machine.name)
        return None, f"pre-flight: {exc}", exc.kind
    except PlatformError as exc:
        return None, f"pre-flight: {exc}", exc.kind
    except TimeoutError:
        await pool.discard(machine.name)
        return None, f"pre-flight: no answer within {options.timeout:g} s", "timeout"
    except Exception as exc:  # a bug must cost one machine, never the plan
        log.exception("pre-flight of %s failed", machine.name)
        return None, f"pre-flight: internal error: {exc!r}", "internal"


async def _machine_plan(
    staged: StagedMachine,
    summary: ScanSummary | None,
    deployment: Deployment,
    pool: ConnectionPool,
    publish: Publish,
    options: PlanOptions,
) -> MachinePlan:
    machine = staged.machine
    base = MachinePlan(machine.id, machine.name, staged.stage)
    if summary is None or not summary.ok:
        reason = summary.error if summary is not None else "it was not scanned"
        kind = summary.error_kind if summary is not None else "internal"
        return _with(base, error=f"scan failed: {reason}", error_kind=kind or "scan-failed")
    selection = select(summary.updates, deployment.options)
    reboot = reboot_expected(deployment.options.reboot, selection.selected, summary.reboot_required)
    plan = _with(
        base,
        items=_items(selection),
        excluded=_excluded(selection),
        reboot_expected=reboot,
        notes=summary.notes,
    )
    if not selection.selected:
        return plan  # nothing to install: nothing to check
    if summary.os_family != "linux":
        return _with(plan, notes=(*plan.notes, "pre-flight checks are for Linux machines"))
    publish(MachineState(None, machine.name, "scanning", "pre-flight checks"))
    outcome, error, kind = await _preflight(staged, selection, pool, options)
    if outcome is None:
        return _with(plan, error=error, error_kind=kind)
    plan = _with(plan, checks=_checks(outcome))
    if outcome.failures:
        reasons = "; ".join(f"{c.check}: {c.detail}" for c in outcome.failures)
        return _with(plan, error=f"pre-flight failed: {reasons}", error_kind=PREFLIGHT)
    return plan


def _with(plan: MachinePlan, **changes: object) -> MachinePlan:
    return replace(plan, **changes)  # type: ignore[arg-type]


async def make_plan(
    store: Store,
    deployment: Deployment,
    pool: ConnectionPool,
    publish: Publish,
    options: PlanOptions | None = None,
    memory: dict[str, linux.Recall] | None = None,
    targets: Sequence[StagedMachine] | None = None,
) -> Plan:
    """Plan ``deployment`` and save the plan. ``targets`` are the machines to plan (those of
    :func:`~backends.inventory.deployments.deployment_machines`, resolved now, when not given).
    Scans publish their events as ``scan`` does; the scans' results are recorded as usual."""
    options = options or PlanOptions()
    if targets is None:
        targets = await asyncio.to_thread(deployment_machines, store, deployment)
    machines = [staged.machine for staged in targets]
    scan_options = ScanOptions(concurrency=options.concurrency, timeout=options.timeout)
    summaries = await scan(store, machines, publish, pool, scan_options, memory)
    limit = asyncio.Semaphore(max(1, options.concurrency))

    async def one(staged: StagedMachine) -> MachinePlan:
        async with limit:
            summary = summaries.get(staged.machine.name)
            return await _machine_plan(staged, summary, deployment, pool, publish, options)

    planned = await asyncio.gather(*(one(staged) for staged in targets))
    return await asyncio.to_thread(save_plan, store, deployment.id, planned)
