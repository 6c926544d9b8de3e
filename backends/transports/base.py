"""What every transport offers the engine, and the failures it reports in words."""

from __future__ import annotations

import codecs
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# Remote output beyond this is refused: a machine cannot fill our memory.
MAX_OUTPUT = 32 * 1024 * 1024

LineSink = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a machine is and who to log in as."""

    name: str
    address: str
    port: int
    user: str | None = None
    identity_file: str | None = None


@dataclass(frozen=True, slots=True)
class Output:
    exit_status: int | None  # None: killed by a signal, or no status before the channel closed
    stdout: str
    stderr: str


class TransportError(Exception):
    """A machine could not be reached or did not answer. ``kind`` is one of
    unreachable, auth-refused, host-key-unknown, host-key-changed, timeout, sudo-password,
    connection-lost, output-too-large; ``str()`` is the reason in words."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Connection(Protocol):
    endpoint: Endpoint

    @property
    def is_root(self) -> bool: ...

    async def run(
        self,
        script: str,
        *,
        privileged: bool = False,
        timeout: float | None = None,
        on_line: LineSink | None = None,
    ) -> Output: ...

    async def close(self) -> None: ...

    def is_open(self) -> bool: ...


def sudo_wrap(script: str) -> str:
    """Run ``script`` as root without ever prompting: a password request fails at once."""
    return f"sudo -n sh -c {shlex.quote(script)}"


SUDO_PASSWORD_MARKS = ("sudo: a password is required", "sudo: a terminal is required")


def check_sudo(output: Output, endpoint: Endpoint) -> Output:
    if output.exit_status == 1 and any(mark in output.stderr for mark in SUDO_PASSWORD_MARKS):
        raise TransportError(
            "sudo-password",
            f"sudo needs a password on {endpoint.name}: allow the login user to run the "
            "package manager with NOPASSWD in sudoers, or log in as root",
        )
    return output


class Collector:
    """Gathers a stream's text, hands complete lines to ``on_line`` as they arrive, and refuses
    more than :data:`MAX_OUTPUT` characters."""

    def __init__(self, endpoint: Endpoint, on_line: LineSink | None = None) -> None:
        self.endpoint = endpoint
        self.on_line = on_line
        self.parts: list[str] = []
        self.size = 0
        self._partial = ""

    def feed(self, chunk: str) -> None:
        self.size += len(chunk)
        if self.size > MAX_OUTPUT:
            raise TransportError(
                "output-too-large",
                f"{self.endpoint.name} printed more than {MAX_OUTPUT // (1024 * 1024)} MiB; "
                "the command was stopped",
            )
        self.parts.append(chunk)
        if self.on_line is not None:
            lines = (self._partial + chunk).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self.on_line(line)

    async def drain(self, stream: Any, binary: bool = False) -> None:
        """Feed everything ``stream`` yields until its end; ``binary`` streams are decoded
        as UTF-8 with bad bytes replaced (remote text is never trusted to be valid)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace") if binary else None
        while chunk := await stream.read(65536):
            self.feed(decoder.decode(chunk) if decoder else chunk)
        if decoder is not None:
            self.feed(decoder.decode(b"", final=True))

    def text(self) -> str:
        if self.on_line is not None and self._partial:
            self.on_line(self._partial)
            self._partial = ""
        return "".join(self.parts)
