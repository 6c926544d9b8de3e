"""dnf and yum: upgrading exactly the pinned NEVRAs, their transaction lines, what they did.

``dnf -y --setopt=exit_on_lock=True upgrade NAME-[EPOCH:]VERSION-RELEASE.ARCH …`` (yum:
``update``) upgrades those packages to exactly those versions (research/backends.md §2.4);
``exit_on_lock`` makes a held lock fail at once (exit 200; yum exit 1) instead of waiting
forever (§2.6). Then ``rpm -q`` reports every named package's installed versions, and
``needs-restarting -r`` the reboot state (§2.5).

What dnf 4 prints, as captured from the real dnf (tests/data/platforms/dnf-upgrade*.txt):
``  Upgrading        : foo-1.1-1.noarch      2/6`` per transaction element, then a
``Verifying`` pass numbered again from 1; a package whose scriptlet fails is listed under
``Failed:`` and dnf ends with ``Error: Transaction failed`` (exit 1) after installing the
others; a version no repository offers is ``No match for argument: NEVRA`` (exit 0 when
something else was upgraded, else ``Error: No packages marked for upgrade.``, exit 1); one whose
dependencies cannot be met is listed under ``Skipped:``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from backends.platforms import dnf
from backends.platforms.probe import Answer, Section, SectionOutput, clip, section, tail
from backends.platforms.reboot import needs_restarting
from backends.platforms.records import (
    InstallOutcome,
    InstallProgress,
    Pinned,
    PlatformError,
    split_items,
)

NAME_RE = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_.+-]*\Z")
ARCH_RE = re.compile(r"[A-Za-z0-9_]+\Z")
QUERY_FORMAT = r"%{NAME}.%{ARCH}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n"
DOWNLOAD_SHARE = 10.0
VERIFY_SHARE = 10.0  # the Verifying pass, at the end

_TRANSACTION_RE = re.compile(
    r"\s+(?P<action>[A-Z][a-z]+(?: [a-z]+)?)\s*:\s+(?P<what>\S*)\s+"
    r"(?P<n>\d{1,6})/(?P<total>\d{1,6})\s*\Z"
)
_DOWNLOAD_RE = re.compile(r"\((?P<n>\d{1,6})/(?P<total>\d{1,6})\): (?P<what>\S+)")
_SCRIPTLET_RE = re.compile(
    r"error: %(?P<which>\w+)\((?P<nevra>[^)]*)\) scriptlet failed, (?P<why>.*)\Z"
)
_INSTALL_FAILED_RE = re.compile(r"error: (?P<nevra>\S+): install failed\Z")
_NO_MATCH_RE = re.compile(r"No match for argument: (?P<spec>\S+)\Z")
_PROBLEM_RE = re.compile(r"\s*(?:Problem(?: \d+)?: |- )(?P<text>.*)\Z")


def _split(platform_id: str) -> tuple[str, str]:
    name, _, arch = platform_id.rpartition(".")
    return name, arch


def check_item(item: Pinned) -> None:
    name, arch = _split(item.platform_id)
    if not NAME_RE.match(name) or not ARCH_RE.match(arch):
        raise ValueError(f"not an rpm name.arch: {item.platform_id!r}")
    if item.version is not None and not dnf._EVR_RE.match(item.version):
        raise ValueError(f"not an rpm [epoch:]version-release: {item.version!r}")


def spec(item: Pinned) -> str:
    """What dnf is told to upgrade: the NEVRA, or ``name.arch`` for an unpinned item."""
    name, arch = _split(item.platform_id)
    return f"{name}-{item.version}.{arch}" if item.version else item.platform_id


def sections(manager: str, items: Sequence[Pinned]) -> tuple[Section, ...]:
    verb = "upgrade" if manager == "dnf" else "update"
    names = sorted({_split(item.platform_id)[0] for item in items})
    return (
        section(
            f"{manager}-install",
            manager,
            "-y",
            dnf._NO_LOCK_WAIT,
            verb,
            *(spec(item) for item in items),
        ),  # fmt: skip
        section(f"{manager}-installed", "rpm", "-q", "--qf", QUERY_FORMAT, *names),
        section(dnf.NEEDS_RESTARTING, "needs-restarting", "-r"),
    )


# -- progress ---------------------------------------------------------------------------------


def progress_line(line: str) -> InstallProgress | None:
    """``  Upgrading        : foo-1.1-1.noarch    2/6`` (and ``Preparing``, ``Cleanup``,
    ``Running scriptlet``, ``Verifying`` …) or a finished download ``(2/3): foo….rpm …``."""
    line = line.rstrip("\r")
    if match := _TRANSACTION_RE.match(line):
        n, total = int(match.group("n")), int(match.group("total"))
        if not 0 < n <= total:
            return None
        action = match.group("action")
        what = match.group("what") or None
        share = 100 - DOWNLOAD_SHARE - VERIFY_SHARE
        if action == "Verifying":
            percent = 100 - VERIFY_SHARE + VERIFY_SHARE * n / total
        elif action == "Preparing":
            percent = DOWNLOAD_SHARE
        else:
            percent = DOWNLOAD_SHARE + share * n / total
        item = clip(what, 120) if what else None
        return InstallProgress(percent, item, clip(f"{action} {what or ''}".strip(), 200))
    if match := _DOWNLOAD_RE.match(line):
        n, total = int(match.group("n")), int(match.group("total"))
        if not 0 < n <= total:
            return None
        what = clip(match.group("what"), 120)
        return InstallProgress(DOWNLOAD_SHARE * n / total, None, f"Downloaded {what}")
    return None


# -- outcome ----------------------------------------------------------------------------------


def outcome(manager: str, answer: Answer, items: Sequence[Pinned]) -> InstallOutcome:
    install = answer.get(f"{manager}-install")
    if install is None:
        missing_section = f"the install output lacks its {manager}-install section"
        return InstallOutcome(
            installed=(),
            failed=tuple((item.platform_id, missing_section) for item in items),
            error=missing_section,
            error_kind="unparseable",
        )
    lines = install.lines
    reasons, unavailable = _package_failures(lines)
    error, kind = _error(manager, install, lines, reasons, unavailable)
    rows = _rows(answer.get(f"{manager}-installed"))
    reboot = needs_restarting(answer.get(dnf.NEEDS_RESTARTING))
    installed, failed = split_items(
        items, lambda item: _item_failure(item, rows, reasons, unavailable, error)
    )
    shown = "\n".join(line for line in lines if progress_line(line) is None)
    return InstallOutcome(
        installed=installed,
        failed=failed,
        error=error,
        error_kind=kind,
        reboot_required=reboot.required,
        tail=tail(shown),
    )


def _name_of_nevra(nevra: str) -> str:
    """``broken-0:1.1-1.noarch`` -> ``broken`` (the name is everything before the last two
    dashes)."""
    parts = nevra.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else nevra


def _package_failures(lines: list[str]) -> tuple[dict[str, str], set[str]]:
    """Why packages failed (by name), and the specs no repository offers."""
    reasons: dict[str, str] = {}
    unavailable: set[str] = set()
    heading: str | None = None
    problem = ""
    for line in lines:
        stripped = line.strip()
        if match := _SCRIPTLET_RE.match(stripped):
            reasons.setdefault(
                _name_of_nevra(match.group("nevra")),
                f"its %{clip(match.group('which'), 20)} scriptlet failed, "
                f"{clip(match.group('why'), 80)}",
            )
        elif match := _INSTALL_FAILED_RE.match(stripped):
            reasons.setdefault(_name_of_nevra(match.group("nevra")), "rpm failed to install it")
        elif match := _NO_MATCH_RE.match(stripped):
            unavailable.add(match.group("spec"))
        elif (match := _PROBLEM_RE.match(line)) and not problem:
            problem = clip(match.group("text"), 200)
        if line and not line[0].isspace():
            heading = line.rstrip(":") if line.endswith(":") else None
            continue
        if heading in ("Failed", "Skipped") and stripped:
            for nevra in stripped.split():
                name = _name_of_nevra(nevra)
                if heading == "Failed":
                    reasons.setdefault(name, "the transaction failed for it")
                else:
                    why = f": {problem}" if problem else ""
                    reasons.setdefault(
                        name, f"skipped by {'dnf'}: its dependencies cannot be met{why}"
                    )
    return reasons, unavailable


def _error(
    manager: str,
    install: SectionOutput,
    lines: list[str],
    reasons: dict[str, str],
    unavailable: set[str],
) -> tuple[str | None, str | None]:
    try:
        dnf.check_status(install, f"{manager} upgrade", ok=(0,))
    except PlatformError as exc:
        if exc.kind == "locked":
            return (
                f"{manager} could not take the package lock: {str(exc).split(': ', 1)[-1]}; "
                "nothing was installed",
                "locked",
            )
    if reasons:
        names = sorted(reasons)
        shown = ", ".join(clip(name, 60) for name in names[:5])
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        first = names[0]
        return (
            f"{len(names)} package(s) failed to install: {shown}{more} ({first}: {reasons[first]})",
            "command-failed",
        )
    if unavailable:
        shown = ", ".join(clip(spec, 80) for spec in sorted(unavailable)[:5])
        return (
            f"the repositories no longer offer {shown} (plan again)",
            "command-failed",
        )
    # dnf writes "Error: …" to stderr: merged, it may land in the middle of a line
    errors = [line[line.index("Error: ") :] for line in lines if "Error: " in line]
    if install.status != 0 or errors:
        detail = "; ".join(clip(line, 200) for line in errors[:3]) or tail(install.body, 3)
        return (
            f"{manager} upgrade failed (exit {install.status}): {detail or 'no output'}",
            "command-failed",
        )
    return None, None


def _evr(text: str) -> tuple[str, str]:
    """``[epoch:]version-release`` -> (epoch, version-release) with a missing epoch as 0."""
    epoch, colon, rest = text.partition(":")
    if not colon:
        return "0", text
    return ("0" if epoch in ("", "(none)") else epoch), rest


def _rows(output: SectionOutput | None) -> dict[str, set[tuple[str, str]]] | None:
    """name.arch -> its installed (epoch, version-release)s (kernels: several); ``None`` when
    rpm did not answer (its exit status is the number of names not installed)."""
    if output is None or output.status > 255 or (output.status and not output.body):
        return None
    rows: dict[str, set[tuple[str, str]]] = {}
    for line in output.lines:
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or " " in fields[0]:
            continue  # "package foo is not installed" and anything unreadable
        rows.setdefault(fields[0], set()).add(_evr(fields[1].strip()))
    return rows


def _item_failure(
    item: Pinned,
    rows: dict[str, set[tuple[str, str]]] | None,
    reasons: dict[str, str],
    unavailable: set[str],
    error: str | None,
) -> str | None:
    if rows is None:
        return error or "unknown: the output ended before rpm reported the installed versions"
    versions = rows.get(item.platform_id)
    name = _split(item.platform_id)[0]
    if versions and (
        _evr(item.version) in versions if item.version is not None else name not in reasons
    ):
        return None
    if name in reasons:
        return reasons[name]
    if spec(item) in unavailable:
        version = clip(item.version or "", 60)
        return f"version {version} is no longer offered by the repositories (plan again)"
    if not versions:
        return "not installed on the machine"
    current = ", ".join(sorted(f"{e}:{vr}" if e != "0" else vr for e, vr in versions))
    return f"still at {clip(current, 120)}" + (f": {error}" if error else "")
