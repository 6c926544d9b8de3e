"""Computer groups: static (named machines) and dynamic (a query evaluated each time the group
is used), and the resolver that turns machine and group names into machines.

A static group's members are rows of ``computer_group_member`` that go with their machine: a
machine removed from the inventory drops out of every group. A dynamic group stores its query
as text, checked when the group is created and compiled again whenever the group is used, so it
always reflects the inventory of the moment (tags, scan results, reachability).

Names: group names take letters, digits and ``. _ -``; a group cannot take a machine's name.
A machine added later under a group's name makes that name ambiguous where targets are named
(:func:`resolve_targets`): ``machine:NAME`` and ``group:NAME`` say which is meant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.engine import Connection, Row

from backends.inventory import audit
from backends.inventory.bulk import chunks, insert_rows
from backends.inventory.errors import AlreadyExists, AmbiguousName, InUse, NotFound, QueryError
from backends.inventory.machines import MACHINE, _name_ids, _select
from backends.inventory.query_compile import compile_node
from backends.inventory.query_parser import parse
from backends.inventory.records import Machine
from backends.inventory.store import Store
from backends.inventory.tables import (
    DeploymentRow,
    DeploymentTargetRow,
    GroupMemberRow,
    GroupRow,
    utcnow,
)
from backends.inventory.validation import FieldError

GROUP = GroupRow.__table__  # type: ignore[attr-defined]
MEMBER = GroupMemberRow.__table__  # type: ignore[attr-defined]
_DEPLOYMENT = DeploymentRow.__table__  # type: ignore[attr-defined]
_TARGET = DeploymentTargetRow.__table__  # type: ignore[attr-defined]

STATIC = "static"
DYNAMIC = "dynamic"
MACHINE_PREFIX = "machine:"
GROUP_PREFIX = "group:"
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class Group:
    """A computer group as stored: a static group's machines by name (those still in the
    inventory), a dynamic group's query."""

    id: int
    name: str
    kind: str  # static | dynamic
    query: str | None  # dynamic groups
    machines: tuple[str, ...]  # static groups, by name
    created_at: datetime | None
    updated_at: datetime | None
    # A periodic scan (``group edit --scan-every``): how often, and when run-due last began one.
    scan_every: timedelta | None = None
    last_scheduled_scan_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """A group with how many machines it holds now. ``error`` says why a dynamic group's
    stored query no longer applies (then ``count`` is ``None``)."""

    group: Group
    count: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """A name given as a target, resolved but not expanded: what a deployment stores."""

    kind: str  # machine | group
    name: str
    id: int


def check_group_name(value: str) -> str:
    """A clean group name, or :class:`FieldError` naming it."""
    value = value.strip()
    if not value:
        raise FieldError("name", value, "is empty")
    if len(value) > 255 or not _GROUP_NAME.match(value):
        raise FieldError(
            "name", value, "is not a valid group name (letters, digits and . _ - only)"
        )
    return value


# -- reading -----------------------------------------------------------------------------------


