"""What ``run-due`` has to do now: deployments' occurrences that have come, and groups'
periodic scans that are due.

Each occurrence is taken once. Those ``run-due`` has not claimed yet are looked at, from the
deployment's latest claimed occurrence (or from when its schedule was set) up to ``now``:

* one whose window has passed (less than the reboot reserve of it remains, so a run could
  neither install nor reboot) is **missed**: recorded as such, never run late;
* of those still in their window, the newest is **due**; an older one still in its window
  (``run-due`` did not run for a while) is missed too, superseded by the newer one.

Claiming (:func:`backends.inventory.schedules.claim_occurrence`) is what makes an occurrence
start once even when two ``run-due`` processes look at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backends.engine.schedule import occurrences_between
from backends.inventory.deployments import Deployment, list_deployments
from backends.inventory.group_scans import GroupScanSchedule, scan_schedules
from backends.inventory.runs import REBOOT_RESERVE
from backends.inventory.schedules import latest_claims
from backends.inventory.store import Store

_BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
_RESERVE = f"{int(REBOOT_RESERVE.total_seconds() // 60)}m"


def _z(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DueOccurrence:
    """One occurrence of a deployment's schedule that has come and is not claimed yet."""

    deployment: Deployment
    occurrence: datetime
    window_end: datetime
    missed: bool
    reason: str = ""  # why it is missed


@dataclass(frozen=True, slots=True)
class Due:
    occurrences: tuple[DueOccurrence, ...]
    scans: tuple[GroupScanSchedule, ...]


def window_end(deployment: Deployment, occurrence: datetime) -> datetime:
    return occurrence + timedelta(minutes=deployment.options.window_minutes)


def _occurrences(deployment: Deployment, start: datetime, now: datetime) -> list[DueOccurrence]:
    schedule = deployment.schedule
    assert schedule is not None
    found = occurrences_between(schedule, start, now)
    due: list[DueOccurrence] = []
    newest_open: datetime | None = None
    for occurrence in reversed(found):  # newest first
        end = window_end(deployment, occurrence)
        if now >= end - REBOOT_RESERVE:
            reason = (
                f"its window ended at {_z(end)}"
                if now >= end
                else f"only the {_RESERVE} reboot reserve of its window (to {_z(end)}) remained"
            )
            due.append(DueOccurrence(deployment, occurrence, end, True, reason))
        elif newest_open is None:
            newest_open = occurrence
            due.append(DueOccurrence(deployment, occurrence, end, False))
        else:
            reason = f"superseded by the occurrence at {_z(newest_open)}"
            due.append(DueOccurrence(deployment, occurrence, end, True, reason))
    return sorted(due, key=lambda d: d.occurrence)


def due_occurrences(store: Store, now: datetime) -> Due:
    """The deployments' occurrences in ``(latest claim, now]`` (each unclaimed one, due or
    missed) and the groups whose periodic scan is due, as of ``now``."""
    cursors = latest_claims(store)
    occurrences: list[DueOccurrence] = []
    for deployment in list_deployments(store):
        if deployment.schedule is None:
            continue
        start = cursors.get(deployment.id, _BEGINNING)
        occurrences.extend(_occurrences(deployment, start, now))
    scans = tuple(s for s in scan_schedules(store) if s.due(now))
    return Due(tuple(occurrences), scans)
