"""Driving a platform's sans-I/O generator over a connection: each yielded command is run on
the machine and its result sent back until the generator returns its answer."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

from backends.platforms.records import Command, Result
from backends.transports.base import Connection

T = TypeVar("T")


async def run_rounds(rounds: Generator[Command, Result, T], connection: Connection) -> T:
    """Run ``rounds``' commands on ``connection`` (privileged ones through ``sudo -n``) until
    it returns; its :class:`~backends.platforms.records.PlatformError` and the transport's
    errors propagate."""
    command = next(rounds)
    while True:
        output = await connection.run(
            command.script, privileged=command.privileged, timeout=command.timeout
        )
        try:
            command = rounds.send(Result(output.exit_status, output.stdout, output.stderr))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
