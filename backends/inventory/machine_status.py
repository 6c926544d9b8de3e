"""One row per machine for the console's machines table: what it is, what it misses (security,
critical, other; counted by the database) and how its last scan went.

``ids`` asks for a few machines only (the ones a running scan just recorded), so that a live
table refreshes the rows that changed and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.engine import Connection

from backends.inventory.bulk import chunks
from backends.inventory.compliance import assessed_clause, compliance_state
from backends.inventory.machines import MACHINE, TAG, UPDATE, _text_match
from backends.inventory.records import Tag
from backends.inventory.store import Store


@dataclass(frozen=True, slots=True)
class MissingCounts:
    security: int = 0
    critical: int = 0
    other: int = 0  # every other classification

    @property
    def total(self) -> int:
        return self.security + self.critical + self.other


@dataclass(frozen=True, slots=True)
class MachineStatus:
    id: int
    name: str
    address: str
    port: int
    transport: str
    os_family: str
    distro: str | None
    version: str | None
    user: str | None
    identity_file: str | None
    environment: str | None
    tags: tuple[Tag, ...]
    missing: MissingCounts
    assessed: bool
    reboot_pending: bool | None
    reachable: bool | None
    last_scan_at: datetime | None
    last_scan_outcome: str | None
    last_scan_error: str | None

    @property
    def compliance(self) -> str:
        urgent = self.missing.security + self.missing.critical
        return compliance_state(self.assessed, self.reachable, urgent)


def matches(machine: MachineStatus, text: str) -> bool:
    """The plain-text match of ``list_machines(store, text)``, on a row already read: name,
    address, a tag's key, value or ``key=value`` contains ``text`` (case-insensitive)."""
    wanted = text.lower()
    if wanted in machine.name.lower() or wanted in machine.address.lower():
        return True
    return any(wanted in f"{key}={value}".lower() for key, value in machine.tags)


def _counted(classification: str | None) -> Any:
    if classification is None:
        hit = UPDATE.c.classification.not_in(("security", "critical"))
    else:
        hit = UPDATE.c.classification == classification
    return func.coalesce(func.sum(case((hit, 1), else_=0)), 0)


def machine_statuses(
    store: Store, text: str | None = None, ids: Sequence[int] | None = None
) -> list[MachineStatus]:
    """Every machine by name; with ``text``, those whose name, address or a tag contains it;
    with ``ids``, those machines only."""
    with store.read() as session:
        conn = session.connection()
        if ids is None:
            return _select(conn, _text_match(text) if text else None)
        found: list[MachineStatus] = []
        for chunk in chunks(list(ids)):
            where = MACHINE.c.id.in_(chunk)
            if text:
                where = where & _text_match(text)
            found.extend(_select(conn, where))
        return sorted(found, key=lambda m: m.name)


def _select(conn: Connection, where: ColumnElement[bool] | None) -> list[MachineStatus]:
    query = select(MACHINE, assessed_clause().label("assessed")).order_by(MACHINE.c.name)
    tag_query = select(TAG.c.machine_id, TAG.c.key, TAG.c.value).order_by(TAG.c.id)
    count_query = select(
        UPDATE.c.machine_id, _counted("security"), _counted("critical"), _counted(None)
    ).group_by(UPDATE.c.machine_id)
    if where is not None:
        query = query.where(where)
        chosen = select(MACHINE.c.id).where(where)
        tag_query = tag_query.where(TAG.c.machine_id.in_(chosen))
        count_query = count_query.where(UPDATE.c.machine_id.in_(chosen))
    rows = conn.execute(query).all()
    tags: dict[int, list[Tag]] = defaultdict(list)
    for machine_id, key, value in conn.execute(tag_query):
        tags[machine_id].append((key, value))
    counts = {
        machine_id: MissingCounts(int(security), int(critical), int(other))
        for machine_id, security, critical, other in conn.execute(count_query)
    }
    return [
        MachineStatus(
            id=row.id,
            name=row.name,
            address=row.address,
            port=row.port,
            transport=row.transport,
            os_family=row.os_family,
            distro=row.distro,
            version=row.version,
            user=row.user,
            identity_file=row.identity_file,
            environment=row.environment,
            tags=tuple(tags.get(row.id, ())),
            missing=counts.get(row.id, MissingCounts()),
            assessed=bool(row.assessed),
            reboot_pending=row.reboot_pending,
            reachable=row.reachable,
            last_scan_at=row.last_scan_at,
            last_scan_outcome=row.last_scan_outcome,
            last_scan_error=row.last_scan_error,
        )
        for row in rows
    ]
