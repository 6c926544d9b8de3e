"""The scripts a scan sends to a Linux machine, and the splitting of their answers.

docs/scan-script.md is the contract: every script is a short POSIX ``sh`` script made only of
the line forms listed there, and every section of its output is framed by marker lines that
carry a per-script random nonce::

    @@patchdeck:<nonce>:<section>
    …what the section's commands printed (stdout and stderr merged)…
    @@patchdeck:<nonce>:end:<exit status of the section's last command>

The answer is split by those markers only, never by what the commands printed: a section's
body may contain anything, including text that looks like a marker with another nonce.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from backends.platforms.records import PlatformError, Result

MARKER_PREFIX = "@@patchdeck"
NONCE_RE = re.compile(r"[0-9a-f]{16}\Z")
SECTION_RE = re.compile(r"[a-z][a-z0-9-]*\Z")
# A program named in a script: a plain command name, found on the machine's PATH.
PROGRAM_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")

TAIL_LINES = 8
TAIL_CHARS = 600


def new_nonce() -> str:
    """16 lowercase hex digits, new for every script."""
    return secrets.token_hex(8)


def check_nonce(nonce: str) -> str:
    if not NONCE_RE.match(nonce):
        raise ValueError(f"a nonce is 16 lowercase hex digits, not {nonce!r}")
    return nonce


@dataclass(frozen=True, slots=True)
class Step:
    """One command of a section. ``quiet`` discards its output: only its status matters.
    ``status_fd`` also opens descriptor 3 onto the output (``3>&1 2>&1``), for apt's
    ``APT::Status-Fd=3`` progress lines (docs/install-script.md)."""

    argv: tuple[str, ...]
    quiet: bool = False
    status_fd: bool = False

    def line(self) -> str:
        if not self.argv or not PROGRAM_RE.match(self.argv[0]):
            raise ValueError(f"not a program name: {self.argv[:1]!r}")
        words = " ".join(shlex.quote(word) for word in self.argv)
        if self.quiet:
            return f"{words} >/dev/null 2>&1"
        return f"{words} 3>&1 2>&1" if self.status_fd else f"{words} 2>&1"


@dataclass(frozen=True, slots=True)
class Section:
    """A framed part of the answer: its marker, its commands, its end line."""

    name: str
    steps: tuple[Step, ...]

    def lines(self, nonce: str) -> list[str]:
        if not SECTION_RE.match(self.name):
            raise ValueError(f"not a section name: {self.name!r}")
        if not self.steps:
            raise ValueError(f"section {self.name!r} has no command")
        return [
            f"echo '{MARKER_PREFIX}:{nonce}:{self.name}'",
            *(step.line() for step in self.steps),
            f'echo "{MARKER_PREFIX}:{nonce}:end:$?"',
        ]


def section(name: str, *argv: str, quiet: bool = False) -> Section:
    """A section of one command."""
    return Section(name, (Step(tuple(argv), quiet),))


@dataclass(frozen=True, slots=True)
class Branch:
    """Sections run when ``program`` is on the machine's PATH (``command -v``)."""

    program: str
    sections: tuple[Section, ...]


ENV_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*\Z")
ENV_VALUE_RE = re.compile(r"[A-Za-z0-9_.,:/+-]*\Z")


def build_script(
    nonce: str,
    common: Sequence[Section] = (),
    branches: Sequence[Branch] = (),
    otherwise: Sequence[Section] = (),
    env: Sequence[tuple[str, str]] = (),
) -> str:
    """``export LC_ALL=C``, ``export NAME=value`` for each of ``env`` (plain words that need
    no quoting), the ``common`` sections, then the sections of the first branch whose program
    exists (``if``/``elif``, never nested), else the ``otherwise`` sections."""
    check_nonce(nonce)
    lines = ["export LC_ALL=C"]
    for name, value in env:
        if not ENV_NAME_RE.match(name) or not ENV_VALUE_RE.match(value):
            raise ValueError(f"not a plain variable assignment: {name}={value!r}")
        lines.append(f"export {name}={value}")
    for part in common:
        lines += part.lines(nonce)
    for index, branch in enumerate(branches):
        if not PROGRAM_RE.match(branch.program):
            raise ValueError(f"not a program name: {branch.program!r}")
        keyword = "if" if index == 0 else "elif"
        lines.append(f"{keyword} command -v {branch.program} >/dev/null 2>&1; then")
        for part in branch.sections:
            lines += part.lines(nonce)
    if branches and otherwise:
        lines.append("else")
    for part in otherwise:
        lines += part.lines(nonce)
    if branches:
        lines.append("fi")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class SectionOutput:
    body: str
    status: int

    @property
    def lines(self) -> list[str]:
        return self.body.split("\n") if self.body else []


