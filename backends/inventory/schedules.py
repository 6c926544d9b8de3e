"""When deployments run: a deployment's schedule as stored, and the claims on its occurrences.

A schedule is either **once** (``at``, an instant) or **recurring** (``rrule``, an RFC 5545
rule counted in the zone ``tz``'s wall time, moved by ``offset``). ``since`` is when it was
set: no occurrence before it is ever due or missed. Parsing, checking and the occurrence
arithmetic are in :mod:`backends.engine.schedule`; this module only keeps them.

A **claim** is one row of ``schedule_claim`` per (deployment, occurrence), with a unique
constraint on the pair: whichever ``run-due`` process inserts it first owns that occurrence;
every other one's insert fails and it leaves the occurrence alone. That holds across processes
and machines sharing one SQLite file or one PostgreSQL database.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backends.inventory import audit
from backends.inventory.store import Store
from backends.inventory.tables import DeploymentRow, ScheduleClaimRow, utcnow

CLAIM = ScheduleClaimRow.__table__  # type: ignore[attr-defined]
_DEPLOYMENT = DeploymentRow.__table__  # type: ignore[attr-defined]

# What became of a claimed occurrence.
STARTING = "starting"  # claimed; the run is being started
STARTED = "started"  # a run was started for it (run_id)
MISSED = "missed"  # its window had passed when run-due first saw it: not run late
NOT_STARTED = "not-started"  # claimed, but the run could not be started (detail says why)
CLAIM_STATES = (STARTING, STARTED, MISSED, NOT_STARTED)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A deployment's schedule: ``at`` (once) or ``rrule`` (recurring), never both.

    ``at`` and ``since`` are aware UTC datetimes; ``tz`` is an IANA zone name (the wall time
    that ``rrule`` and ``offset`` count in, and how times are shown)."""

    tz: str
    at: datetime | None = None
    rrule: str | None = None
    offset: timedelta = timedelta(0)
    since: datetime | None = None

    def __post_init__(self) -> None:
        if (self.at is None) == (self.rrule is None):
            raise ValueError("a schedule is either once (at) or recurring (rrule)")
        for when in (self.at, self.since):
            if when is not None and when.tzinfo is None:
                raise ValueError("a schedule's times are aware datetimes")

    @property
    def recurring(self) -> bool:
        return self.rrule is not None


@dataclass(frozen=True, slots=True)
class Claim:
    """One occurrence of a deployment's schedule, as ``run-due`` recorded it."""

    deployment_id: int
    occurrence: datetime
    state: str
    claimed_at: datetime
    claimed_by: str
    run_id: int | None = None
    detail: str = ""


def claimant() -> str:
    """Who claims: the local user, the host and the process (``ops@patch-01:4242``)."""
    return f"{audit.local_user()}@{socket.gethostname()}:{os.getpid()}"


def claim_occurrence(
    store: Store,
    deployment_id: int,
    occurrence: datetime,
    state: str,
    *,
    deployment: str = "",
    machines: Sequence[str] = (),
    detail: str = "",
    now: datetime | None = None,
) -> bool:
    """Claim ``occurrence`` of a deployment, recording it as ``state`` (``starting`` or
    ``missed``); ``False`` when another process claimed it first (or it was claimed before).
    The claim is audited in the same transaction."""
    if state not in CLAIM_STATES:
        raise ValueError(f"unknown claim state {state!r}")
    try:
        with store.write() as session:
            session.connection().execute(
                CLAIM.insert().values(
                    deployment_id=deployment_id,
                    occurrence_at=occurrence,
                    state=state,
                    claimed_at=now or utcnow(),
                    claimed_by=claimant(),
                    detail=detail,
                )
            )
            what = "missed" if state == MISSED else "due"
            audit.record(
                session,
                f"schedule.{what}",
                machines,
                f"{deployment}: occurrence {occurrence.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} {what}"
                + (f" ({detail})" if detail else ""),
            )
    except IntegrityError:
        return False
    return True


def settle_claim(
    store: Store,
    deployment_id: int,
    occurrence: datetime,
    state: str,
    *,
    run_id: int | None = None,
    detail: str = "",
) -> None:
    """Record what became of a claimed occurrence: ``started`` (with its run) or
    ``not-started`` (with why)."""
    if state not in CLAIM_STATES:
        raise ValueError(f"unknown claim state {state!r}")
    with store.write() as session:
        session.connection().execute(
            CLAIM.update()
            .where(CLAIM.c.deployment_id == deployment_id, CLAIM.c.occurrence_at == occurrence)
            .values(state=state, run_id=run_id, detail=detail)
        )


def list_claims(store: Store, deployment_id: int | None = None) -> list[Claim]:
    """Claimed occurrences, oldest first (of one deployment when ``deployment_id`` is given)."""
    query = select(CLAIM).order_by(CLAIM.c.occurrence_at, CLAIM.c.id)
    if deployment_id is not None:
        query = query.where(CLAIM.c.deployment_id == deployment_id)
    with store.read() as session:
        rows = session.connection().execute(query).all()
    return [
        Claim(
            deployment_id=r.deployment_id,
            occurrence=r.occurrence_at,
            state=r.state,
            claimed_at=r.claimed_at,
            claimed_by=r.claimed_by,
            run_id=r.run_id,
            detail=r.detail or "",
        )
        for r in rows
    ]


def latest_claims(store: Store) -> dict[int, datetime]:
    """Each deployment's latest claimed occurrence: where ``run-due`` goes on from."""
    query = select(CLAIM.c.deployment_id, func.max(CLAIM.c.occurrence_at)).group_by(
        CLAIM.c.deployment_id
    )
    with store.read() as session:
        rows = session.connection().execute(query).all()
    return {deployment_id: at for deployment_id, at in rows}  # max() keeps the UTC type
