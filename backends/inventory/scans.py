"""Recording scan results: a machine's facts and its missing updates, replaced as a whole.

Many machines finish a scan within moments of each other; ``record_scans`` writes whatever has
finished in one transaction, each machine complete (facts and every update) or not at all, so a
crash keeps every machine recorded before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from sqlalchemy import bindparam, delete, or_, select

from backends.inventory.bulk import chunks, insert_rows
from backends.inventory.machines import MACHINE, UPDATE
from backends.inventory.records import ScanReport, Update
from backends.inventory.store import Store

# os-release IDs of the distributions patchdeck reads with apt.
APT_DISTROS = ("debian", "ubuntu", "linuxmint", "pop", "raspbian", "kali")

_UPDATE_COLUMNS = (
    "machine_id",
    "platform_id",
    "name",
    "installed_version",
    "available_version",
    "classification",
    "severity",
    "advisories",
    "source",
    "reboot_likely",
)


def updates_digest(updates: Sequence[Update]) -> str:
    """A digest of everything recorded about ``updates``, in any order."""
    rows = sorted(
        (
            u.platform_id,
            u.name,
            u.installed or "",
            u.available or "",
            u.classification,
            u.severity or "",
            u.advisories,
            u.source or "",
            u.reboot_likely,
        )
        for u in _unique(updates)
    )
    return hashlib.blake2b(repr(rows).encode(), digest_size=16).hexdigest()


def recorded_digests(store: Store, machine_ids: Sequence[int]) -> dict[int, str | None]:
    digests: dict[int, str | None] = {}
    with store.read() as session:
        conn = session.connection()
        for chunk in chunks(list(machine_ids)):
            query = select(MACHINE.c.id, MACHINE.c.updates_digest).where(MACHINE.c.id.in_(chunk))
            digests.update({machine_id: digest for machine_id, digest in conn.execute(query)})
    return digests


def record_scans(
    store: Store, reports: Sequence[ScanReport], recorded: Mapping[int, str | None] | None = None
) -> None:
    """Record ``reports``. ``recorded`` (machine id → the updates digest read at the start of
    the scan) lets an unchanged machine keep its rows: only its facts are written."""
    if not reports:
        return
    recorded = recorded or {}
    ok = [r for r in reports if r.ok]
    changed = [
        r for r in ok if r.updates_digest is None or recorded.get(r.machine_id) != r.updates_digest
    ]
    with store.write() as session:
        conn = session.connection()
        if ok:
            conn.execute(
                MACHINE.update().where(MACHINE.c.id == bindparam("b_id")),
                [
                    {
                        "b_id": r.machine_id,
                        "last_scan_at": r.at,
                        "last_scan_outcome": "ok",
                        "last_scan_error": None,
                        "reachable": True,
                        "distro": r.distro,
                        "version": r.version,
                        "reboot_pending": r.reboot_pending,
                        "updates_digest": r.updates_digest,
                    }
                    for r in ok
                ],
            )
        if changed:
            for chunk in chunks([r.machine_id for r in changed]):
                conn.execute(delete(UPDATE).where(UPDATE.c.machine_id.in_(chunk)))
            rows = [
                (
                    r.machine_id,
                    u.platform_id,
                    u.name,
                    u.installed,
                    u.available,
                    u.classification,
                    u.severity,
                    u.advisories,
                    u.source,
                    u.reboot_likely,
                )
                for r in changed
                for u in _unique(r.updates)
            ]
            # One time for the batch: these machines' scans finished within moments.
            found_at = max(r.at for r in changed)
            insert_rows(conn, UPDATE, _UPDATE_COLUMNS, rows, {"found_at": found_at})
        failed = [r for r in reports if not r.ok]
        if failed:
            # A failed scan keeps what the last good scan found: it is still the best knowledge.
            conn.execute(
                MACHINE.update().where(MACHINE.c.id == bindparam("b_id")),
                [
                    {
                        "b_id": r.machine_id,
                        "last_scan_at": r.at,
                        "last_scan_outcome": "failed",
                        "last_scan_error": r.error,
                        "reachable": r.reachable,
                    }
                    for r in failed
                ],
            )


def _unique(updates: Sequence[Update]) -> list[Update]:
    seen: set[str] = set()
    kept = []
    for update in updates:
        if update.platform_id not in seen:
            seen.add(update.platform_id)
            kept.append(update)
    return kept


def machine_updates(
    store: Store, machine_id: int | None = None, classifications: Sequence[str] = ()
) -> list[tuple[int, Update]]:
    """``(machine id, update)`` pairs from the last scans, optionally for one machine."""
    query = select(UPDATE).order_by(UPDATE.c.machine_id, UPDATE.c.classification, UPDATE.c.name)
    if machine_id is not None:
        query = query.where(UPDATE.c.machine_id == machine_id)
    if classifications:
        query = query.where(UPDATE.c.classification.in_(list(classifications)))
    with store.read() as session:
        rows = session.connection().execute(query).all()
    return [
        (
            row.machine_id,
            Update(
                platform_id=row.platform_id,
                name=row.name,
                installed=row.installed_version,
                available=row.available_version,
                classification=row.classification,
                severity=row.severity,
                advisories=tuple(row.advisories or ()),
                source=row.source,
                reboot_likely=bool(row.reboot_likely),
            ),
        )
        for row in rows
    ]


def apt_policy_hints(store: Store, machine_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Per machine, the packages its last scan had to look up with ``apt-cache policy``: those
    whose candidate was not from a security suite (other updates, and security ones found
    masked). A re-scan asks for them up front and usually needs one round trip, not two."""
    hints: dict[int, list[str]] = {}
    with store.read() as session:
        conn = session.connection()
        for chunk in chunks(list(machine_ids)):
            query = (
                select(UPDATE.c.machine_id, UPDATE.c.name)
                .join(MACHINE, MACHINE.c.id == UPDATE.c.machine_id)
                .where(
                    UPDATE.c.machine_id.in_(chunk),
                    MACHINE.c.distro.in_(APT_DISTROS),
                    or_(UPDATE.c.source.is_(None), UPDATE.c.source.not_like("%-security%")),
                )
            )
            for machine_id, name in conn.execute(query):
                hints.setdefault(machine_id, []).append(name)
    return {machine_id: tuple(names) for machine_id, names in hints.items()}
