"""The machines service: add, import, list, show and remove machines. Returns plain records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, exists, func, or_, select
from sqlalchemy.engine import Connection, Row

from backends.inventory import audit
from backends.inventory.bulk import chunks, insert_rows
from backends.inventory.errors import AlreadyExists, NotFound
from backends.inventory.records import CLASSIFICATIONS, Machine, MachineSpec, Tag
from backends.inventory.store import Store
from backends.inventory.tables import MachineRow, TagRow, UpdateRow, utcnow

MACHINE = MachineRow.__table__  # type: ignore[attr-defined]
TAG = TagRow.__table__  # type: ignore[attr-defined]
UPDATE = UpdateRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int


def _spec_columns(spec: MachineSpec) -> dict[str, Any]:
    """The columns an operator sets, in :data:`_SPEC_COLUMNS` order; scan results (distro,
    version, …) are left alone."""
    return {
        "name": spec.name,
        "address": spec.address,
        "port": spec.resolved_port(),
        "transport": spec.transport,
        "os_family": spec.resolved_os(),
        "user": spec.user,
        "identity_file": spec.identity_file,
        "owner": spec.owner,
        "role": spec.role,
        "environment": spec.environment,
        "criticality": spec.criticality,
        "winrm_auth": spec.winrm_auth,
        "winrm_https": spec.winrm_https,
        "winrm_verify_cert": spec.winrm_verify_cert,
        "winrm_ca_file": spec.winrm_ca_file,
    }


def _name_ids(conn: Connection, where: ColumnElement[bool] | None = None) -> dict[str, int]:
    query = select(MACHINE.c.name, MACHINE.c.id)
    if where is not None:
        query = query.where(where)
    return {name: machine_id for name, machine_id in conn.execute(query)}


def _to_record(row: Row[Any], tags: Sequence[Tag], found: dict[str, int]) -> Machine:
    missing = dict.fromkeys(CLASSIFICATIONS.get(row.os_family, ()), 0)
    missing.update(found)
    return Machine(
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
        owner=row.owner,
        role=row.role,
        environment=row.environment,
        criticality=row.criticality,
        last_scan_at=row.last_scan_at,
        last_scan_outcome=row.last_scan_outcome,
        last_scan_error=row.last_scan_error,
        reboot_pending=row.reboot_pending,
        reachable=row.reachable,
        tags=tuple(tags),
        missing=missing,
        winrm_auth=row.winrm_auth or "ntlm",
        winrm_https=bool(row.winrm_https),
        winrm_verify_cert=row.winrm_verify_cert is not False,
        winrm_ca_file=row.winrm_ca_file,
    )


def _text_match(text: str) -> ColumnElement[bool]:
    """Plain-text match on name, address and tags (``key``, ``value`` or ``key=value``)."""
    tag_hit = exists().where(
        TAG.c.machine_id == MACHINE.c.id,
        or_(
            TAG.c.key.icontains(text, autoescape=True),
            TAG.c.value.icontains(text, autoescape=True),
            (TAG.c.key + "=" + TAG.c.value).icontains(text, autoescape=True),
        ),
    )
    return or_(
        MACHINE.c.name.icontains(text, autoescape=True),
        MACHINE.c.address.icontains(text, autoescape=True),
        tag_hit,
    )


def _select(conn: Connection, where: ColumnElement[bool] | None) -> list[Machine]:
    query = select(MACHINE).order_by(MACHINE.c.name)
    tag_query = select(TAG.c.machine_id, TAG.c.key, TAG.c.value).order_by(TAG.c.id)
    count_query = select(
        UPDATE.c.machine_id, UPDATE.c.classification, func.count().label("n")
    ).group_by(UPDATE.c.machine_id, UPDATE.c.classification)
    if where is not None:
        query = query.where(where)
        ids = select(MACHINE.c.id).where(where)
        tag_query = tag_query.where(TAG.c.machine_id.in_(ids))
        count_query = count_query.where(UPDATE.c.machine_id.in_(ids))
    rows = conn.execute(query).all()
    tags: dict[int, list[Tag]] = defaultdict(list)
    for machine_id, key, value in conn.execute(tag_query):
        tags[machine_id].append((key, value))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for machine_id, classification, n in conn.execute(count_query):
        counts[machine_id][classification] = int(n)
    return [_to_record(row, tags.get(row.id, ()), counts.get(row.id, {})) for row in rows]


def list_machines(store: Store, text: str | None = None) -> list[Machine]:
    """Every machine, by name; with ``text``, those whose name, address or a tag contains it."""
    where = _text_match(text) if text else None
    with store.read() as session:
        return _select(session.connection(), where)


def count_machines(store: Store) -> int:
    with store.read() as session:
        return int(
            session.connection().execute(select(func.count()).select_from(MACHINE)).scalar_one()
        )


def get_machine(store: Store, name: str) -> Machine:
    with store.read() as session:
        found = _select(session.connection(), MACHINE.c.name == name)
    if not found:
        raise NotFound("machine", [name])
    return found[0]


def get_machines(store: Store, ids: Sequence[int]) -> list[Machine]:
    """The machines with these database ids (those that still exist), by name."""
    found: list[Machine] = []
    with store.read() as session:
        conn = session.connection()
        for chunk in chunks(list(dict.fromkeys(ids))):
            found.extend(_select(conn, MACHINE.c.id.in_(chunk)))
    return sorted(found, key=lambda m: m.name)


def add_machine(store: Store, spec: MachineSpec) -> Machine:
    """Add one machine; :class:`AlreadyExists` if the name is taken."""
    now = utcnow()
    with store.write() as session:
        conn = session.connection()
        if conn.execute(select(MACHINE.c.id).where(MACHINE.c.name == spec.name)).first():
            raise AlreadyExists("machine", spec.name)
        inserted = conn.execute(
            MACHINE.insert().values(**_spec_columns(spec), created_at=now, updated_at=now)
        )
        machine_id = inserted.inserted_primary_key[0]  # type: ignore[index]
        if spec.tags:
            conn.execute(
                TAG.insert(),
                [{"machine_id": machine_id, "key": k, "value": v} for k, v in spec.tags],
            )
        audit.record(session, "machine.add", [spec.name], _describe(spec))
    return get_machine(store, spec.name)


def update_machine(store: Store, machine_id: int, spec: MachineSpec) -> Machine:
    """Replace what the operator said about machine ``machine_id`` (name, address, tags, …);
    what scans found is kept. :class:`AlreadyExists` if the new name is another machine's."""
    now = utcnow()
    with store.write() as session:
        conn = session.connection()
        old = conn.execute(select(MACHINE.c.name).where(MACHINE.c.id == machine_id)).scalar()
        if old is None:
            raise NotFound("machine", [f"#{machine_id}"])
        other = conn.execute(
            select(MACHINE.c.id).where(MACHINE.c.name == spec.name, MACHINE.c.id != machine_id)
        ).first()
        if other is not None:
            raise AlreadyExists("machine", spec.name)
        conn.execute(
            MACHINE.update()
            .where(MACHINE.c.id == machine_id)
            .values(**_spec_columns(spec), updated_at=now)
        )
        conn.execute(delete(TAG).where(TAG.c.machine_id == machine_id))
        if spec.tags:
            conn.execute(
                TAG.insert(),
                [{"machine_id": machine_id, "key": k, "value": v} for k, v in spec.tags],
            )
        renamed = f" (was {old})" if old != spec.name else ""
        audit.record(session, "machine.edit", [spec.name], _describe(spec) + renamed)
    return get_machine(store, spec.name)


