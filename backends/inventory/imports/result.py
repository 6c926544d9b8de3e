"""What a format parser hands back: the machines it found (with where) and the problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.inventory.imports.errors import ImportProblem
from backends.inventory.records import MachineSpec


@dataclass(frozen=True, slots=True)
class Found:
    """A machine and the place that defines it (its first mention)."""

    path: str
    line: int
    spec: MachineSpec


@dataclass(slots=True)
class Parsed:
    machines: list[Found] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    def problem(self, path: str, line: int, message: str) -> None:
        self.problems.append(ImportProblem(path, line, message))
