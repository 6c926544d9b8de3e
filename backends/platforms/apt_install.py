"""apt: installing exactly the pinned versions, its progress lines, and what it did.

The install is one privileged script (docs/install-script.md)::

    apt-get install --only-upgrade -y -q --no-install-recommends
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
        -o DPkg::Lock::Timeout=N -o Dpkg::Use-Pty=0 -o APT::Status-Fd=3 PKG=VERSION … 3>&1 2>&1

with ``DEBIAN_FRONTEND=noninteractive`` (no debconf questions), ``NEEDRESTART_MODE=l``
(needrestart lists, never restarts), ``APT_LISTCHANGES_FRONTEND=none`` and
``UCF_FORCE_CONFFOLD=1`` (keep locally changed ucf files, as ``--force-confold`` does for dpkg's
own conffiles) exported first (research/backends.md §1.4). ``3>&1`` opens the Status-Fd inside
the privileged shell (sudo closes descriptors above 2), so apt's ``pmstatus``/``dlstatus``
lines arrive on the output among apt's and dpkg's own (§1.7). Then ``dpkg-query`` reports each
package's version and state, so what was installed is read from dpkg's database, not guessed
from messages; and the reboot flag files (§1.6).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from backends.platforms import apt
from backends.platforms.probe import Answer, Section, SectionOutput, Step, clip, section, tail
from backends.platforms.reboot import apt_reboot
from backends.platforms.records import InstallOutcome, InstallProgress, Pinned, split_items

INSTALL = "apt-install"
INSTALLED = "apt-installed"
SECTIONS = (INSTALL, INSTALLED, apt.REBOOT_FLAG, apt.REBOOT_PKGS)

ENV: tuple[tuple[str, str], ...] = (
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("NEEDRESTART_MODE", "l"),
    ("APT_LISTCHANGES_FRONTEND", "none"),
    ("UCF_FORCE_CONFFOLD", "1"),
)
# dpkg-query expands the \t and \n itself.
QUERY_FORMAT = r"${Package}\t${Architecture}\t${Version}\t${db:Status-Abbrev}\n"
VERSION_RE = re.compile(r"[A-Za-z0-9.+~:-]+\Z")  # Debian policy §5.6.12

DOWNLOAD_SHARE = 10.0  # percent of the bar for downloading; dpkg's work takes the rest


def check_item(item: Pinned) -> None:
    if not apt.PACKAGE_RE.match(item.platform_id):
        raise ValueError(f"not an apt package name: {item.platform_id!r}")
    if item.version is not None and not VERSION_RE.match(item.version):
        raise ValueError(f"not a Debian version: {item.version!r} (of {item.platform_id})")


def sections(items: Sequence[Pinned], lock_timeout: int) -> tuple[Section, ...]:
    specs = [
        f"{item.platform_id}={item.version}" if item.version else item.platform_id for item in items
    ]
    install = (
        "apt-get", "install", "--only-upgrade", "-y", "-q", "--no-install-recommends",
        "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
        "-o", f"DPkg::Lock::Timeout={lock_timeout}", "-o", "Dpkg::Use-Pty=0",
        "-o", "APT::Status-Fd=3", *specs,
    )  # fmt: skip
    names = sorted({item.platform_id for item in items})
    return (
        Section(INSTALL, (Step(install, status_fd=True),)),
        section(INSTALLED, "dpkg-query", "-W", f"--showformat={QUERY_FORMAT}", *names),
        *apt.LISTING[1:],  # reboot-flag, reboot-pkgs
    )


# -- progress ---------------------------------------------------------------------------------


def progress_line(line: str) -> InstallProgress | None:
    """A ``pmstatus:<package>:<percent>:<message>`` or ``dlstatus:<n>:<percent>:<message>``
    line of apt's Status-Fd (``dpkg-exec`` is apt's pseudo-package for "running dpkg")."""
    if not line.startswith(("pmstatus:", "dlstatus:")):
        return None
    parts = line.rstrip("\r").split(":", 3)
    if len(parts) != 4:
        return None
    kind, what, number, message = parts
    percent = _percent(number)
    if percent is None:
        return None
    if kind == "dlstatus":
        return InstallProgress(percent * DOWNLOAD_SHARE / 100, None, clip(message, 200))
    item = None if what == "dpkg-exec" or not what else clip(what, 120)
    scaled = DOWNLOAD_SHARE + percent * (100 - DOWNLOAD_SHARE) / 100
    return InstallProgress(scaled, item, clip(message, 200))


def _percent(text: str) -> float | None:
    if len(text) > 20:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return min(max(value, 0.0), 100.0)


def is_status_line(line: str) -> bool:
    return line.startswith(("pmstatus:", "dlstatus:", "pmerror:", "pmconffile:", "media-change:"))


# -- outcome ----------------------------------------------------------------------------------

_PROCESSING_ERROR_RE = re.compile(
    r"dpkg: error processing (?:package|archive) (?P<name>\S+?)(?::\S+)? \("
)
_VERSION_GONE_RE = re.compile(
    r"E: Version '(?P<version>[^']*)' for '(?P<name>[^']*)' was not found"
)
_LOCK_FAILED_RE = re.compile(
    r"Could not get lock|Unable to acquire the dpkg frontend lock|"
    r"Unable to lock the administration directory"
)
_UNKNOWN_RE = re.compile(r"E: Unable to locate package (?P<name>\S+)")


def outcome(answer: Answer, items: Sequence[Pinned]) -> InstallOutcome:
    install = answer.get(INSTALL)
    if install is None:
        missing_section = "the install output lacks its apt-install section"
        return InstallOutcome(
            installed=(),
            failed=tuple((item.platform_id, missing_section) for item in items),
            error=missing_section,
            error_kind="unparseable",
        )
    lines = install.lines
    shown = "\n".join(line for line in lines if not is_status_line(line))
    broken, reasons = _dpkg_failures(lines)
    error, kind = _error(install, lines, broken, reasons)
    rows = _rows(answer.get(INSTALLED))
    reboot = apt_reboot(answer.get(apt.REBOOT_FLAG), answer.get(apt.REBOOT_PKGS))

    installed, failed = split_items(
        items, lambda item: _item_failure(item, rows, broken, reasons, error)
    )
    return InstallOutcome(
        installed=installed,
        failed=failed,
        error=error,
        error_kind=kind,
        reboot_required=reboot.required,
        tail=tail(shown),
    )


def _dpkg_failures(lines: list[str]) -> tuple[set[str], dict[str, str]]:
    """The packages dpkg names under "Errors were encountered while processing:", and for
    each the reason it gave (the indented line after ``dpkg: error processing package``)."""
    broken: set[str] = set()
    reasons: dict[str, str] = {}
    listing = False
    for number, line in enumerate(lines):
        if match := _PROCESSING_ERROR_RE.match(line):
            name = match.group("name")
            following = lines[number + 1].strip() if number + 1 < len(lines) else ""
            reasons.setdefault(name, clip(following or line, 200))
            continue
        if line.startswith("pmerror:"):
            parts = line.split(":", 3)
            if len(parts) == 4 and parts[1]:
                name = parts[1].split("/")[-1].split("_")[0]  # a package, or a .deb's path
                reasons.setdefault(name, clip(parts[3].strip(), 200))
            continue
        if line.startswith("Errors were encountered while processing:"):
            listing = True
            continue
        if listing:
            if line.startswith(" ") and line.strip():
                name = line.strip().split("/")[-1].split("_")[0].split(":")[0]
                broken.add(name)
                continue
            listing = False
    return broken, reasons


def _error(
    install: SectionOutput, lines: list[str], broken: set[str], reasons: dict[str, str]
) -> tuple[str | None, str | None]:
    errors = [line for line in lines if line.startswith("E: ")]
    if any(_LOCK_FAILED_RE.search(line) for line in errors):
        # The holder is named on the E: line (no timeout) or on the last "Waiting for cache
        # lock" line (with DPkg::Lock::Timeout, whose E: line names no one).
        named = [m for line in lines if (m := apt._LOCK_RE.search(line)) is not None]
        match = named[-1] if named else None
        path = match.group("path") if match else "/var/lib/dpkg/lock-frontend"
        pid, prog = (match.group("pid"), match.group("prog")) if match else (None, None)
        holder = (
            (f"{clip(prog, 60)} (process {pid})" if prog else f"process {pid}")
            if pid
            else "another process"
        )
        return (
            f"the package lock {clip(path, 80)} was still held by {holder} when apt stopped "
            "waiting for it (the lock timeout); nothing was installed",
            "locked",
        )
    for line in errors:
        if "dpkg was interrupted" in line:
            return (
                "dpkg was interrupted by an earlier install and must be repaired first: run "
                "'dpkg --configure -a' on the machine; nothing was installed",
                "command-failed",
            )
        if match := _VERSION_GONE_RE.match(line):
            return (
                f"version {clip(match.group('version'), 60)} of {clip(match.group('name'), 60)} "
                "is no longer offered by the repositories (plan again); nothing was installed",
                "command-failed",
            )
        if match := _UNKNOWN_RE.match(line):
            return (
                f"the repositories do not know the package {clip(match.group('name'), 60)} "
                "(plan again); nothing was installed",
                "command-failed",
            )
    if broken or reasons:
        names = sorted(broken or reasons)
        first = names[0]
        why = reasons.get(first)
        shown = ", ".join(clip(name, 60) for name in names[:5])
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        return (
            f"{len(names)} package(s) failed to install or configure: {shown}{more}"
            + (f" ({first}: {why})" if why else ""),
            "command-failed",
        )
    if errors:
        shown_errors = "; ".join(clip(line[3:], 200) for line in errors[:3])
        return f"apt-get install failed (exit {install.status}): {shown_errors}", "command-failed"
    if install.status != 0:
        return (
            f"apt-get install failed (exit {install.status}): "
            f"{tail(install.body, 3) or 'no output'}",
            "command-failed",
        )
    return None, None


# (package, arch) -> (version, dpkg state abbreviation)
_Rows = dict[tuple[str, str], tuple[str, str]]


def _rows(output: SectionOutput | None) -> _Rows | None:
    if output is None:
        return None
    rows: _Rows = {}
    for line in output.lines:
        fields = line.split("\t")
        if len(fields) != 4 or not apt.PACKAGE_RE.match(fields[0]):
            continue  # "dpkg-query: no packages found matching …" and anything unreadable
        name, arch, version, state = fields
        rows[(name, arch)] = (version, state.strip())
    return rows


def _item_failure(
    item: Pinned,
    rows: _Rows | None,
    broken: set[str],
    reasons: dict[str, str],
    error: str | None,
) -> str | None:
    name, _, arch = item.platform_id.partition(":")
    if rows is None:
        return error or "unknown: the output ended before dpkg reported the installed versions"
    found = [
        value for (row_name, row_arch), value in rows.items()
        if row_name == name and (not arch or row_arch in (arch, "all"))
    ]  # fmt: skip
    found = [value for value in found if value[1] != "un"]
    if name in broken or name in reasons:
        why = reasons.get(name)
        return "failed to install or configure" + (f": {why}" if why else "")
    if not found:
        return "not installed on the machine: apt only upgrades installed packages"
    wanted = item.version
    at_version = [state for version, state in found if wanted is None or version == wanted]
    if at_version and all(state == "ii" for state in at_version):
        return None
    if at_version:
        return (
            f"left unfinished by dpkg (state {clip(at_version[0], 4)}): it is unpacked but "
            "not configured"
        )
    current = ", ".join(sorted({clip(version, 60) for version, _ in found}))
    return f"still at {current}" + (f": {error}" if error else "")
