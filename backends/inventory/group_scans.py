"""Periodic scans of computer groups (``group edit NAME --scan-every 6h``), which ``run-due``
begins when they are due, so that compliance stays fresh without anyone pressing a key.

A group's scan is due when it never ran or began ``scan_every`` ago or more. ``run-due`` claims
it with a compare-and-set on ``last_scheduled_scan_at`` (the update applies only while the
column still holds what was read), so of two processes that see it due only one scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from backends.inventory import audit
from backends.inventory.durations import DurationError, parse_duration
from backends.inventory.groups import GROUP, Group, _get
from backends.inventory.store import Store
from backends.inventory.tables import utcnow
from backends.inventory.validation import FieldError

MIN_SCAN_EVERY = timedelta(minutes=5)
OFF = ("", "off", "never")


@dataclass(frozen=True, slots=True)
class GroupScanSchedule:
    """A group with a periodic scan: how often, and when run-due last began one."""

    group_id: int
    group: str
    every: timedelta
    last: datetime | None

    def due(self, now: datetime) -> bool:
        return self.last is None or self.last + self.every <= now


def check_scan_every(text: str) -> timedelta | None:
    """``--scan-every``: a duration of at least 5 minutes (``6h``, ``1d``); ``off`` (or an
    empty value) stops the periodic scan."""
    clean = text.strip().lower()
    if clean in OFF:
        return None
    try:
        every = parse_duration(clean)
    except DurationError as exc:
        raise FieldError("scan-every", text, f"{exc}: write it like 6h, 1d or 30m") from None
    if every < MIN_SCAN_EVERY:
        raise FieldError("scan-every", text, "is shorter than 5m")
    return every


def set_scan_every(store: Store, name: str, every: timedelta | None) -> Group:
    """Give the group ``name`` a periodic scan every ``every`` (``None``: none). Audited."""
    with store.write() as session:
        conn = session.connection()
        group = _get(conn, name)
        seconds = int(every.total_seconds()) if every is not None else None
        conn.execute(
            GROUP.update()
            .where(GROUP.c.id == group.id)
            .values(scan_every_seconds=seconds, updated_at=utcnow())
        )
        detail = f"{name}: scan every {seconds}s" if seconds else f"{name}: no periodic scan"
        audit.record(session, "group.edit", group.machines, detail)
        return _get(conn, name)


def scan_schedules(store: Store) -> list[GroupScanSchedule]:
    """Every group with a periodic scan, by name."""
    query = (
        select(GROUP.c.id, GROUP.c.name, GROUP.c.scan_every_seconds, GROUP.c.last_scheduled_scan_at)
        .where(GROUP.c.scan_every_seconds.is_not(None))
        .order_by(GROUP.c.name)
    )
    with store.read() as session:
        rows = session.connection().execute(query).all()
    return [
        GroupScanSchedule(group_id, name, timedelta(seconds=every), last)
        for group_id, name, every, last in rows
        if every
    ]


def claim_group_scan(store: Store, schedule: GroupScanSchedule, now: datetime) -> bool:
    """Claim a due periodic scan: ``True`` for the one process whose compare-and-set on
    ``last_scheduled_scan_at`` (still as ``schedule.last`` read it) went through."""
    column = GROUP.c.last_scheduled_scan_at
    seen = column.is_(None) if schedule.last is None else column == schedule.last
    with store.write() as session:
        done = session.connection().execute(
            GROUP.update()
            .where(GROUP.c.id == schedule.group_id, seen)
            .values(last_scheduled_scan_at=now)
        )
        return bool(done.rowcount == 1)
