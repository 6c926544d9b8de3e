"""Changing a computer group's definition: a static group's machines or a dynamic group's
query (see :mod:`backends.inventory.groups`), checked as ``create_group`` checks them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete

from backends.inventory import audit
from backends.inventory.bulk import chunks, insert_rows
from backends.inventory.errors import NotFound
from backends.inventory.groups import DYNAMIC, GROUP, MEMBER, STATIC, Group, _get
from backends.inventory.machines import MACHINE, _name_ids
from backends.inventory.query_parser import parse
from backends.inventory.store import Store
from backends.inventory.tables import utcnow
from backends.inventory.validation import FieldError


def edit_group(
    store: Store,
    name: str,
    *,
    machines: Sequence[str] | None = None,
    query: str | None = None,
) -> Group:
    """Give the group ``name`` these ``machines`` (it becomes or stays static) or this
    ``query`` (dynamic); exactly one of the two. Raises :class:`NotFound` for an unknown group
    or machines (every one named), :class:`QueryError` for a bad query, :class:`FieldError` for
    an empty definition. Nothing is written unless everything checks. Audited."""
    if (machines is None) == (query is None):
        raise FieldError("group", name, "needs either machines or a query, not both")
    if query is not None:
        query = query.strip()
        parse(query)  # QueryError, with its column
    wanted = list(dict.fromkeys(m.strip() for m in machines or () if m.strip()))
    if machines is not None and not wanted:
        raise FieldError("machines", ",".join(machines), "names no machine")
    with store.write() as session:
        conn = session.connection()
        group = _get(conn, name)
        ids: dict[str, int] = {}
        for chunk in chunks(wanted):
            ids.update(_name_ids(conn, MACHINE.c.name.in_(chunk)))
        unknown = [m for m in wanted if m not in ids]
        if unknown:
            raise NotFound("machine", unknown)
        conn.execute(
            GROUP.update()
            .where(GROUP.c.id == group.id)
            .values(kind=DYNAMIC if query is not None else STATIC, query=query, updated_at=utcnow())
        )
        conn.execute(delete(MEMBER).where(MEMBER.c.group_id == group.id))
        insert_rows(conn, MEMBER, ("group_id", "machine_id"), [(group.id, ids[m]) for m in wanted])
        detail = f"dynamic: {query}" if query is not None else f"static: {len(wanted)} machines"
        audit.record(session, "group.edit", wanted or group.machines, f"{name} ({detail})")
        return _get(conn, group.name)