@dataclass(frozen=True, slots=True)
class Answer:
    """A machine's answer to one script, split into its sections."""

    sections: dict[str, SectionOutput]
    stray: tuple[str, ...]  # non-empty lines outside every section (shell errors, banners)
    exit_status: int | None

    def get(self, name: str) -> SectionOutput | None:
        return self.sections.get(name)


def clip(text: str, limit: int = 120) -> str:
    """``text`` shortened to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last non-empty lines of ``text``, bounded, for an operator to read."""
    kept = [line.rstrip() for line in text.split("\n") if line.strip()][-lines:]
    joined = "\n".join(kept)
    return joined if len(joined) <= chars else "…" + joined[-(chars - 1) :]


def _lines(text: str) -> list[str]:
    # Split on "\n" only: untrusted text may hold other characters str.splitlines() breaks on.
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _markers(text: str, nonce: str) -> Iterator[tuple[int, int, str]]:
    """Each marker line of ``nonce`` in ``text``: where the line starts, where it ends (its
    newline, or the end of the text) and what follows ``PREFIX:NONCE:`` on it. Lines that
    look like markers of another nonce are text the machine printed. ``str.find`` jumps from
    one candidate to the next, so a long answer is not read character by character."""
    needle = f"{MARKER_PREFIX}:{nonce}:"
    at = text.find(needle)
    while at != -1:
        end = text.find("\n", at)
        end = len(text) if end == -1 else end
        if at == 0 or text[at - 1] == "\n":
            yield at, end, text[at + len(needle) : end]
        at = text.find(needle, end)


def split_answer(result: Result, nonce: str, what: str = "scan") -> Answer:
    """The sections of ``result``'s stdout framed with ``nonce``.

    Raises :class:`PlatformError`: ``sudo-password`` when sudo wanted a password,
    ``unparseable`` when no section was found, a section was not closed (the connection
    dropped or the output was truncated), or a section came twice."""
    check_nonce(nonce)
    text = result.stdout
    sections: dict[str, SectionOutput] = {}
    stray: list[str] = []
    current: str | None = None
    start = 0  # where the current section's body, or the text outside sections, begins
    for line_start, line_end, rest in _markers(text, nonce):
        rest = rest[:-1] if rest.endswith("\r") else rest
        status = rest[4:] if rest.startswith("end:") else ""
        if status.isascii() and status.isdigit() and len(status) <= 5:
            if current is None:
                raise PlatformError(
                    "unparseable", f"the {what} output has an end marker outside any section"
                )
            sections[current] = SectionOutput(_body(text, start, line_start), int(status))
            current, start = None, line_end + 1
            continue
        if not SECTION_RE.match(rest):
            line = text[line_start:line_end]
            raise PlatformError(
                "unparseable", f"the {what} output has a malformed marker: {clip(line)!r}"
            )
        if current is not None:
            raise PlatformError(
                "unparseable",
                f"the {what} output of section {current!r} has no end marker before section "
                f"{rest!r}: the output was cut",
            )
        if rest in sections:
            raise PlatformError("unparseable", f"the {what} output has section {rest!r} twice")
        stray += _stray(text[start:line_start])
        current, start = rest, line_end + 1
    if current is not None:
        how = (
            "the connection closed or the command was killed"
            if result.exit_status is None
            else "the output was truncated"
        )
        raise PlatformError(
            "unparseable",
            f"the {what} output ended inside section {current!r} without its end marker: {how}",
        )
    stray += _stray(text[start:])
    if not sections:
        raise _no_sections(result, what)
    return Answer(sections, tuple(stray), result.exit_status)


def _body(text: str, start: int, end: int) -> str:
    """The lines between a marker line ending before ``start`` and one starting at ``end``."""
    body = text[start : max(start, end - 1)]
    return "\n".join(_lines(body)) if "\r" in body else body


def _stray(text: str) -> list[str]:
    return [line for line in _lines(text) if line.strip()] if text.strip() else []


def _no_sections(result: Result, what: str) -> PlatformError:
    everything = "\n".join(part for part in (result.stdout, result.stderr) if part.strip())
    if "a password is required" in everything or "a terminal is required" in everything:
        return PlatformError(
            "sudo-password",
            f"the {what} needs root and sudo on this machine asks for a password "
            f"(sudo -n refused): {tail(everything, 2)}",
        )
    status = "no exit status" if result.exit_status is None else f"exit {result.exit_status}"
    detail = tail(everything) or "no output"
    return PlatformError(
        "unparseable", f"the {what} printed no patchdeck sections ({status}): {detail}"
    )
