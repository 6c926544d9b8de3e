"""What a runner writes about the run it owns: the claim, its heartbeat, every machine's
transitions, output in batches, the stage and gate, and the end.

Every write checks, in its own transaction, that the run is still ``running`` and owned by the
writer (:class:`LostOwnership` otherwise: a runner declared dead by ``reap_stale_runs`` must
not write over what was decided about its machines), and bumps the run's ``seq``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from backends.inventory import audit
from backends.inventory.bulk import chunks
from backends.inventory.errors import InventoryError
from backends.inventory.run_owners import owner_alive
from backends.inventory.runs import (
    CANCELLED,
    FAILED,
    FINAL_STATES,
    INTERRUPTED,
    LIVE_RUN_STATES,
    MAX_LINE,
    OUTPUT_TAIL_LINES,
    PENDING,
    RUN,
    RUN_MACHINE,
    RUNNING,
    SUCCEEDED,
    Run,
    RunError,
    _lock_run,
    bump,
    load_run,
)
from backends.inventory.store import Store
from backends.inventory.tables import utcnow

# The machine columns a runner sets; anything else is refused.
MACHINE_FIELDS = frozenset(
    {
        "state",
        "installed",
        "failed",
        "reboot",
        "error",
        "error_kind",
        "started_at",
        "ended_at",
        "percent",
        "current_item",
        "notes",
        "installed_items",
        "failed_items",
    }
)


class LostOwnership(InventoryError):
    """The run is no longer this runner's: it was declared interrupted, or another runner
    took it over. The runner stops without writing anything more."""


@dataclass(frozen=True, slots=True)
class Control:
    """What operators asked of a running run, as the runner polls it."""

    state: str
    cancel_requested: str | None  # None | soft | now
    gate_waiting: bool
    owner_id: str | None


@dataclass(frozen=True, slots=True)
class OutputBatch:
    """Output lines a machine printed since the last batch, and its progress now (``None``:
    unchanged)."""

    lines: tuple[str, ...] = ()
    percent: int | None = None
    item: str | None = None


def _owned(conn: Connection, run_id: int, owner: str) -> int:
    """Bump the run's ``seq`` if ``owner`` still runs it; :class:`LostOwnership` if not."""
    try:
        return bump(conn, run_id, (RUN.c.owner_id == owner) & (RUN.c.state == RUNNING))
    except RunError:
        raise LostOwnership(f"run #{run_id} is no longer owned by {owner}") from None


def claim_run(store: Store, run_id: int, owner: str, log_path: str | None = None) -> Run:
    """Make ``owner`` the runner of a pending run (``log_path``: where it logs). A run that
    is not pending (a runner took it, or it ended) raises :class:`RunError` naming why."""
    with store.write() as session:
        conn = session.connection()
        row = _lock_run(conn, run_id)
        if row.state != PENDING:
            if row.state in LIVE_RUN_STATES and owner_alive(row.owner_id) is not False:
                raise RunError(f"run #{run_id} is already owned by {row.owner_id}")
            raise RunError(f"run #{run_id} is {row.state}: resume it to run it again")
        conn.execute(
            RUN.update()
            .where(RUN.c.id == run_id)
            .values(state=RUNNING, owner_id=owner, heartbeat_at=utcnow(), log_path=log_path)
        )
        bump(conn, run_id)
        return load_run(conn, run_id)


def beat(store: Store, run_id: int, owner: str) -> None:
    """The runner is alive: its heartbeat is now."""
    with store.write() as session:
        result = session.connection().execute(
            RUN.update()
            .where(RUN.c.id == run_id, RUN.c.owner_id == owner, RUN.c.state == RUNNING)
            .values(heartbeat_at=utcnow())
        )
        if result.rowcount == 0:
            raise LostOwnership(f"run #{run_id} is no longer owned by {owner}")


def control(store: Store, run_id: int) -> Control:
    with store.read() as session:
        row = (
            session.connection()
            .execute(
                select(
                    RUN.c.state, RUN.c.cancel_requested, RUN.c.gate_waiting, RUN.c.owner_id
                ).where(RUN.c.id == run_id)
            )
            .first()
        )
    if row is None:
        raise LostOwnership(f"run #{run_id} is gone")
    return Control(row.state, row.cancel_requested, bool(row.gate_waiting), row.owner_id)


