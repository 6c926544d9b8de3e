"""Who owns a run, whether that owner is still alive, and what becomes of a run whose owner
died (DESIGN.md "Runs outlive the console").

An owner id is ``host:pid:random``: ``host`` is the host name (with the process's PID
namespace where Linux tells it, so two containers with one host name are not confused), the
runner's process id, and a random part that no later process with the same id shares. A run
whose owner's heartbeat is older than :data:`STALE_AFTER`, or whose owner is a process of
this host that no longer exists, is stale: :func:`reap_stale_runs` marks its unfinished
machines interrupted and the run with them. A live run owned by another process is never
touched. Every patchdeck command reaps before it starts.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backends.inventory import audit
from backends.inventory.runs import (
    FINAL_STATES,
    INTERRUPTED,
    LIVE_RUN_STATES,
    PENDING,
    RUN,
    RUN_MACHINE,
    _lock_run,
    bump,
    load_run,
)
from backends.inventory.store import Store
from backends.inventory.tables import utcnow

# A runner writes its heartbeat every HEARTBEAT_EVERY; one this old means it is gone.
HEARTBEAT_EVERY = timedelta(seconds=2)
STALE_AFTER = timedelta(seconds=30)


@cache
def host_tag() -> str:
    """This host's name, with the PID namespace where Linux tells it (no ``:`` in it)."""
    name = socket.gethostname().replace(":", "_") or "localhost"
    try:
        return f"{name}+{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return name


def new_owner_id() -> str:
    return f"{host_tag()}:{os.getpid()}:{secrets.token_hex(4)}"


def _process_exists(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except FileNotFoundError:
        return False
    except OSError:
        text = ""
    if text:
        # "pid (comm) S …": the state follows the last parenthesis; Z and X are dead
        state = text.rsplit(")", 1)[-1].split()[:1]
        return state not in (["Z"], ["X"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(owner_id: str | None) -> bool | None:
    """``False`` when ``owner_id`` names a process of this host that is gone (or a zombie),
    ``True`` when it exists, ``None`` when it is another host's (only its heartbeat tells)."""
    if not owner_id:
        return None
    host, _, rest = owner_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != host_tag() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    return True if pid == os.getpid() else _process_exists(pid)


def _stale(
    owner_id: str | None, heartbeat_at: datetime | None, now: datetime, stale_after: timedelta
) -> str | None:
    """Why a live run's owner is gone, or ``None`` when it may be alive."""
    if owner_alive(owner_id) is False:
        return f"its runner ({owner_id}) is no longer running"
    if heartbeat_at is None or now - heartbeat_at > stale_after:
        age = "never" if heartbeat_at is None else f"{int((now - heartbeat_at).total_seconds())} s"
        who = f"its runner ({owner_id})" if owner_id else "no runner took it"
        return f"{who}: no heartbeat for {age}"
    return None


def reap_stale_runs(
    store: Store, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> list[int]:
    """Mark every live run whose owner is gone interrupted, with its unfinished machines;
    returns their ids. Reads only, unless something is stale."""
    now = now or utcnow()
    with store.read() as session:
        candidates = [
            (row.id, row.owner_id, row.heartbeat_at)
            for row in session.connection().execute(
                select(RUN.c.id, RUN.c.owner_id, RUN.c.heartbeat_at)
                .where(RUN.c.state.in_(LIVE_RUN_STATES))
                .order_by(RUN.c.id)
            )
            if _stale(row.owner_id, row.heartbeat_at, now, stale_after)
        ]
    reaped: list[int] = []
    for run_id, owner_id, heartbeat_at in candidates:
        with store.write() as session:
            conn = session.connection()
            row = _lock_run(conn, run_id)
            # looked at again in the write: a runner may have claimed it or beaten meanwhile
            if row.state not in LIVE_RUN_STATES or (row.owner_id, row.heartbeat_at) != (
                owner_id,
                heartbeat_at,
            ):
                continue
            why = _stale(row.owner_id, row.heartbeat_at, now, stale_after)
            if why is None:
                continue
            _interrupt(session, run_id, why, now)
            reaped.append(run_id)
    return reaped


def _interrupt(session: Session, run_id: int, why: str, now: datetime) -> None:
    """Mark the run and its unfinished machines interrupted, in the caller's transaction."""
    conn = session.connection()
    seq = bump(conn, run_id)
    machines = load_run(conn, run_id).machines
    for m in machines:
        if m.state in FINAL_STATES:
            continue
        if m.state == PENDING:
            reason = f"interrupted before it started: {why}"
        else:
            reason = f"interrupted while {m.state}: {why}; check the machine before resuming"
        conn.execute(
            RUN_MACHINE.update()
            .where(RUN_MACHINE.c.run_id == run_id, RUN_MACHINE.c.machine_id == m.machine_id)
            .values(
                state=INTERRUPTED, error=reason, error_kind="interrupted", ended_at=now, seq=seq
            )
        )
    conn.execute(
        RUN.update().where(RUN.c.id == run_id).values(state=INTERRUPTED, ended_at=now, error=why)
    )
    audit.record(
        session,
        "run.interrupted",
        [m.machine for m in machines if m.state not in FINAL_STATES],
        f"run {run_id}: {why}",
    )


def interrupt_own_run(
    store: Store, run_id: int, owner: str, why: str, now: datetime | None = None
) -> bool:
    """The runner ``owner``, stopping before its run ended (a signal), marks it and its
    unfinished machines interrupted at once (rather than leaving it for the heartbeat check);
    ``False`` when the run is no longer live or no longer its own."""
    now = now or utcnow()
    with store.write() as session:
        row = _lock_run(session.connection(), run_id)
        if row.state not in LIVE_RUN_STATES or row.owner_id != owner:
            return False
        _interrupt(session, run_id, why, now)
        return True


def abandon_unclaimed(store: Store, run_id: int, why: str, now: datetime | None = None) -> bool:
    """Mark a pending run that no runner claimed interrupted (its runner process exited
    before it started); ``False`` when a runner took it after all, or it is not pending."""
    now = now or utcnow()
    with store.write() as session:
        row = _lock_run(session.connection(), run_id)
        if row.state != PENDING or row.owner_id is not None:
            return False
        _interrupt(session, run_id, why, now)
        return True
