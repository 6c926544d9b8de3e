"""What a run sends to a Linux machine to install its plan, and how to read the answers.

Pure, like the scan (docs/install-script.md is the contract): every function takes text and
returns records or a :class:`~backends.platforms.records.Command`; the runner runs the commands.

    command = install_command("apt", items, nonce=n, lock_timeout=600)   # privileged Command
    # run it, streaming stdout lines:
    progress_line("apt", line)      # InstallProgress | None for each line, as it arrives
    display_line("apt", line)       # the text to show an operator for that line, or None
    install_outcome("apt", Result(status, stdout, stderr), items, n)     # InstallOutcome
    reboot_command(nonce=n)         # privileged; then reboot_error(result, n)
    boot_id_command(nonce=n)        # unprivileged; then read_boot_id(result, n)

- **apt**: ``apt-get install --only-upgrade -y PKG=VERSION …`` non-interactive, keeping
  changed conffiles, waiting at most ``lock_timeout`` seconds for the dpkg lock, progress on
  ``APT::Status-Fd=3`` opened inside the privileged shell (:mod:`.apt_install`).
- **dnf / yum**: ``dnf -y --setopt=exit_on_lock=True upgrade NAME-EVR.ARCH …`` (exactly those
  NEVRAs), progress from the transaction lines (:mod:`.rpm_install`).
- **zypper**: ``zypper -n -x install`` of exactly those patches (``patch:NAME``) and packages
  (``NAME.ARCH=EDITION``), waiting at most ``lock_timeout`` for the lock
  (``ZYPP_LOCK_TIMEOUT``), progress from its XML ``<progress>`` elements (:mod:`.zypper_install`).

Every install script ends by asking the package database what is installed now (``dpkg-query``,
``rpm -q``, ``zypper -x info``) and the machine's reboot state, so an outcome's ``installed``
is what the machine has, not what the output claims. Every item ends in ``installed`` or in
``failed`` with a reason.

**Locks.** apt and zypper wait for the package lock themselves, at most ``lock_timeout``
seconds. dnf and yum cannot wait a bounded time (they wait forever, or with ``exit_on_lock``
not at all), so their install fails at once with ``error_kind == "locked"``: the runner repeats
the same command every :data:`LOCK_RETRY_SECONDS` until ``lock_timeout`` has passed
(:func:`waits_for_lock` says which managers need that).

**Reboot.** ``shutdown -r +0``: it schedules the reboot at once and returns, so its status
usually arrives before sshd goes away; when the connection drops first (or the answer is cut
inside the reboot section) the reboot has begun all the same: only the boot id proves it.
``shutdown`` is on every Linux (systemd's ``shutdown`` is ``systemctl``'s; sysvinit and busybox
have their own), where ``systemctl reboot`` would not be.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from backends.platforms import apt_install, rpm_install, zypper_install
from backends.platforms.probe import (
    Answer,
    build_script,
    check_nonce,
    clip,
    section,
    split_answer,
    tail,
)
from backends.platforms.records import (
    Command,
    InstallOutcome,
    InstallProgress,
    Pinned,
    PlatformError,
    Result,
)

__all__ = [
    "BOOT_ID_TIMEOUT",
    "INSTALL_TIMEOUT",
    "LOCK_RETRY_SECONDS",
    "MANAGERS",
    "REBOOT_TIMEOUT",
    "InstallOutcome",
    "InstallProgress",
    "Pinned",
    "boot_id_command",
    "display_line",
    "install_command",
    "install_outcome",
    "progress_line",
    "read_boot_id",
    "reboot_command",
    "reboot_error",
    "waits_for_lock",
]

MANAGERS = ("apt", "dnf", "yum", "zypper")
INSTALL_TIMEOUT = 3600.0  # the install itself, on top of the lock wait
LOCK_RETRY_SECONDS = 15.0
REBOOT_TIMEOUT = 60.0
BOOT_ID_TIMEOUT = 30.0

REBOOT = section("reboot", "shutdown", "-r", "+0", "patchdeck: rebooting to complete updates")
BOOT_ID = section("boot-id", "cat", "/proc/sys/kernel/random/boot_id")
_MARKER_RE = re.compile(r"@@patchdeck:[0-9a-f]{16}:")
_BOOT_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _check_manager(manager: str) -> None:
    if manager not in MANAGERS:
        raise ValueError(f"not a package manager: {manager!r} (one of {', '.join(MANAGERS)})")


def waits_for_lock(manager: str) -> bool:
    """Whether the manager's install waits for a held package lock by itself (apt, zypper);
    for dnf and yum the runner retries a ``locked`` outcome (see the module's docstring)."""
    _check_manager(manager)
    return manager in ("apt", "zypper")


def install_command(
    manager: str,
    items: Sequence[Pinned],
    *,
    nonce: str,
    lock_timeout: int,
    timeout: float = INSTALL_TIMEOUT,
) -> Command:
    """The privileged script that installs exactly ``items`` at their pinned versions.

    Raises ``ValueError`` for an unknown manager, no items, a negative ``lock_timeout``, or an
    item whose platform id or version is not one the manager's own syntax allows (a name
    starting with ``-`` would be read as an option): plan items come from a scan, which
    only records such names."""
    _check_manager(manager)
    check_nonce(nonce)
    if not items:
        raise ValueError("nothing to install")
    if lock_timeout < 0:
        raise ValueError(f"lock_timeout must be >= 0, not {lock_timeout}")
    if manager == "apt":
        for item in items:
            apt_install.check_item(item)
        script = build_script(
            nonce, common=apt_install.sections(items, lock_timeout), env=apt_install.ENV
        )
    elif manager in ("dnf", "yum"):
        for item in items:
            rpm_install.check_item(item)
        script = build_script(nonce, common=rpm_install.sections(manager, items))
    else:
        for item in items:
            zypper_install.check_item(item)
        script = build_script(
            nonce,
            common=zypper_install.sections(items),
            env=(("ZYPP_LOCK_TIMEOUT", str(lock_timeout)),),
        )
    wait = lock_timeout if waits_for_lock(manager) else 0
    return Command(script, privileged=True, timeout=timeout + wait)


def progress_line(manager: str, line: str) -> InstallProgress | None:
    """The progress one line of the install's output reports, or ``None`` for any other line
    (which the runner shows as output). Never raises for what a machine prints."""
    _check_manager(manager)
    if len(line) > 4096:
        return None
    if manager == "apt":
        return apt_install.progress_line(line)
    if manager in ("dnf", "yum"):
        return rpm_install.progress_line(line)
    return zypper_install.progress_line(line)


def display_line(manager: str, line: str) -> str | None:
    """What an operator should read of one line of the install's output: the line itself,
    ``None`` for apt's machine-readable Status-Fd lines and zypper's progress and prompt
    elements, a message's text for zypper's ``<message>`` elements; ``None`` for the
    script's own marker lines too."""
    _check_manager(manager)
    if _MARKER_RE.match(line):
        return None
    if manager == "apt":
        return None if apt_install.is_status_line(line) else line
    if manager == "zypper":
        return zypper_install.display_line(line)
    return line


def install_outcome(
    manager: str, result: Result, items: Sequence[Pinned], nonce: str
) -> InstallOutcome:
    """What the install did, from its whole answer. Never raises for what a machine prints:
    an answer that cannot be read is an outcome with ``error_kind`` ``unparseable`` (or
    ``sudo-password``) and every item failed with that reason."""
    _check_manager(manager)
    check_nonce(nonce)
    try:
        answer = split_answer(result, nonce, "install")
    except PlatformError as exc:
        return _failed(items, str(exc), exc.kind, result)
    if manager == "apt":
        return apt_install.outcome(answer, items)
    if manager in ("dnf", "yum"):
        return rpm_install.outcome(manager, answer, items)
    return zypper_install.outcome(answer, items)


def _failed(items: Sequence[Pinned], error: str, kind: str, result: Result) -> InstallOutcome:
    everything = "\n".join(part for part in (result.stdout, result.stderr) if part.strip())
    return InstallOutcome(
        installed=(),
        failed=tuple((item.platform_id, error) for item in items),
        error=error,
        error_kind=kind,
        tail=tail(everything),
    )


# -- reboot and boot id -----------------------------------------------------------------------


def reboot_command(*, nonce: str) -> Command:
    """The privileged ``shutdown -r +0`` (see the module's docstring)."""
    return Command(build_script(nonce, common=(REBOOT,)), privileged=True, timeout=REBOOT_TIMEOUT)


def reboot_error(result: Result, nonce: str) -> str | None:
    """``None`` when the reboot was accepted, or may have been (the answer was cut, as a
    reboot cuts it); else why it was refused, in words."""
    check_nonce(nonce)
    if result.exit_status is None:
        return None  # the connection went first
    try:
        answer = split_answer(result, nonce, "reboot")
    except PlatformError as exc:
        if exc.kind == "unparseable" and f"@@patchdeck:{nonce}:reboot" in result.stdout:
            return None  # cut inside the section: the machine went down
        return str(exc)
    output = answer.get(REBOOT.name)
    if output is None:
        return "the reboot output lacks its section"
    if output.status == 0:
        return None
    detail = tail(output.body, 3) or "no output"
    return f"shutdown -r refused to reboot (exit {output.status}): {detail}"


def boot_id_command(*, nonce: str) -> Command:
    """Read ``/proc/sys/kernel/random/boot_id``: a new one after a reboot."""
    return Command(build_script(nonce, common=(BOOT_ID,)), timeout=BOOT_ID_TIMEOUT)


def read_boot_id(result: Result, nonce: str) -> str | None:
    """The boot id the answer carries, or ``None`` when it carries none."""
    check_nonce(nonce)
    try:
        answer: Answer = split_answer(result, nonce, "boot id")
    except PlatformError:
        return None
    output = answer.get(BOOT_ID.name)
    if output is None or output.status != 0:
        return None
    value = clip(output.body.strip(), 64)
    return value if _BOOT_ID_RE.match(value) else None
