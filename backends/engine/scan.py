"""Scanning machines: bounded concurrency, a time limit per machine, results written as they
come, events published after they are written.

Each machine's outcome (facts and every update, or the failure in words) is recorded complete;
what finished while the database was busy goes in together in the next transaction, so a crash
keeps every machine recorded before it. A failing machine never affects another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from backends.engine.commands import run_rounds
from backends.engine.connections import ConnectionPool
from backends.engine.defaults import SCAN_CONCURRENCY, SCAN_TIMEOUT
from backends.engine.events import MachineState, Publish, ScanDone, ScanSummary
from backends.inventory.records import CLASSIFICATIONS, Machine, ScanReport, Update
from backends.inventory.scans import (
    apt_policy_hints,
    record_scans,
    recorded_digests,
    updates_digest,
)
from backends.inventory.store import Store
from backends.inventory.tables import utcnow
from backends.platforms import linux, windows
from backends.platforms.records import Assessment, Assessor, PlatformError
from backends.transports.base import TransportError

log = logging.getLogger(__name__)

# How long a finished machine may wait for others to be written with it.
WRITE_GATHER_SECONDS = 0.1
# Failures that mean the machine did not answer at all.
_UNREACHABLE = {"unreachable", "timeout"}
# Failures before the machine was asked anything: whether it answers is not known.
_NOT_ASKED = {"no-credentials", "unsupported"}


# What a caller keeps from one scan to the next, by machine name (see :func:`scan`).
ScanMemory = dict[str, linux.Recall]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    concurrency: int = SCAN_CONCURRENCY
    timeout: float = SCAN_TIMEOUT
    refresh: bool = False


def _assessor(
    machine: Machine,
    options: ScanOptions,
    policy_hint: Sequence[str],
    recall: linux.Recall | None,
) -> Assessor:
    """Windows machines get the Windows Update search over WinRM; the others the Linux
    rounds (``--refresh`` means nothing to Windows: its search asks the update service)."""
    windows_os = machine.os_family == "windows"
    if windows_os != (machine.transport == "winrm"):
        how = "over WinRM (--transport winrm)" if windows_os else "over SSH or locally"
        raise PlatformError(
            "unsupported",
            f"{machine.name} is a {machine.os_family} machine: patchdeck assesses it {how}, "
            f"not over {machine.transport}",
        )
    if windows_os:
        return windows.assess()
    return linux.assess(
        refresh=options.refresh,
        policy_hint=policy_hint,
        expect=linux.likely_manager(machine.distro, machine.version),
        recall=recall,
    )


def _updates(assessment: Assessment) -> tuple[Update, ...]:
    return tuple(
        Update(
            platform_id=u.platform_id,
            name=u.name,
            installed=u.installed,
            available=u.available,
            classification=u.classification,
            severity=u.severity,
            advisories=u.advisories,
            source=u.source,
            reboot_likely=u.reboot_likely,
        )
        for u in assessment.updates
    )


def _converted(assessment: Assessment) -> tuple[tuple[Update, ...], str]:
    updates = _updates(assessment)
    return updates, updates_digest(updates)


def scan_report(
    machine_id: int, assessment: Assessment, recall: linux.Recall | None = None
) -> ScanReport:
    """What a successful assessment records about the machine. With the machine's ``recall``,
    updates the last scan already converted are not converted again."""
    memo = recall if recall is not None else linux.Recall()
    updates, digest = memo.derive("updates", assessment.updates, lambda: _converted(assessment))
    facts = assessment.facts
    return ScanReport(
        machine_id=machine_id,
        at=utcnow(),
        ok=True,
        reachable=True,
        distro=facts.distro,
        version=facts.version,
        reboot_pending=facts.reboot_required,
        updates=updates,
        updates_digest=digest,
    )


def missing_counts(os_family: str, updates: Sequence[Update]) -> dict[str, int]:
    counts = dict.fromkeys(CLASSIFICATIONS.get(os_family, ()), 0)
    for update in updates:
        counts[update.classification] = counts.get(update.classification, 0) + 1
    return counts


async def _scan_one(
    machine: Machine,
    options: ScanOptions,
    pool: ConnectionPool,
    publish: Publish,
    policy_hint: Sequence[str] = (),
    recall: linux.Recall | None = None,
) -> tuple[ScanReport, ScanSummary]:
    publish(MachineState(None, machine.name, "connecting"))
    reached = False
    try:
        async with asyncio.timeout(options.timeout):
            assessor = _assessor(machine, options, policy_hint, recall)
            connection = await pool.get(machine)
            reached = True
            publish(MachineState(None, machine.name, "scanning"))
            assessment = await run_rounds(assessor, connection)
    except TransportError as exc:
        await pool.discard(machine.name)
        reachable = reached or exc.kind not in _UNREACHABLE
        return _failed(machine, exc.kind, str(exc), None if exc.kind in _NOT_ASKED else reachable)
    except PlatformError as exc:
        return _failed(machine, exc.kind, str(exc), True if reached else None)
    except TimeoutError:
        await pool.discard(machine.name)
        reason = f"the scan did not finish within {options.timeout:g} s"
        return _failed(machine, "timeout", reason, reached or None)
    except Exception as exc:  # a bug must cost one machine, never the scan
        log.exception("scan of %s failed", machine.name)
        return _failed(machine, "internal", f"internal error: {exc!r}", None)
    report = scan_report(machine.id, assessment, recall)
    updates = report.updates
    facts = assessment.facts
    summary = ScanSummary(
        ok=True,
        os_family=facts.family,
        distro=facts.distro,
        version=facts.version,
        reboot_required=facts.reboot_required,
        missing=missing_counts(facts.family, updates),
        updates=updates,
        notes=tuple(assessment.notes),
        problems=tuple(assessment.problems),
    )
    return report, summary


def _failed(
    machine: Machine, kind: str, reason: str, reachable: bool | None
) -> tuple[ScanReport, ScanSummary]:
    at: datetime = utcnow()
    report = ScanReport(
        machine_id=machine.id, at=at, ok=False, error=reason, error_kind=kind, reachable=reachable
    )
    summary = ScanSummary(
        ok=False,
        os_family=machine.os_family,
        error=reason,
        error_kind=kind,
        distro=machine.distro,
        version=machine.version,
        missing=dict(machine.missing),
    )
    return report, summary


async def scan(
    store: Store,
    machines: Sequence[Machine],
    publish: Publish,
    pool: ConnectionPool,
    options: ScanOptions | None = None,
    memory: ScanMemory | None = None,
) -> dict[str, ScanSummary]:
    """Scan ``machines``; returns each one's summary by name once all are recorded.

    ``memory``, kept by the caller from one scan to the next (with the pool, say), lets a
    re-scan skip parsing what a machine answered word for word last time."""
    options = options or ScanOptions()
    limit = asyncio.Semaphore(max(1, options.concurrency))
    finished: asyncio.Queue[tuple[Machine, ScanReport, ScanSummary] | None] = asyncio.Queue()
    results: dict[str, ScanSummary] = {}
    ids = [m.id for m in machines]
    hints = await asyncio.to_thread(apt_policy_hints, store, ids)
    recorded = await asyncio.to_thread(recorded_digests, store, ids)

    async def one(machine: Machine) -> None:
        async with limit:
            recall = None if memory is None else memory.setdefault(machine.name, linux.Recall())
            report, summary = await _scan_one(
                machine, options, pool, publish, hints.get(machine.id, ()), recall
            )
        await finished.put((machine, report, summary))

    async def writer() -> None:
        done = False
        while not done:
            batch = [await finished.get()]
            if batch[0] is not None:
                # Let the machines finishing about now share the transaction: many small
                # writes cost the scan more than a moment's wait costs the display.
                await asyncio.sleep(WRITE_GATHER_SECONDS)
            while not finished.empty():
                batch.append(finished.get_nowait())
            done = batch[-1] is None
            items = [item for item in batch if item is not None]
            reports = [report for _, report, _ in items]
            await asyncio.to_thread(record_scans, store, reports, recorded)
            for machine, _, summary in items:
                results[machine.name] = summary
                publish(ScanDone(machine.name, summary))

    writing = asyncio.create_task(writer())
    try:
        async with asyncio.TaskGroup() as group:
            for machine in machines:
                group.create_task(one(machine))
    finally:
        await finished.put(None)
        await writing
    return results
