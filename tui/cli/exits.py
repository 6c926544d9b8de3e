"""Exit codes (DESIGN.md "Interfaces") and the error that carries a one-line message to the user."""

from __future__ import annotations

OK = 0
NOT_ALL_SUCCEEDED = 1
FAILED = 1  # the command could not do its work (the demo's fleet did not start)
USAGE = 2
DECLINED = 3
INTERRUPTED = 130


class CliError(Exception):
    """Ends the command with ``code`` after printing ``message`` (one line) on stderr."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code
