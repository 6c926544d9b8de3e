"""The fleet-wide updates pivot: each missing update once, with how many machines miss it, and
the machines that miss a given one. Counted by the database (``GROUP BY``).

An update is its platform id and classification: the same package can be a security update on
one machine and another kind on another (different versions), and then it is two rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, case, cast, func, or_, select

from backends.inventory.machines import MACHINE, UPDATE
from backends.inventory.store import Store

# Severities as the platforms spell them (RHSA, SUSE, MSRC), most severe first.
_RANKS = {"critical": 4, "important": 3, "high": 3, "moderate": 2, "medium": 2, "low": 1}


@dataclass(frozen=True, slots=True)
class FleetUpdate:
    platform_id: str
    name: str
    classification: str
    severity: str | None  # the most severe any machine reports for it
    machines: int

    @property
    def key(self) -> str:
        """A stable key for a table row."""
        return f"{self.classification}\x1f{self.platform_id}"


@dataclass(frozen=True, slots=True)
class MissingOn:
    """One machine that misses a given update, and what it has and would get."""

    machine_id: int
    machine: str
    os_family: str
    distro: str | None
    version: str | None
    installed: str | None
    available: str | None
    severity: str | None
    advisories: tuple[str, ...]
    source: str | None
    reboot_likely: bool


def _severity_rank() -> Any:
    lowered = func.lower(UPDATE.c.severity)
    return case(*((lowered == name, rank) for name, rank in _RANKS.items()), else_=0)


def fleet_updates(store: Store, text: str | None = None) -> list[FleetUpdate]:
    """Every missing update, most machines first; with ``text``, those whose name, id,
    classification or an advisory contains it."""
    # rank and label in one string ("3Important"): its maximum is the most severe label
    ranked = func.max(cast(_severity_rank(), String) + UPDATE.c.severity)
    machines = func.count().label("machines")
    query = (
        select(
            UPDATE.c.platform_id,
            UPDATE.c.classification,
            func.min(UPDATE.c.name),
            ranked,
            machines,
        )
        .group_by(UPDATE.c.platform_id, UPDATE.c.classification)
        .order_by(machines.desc(), func.min(UPDATE.c.name), UPDATE.c.classification)
    )
    if text:
        query = query.where(
            or_(
                UPDATE.c.name.icontains(text, autoescape=True),
                UPDATE.c.platform_id.icontains(text, autoescape=True),
                UPDATE.c.classification.icontains(text, autoescape=True),
                cast(UPDATE.c.advisories, String).icontains(text, autoescape=True),
            )
        )
    with store.read() as session:
        rows = session.connection().execute(query).all()
    return [
        FleetUpdate(
            platform_id=platform_id,
            name=name,
            classification=classification,
            severity=severity[1:] if severity else None,
            machines=int(count),
        )
        for platform_id, classification, name, severity, count in rows
    ]


def machines_missing(
    store: Store, platform_id: str, classification: str | None = None
) -> list[MissingOn]:
    """The machines that miss ``platform_id`` (of ``classification``, if given), by name."""
    query = (
        select(
            MACHINE.c.id,
            MACHINE.c.name,
            MACHINE.c.os_family,
            MACHINE.c.distro,
            MACHINE.c.version,
            UPDATE.c.installed_version,
            UPDATE.c.available_version,
            UPDATE.c.severity,
            UPDATE.c.advisories,
            UPDATE.c.source,
            UPDATE.c.reboot_likely,
        )
        .join(MACHINE, MACHINE.c.id == UPDATE.c.machine_id)
        .where(UPDATE.c.platform_id == platform_id)
        .order_by(MACHINE.c.name)
    )
    if classification is not None:
        query = query.where(UPDATE.c.classification == classification)
    with store.read() as session:
        rows = session.connection().execute(query).all()
    return [
        MissingOn(
            machine_id=row[0],
            machine=row[1],
            os_family=row[2],
            distro=row[3],
            version=row[4],
            installed=row[5],
            available=row[6],
            severity=row[7],
            advisories=tuple(row[8] or ()),
            source=row[9],
            reboot_likely=bool(row[10]),
        )
        for row in rows
    ]
