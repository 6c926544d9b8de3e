"""Runs: one execution of a deployment's plan, machine by machine (DESIGN.md "Run").

A run is created for a plan with one row per planned machine, in its stage. A runner process
then claims it (``backends.inventory.run_journal``) and records every machine's way through

    pending -> connecting -> scanning -> installing -> rebooting -> verifying
            -> succeeded | failed | skipped | window-exceeded | cancelled | interrupted

Here: creating a run (a machine that another live run holds is skipped with the reason, so a
machine is in one active run at a time), reading runs, and what an operator asks of one:
cancel (soft or now), approve (the manual gate between stages) and resume (the unfinished
machines, in a new runner). Each of those is audited. Every change bumps the run's ``seq``
and stamps the changed machine rows with it, so followers read only what changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, null, select
from sqlalchemy.engine import Connection

from backends.inventory import audit
from backends.inventory.bulk import chunks
from backends.inventory.deployment_options import DeploymentOptions
from backends.inventory.durations import format_minutes
from backends.inventory.errors import InventoryError, NotFound
from backends.inventory.machines import MACHINE
from backends.inventory.plans import Plan
from backends.inventory.store import Store
from backends.inventory.tables import DeploymentRow, RunMachineRow, RunRow, utcnow

RUN = RunRow.__table__  # type: ignore[attr-defined]
RUN_MACHINE = RunMachineRow.__table__  # type: ignore[attr-defined]
_DEPLOYMENT = DeploymentRow.__table__  # type: ignore[attr-defined]

PENDING = "pending"
# A machine being worked on, in the order it goes through them.
WORKING_STATES = ("connecting", "scanning", "installing", "rebooting", "verifying")
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
WINDOW_EXCEEDED = "window-exceeded"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
FINAL_STATES = (SUCCEEDED, FAILED, SKIPPED, WINDOW_EXCEEDED, CANCELLED, INTERRUPTED)
MACHINE_STATES = (PENDING, *WORKING_STATES, *FINAL_STATES)
# What `run resume` takes up again: machines the run stopped short of, not those that ended
# on their own account (failed, skipped) or succeeded.
RESUMABLE_STATES = (INTERRUPTED, WINDOW_EXCEEDED, CANCELLED, PENDING)

# A run: pending (made, no runner yet), running (a runner owns it), then how it ended.
RUNNING = "running"
LIVE_RUN_STATES = (PENDING, RUNNING)
FINAL_RUN_STATES = (SUCCEEDED, FAILED, CANCELLED, INTERRUPTED)

REBOOT_OUTCOMES = ("performed", "not-needed", "pending")
CANCEL_MODES = ("soft", "now")
# The end of every maintenance window is kept for a reboot (DESIGN.md "Deployment").
REBOOT_RESERVE = timedelta(minutes=20)
OUTPUT_TAIL_LINES = 200
MAX_LINE = 2000  # characters kept of one output line


class RunError(InventoryError):
    """What was asked of a run does not apply to it now (it ended, it waits at no gate, it is
    still running, …); ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class RunMachine:
    """One machine's part in a run."""

    machine_id: int
    machine: str
    stage: int
    state: str
    installed: int = 0
    failed: int = 0
    reboot: str | None = None  # performed | not-needed | pending
    error: str | None = None
    error_kind: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    percent: int = 0
    current_item: str | None = None
    output: tuple[str, ...] = ()  # the last OUTPUT_TAIL_LINES lines
    output_count: int = 0  # lines ever appended
    notes: tuple[str, ...] = ()
    installed_items: tuple[str, ...] = ()
    failed_items: tuple[tuple[str, str], ...] = ()  # (platform id, reason)
    seq: int = 0

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class Run:
    """A run, with its machines (by stage, then name) when they were asked for."""

    id: int
    deployment_id: int | None
    deployment: str | None  # None: the deployment was deleted since
    plan_id: int | None
    state: str
    started_by: str | None
    started_at: datetime | None
    ended_at: datetime | None
    window_end: datetime | None
    window_minutes: int
    stage: int
    gate_waiting: bool
    owner_id: str | None
    heartbeat_at: datetime | None
    cancel_requested: str | None
    error: str | None
    seq: int
    options: DeploymentOptions
    log_path: str | None = None
    machines: tuple[RunMachine, ...] = ()

    @property
    def live(self) -> bool:
        return self.state in LIVE_RUN_STATES

    @property
    def stages(self) -> int:
        return 1 + max((m.stage for m in self.machines), default=0)

    def totals(self) -> dict[str, int]:
        """Machines by state, every state present (0 where none)."""
        counts = dict.fromkeys(MACHINE_STATES, 0)
        for machine in self.machines:
            counts[machine.state] = counts.get(machine.state, 0) + 1
        return counts

    @property
    def all_succeeded(self) -> bool:
        return all(m.state == SUCCEEDED for m in self.machines)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A run in a list: its head and its machines counted by state."""

    id: int
    deployment: str | None
    state: str
    started_by: str | None
    started_at: datetime | None
    ended_at: datetime | None
    window_end: datetime | None
    gate_waiting: bool
    cancel_requested: str | None
    totals: dict[str, int]

    @property
    def machines(self) -> int:
        return sum(self.totals.values())


# -- options kept with the run -----------------------------------------------------------------


def options_json(options: DeploymentOptions) -> dict[str, Any]:
    data = asdict(options)
    for key in ("classifications", "include", "exclude"):
        data[key] = list(data[key])
    return data


def options_of(data: Mapping[str, Any] | None) -> DeploymentOptions:
    """The options a run was started with (defaults for anything not recorded)."""
    known = DeploymentOptions.__dataclass_fields__
    values = {k: v for k, v in (data or {}).items() if k in known}
    for key in ("classifications", "include", "exclude"):
        if key in values:
            values[key] = tuple(values[key] or ())
    return DeploymentOptions(**values)


# -- reading -----------------------------------------------------------------------------------


def _tail(text: str | None) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def machine_of(row: Any) -> RunMachine:
    return RunMachine(
        machine_id=row.machine_id,
        machine=row.machine,
        stage=row.stage,
        state=row.state,
        installed=row.installed,
        failed=row.failed,
        reboot=row.reboot,
        error=row.error,
        error_kind=row.error_kind,
        started_at=row.started_at,
        ended_at=row.ended_at,
        percent=row.percent,
        current_item=row.current_item,
        output=_tail(row.output_tail),
        output_count=row.output_count,
        notes=tuple(str(n) for n in row.notes or ()),
        installed_items=tuple(str(i) for i in row.installed_items or ()),
        failed_items=tuple(
            (str(f.get("id", "")), str(f.get("reason", ""))) for f in row.failed_items or ()
        ),
        seq=row.seq,
    )


def _machines(
    conn: Connection,
    run_id: int,
    since_seq: int | None = None,
    output_of: Collection[int] | None = None,
    machine_id: int | None = None,
) -> list[RunMachine]:
    columns: list[Any] = list(RUN_MACHINE.c)
    if output_of is not None:  # the other machines' output is not read (nor split)
        tail = RUN_MACHINE.c.output_tail
        kept = case((RUN_MACHINE.c.machine_id.in_(list(output_of)), tail), else_=null())
        columns = [c for c in columns if c is not tail]
        columns.append((kept if output_of else null()).label("output_tail"))
    query = (
        select(*columns, MACHINE.c.name.label("machine"))
        .join(MACHINE, MACHINE.c.id == RUN_MACHINE.c.machine_id)
        .where(RUN_MACHINE.c.run_id == run_id)
        .order_by(RUN_MACHINE.c.stage, MACHINE.c.name)
    )
    if since_seq is not None:
        query = query.where(RUN_MACHINE.c.seq > since_seq)
    if machine_id is not None:
        query = query.where(RUN_MACHINE.c.machine_id == machine_id)
    return [machine_of(row) for row in conn.execute(query)]


def _head(conn: Connection, run_id: int) -> Any:
    row = conn.execute(
        select(RUN, _DEPLOYMENT.c.name.label("deployment"))
        .outerjoin(_DEPLOYMENT, _DEPLOYMENT.c.id == RUN.c.deployment_id)
        .where(RUN.c.id == run_id)
    ).first()
    if row is None:
        raise NotFound("run", [f"#{run_id}"])
    return row


def run_of(row: Any, machines: Sequence[RunMachine] = ()) -> Run:
    return Run(
        id=row.id,
        deployment_id=row.deployment_id,
        deployment=row.deployment,
        plan_id=row.plan_id,
        state=row.state,
        started_by=row.started_by,
        started_at=row.started_at,
        ended_at=row.ended_at,
        window_end=row.window_end,
        window_minutes=row.window_minutes,
        stage=row.stage,
        gate_waiting=bool(row.gate_waiting),
        owner_id=row.owner_id,
        heartbeat_at=row.heartbeat_at,
        cancel_requested=row.cancel_requested,
        error=row.error,
        seq=row.seq,
        options=options_of(row.options),
        log_path=row.log_path,
        machines=tuple(machines),
    )


def load_run(conn: Connection, run_id: int) -> Run:
    return run_of(_head(conn, run_id), _machines(conn, run_id))


def get_run(store: Store, run_id: int) -> Run:
    """One run with every machine; :class:`NotFound` naming it."""
    with store.read() as session:
        return load_run(session.connection(), run_id)


def run_changes(
    store: Store, run_id: int, since_seq: int, output_of: Collection[int] | None = None
) -> tuple[Run, list[RunMachine]]:
    """The run's head (without machines) and the machines changed after ``since_seq``; with
    ``output_of``, only those machines (ids) come with their output (the others' is empty,
    their ``output_count`` still right): a view that shows one machine's output reads less."""
    with store.read() as session:
        conn = session.connection()
        head = _head(conn, run_id)
        return run_of(head), _machines(conn, run_id, since_seq, output_of)


