"""The one vocabulary of progress that the console, the CLI and ``--json`` all consume.

Scans emit the same events as runs, with ``run_id`` set to ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backends.inventory.records import Update


@dataclass(frozen=True, slots=True)
class MachineState:
    run_id: int | None
    machine: str
    state: str  # connecting, scanning, … (DESIGN.md "Run")
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    run_id: int | None
    machine: str
    percent: float
    item: str = ""


@dataclass(frozen=True, slots=True)
class OutputLine:
    run_id: int | None
    machine: str
    text: str


@dataclass(frozen=True, slots=True)
class ScanSummary:
    ok: bool
    os_family: str
    error: str | None = None
    error_kind: str | None = None
    distro: str | None = None
    version: str | None = None
    reboot_required: bool | None = None
    missing: dict[str, int] = field(default_factory=dict)
    updates: tuple[Update, ...] = ()
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanDone:
    machine: str
    summary: ScanSummary


@dataclass(frozen=True, slots=True)
class RunDone:
    run_id: int
    totals: dict[str, int]


Event = MachineState | Progress | OutputLine | ScanDone | RunDone
Publish = Callable[[Event], None]
