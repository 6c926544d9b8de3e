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

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.engine import Connection

from backends.inventory.bulk import CHUNK, chunks
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


def match_text(machine: MachineStatus) -> str:
    """Where ``matches`` looks, lower-cased, a line per place (name, address, each tag as
    ``key=value``): for a ``text`` without a line break (what a filter box holds),
    ``text.lower() in match_text(m)`` is ``matches(m, text)``, in one substring search."""
    places = (machine.name, machine.address, *(f"{key}={value}" for key, value in machine.tags))
    return "\n".join(places).lower()


def machine_statuses(
    store: Store,
    text: str | None = None,
    ids: Sequence[int] | None = None,
    *,
    first: int | None = None,
) -> list[MachineStatus]:
    """Every machine by name; with ``text``, those whose name, address or a tag contains it;
    with ``ids``, those machines only; with ``first``, the first ``first`` of them by name
    (a screenful, at most ``CHUNK``: what a console shows while it reads the rest)."""
    with store.read() as session:
        conn = session.connection()
        if first is not None:
            where = _text_match(text) if text else None
            chosen = _first_ids(conn, where, min(first, CHUNK))
            return _select(conn, MACHINE.c.id.in_(chosen)) if chosen else []
        if ids is None:
            return _select(conn, _text_match(text) if text else None)
        found: list[MachineStatus] = []
        for chunk in chunks(list(ids)):
            where = MACHINE.c.id.in_(chunk)
            if text:
                where = where & _text_match(text)
            found.extend(_select(conn, where))
        return sorted(found, key=lambda m: m.name)


def _first_ids(conn: Connection, where: ColumnElement[bool] | None, count: int) -> list[int]:
    query = select(MACHINE.c.id).order_by(MACHINE.c.name).limit(count)
    if where is not None:
        query = query.where(where)
    return list(conn.execute(query).scalars())


# what the rows show, in MachineStatus's order (after id and the tags, counts and assessed)
_COLUMNS = (
    MACHINE.c.id,
    MACHINE.c.name,
    MACHINE.c.address,
    MACHINE.c.port,
    MACHINE.c.transport,
    MACHINE.c.os_family,
    MACHINE.c.distro,
    MACHINE.c.version,
    MACHINE.c.user,
    MACHINE.c.identity_file,
    MACHINE.c.environment,
    MACHINE.c.reboot_pending,
    MACHINE.c.reachable,
    MACHINE.c.last_scan_at,
    MACHINE.c.last_scan_outcome,
    MACHINE.c.last_scan_error,
)


def _select(conn: Connection, where: ColumnElement[bool] | None) -> list[MachineStatus]:
    """Three queries: the machines, their tags, and their updates counted by machine and
    classification (from the index on exactly those columns, schema 5, without reading the
    update rows); the counts are summed up here, a few per machine."""
    query = select(*_COLUMNS, assessed_clause().label("assessed")).order_by(MACHINE.c.name)
    tag_query = select(TAG.c.machine_id, TAG.c.key, TAG.c.value).order_by(TAG.c.id)
    count_query = select(UPDATE.c.machine_id, UPDATE.c.classification, func.count()).group_by(
        UPDATE.c.machine_id, UPDATE.c.classification
    )
    if where is not None:
        query = query.where(where)
        chosen = select(MACHINE.c.id).where(where)
        tag_query = tag_query.where(TAG.c.machine_id.in_(chosen))
        count_query = count_query.where(UPDATE.c.machine_id.in_(chosen))
    rows = conn.execute(query).all()
    tags: dict[int, list[Tag]] = defaultdict(list)
    for machine_id, key, value in conn.execute(tag_query):
        tags[machine_id].append((key, value))
    counted: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    slot = {"security": 0, "critical": 1}
    for machine_id, classification, count in conn.execute(count_query):
        counted[machine_id][slot.get(classification, 2)] += count
    counts = {machine_id: MissingCounts(*found) for machine_id, found in counted.items()}
    none = MissingCounts()
    return [
        MachineStatus(
            id=machine_id,
            name=name,
            address=address,
            port=port,
            transport=transport,
            os_family=os_family,
            distro=distro,
            version=version,
            user=user,
            identity_file=identity_file,
            environment=environment,
            tags=tuple(tags.get(machine_id, ())),
            missing=counts.get(machine_id, none),
            assessed=bool(assessed),
            reboot_pending=reboot_pending,
            reachable=reachable,
            last_scan_at=last_scan_at,
            last_scan_outcome=last_scan_outcome,
            last_scan_error=last_scan_error,
        )
        for (
            machine_id,
            name,
            address,
            port,
            transport,
            os_family,
            distro,
            version,
            user,
            identity_file,
            environment,
            reboot_pending,
            reachable,
            last_scan_at,
            last_scan_outcome,
            last_scan_error,
            assessed,
        ) in rows
    ]