def _members(conn: Connection, group_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {group_id: [] for group_id in group_ids}
    for chunk in chunks(list(group_ids)):
        query = (
            select(MEMBER.c.group_id, MACHINE.c.name)
            .join(MACHINE, MACHINE.c.id == MEMBER.c.machine_id)
            .where(MEMBER.c.group_id.in_(chunk))
            .order_by(MACHINE.c.name)
        )
        for group_id, name in conn.execute(query):
            found[group_id].append(name)
    return found


def _to_group(row: Row[Any], members: Sequence[str]) -> Group:
    return Group(
        id=row.id,
        name=row.name,
        kind=row.kind,
        query=row.query,
        machines=tuple(members) if row.kind == STATIC else (),
        created_at=row.created_at,
        updated_at=row.updated_at,
        scan_every=(timedelta(seconds=row.scan_every_seconds) if row.scan_every_seconds else None),
        last_scheduled_scan_at=row.last_scheduled_scan_at,
    )


def _groups(conn: Connection, names: Sequence[str] | None = None) -> list[Group]:
    query = select(GROUP).order_by(GROUP.c.name)
    if names is not None:
        query = query.where(GROUP.c.name.in_(list(names)))
    rows = conn.execute(query).all()
    members = _members(conn, [r.id for r in rows if r.kind == STATIC])
    return [_to_group(r, members.get(r.id, ())) for r in rows]


def _get(conn: Connection, name: str) -> Group:
    found = _groups(conn, [name])
    if not found:
        raise NotFound("group", [name])
    return found[0]


def members_condition(group: Group, now: datetime | None = None) -> ColumnElement[bool]:
    """Which machines ``group`` holds, as a condition on the machine table. A dynamic group's
    query is compiled afresh (:class:`QueryError` if it no longer applies)."""
    if group.kind == DYNAMIC:
        try:
            node = parse(group.query or "")
        except QueryError as exc:
            message = f"group {group.name!r}: {exc.message}"
            raise QueryError(message, exc.column, exc.length, exc.query) from None
        return compile_node(node, now or utcnow())
    members = select(MEMBER.c.machine_id).where(MEMBER.c.group_id == group.id)
    member: ColumnElement[bool] = MACHINE.c.id.in_(members)
    return member


def list_groups(store: Store, now: datetime | None = None) -> list[GroupSummary]:
    """Every group, by name, with the number of machines it holds now."""
    now = now or utcnow()
    summaries = []
    with store.read() as session:
        conn = session.connection()
        for group in _groups(conn):
            if group.kind == STATIC:
                summaries.append(GroupSummary(group, len(group.machines)))
                continue
            try:
                where = compile_node(parse(group.query or ""), now)
            except QueryError as exc:
                summaries.append(GroupSummary(group, None, exc.message))
                continue
            count = conn.execute(select(func.count()).select_from(MACHINE).where(where))
            summaries.append(GroupSummary(group, int(count.scalar_one())))
    return summaries


def get_group(store: Store, name: str) -> Group:
    """One group; :class:`NotFound` naming it."""
    with store.read() as session:
        return _get(session.connection(), name)


def group_machines(store: Store, group: Group, now: datetime | None = None) -> list[Machine]:
    """The machines ``group`` holds now, by name."""
    with store.read() as session:
        return _select(session.connection(), members_condition(group, now))


def resolve_group(store: Store, name: str, now: datetime | None = None) -> list[Machine]:
    """The machines the group ``name`` holds now, by name."""
    with store.read() as session:
        conn = session.connection()
        return _select(conn, members_condition(_get(conn, name), now))


# -- changing ----------------------------------------------------------------------------------


def create_group(
    store: Store,
    name: str,
    *,
    machines: Sequence[str] | None = None,
    query: str | None = None,
) -> Group:
    """Create a static group (``machines``, every one known) or a dynamic group (``query``,
    checked now); exactly one of the two. Raises :class:`FieldError` for a bad name or an
    empty definition, :class:`QueryError` for a bad query, :class:`NotFound` naming every
    unknown machine, :class:`AlreadyExists` for a group's name (:class:`FieldError` for a
    machine's)."""
    name = check_group_name(name)
    if (machines is None) == (query is None):
        raise FieldError("group", name, "needs either machines or a query, not both")
    if query is not None:
        query = query.strip()
        parse(query)  # QueryError, with its column, if it cannot be used
    wanted = list(dict.fromkeys(m.strip() for m in machines or () if m.strip()))
    if machines is not None and not wanted:
        raise FieldError("machines", ",".join(machines), "names no machine")
    now = utcnow()
    with store.write() as session:
        conn = session.connection()
        if conn.execute(select(GROUP.c.id).where(GROUP.c.name == name)).first():
            raise AlreadyExists("group", name)
        if conn.execute(select(MACHINE.c.id).where(MACHINE.c.name == name)).first():
            raise FieldError("name", name, "is a machine's name: a group cannot share it")
        ids: dict[str, int] = {}
        for chunk in chunks(wanted):
            ids.update(_name_ids(conn, MACHINE.c.name.in_(chunk)))
        unknown = [m for m in wanted if m not in ids]
        if unknown:
            raise NotFound("machine", unknown)
        inserted = conn.execute(
            GROUP.insert().values(
                name=name,
                kind=DYNAMIC if query is not None else STATIC,
                query=query,
                created_at=now,
                updated_at=now,
            )
        )
        group_id = inserted.inserted_primary_key[0]  # type: ignore[index]
        insert_rows(conn, MEMBER, ("group_id", "machine_id"), [(group_id, ids[m]) for m in wanted])
        detail = f"dynamic: {query}" if query is not None else f"static: {len(wanted)} machines"
        audit.record(session, "group.create", wanted, f"{name} ({detail})")
        return _get(conn, name)


def delete_group(store: Store, name: str) -> Group:
    """Delete a group (never its machines). Refused with :class:`InUse` while a deployment
    targets it."""
    with store.write() as session:
        conn = session.connection()
        group = _get(conn, name)
        users = conn.execute(
            select(_DEPLOYMENT.c.name)
            .join(_TARGET, _TARGET.c.deployment_id == _DEPLOYMENT.c.id)
            .where(_TARGET.c.group_id == group.id)
            .distinct()
            .order_by(_DEPLOYMENT.c.name)
        ).scalars()
        using = list(users)
        if using:
            raise InUse("group", name, "deployment", using)
        conn.execute(delete(GROUP).where(GROUP.c.id == group.id))
        detail = f"dynamic: {group.query}" if group.kind == DYNAMIC else "static"
        audit.record(session, "group.delete", group.machines, f"{name} ({detail})")
    return group


# -- targets -----------------------------------------------------------------------------------


def resolve_names(store: Store, names: Sequence[str]) -> list[Target]:
    """Each of ``names`` as a machine or a group, in order, duplicates dropped.

    A name is looked up as given among machines and groups; one that is neither but starts
    with ``machine:`` or ``group:`` is looked up as the rest, among that kind only. A name that
    is both a machine and a group is :class:`AmbiguousName`; names that are neither are
    :class:`NotFound`, every one of them named.
    """
    with store.read() as session:
        return _resolve_names(session.connection(), names)


def _resolve_names(conn: Connection, names: Sequence[str]) -> list[Target]:
    wanted = list(dict.fromkeys(names))
    lookups = set(wanted)
    for name in wanted:
        for prefix in (MACHINE_PREFIX, GROUP_PREFIX):
            if name.startswith(prefix):
                lookups.add(name[len(prefix) :])
    machine_ids: dict[str, int] = {}
    group_ids: dict[str, int] = {}
    for chunk in chunks(sorted(lookups)):
        machine_ids.update(_name_ids(conn, MACHINE.c.name.in_(chunk)))
        query = select(GROUP.c.name, GROUP.c.id).where(GROUP.c.name.in_(chunk))
        group_ids.update({n: i for n, i in conn.execute(query)})
    targets: list[Target] = []
    unknown: list[str] = []
    ambiguous: list[str] = []
    for name in wanted:
        machine = name.removeprefix(MACHINE_PREFIX) if name not in group_ids else name
        group = name.removeprefix(GROUP_PREFIX) if name not in machine_ids else name
        if name in machine_ids and name in group_ids:
            ambiguous.append(name)
        elif name in machine_ids:
            targets.append(Target("machine", name, machine_ids[name]))
        elif name in group_ids:
            targets.append(Target("group", name, group_ids[name]))
        elif name.startswith(MACHINE_PREFIX) and machine in machine_ids:
            targets.append(Target("machine", machine, machine_ids[machine]))
        elif name.startswith(GROUP_PREFIX) and group in group_ids:
            targets.append(Target("group", group, group_ids[group]))
        else:
            unknown.append(name)
    if unknown:
        raise NotFound("machine or group", unknown)
    if ambiguous:
        raise AmbiguousName(ambiguous)
    return list(dict.fromkeys(targets))


def resolve_targets(
    store: Store, names: Sequence[str], now: datetime | None = None
) -> list[Machine]:
    """The machines that ``names`` (machines and groups, see :func:`resolve_names`) stand for
    now: in the order given, a group's machines by name, each machine once. A dynamic group
    whose query no longer applies raises :class:`QueryError`."""
    now = now or utcnow()
    found: dict[int, Machine] = {}
    with store.read() as session:
        conn = session.connection()
        targets = _resolve_names(conn, names)
        singles: dict[int, Machine] = {}
        for chunk in chunks([t.id for t in targets if t.kind == "machine"]):
            singles.update((m.id, m) for m in _select(conn, MACHINE.c.id.in_(chunk)))
        for target in targets:
            if target.kind == "group":
                for machine in _select(conn, members_condition(_get(conn, target.name), now)):
                    found.setdefault(machine.id, machine)
            elif target.id in singles:
                found.setdefault(target.id, singles[target.id])
    return list(found.values())