def run_machine(store: Store, run_id: int, machine_id: int) -> RunMachine:
    """One machine of a run, with its output; :class:`NotFound` naming it."""
    with store.read() as session:
        found = _machines(session.connection(), run_id, machine_id=machine_id)
    if not found:
        raise NotFound("run machine", [f"#{run_id}/{machine_id}"])
    return found[0]


def list_runs(store: Store, limit: int | None = None) -> list[RunSummary]:
    """Runs, newest first, with their machines counted by state."""
    with store.read() as session:
        conn = session.connection()
        query = (
            select(RUN, _DEPLOYMENT.c.name.label("deployment"))
            .outerjoin(_DEPLOYMENT, _DEPLOYMENT.c.id == RUN.c.deployment_id)
            .order_by(RUN.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        heads = conn.execute(query).all()
        counts: dict[int, dict[str, int]] = {h.id: dict.fromkeys(MACHINE_STATES, 0) for h in heads}
        for chunk in chunks(list(counts)):
            for run_id, state in conn.execute(
                select(RUN_MACHINE.c.run_id, RUN_MACHINE.c.state).where(
                    RUN_MACHINE.c.run_id.in_(chunk)
                )
            ):
                counts[run_id][state] = counts[run_id].get(state, 0) + 1
    return [
        RunSummary(
            id=h.id,
            deployment=h.deployment,
            state=h.state,
            started_by=h.started_by,
            started_at=h.started_at,
            ended_at=h.ended_at,
            window_end=h.window_end,
            gate_waiting=bool(h.gate_waiting),
            cancel_requested=h.cancel_requested,
            totals=counts[h.id],
        )
        for h in heads
    ]


def busy_machines(
    conn: Connection, machine_ids: Iterable[int], except_run: int | None = None
) -> dict[int, tuple[int, str | None]]:
    """Machines an unfinished machine row of a live run holds: id -> (run id, deployment)."""
    found: dict[int, tuple[int, str | None]] = {}
    for chunk in chunks(list(machine_ids)):
        query = (
            select(RUN_MACHINE.c.machine_id, RUN.c.id, _DEPLOYMENT.c.name)
            .join(RUN, RUN.c.id == RUN_MACHINE.c.run_id)
            .outerjoin(_DEPLOYMENT, _DEPLOYMENT.c.id == RUN.c.deployment_id)
            .where(
                RUN.c.state.in_(LIVE_RUN_STATES),
                RUN_MACHINE.c.state.not_in(FINAL_STATES),
                RUN_MACHINE.c.machine_id.in_(chunk),
            )
        )
        if except_run is not None:
            query = query.where(RUN.c.id != except_run)
        for machine_id, run_id, deployment in conn.execute(query):
            found.setdefault(machine_id, (run_id, deployment))
    return found


def _busy_reason(run_id: int, deployment: str | None) -> str:
    of = f" of {deployment}" if deployment else ""
    return f"skipped: the machine is in run #{run_id}{of}, which has not finished with it"


def bump(conn: Connection, run_id: int, where: Any = None) -> int:
    """Count a change to the run: its ``seq`` plus one, returned. ``where`` narrows the run
    row further (the owner's check); no row matched raises :class:`RunError`."""
    condition = RUN.c.id == run_id
    if where is not None:
        condition = condition & where
    if conn.execute(RUN.update().where(condition).values(seq=RUN.c.seq + 1)).rowcount == 0:
        raise RunError(f"run #{run_id} cannot be changed now")
    return int(conn.execute(select(RUN.c.seq).where(RUN.c.id == run_id)).scalar_one())


def _lock_run(conn: Connection, run_id: int) -> Any:
    """The run's row, locked for this transaction where the database locks rows."""
    row = conn.execute(select(RUN).where(RUN.c.id == run_id).with_for_update()).first()
    if row is None:
        raise NotFound("run", [f"#{run_id}"])
    return row


# -- starting ----------------------------------------------------------------------------------


def create_run(
    store: Store,
    plan: Plan,
    options: DeploymentOptions,
    *,
    now: datetime | None = None,
    user: str | None = None,
) -> Run:
    """A run of ``plan`` (pending until a runner claims it), its window starting ``now``.
    A machine the plan could not plan is skipped with the plan's reason; one that another
    live run holds is skipped naming that run. Audited."""
    now = now or utcnow()
    user = user or audit.local_user()
    with store.write() as session:
        conn = session.connection()
        ids = [m.machine_id for m in plan.machines]
        for chunk in chunks(ids):  # one creator at a time per machine (PostgreSQL)
            conn.execute(select(MACHINE.c.id).where(MACHINE.c.id.in_(chunk)).with_for_update())
        busy = busy_machines(conn, ids)
        inserted = conn.execute(
            RUN.insert().values(
                deployment_id=plan.deployment_id,
                plan_id=plan.id,
                state=PENDING,
                started_by=user,
                started_at=now,
                window_minutes=options.window_minutes,
                window_end=now + timedelta(minutes=options.window_minutes),
                stage=0,
                heartbeat_at=utcnow(),
                options=options_json(options),
                seq=1,
            )
        )
        run_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        rows = []
        for m in plan.machines:
            row: dict[str, Any] = {
                "run_id": run_id,
                "machine_id": m.machine_id,
                "stage": m.stage,
                "state": PENDING,
                "seq": 1,
                "notes": [],
                "installed_items": [],
                "failed_items": [],
                "error": None,
                "error_kind": None,
                "ended_at": None,
            }  # every row the same keys: one executemany
            if m.error is not None:
                row.update(
                    state=SKIPPED,
                    error=f"skipped: it could not be planned: {m.error}",
                    error_kind=m.error_kind,
                    ended_at=now,
                )
            elif m.machine_id in busy:
                row.update(
                    state=SKIPPED,
                    error=_busy_reason(*busy[m.machine_id]),
                    error_kind="busy",
                    ended_at=now,
                )
            rows.append(row)
        if rows:
            conn.execute(RUN_MACHINE.insert(), rows)
        skipped = sum(1 for r in rows if r["state"] == SKIPPED)
        audit.record(
            session,
            "run.start",
            [m.machine for m in plan.machines],
            f"{plan.deployment}: run {run_id} of plan {plan.id}: {len(rows)} machines"
            f"{f' ({skipped} skipped)' if skipped else ''}, window "
            f"{format_minutes(options.window_minutes)}, reboot {options.reboot}",
            user=user,
        )
        return load_run(conn, run_id)


# -- what an operator asks ---------------------------------------------------------------------


def request_cancel(store: Store, run_id: int, now: bool = False, user: str | None = None) -> Run:
    """Ask the run's runner to stop: no new machine starts, installs already running finish;
    ``now`` also stops machines waiting for a reboot and begins none. Audited."""
    mode = "now" if now else "soft"
    with store.write() as session:
        conn = session.connection()
        row = _lock_run(conn, run_id)
        if row.state not in LIVE_RUN_STATES:
            raise RunError(f"run #{run_id} has already ended ({row.state})")
        if row.cancel_requested != "now":
            conn.execute(RUN.update().where(RUN.c.id == run_id).values(cancel_requested=mode))
        bump(conn, run_id)
        run = load_run(conn, run_id)
        audit.record(
            session,
            "run.cancel",
            [m.machine for m in run.machines if not m.final],
            f"run {run_id}{f' of {run.deployment}' if run.deployment else ''}: cancel "
            f"({'now' if now else 'no new machine'})",
            user=user,
        )
        return run


def approve(store: Store, run_id: int, user: str | None = None) -> Run:
    """Let a run waiting at its manual gate go on to the next stage. Audited."""
    with store.write() as session:
        conn = session.connection()
        row = _lock_run(conn, run_id)
        if row.state not in LIVE_RUN_STATES:
            raise RunError(f"run #{run_id} has already ended ({row.state})")
        if not row.gate_waiting:
            raise RunError(f"run #{run_id} is not waiting at a gate")
        conn.execute(RUN.update().where(RUN.c.id == run_id).values(gate_waiting=False))
        bump(conn, run_id)
        run = load_run(conn, run_id)
        audit.record(
            session,
            "run.approve",
            [m.machine for m in run.machines if m.stage == row.stage],
            f"run {run_id}{f' of {run.deployment}' if run.deployment else ''}: "
            f"stage {row.stage + 1} approved",
            user=user,
        )
        return run


def resume_run(
    store: Store,
    run_id: int,
    window_minutes: int | None = None,
    *,
    now: datetime | None = None,
    user: str | None = None,
) -> Run:
    """Make an ended run pending again for a new runner, with the machines it stopped short
    of (interrupted, window-exceeded, cancelled) pending again; the others keep their result.
    The original window's end applies unless ``window_minutes`` gives a new window from
    ``now``. A machine another live run holds now is skipped naming it. Audited."""
    now = now or utcnow()
    with store.write() as session:
        conn = session.connection()
        row = _lock_run(conn, run_id)
        if row.state in LIVE_RUN_STATES:
            raise RunError(f"run #{run_id} is still {row.state}: follow it, or cancel it first")
        if row.plan_id is None:
            raise RunError(f"run #{run_id} has lost its plan (its deployment was changed)")
        machines = _machines(conn, run_id)
        again = [m for m in machines if m.state in RESUMABLE_STATES]
        if not again:
            raise RunError(f"run #{run_id} has nothing to resume: every machine finished")
        window_end = row.window_end
        if window_minutes is not None:
            window_end = now + timedelta(minutes=window_minutes)
        elif window_end is None or window_end - REBOOT_RESERVE <= now:
            raise RunError(
                f"run #{run_id}'s window is over (it ended "
                f"{window_end.isoformat() if window_end else 'long ago'}): "
                "give a new one with --window"
            )
        seq = bump(conn, run_id)
        busy = busy_machines(conn, [m.machine_id for m in again], except_run=run_id)
        for m in again:
            values: dict[str, Any] = {
                "state": PENDING,
                "error": None,
                "error_kind": None,
                "started_at": None,
                "ended_at": None,
                "percent": 0,
                "current_item": None,
                "seq": seq,
            }
            if m.machine_id in busy:
                values.update(
                    state=SKIPPED,
                    error=_busy_reason(*busy[m.machine_id]),
                    error_kind="busy",
                    ended_at=now,
                )
            conn.execute(
                RUN_MACHINE.update()
                .where(RUN_MACHINE.c.run_id == run_id)
                .where(RUN_MACHINE.c.machine_id == m.machine_id)
                .values(**values)
            )
        conn.execute(
            RUN.update()
            .where(RUN.c.id == run_id)
            .values(
                state=PENDING,
                ended_at=None,
                owner_id=None,
                heartbeat_at=utcnow(),
                cancel_requested=None,
                gate_waiting=False,
                error=None,
                window_end=window_end,
                window_minutes=window_minutes or row.window_minutes,
            )
        )
        run = load_run(conn, run_id)
        audit.record(
            session,
            "run.resume",
            [m.machine for m in again],
            f"run {run_id}{f' of {run.deployment}' if run.deployment else ''}: "
            f"{len(again)} machines again, window until "
            f"{window_end.isoformat() if window_end else '-'}",
            user=user,
        )
        return run
