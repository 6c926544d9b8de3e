"""Confirmation before destructive commands: default No, and never without a terminal."""

from __future__ import annotations

import sys

from tui.cli.exits import DECLINED, CliError


def confirm(question: str, assume_yes: bool) -> None:
    """Return if confirmed; otherwise end the command with exit code 3."""
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise CliError("no terminal to confirm on: pass --yes to go ahead", DECLINED)
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise CliError("declined: nothing was changed", DECLINED)
