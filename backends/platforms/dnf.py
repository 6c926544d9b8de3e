"""RHEL, CentOS, Rocky, Alma, Oracle Linux, Fedora: dnf, and yum on EL7.

Listing: ``dnf -q check-update`` (exit 100 = updates, 0 = none, 1 = error, 200 = lock), rows
``name.arch  [epoch:]version-release  repo`` where an over-wide column is followed by a newline
and the rest of the row indented (dnf/cli/output.py ``fmtColumns``); ``Obsoleting Packages``
ends the rows. Security: ``dnf -q updateinfo list --updates`` rows
``ADVISORY  Critical/Sec.  name-[epoch:]version-release.arch`` (research/backends.md §2.2–2.3).
Installed versions: ``dnf -q list --installed`` in the same round, printed in the same columns.
It is the whole installed set (a few hundred kB on a big server) but it needs no pipe and no
second round; ``rpm -q <names>`` would need the names first, ``rpm -qa`` is no smaller, and
``rpm`` is not one of the programs docs/scan-script.md allows.

Every dnf/yum command carries ``--setopt=exit_on_lock=True``: without it dnf and yum wait for
another package manager forever; with it they fail at once naming the holder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from backends.platforms.probe import Section, SectionOutput, clip, section, tail
from backends.platforms.reboot import reboot_likely
from backends.platforms.records import FoundUpdate, PlatformError

NEEDS_RESTARTING = "needs-restarting"
_NO_LOCK_WAIT = "--setopt=exit_on_lock=True"


@dataclass(frozen=True, slots=True)
class Flavor:
    """dnf (EL8+, Fedora) or yum (EL7): the same output, other commands and section names."""

    manager: str
    list_section: str
    updateinfo_section: str
    installed_section: str
    refresh_section: str
    listing: tuple[Section, ...]
    refresh: Section


DNF = Flavor(
    manager="dnf",
    list_section="dnf-list",
    updateinfo_section="dnf-updateinfo",
    installed_section="dnf-installed",
    refresh_section="dnf-refresh",
    listing=(
        section("dnf-list", "dnf", "-q", _NO_LOCK_WAIT, "check-update"),
        section("dnf-updateinfo", "dnf", "-q", _NO_LOCK_WAIT, "updateinfo", "list", "--updates"),
        section("dnf-installed", "dnf", "-q", _NO_LOCK_WAIT, "list", "--installed"),
        section(NEEDS_RESTARTING, "needs-restarting", "-r"),
    ),
    refresh=section("dnf-refresh", "dnf", "-q", _NO_LOCK_WAIT, "--refresh", "makecache"),
)

YUM = Flavor(
    manager="yum",
    list_section="yum-list",
    updateinfo_section="yum-updateinfo",
    installed_section="yum-installed",
    refresh_section="yum-refresh",
    listing=(
        section("yum-list", "yum", "-q", _NO_LOCK_WAIT, "check-update"),
        section("yum-updateinfo", "yum", "-q", _NO_LOCK_WAIT, "updateinfo", "list", "updates"),
        section("yum-installed", "yum", "-q", _NO_LOCK_WAIT, "list", "installed"),
        section(NEEDS_RESTARTING, "needs-restarting", "-r"),
    ),
    # metadata_expire=0 makes every repository's metadata stale, so makecache fetches it.
    refresh=section(
        "yum-refresh", "yum", "-q", _NO_LOCK_WAIT, "--setopt=metadata_expire=0", "makecache", "fast"
    ),
)

NO_UPDATEINFO = (
    "no security metadata (updateinfo) in this system's repositories: updates are counted as other"
)

SEVERITIES = ("Critical", "Important", "Moderate", "Low")
_ARCH_RE = re.compile(r"[A-Za-z0-9_]+\Z")
_EVR_RE = re.compile(r"(?:\d+:)?[A-Za-z0-9._+~^]+-[A-Za-z0-9._+~^]+\Z")
_NEVRA_RE = re.compile(
    r"(?P<name>\S+)-(?:(?P<epoch>\d+):)?(?P<version>[^-:\s]+)-(?P<release>[^-\s]+)"
    r"\.(?P<arch>[A-Za-z0-9_]+)\Z"
)
_UPDATEINFO_RE = re.compile(
    r"(?:i\s+)?(?P<id>\S+)\s+(?P<type>\w+/Sec\.|security|bugfix|enhancement|newpackage|"
    r"unknown|recommended|optional|feature)\s+(?P<nevra>\S+)\Z"
)
# Lines dnf and yum print around the rows, even with -q.
_NOISE_PREFIXES = (
    "Last metadata expiration check",
    "Security: ",
    "Installed Packages",
    "Available Upgrades",
    "Updated Packages",
    "Upgraded Packages",
    "Loaded plugins",
    "Loading mirror speeds",
    "updateinfo list done",
    "This system is not registered",
    "History database cannot be created",  # dnf run by a user who cannot write its history
)
_MIRROR_RE = re.compile(r"\s+\* \S+: \S+\Z")  # " * base: mirror.example.com"
_DNF_LOCK_RE = re.compile(r"already locked by (?P<pid>\d+)")
_DNF_HOLDER_RE = re.compile(r"The application with PID \d+ is: (?P<prog>\S+)")
_YUM_LOCK_RE = re.compile(r"another copy is running as pid (?P<pid>\d+)")
_YUM_HOLDER_RE = re.compile(r"The other application is: (?P<prog>\S+)")
_YUM_STATE_RE = re.compile(r"State\s*: [^,\n]*, pid: (?P<pid>\d+)")  # yum's holder details


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    arch: str
    evr: str
    repo: str


@dataclass(slots=True)
class Rows:
    rows: list[Row] = field(default_factory=list)
    obsoleting: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_rows(body: str, section_name: str) -> Rows:
    """The ``name.arch evr repo`` rows of check-update or list, joining wrapped rows; rows
    after ``Obsoleting Packages`` are only named (their indented lines are what they replace)."""
    out = Rows()
    pending: list[str] | None = None
    pending_at = 0
    obsoleting = False

    def finish(words: list[str], number: int, line: str) -> None:
        row = _row(words)
        if row is None:
            out.problems.append(f"{section_name} line {number}: not a package row: {clip(line)!r}")
        else:
            out.rows.append(row)

    for number, line in enumerate(body.split("\n"), 1):
        if not line.strip():
            continue
        if obsoleting:
            if line[0] not in " \t":
                out.obsoleting.append(clip(line.split()[0], 80))
            continue
        if line.startswith("Obsoleting Packages"):
            obsoleting = True
            continue
        if line.startswith(_NOISE_PREFIXES) or _MIRROR_RE.match(line):
            continue
        if line[0] in " \t":
            if pending is None:
                out.problems.append(
                    f"{section_name} line {number}: continuation without a row: {clip(line)!r}"
                )
                continue
            pending += line.split()
            if len(pending) >= 3:
                finish(pending, pending_at, " ".join(pending))
                pending = None
            continue
        if pending is not None:
            out.problems.append(
                f"{section_name} line {pending_at}: row cut short: {clip(' '.join(pending))!r}"
            )
            pending = None
        words = line.split()
        if len(words) >= 3:
            finish(words, number, line)
        else:
            pending, pending_at = words, number
    if pending is not None:
        out.problems.append(
            f"{section_name} line {pending_at}: row cut short: {clip(' '.join(pending))!r}"
        )
    return out


def _row(words: list[str]) -> Row | None:
    if len(words) != 3:
        return None
    name_arch, evr, repo = words
    name, dot, arch = name_arch.rpartition(".")
    if not dot or not name or not _ARCH_RE.match(arch) or not _EVR_RE.match(evr):
        return None
    return Row(name, arch, evr, repo)


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    security: bool
    severity: str | None


@dataclass(slots=True)
class UpdateInfo:
    by_package: dict[tuple[str, str], list[Advisory]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    lines: int = 0  # advisory rows read


def parse_updateinfo(body: str, section_name: str) -> UpdateInfo:
    """``ADVISORY TYPE NEVRA`` rows, by the package's (name, arch)."""
    info = UpdateInfo()
    for number, line in enumerate(body.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(_NOISE_PREFIXES):
            continue
        match = _UPDATEINFO_RE.match(stripped)
        nevra = _NEVRA_RE.match(match.group("nevra")) if match else None
        if match is None or nevra is None:
            info.problems.append(
                f"{section_name} line {number}: not an advisory row: {clip(line)!r}"
            )
            continue
        kind = match.group("type")
        security = kind.endswith("/Sec.") or kind == "security"
        label = kind.split("/", 1)[0].capitalize() if kind.endswith("/Sec.") else None
        severity = label if label in SEVERITIES else None
        key = (nevra.group("name"), nevra.group("arch"))
        advisories = info.by_package.setdefault(key, [])
        if all(a.id != match.group("id") for a in advisories):
            advisories.append(Advisory(match.group("id"), security, severity))
        info.lines += 1
    return info


def check_status(output: SectionOutput, command: str, ok: Iterable[int]) -> None:
    """Raise for a failed dnf/yum command: ``locked`` naming the holder, else
    ``command-failed`` with the tail of its output."""
    if output.status in ok:
        return
    lock = (
        _DNF_LOCK_RE.search(output.body)
        or _YUM_LOCK_RE.search(output.body)
        or _YUM_STATE_RE.search(output.body)
    )
    if output.status == 200 or lock is not None:
        holder = _DNF_HOLDER_RE.search(output.body) or _YUM_HOLDER_RE.search(output.body)
        who = f"process {lock.group('pid')}" if lock else "another process"
        if holder is not None:
            who += f" ({clip(holder.group('prog'), 60)})"
        raise PlatformError(
            "locked",
            f"{command} could not take the package manager's lock: it is held by {who}; "
            "another package operation is running, try again when it ends",
        )
    raise PlatformError(
        "command-failed",
        f"{command} failed (exit {output.status}): {tail(output.body) or 'no output'}",
    )


# -- rpm version order -----------------------------------------------------------------------

_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def rpmvercmp(a: str, b: str) -> int:
    """rpm's version comparison (rpmio/rpmvercmp.c): -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and a[i] not in _ALNUM and a[i] not in "~^":
            i += 1
        while j < len(b) and b[j] not in _ALNUM and b[j] not in "~^":
            j += 1
        a_tilde, b_tilde = a[i : i + 1] == "~", b[j : j + 1] == "~"
        if a_tilde or b_tilde:
            if not a_tilde:
                return 1
            if not b_tilde:
                return -1
            i, j = i + 1, j + 1
            continue
        a_caret, b_caret = a[i : i + 1] == "^", b[j : j + 1] == "^"
        if a_caret or b_caret:
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if not a_caret:
                return 1
            if not b_caret:
                return -1
            i, j = i + 1, j + 1
            continue
        if i >= len(a) or j >= len(b):
            break
        numeric = a[i].isdigit()
        start_a, start_b = i, j
        if numeric:
            while i < len(a) and a[i].isdigit() and a[i] in _ALNUM:
                i += 1
            while j < len(b) and b[j].isdigit() and b[j] in _ALNUM:
                j += 1
        else:
            while i < len(a) and a[i] in _ALNUM and not a[i].isdigit():
                i += 1
            while j < len(b) and b[j] in _ALNUM and not b[j].isdigit():
                j += 1
        seg_a, seg_b = a[start_a:i], b[start_b:j]
        if not seg_b:
            return 1 if numeric else -1
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def evrcmp(a: str, b: str) -> int:
    """Compare ``[epoch:]version-release`` strings the way rpm orders packages."""

    def split(evr: str) -> tuple[str, str, str]:
        epoch, colon, rest = evr.partition(":")
        if not colon:
            epoch, rest = "0", evr
        version, _, release = rest.rpartition("-")
        return (epoch or "0", version, release) if version else (epoch or "0", rest, "")

    for part_a, part_b in zip(split(a), split(b), strict=True):
        result = rpmvercmp(part_a, part_b)
        if result:
            return result
    return 0


# -- records ---------------------------------------------------------------------------------


def installed_versions(rows: Sequence[Row]) -> dict[tuple[str, str], str]:
    """The newest installed version of each (name, arch): kernels are installed side by side."""
    newest: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (row.name, row.arch)
        if key not in newest or evrcmp(row.evr, newest[key]) > 0:
            newest[key] = row.evr
    return newest


def updates(
    rows: Sequence[Row],
    installed: dict[tuple[str, str], str] | None,
    info: UpdateInfo | None,
) -> list[FoundUpdate]:
    """One update per check-update row; advisories matched by (name, arch). ``installed``
    None: installed versions unknown. ``info`` None: no security metadata."""
    by_name: dict[str, str] = {}
    for (name, _arch), evr in (installed or {}).items():
        by_name.setdefault(name, evr)
    found: list[FoundUpdate] = []
    for row in rows:
        key = (row.name, row.arch)
        current = None
        if installed is not None:
            # an arch change (noarch <-> x86_64) still replaces the installed package
            current = installed.get(key) or by_name.get(row.name)
        advisories = info.by_package.get(key, []) if info is not None else []
        security = [a for a in advisories if a.security]
        ranked = [a.severity for a in security if a.severity in SEVERITIES]
        severity = min(ranked, key=SEVERITIES.index) if ranked else None
        found.append(
            FoundUpdate(
                platform_id=f"{row.name}.{row.arch}",
                name=row.name,
                installed=current,
                available=row.evr,
                classification="security" if security else "other",
                severity=severity,
                advisories=tuple(a.id for a in advisories),
                source=row.repo,
                reboot_likely=reboot_likely(row.name),
            )
        )
    return found
