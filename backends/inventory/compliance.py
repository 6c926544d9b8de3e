"""Where the fleet stands: compliance counts, missing updates by classification, reboots pending
and scan freshness, each computed by the database (aggregates; no update row is loaded).

A machine is, in this order of precedence:

* **unreachable**: its last scan could not reach it (what was known before may be stale);
* **not assessed**: no scan ever succeeded on it;
* **non-compliant**: it misses at least one security or critical update;
* **compliant**: assessed, reachable, and missing no security or critical update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from backends.inventory.machines import MACHINE, UPDATE
from backends.inventory.store import Store

COMPLIANT = "compliant"
NON_COMPLIANT = "non-compliant"
NOT_ASSESSED = "not-assessed"
UNREACHABLE = "unreachable"
STATES = (COMPLIANT, NON_COMPLIANT, NOT_ASSESSED, UNREACHABLE)

# Classifications that make a machine non-compliant (DESIGN.md: "Critical and security").
URGENT = ("security", "critical")


@dataclass(frozen=True, slots=True)
class ClassificationCount:
    classification: str
    missing: int  # machine × update pairs
    machines: int  # machines missing at least one


@dataclass(frozen=True, slots=True)
class Compliance:
    machines: int
    compliant: int
    non_compliant: int
    not_assessed: int
    unreachable: int
    reboot_pending: int
    by_classification: tuple[ClassificationCount, ...]  # most missing first
    scanned: int  # machines with a last scan, good or failed
    oldest_scan: datetime | None
    median_scan: datetime | None

    def count(self, state: str) -> int:
        return {
            COMPLIANT: self.compliant,
            NON_COMPLIANT: self.non_compliant,
            NOT_ASSESSED: self.not_assessed,
            UNREACHABLE: self.unreachable,
        }[state]


def compliance_state(assessed: bool, reachable: bool | None, urgent_missing: int) -> str:
    """One machine's state, by the precedence above (the SQL below agrees with it)."""
    if reachable is False:
        return UNREACHABLE
    if not assessed:
        return NOT_ASSESSED
    return NON_COMPLIANT if urgent_missing else COMPLIANT


def assessed_clause() -> ColumnElement[bool]:
    """A scan succeeded at some time: it recorded facts, a digest, or was the last one."""
    return or_(
        func.coalesce(MACHINE.c.last_scan_outcome, "") == "ok",  # never NULL: NOT(…) must hold
        MACHINE.c.updates_digest.is_not(None),
        MACHINE.c.distro.is_not(None),
    )


def _count_where(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def fleet_compliance(store: Store) -> Compliance:
    reached = MACHINE.c.reachable.is_not(False)
    assessed = assessed_clause()
    urgent = MACHINE.c.id.in_(
        select(UPDATE.c.machine_id).where(UPDATE.c.classification.in_(URGENT))
    )
    totals = select(
        func.count(),
        _count_where(MACHINE.c.reachable.is_(False)),
        _count_where(and_(reached, ~assessed)),
        _count_where(and_(reached, assessed, urgent)),
        _count_where(MACHINE.c.reboot_pending.is_(True)),
        func.count(MACHINE.c.last_scan_at),
    ).select_from(MACHINE)
    by_classification = (
        select(
            UPDATE.c.classification,
            func.count().label("missing"),
            func.count(UPDATE.c.machine_id.distinct()),
        )
        .group_by(UPDATE.c.classification)
        .order_by(func.count().desc(), UPDATE.c.classification)
    )
    with store.read() as session:
        conn = session.connection()
        machines, unreachable, not_assessed, non_compliant, reboot, scanned = conn.execute(
            totals
        ).one()
        oldest = median = None
        if scanned:
            # through the index on last_scan_at, and through the column's type (aware UTC)
            by_age = (
                select(MACHINE.c.last_scan_at)
                .where(MACHINE.c.last_scan_at.is_not(None))
                .order_by(MACHINE.c.last_scan_at)
                .limit(1)
            )
            oldest = conn.execute(by_age).scalar_one()
            median = conn.execute(by_age.offset((int(scanned) - 1) // 2)).scalar_one()
        counts = tuple(
            ClassificationCount(classification, int(missing), int(affected))
            for classification, missing, affected in conn.execute(by_classification)
        )
    machines, unreachable = int(machines), int(unreachable)
    not_assessed, non_compliant = int(not_assessed), int(non_compliant)
    return Compliance(
        machines=machines,
        compliant=machines - unreachable - not_assessed - non_compliant,
        non_compliant=non_compliant,
        not_assessed=not_assessed,
        unreachable=unreachable,
        reboot_pending=int(reboot),
        by_classification=counts,
        scanned=int(scanned),
        oldest_scan=oldest,
        median_scan=median,
    )
