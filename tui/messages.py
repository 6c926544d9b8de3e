"""Messages that workers post to screens; workers never touch widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from backends.inventory.records import Machine


@dataclass
class MachinesLoaded(Message):
    machines: list[Machine]
    filter_text: str
    total: int