def update_machine(store: Store, run_id: int, owner: str, machine_id: int, **values: Any) -> None:
    """Set a machine's columns (state, counts, timings, error, reboot, …) in one commit."""
    unknown = set(values) - MACHINE_FIELDS
    if unknown:
        raise ValueError(f"not a run machine field: {', '.join(sorted(unknown))}")
    with store.write() as session:
        conn = session.connection()
        seq = _owned(conn, run_id, owner)
        conn.execute(
            RUN_MACHINE.update()
            .where(RUN_MACHINE.c.run_id == run_id, RUN_MACHINE.c.machine_id == machine_id)
            .values(seq=seq, **values)
        )


def _clean(line: str) -> str:
    line = line[:-1] if line.endswith("\r") else line
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def append_output(
    store: Store, run_id: int, owner: str, batches: Mapping[int, OutputBatch]
) -> None:
    """Add each machine's new lines to its output tail (the last
    :data:`~backends.inventory.runs.OUTPUT_TAIL_LINES` kept) and set its progress."""
    if not batches:
        return
    with store.write() as session:
        conn = session.connection()
        seq = _owned(conn, run_id, owner)
        tails: dict[int, tuple[str | None, int]] = {}
        for chunk in chunks(list(batches)):
            for machine_id, tail, count in conn.execute(
                select(
                    RUN_MACHINE.c.machine_id, RUN_MACHINE.c.output_tail, RUN_MACHINE.c.output_count
                ).where(RUN_MACHINE.c.run_id == run_id, RUN_MACHINE.c.machine_id.in_(chunk))
            ):
                tails[machine_id] = (tail, count)
        for machine_id, batch in batches.items():
            if machine_id not in tails:
                continue  # the machine was removed from the inventory meanwhile
            tail, count = tails[machine_id]
            values: dict[str, Any] = {"seq": seq}
            if batch.lines:
                lines = (tail.split("\n") if tail else []) + [_clean(x) for x in batch.lines]
                values["output_tail"] = "\n".join(lines[-OUTPUT_TAIL_LINES:])
                values["output_count"] = count + len(batch.lines)
            if batch.percent is not None:
                values["percent"] = max(0, min(100, batch.percent))
            if batch.item is not None:
                values["current_item"] = batch.item
            conn.execute(
                RUN_MACHINE.update()
                .where(RUN_MACHINE.c.run_id == run_id, RUN_MACHINE.c.machine_id == machine_id)
                .values(**values)
            )


def set_stage(store: Store, run_id: int, owner: str, stage: int, gate_waiting: bool) -> None:
    """The stage the run is at, and whether it waits for an operator's approval."""
    with store.write() as session:
        conn = session.connection()
        _owned(conn, run_id, owner)
        conn.execute(
            RUN.update().where(RUN.c.id == run_id).values(stage=stage, gate_waiting=gate_waiting)
        )


def finish_run(
    store: Store, run_id: int, owner: str, now: datetime, error: str | None = None
) -> Run:
    """End the run: ``succeeded`` when every machine did, else ``cancelled`` when an operator
    cancelled it, else ``failed``. A machine left unfinished (a bug) is interrupted."""
    with store.write() as session:
        conn = session.connection()
        seq = _owned(conn, run_id, owner)
        conn.execute(
            RUN_MACHINE.update()
            .where(RUN_MACHINE.c.run_id == run_id, RUN_MACHINE.c.state.not_in(FINAL_STATES))
            .values(
                state=INTERRUPTED,
                error=error or "interrupted: the runner ended without finishing it",
                ended_at=now,
                seq=seq,
            )
        )
        run = load_run(conn, run_id)
        if run.all_succeeded and error is None:
            state = SUCCEEDED
        elif run.cancel_requested:
            state = CANCELLED
        else:
            state = FAILED
        conn.execute(
            RUN.update()
            .where(RUN.c.id == run_id)
            .values(state=state, ended_at=now, gate_waiting=False, error=error)
        )
        run = load_run(conn, run_id)
        totals = {k: v for k, v in run.totals().items() if v}
        audit.record(
            session,
            "run.end",
            [m.machine for m in run.machines],
            f"run {run_id}{f' of {run.deployment}' if run.deployment else ''}: {state}: "
            + ", ".join(f"{n} {s}" for s, n in totals.items())
            + (f"; {error}" if error else ""),
        )
        return run
