"""The audit trail: who (the local user), when, what, on which machines. Never secrets."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backends.inventory.records import AuditEntry
from backends.inventory.store import Store
from backends.inventory.tables import AuditRow, utcnow

AUDIT = AuditRow.__table__  # type: ignore[attr-defined]


def local_user() -> str:
    """The operator's login name, as the audit trail records it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def record(
    session: Session,
    action: str,
    machines: Iterable[str],
    detail: str = "",
    user: str | None = None,
) -> None:
    """Add an audit entry inside the caller's write transaction."""
    session.connection().execute(
        AUDIT.insert().values(
            at=utcnow(),
            user=user or local_user(),
            action=action,
            machines=list(machines),
            detail=detail,
        )
    )


def list_audit(
    store: Store, since: datetime | None = None, machine: str | None = None
) -> list[AuditEntry]:
    """The audit trail, oldest first: from ``since`` on, and only the entries that name
    ``machine`` when given."""
    query = select(AUDIT).order_by(AUDIT.c.at, AUDIT.c.id)
    if since is not None:
        query = query.where(AUDIT.c.at >= since)
    with store.read() as session:
        rows = session.connection().execute(query).all()
    if machine is not None:  # a JSON list: filtered here, the same on SQLite and PostgreSQL
        rows = [r for r in rows if machine in (r.machines or ())]
    return [
        AuditEntry(
            id=r.id,
            at=r.at,
            user=r.user,
            action=r.action,
            machines=tuple(r.machines),
            detail=r.detail,
        )
        for r in rows
    ]
