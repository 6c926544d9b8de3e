"""Messages that workers post to screens; workers never touch widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from backends.inventory.compliance import Compliance
from backends.inventory.fleet_updates import FleetUpdate, MissingOn
from backends.inventory.machine_status import MachineStatus
from backends.inventory.records import Machine, Update


@dataclass
class MachinesLoaded(Message):
    machines: list[MachineStatus]
    first: bool = False  # only the first screenful, by name: the rest follows


@dataclass
class MachinesRefreshed(Message):
    """Fresh rows for machines a scan just recorded (and the ids asked for, gone or not)."""

    machines: list[MachineStatus]
    asked: list[int]


@dataclass
class ComplianceLoaded(Message):
    compliance: Compliance
    seconds: float  # how long the query took: the next refresh waits accordingly


@dataclass
class UpdatesLoaded(Message):
    updates: list[FleetUpdate]
    filter_text: str
    seconds: float


@dataclass
class MissingOnLoaded(Message):
    machines: list[MissingOn]


@dataclass
class MachineLoaded(Message):
    machine: Machine
    updates: list[Update]
