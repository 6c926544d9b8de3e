"""Executing a run: the runner that owns it takes its machines stage by stage.

- Stages in order. Between two stages the gate: ``auto`` goes on (new machines start only
  while the failures stay within the threshold), ``manual`` sets ``gate_waiting`` and waits
  for ``approve`` (or a cancel, or the window's reserve).
- Within a stage, at most the deployment's concurrency of machines at once
  (:mod:`backends.engine.run_machine` takes each through its steps).
- Past ``--max-failures`` no new machine starts: the rest are skipped with the reason.
- No machine starts when less than the reboot reserve of the window remains: it ends
  ``window-exceeded``.
- A cancel (polled about twice a second) starts no new machine; installs already running
  finish; ``now`` also begins no reboot and stops waiting for machines to come back.
- The deployment's notify command (else the settings' default) is told when the run ends,
  when it crosses its failure threshold and when it waits at a manual gate.
- A heartbeat every couple of seconds says the runner is alive. If the run stops being this
  runner's (another command declared it interrupted), everything stops and nothing more is
  written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from backends.engine.connections import ConnectionPool
from backends.engine.events import Publish, RunDone
from backends.engine.notify import MANUAL_GATE, RUN_ENDED
from backends.engine.run_machine import MachineJob, RunStatus, run_machine
from backends.engine.run_notify import RunNotifier
from backends.engine.run_options import RunnerOptions
from backends.engine.run_writer import RunWriter, Target
from backends.engine.window import Clock, Window
from backends.inventory import run_journal
from backends.inventory.deployment_options import allowed_failures
from backends.inventory.deployments import get_deployment
from backends.inventory.errors import NotFound
from backends.inventory.machines import get_machines
from backends.inventory.plans import MachinePlan, get_plan
from backends.inventory.records import Machine
from backends.inventory.run_journal import LostOwnership
from backends.inventory.run_owners import new_owner_id
from backends.inventory.runs import FAILED, PENDING, SKIPPED, Run, RunMachine
from backends.inventory.store import Store

log = logging.getLogger(__name__)


async def execute_run(
    store: Store,
    run_id: int,
    pool: ConnectionPool,
    publish: Publish,
    options: RunnerOptions | None = None,
    owner: str | None = None,
    log_path: str | None = None,
) -> Run:
    """Claim the pending run ``run_id`` and execute it to its end; returns it as it ended.

    Raises :class:`~backends.inventory.runs.RunError` when the run cannot be claimed, and
    :class:`~backends.inventory.run_journal.LostOwnership` when it stopped being ours."""
    options = options or RunnerOptions()
    owner = owner or new_owner_id()
    writer = RunWriter(
        store,
        run_id,
        owner,
        publish,
        flush_every=options.flush_every,
        heartbeat_every=options.heartbeat_every,
        poll_every=options.poll_every,
    )
    try:
        run = await writer.call(run_journal.claim_run, store, run_id, owner, log_path)
        return await _execute(store, run, pool, writer, options)
    finally:
        writer.close()


async def _execute(
    store: Store, run: Run, pool: ConnectionPool, writer: RunWriter, options: RunnerOptions
) -> Run:
    clock = options.clock
    notifier = RunNotifier(
        await _notify_command(store, run, writer, options), run.deployment, run.id
    )
    if run.plan_id is None or run.window_end is None:
        return await _finish(store, run, writer, clock, notifier, "the run has no plan to install")
    plan = await writer.call(get_plan, store, run.plan_id)
    plans = {m.machine_id: m for m in plan.machines}
    inventory = await writer.call(get_machines, store, [m.machine_id for m in run.machines])
    machines = {m.id: m for m in inventory}
    window = Window(run.window_end)
    allowed = allowed_failures(run.options.max_failures, len(run.machines))
    status = RunStatus(writer, window, options, allowed, run.options.max_failures)
    status.failures = sum(1 for m in run.machines if m.state == FAILED)
    status.notifier = notifier
    await writer.poll()

    work = asyncio.create_task(_stages(store, run, pool, writer, status, plans, machines))
    async with writer.running(on_lost=work.cancel):
        try:
            await work
        except asyncio.CancelledError:
            # ours when ownership was lost; otherwise the runner was told to stop: go on up
            if writer.lost is None:
                raise
        except LostOwnership:
            pass
        except Exception as exc:
            log.exception("run %s: the runner failed", run.id)
            with contextlib.suppress(LostOwnership):
                await _finish(store, run, writer, clock, notifier, f"the runner failed: {exc!r}")
            raise
        finally:
            await notifier.drain()
    if writer.lost is not None:
        raise writer.lost
    return await _finish(store, run, writer, clock, notifier, None)


async def _notify_command(
    store: Store, run: Run, writer: RunWriter, options: RunnerOptions
) -> str | None:
    """The deployment's own notify command, else the default."""
    own: str | None = None
    if run.deployment is not None:
        with contextlib.suppress(NotFound):
            own = (await writer.call(get_deployment, store, run.deployment)).notify
    return own or options.notify_default


