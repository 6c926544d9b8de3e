"""What goes wrong while importing: one :class:`ImportProblem` per fault, all of them in
:class:`ImportFailed`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One fault in an import file, located by file and (1-based) line."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ImportFailed(Exception):
    """The file could not be imported; ``problems`` lists every fault found, in file order."""

    def __init__(self, problems: Iterable[ImportProblem]) -> None:
        self.problems: list[ImportProblem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
