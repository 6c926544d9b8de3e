"""The records platforms produce, and the sans-I/O protocol the engine drives them with.

A platform never runs anything. Its assessment is a generator: it yields a :class:`Command`,
the engine runs it over whatever transport reaches the machine and sends back a
:class:`Result`, and the generator finally returns an :class:`Assessment`. Tests drive the same
generator with captured outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Command:
    """Shell text for ``sh -c`` on a Linux machine (every script sets ``LC_ALL=C`` itself), or
    a PowerShell script for a Windows one. ``privileged`` commands need root: the engine runs
    them through ``sudo -n`` for other users (WinRM runs everything as the account logged in)."""

    script: str
    privileged: bool = False
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Result:
    exit_status: int | None  # None: killed by a signal or the channel closed without a status
    stdout: str
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class FoundUpdate:
    """One update missing on one machine."""

    platform_id: str  # package (apt, dnf, yum), patch or package (zypper), UpdateID (Windows)
    name: str  # package, patch or KB
    installed: str | None  # None: a new package pulled in by the upgrade
    available: str | None
    classification: str  # linux: security | other
    severity: str | None = None  # Critical / Important / Moderate / Low where the platform says
    advisories: tuple[str, ...] = ()
    source: str | None = None  # repository or suite
    reboot_likely: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    family: str = "linux"
    distro: str | None = None  # os-release ID: debian, ubuntu, rhel, rocky, sles, …
    version: str | None = None  # os-release VERSION_ID
    pretty_name: str | None = None
    package_manager: str | None = None  # apt | dnf | yum | zypper
    boot_id: str | None = None
    reboot_required: bool | None = None
    reboot_packages: tuple[str, ...] = ()


@dataclass(slots=True)
class Assessment:
    facts: Facts
    updates: list[FoundUpdate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unreadable lines, reported not fatal
    notes: list[str] = field(default_factory=list)  # e.g. why everything is "other"


class PlatformError(Exception):
    """The machine's answer cannot be used. ``str()`` says why in words an operator reads,
    with the tail of the output where it helps."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # unparseable | command-failed | unsupported | locked | sudo-password


Assessor = Generator[Command, Result, Assessment]


# -- installing (backends/platforms/install.py) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Pinned:
    """One plan item to install: its platform id as the scan found it (apt: the package,
    ``name:arch`` for a foreign one; dnf/yum: ``name.arch``; zypper: ``patch:NAME`` or
    ``name.arch``), its name, and the version the plan pinned (apt: the version; dnf/yum:
    ``[epoch:]version-release``; zypper: the patch's or package's edition). ``None`` installs
    whatever the repositories offer now."""

    platform_id: str
    name: str
    version: str | None


@dataclass(frozen=True, slots=True)
class InstallProgress:
    """What one line of an install's output says about its progress: the overall percent
    (0-100, only ever an estimate: downloads take 0-10, the package manager's own passes
    10-100), the package or patch being worked on (``None`` between items), and the line's
    message in the tool's words."""

    percent: float
    item: str | None
    message: str


def split_items(
    items: Sequence[Pinned], failure: Callable[[Pinned], str | None]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """``items`` as an outcome lists them: the ids ``failure`` finds nothing wrong with, then
    each other id with its reason."""
    installed: list[str] = []
    failed: list[tuple[str, str]] = []
    for item in items:
        reason = failure(item)
        if reason is None:
            installed.append(item.platform_id)
        else:
            failed.append((item.platform_id, reason))
    return tuple(installed), tuple(failed)


@dataclass(frozen=True, slots=True)
class InstallOutcome:
    """What an install did. Every item is either in ``installed`` (at its pinned version
    afterwards, whether this run or an earlier one put it there) or in ``failed`` with the
    reason in words. ``error`` says why the install as a whole went wrong (``None`` when it
    did not), ``error_kind`` is ``locked``, ``command-failed``, ``sudo-password`` or
    ``unparseable``. ``reboot_required`` is the machine's reboot state after the install
    (``None``: unknown). ``rerun`` is set when the package manager updated itself first and
    asks for the same command again (zypper's exit 103). ``tail`` is the end of the output,
    for an operator."""

    installed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    error: str | None = None
    error_kind: str | None = None
    reboot_required: bool | None = None
    rerun: bool = False
    tail: str = ""