async def _finish(
    store: Store,
    run: Run,
    writer: RunWriter,
    clock: Clock,
    notifier: RunNotifier,
    error: str | None,
) -> Run:
    ended = await writer.call(
        run_journal.finish_run, store, run.id, writer.owner, clock.now(), error
    )
    totals = {k: v for k, v in ended.totals().items() if v}
    writer.publish(RunDone(run.id, totals))
    notifier.send(RUN_ENDED, state=ended.state, totals=totals, error=ended.error)
    await notifier.drain()
    return ended


def _gate_passed(run: Run, stage: int) -> bool:
    """Whether the gate before ``stage`` was approved before this runner took the run over
    (a resumed run does not ask again)."""
    return run.stage > stage or (run.stage == stage and not run.gate_waiting)


async def _stages(
    store: Store,
    run: Run,
    pool: ConnectionPool,
    writer: RunWriter,
    status: RunStatus,
    plans: dict[int, MachinePlan],
    machines: dict[int, Machine],
) -> None:
    limit = asyncio.Semaphore(max(1, run.options.concurrency))
    stages = sorted({m.stage for m in run.machines})
    for index, stage in enumerate(stages):
        todo = [m for m in run.machines if m.stage == stage and m.state == PENDING]
        if not todo:
            continue
        gated = index > 0 and run.options.gate == "manual" and not _gate_passed(run, stage)
        if gated and status.before_start() is None:
            await writer.call(
                run_journal.set_stage, store, run.id, writer.owner, stage, gate_waiting=True
            )
            if status.notifier is not None:
                status.notifier.send(MANUAL_GATE, stage=index + 1)
            await writer.poll()
            await _wait_for_approval(writer, status)
        await writer.call(
            run_journal.set_stage, store, run.id, writer.owner, stage, gate_waiting=False
        )
        await _stage(store, run, pool, writer, status, plans, machines, todo, limit)


async def _wait_for_approval(writer: RunWriter, status: RunStatus) -> None:
    """Until an operator approves, cancels, or the window leaves no time to start."""
    while True:
        control = writer.control
        if control is not None and not control.gate_waiting:
            return
        if status.cancel or not status.window.allows(status.options.clock.now()):
            return
        writer.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(writer.changed.wait(), max(0.1, writer.poll_every * 2))


async def _stage(
    store: Store,
    run: Run,
    pool: ConnectionPool,
    writer: RunWriter,
    status: RunStatus,
    plans: dict[int, MachinePlan],
    machines: dict[int, Machine],
    todo: Sequence[RunMachine],
    limit: asyncio.Semaphore,
) -> None:
    async def one(row: RunMachine) -> None:
        target = Target(row.machine_id, row.machine)
        machine = machines.get(row.machine_id)
        plan = plans.get(row.machine_id)
        async with limit:
            if machine is None or plan is None:
                why = "no longer in the inventory" if machine is None else "not in the plan"
                await writer.transition(
                    target,
                    SKIPPED,
                    why,
                    error=f"skipped: the machine is {why}",
                    ended_at=status.options.clock.now(),
                )
                return
            await writer.poll()  # a cancel or approval made just now counts for this one
            job = MachineJob(target, machine, plan, run.options, status, writer, pool, store)
            try:
                await run_machine(job)
            except LostOwnership:
                raise
            except Exception:  # its end could not be recorded: it ends interrupted
                log.exception("run %s: recording %s failed", run.id, row.machine)

    async with asyncio.TaskGroup() as group:
        for row in todo:
            group.create_task(one(row))