def _describe(spec: MachineSpec) -> str:
    where = f"{spec.user + '@' if spec.user else ''}{spec.address}:{spec.resolved_port()}"
    return f"{spec.transport} {where}"


_SPEC_COLUMNS = (
    "name",
    "address",
    "port",
    "transport",
    "os_family",
    "user",
    "identity_file",
    "owner",
    "role",
    "environment",
    "criticality",
    "winrm_auth",
    "winrm_https",
    "winrm_verify_cert",
    "winrm_ca_file",
)


def import_machines(store: Store, specs: Sequence[MachineSpec], source: str) -> ImportResult:
    """Add or update (by name) every machine in ``specs``, all in one transaction.

    An updated machine takes the file's fields and tags; what scans found about it is kept.
    """
    now = utcnow()
    with store.write() as session:
        conn = session.connection()
        ids = _name_ids(conn)
        new_rows: list[tuple[Any, ...]] = []
        changed: list[dict[str, Any]] = []
        for spec in specs:
            columns = _spec_columns(spec)
            known = ids.get(spec.name)
            if known is None:
                new_rows.append(tuple(columns.values()))
            else:
                changed.append({**columns, "b_id": known, "updated_at": now})
        if new_rows:
            insert_rows(
                conn, MACHINE, _SPEC_COLUMNS, new_rows, {"created_at": now, "updated_at": now}
            )
            ids = _name_ids(conn)
        if changed:
            conn.execute(MACHINE.update().where(MACHINE.c.id == bindparam("b_id")), changed)
            for chunk in chunks([row["b_id"] for row in changed]):
                conn.execute(delete(TAG).where(TAG.c.machine_id.in_(chunk)))
        tag_rows = [(ids[spec.name], key, value) for spec in specs for key, value in spec.tags]
        insert_rows(conn, TAG, ("machine_id", "key", "value"), tag_rows)
        audit.record(
            session,
            "machine.import",
            [spec.name for spec in specs],
            f"from {source}: {len(new_rows)} added, {len(changed)} updated",
        )
    return ImportResult(added=len(new_rows), updated=len(changed))


def unknown_names(store: Store, names: Sequence[str]) -> list[str]:
    """Those of ``names`` that no machine has, in the order given."""
    wanted = list(dict.fromkeys(names))
    known: set[str] = set()
    with store.read() as session:
        conn = session.connection()
        for chunk in chunks(wanted):
            known.update(_name_ids(conn, MACHINE.c.name.in_(chunk)))
    return [n for n in wanted if n not in known]


def remove_machines(store: Store, names: Sequence[str]) -> list[str]:
    """Remove the named machines (with their tags, updates, memberships); all or nothing."""
    wanted = list(dict.fromkeys(names))
    with store.write() as session:
        conn = session.connection()
        found: dict[str, int] = {}
        for chunk in chunks(wanted):
            found.update(_name_ids(conn, MACHINE.c.name.in_(chunk)))
        missing = [n for n in wanted if n not in found]
        if missing:
            raise NotFound("machine", missing)
        for chunk in chunks(list(found.values())):
            conn.execute(delete(MACHINE).where(MACHINE.c.id.in_(chunk)))
        audit.record(session, "machine.remove", wanted)
    return wanted
