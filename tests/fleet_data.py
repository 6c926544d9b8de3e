"""A deterministic inventory of scanned machines, written through the service API.

Machine ``i`` is ``m-00042`` (``linux``, or ``windows`` every tenth), scanned ``i`` minutes
before ``NOW``; it misses ``updates`` updates taken from a shared catalogue, a quarter of them
security ones (critical too on Windows); every seventh machine needs a reboot, every thirteenth
was unreachable at its last scan, and the last ``unscanned`` were never scanned.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backends.inventory.machines import import_machines, list_machines
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import record_scans, updates_digest
from backends.inventory.store import Store
from backends.inventory.validation import build_spec

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SEVERITIES = ("Critical", "Important", "Moderate", "Low", None)


def catalogue_update(n: int, windows: bool) -> Update:
    if windows:
        classification = ("critical", "security", "updates", "definition")[n % 4]
        name = f"KB{5000000 + n}"
    else:
        classification = "security" if n % 4 == 0 else "other"
        name = f"pkg-{n:04d}"
    return Update(
        platform_id=name,
        name=name,
        installed=f"1.{n}",
        available=f"1.{n + 1}",
        classification=classification,
        severity=SEVERITIES[n % 5] if classification != "other" else None,
        advisories=(f"DSA-{n}-1",) if classification == "security" else (),
        source="bookworm-security" if classification == "security" else "bookworm",
    )


def fill(
    store: Store, machines: int, updates: int, unscanned: int = 0, catalogue: int = 400
) -> None:
    specs = [
        build_spec(
            name=f"m-{i:05d}",
            address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            transport="winrm" if i % 10 == 9 else "ssh",
            environment=("prod", "stage", "dev")[i % 3],
            tags=(("env", ("prod", "stage", "dev")[i % 3]), ("rack", f"r{i % 20}")),
        )
        for i in range(machines)
    ]
    import_machines(store, specs, source="fleet_data")
    by_name = {m.name: m for m in list_machines(store)}
    reports = []
    for i in range(machines - unscanned):
        machine = by_name[f"m-{i:05d}"]
        windows = machine.os_family == "windows"
        at = NOW - timedelta(minutes=i)
        if i % 13 == 12:
            reports.append(
                ScanReport(machine.id, at, ok=False, error="cannot reach it", reachable=False)
            )
            continue
        found = tuple(catalogue_update((i * 7 + k) % catalogue, windows) for k in range(updates))
        reports.append(
            ScanReport(
                machine.id,
                at,
                ok=True,
                reachable=True,
                distro="windows" if windows else "debian",
                version="2022" if windows else "12",
                reboot_pending=i % 7 == 0,
                updates=found,
                updates_digest=updates_digest(found),
            )
        )
    for start in range(0, len(reports), 500):
        record_scans(store, reports[start : start + 500])
