"""SLES, SLED, openSUSE: zypper's XML listings of package updates and patches.

``zypper -n -x list-updates`` lists packages, ``zypper -n -x list-patches`` the needed patches
(research/backends.md §3.1): ``<update kind="patch" name=… edition=… category="security"
severity="important" restart="true">`` with an ``<issue-list>``. A patch does not name its
packages, so the unit is chosen by repository: a package update from a repository that
publishes needed patches is counted through those patches (SUSE ships every maintenance update
as a patch); a package from a repository without patches (openSUSE Tumbleweed, third-party
repositories) is its own unit, classified other.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from backends.platforms.probe import Section, SectionOutput, clip, section, tail
from backends.platforms.reboot import reboot_likely
from backends.platforms.records import FoundUpdate, PlatformError

UPDATES = "zypper-updates"
PATCHES = "zypper-patches"
REBOOT = "zypper-reboot"
REFRESH_SECTION = "zypper-refresh"

LISTING: tuple[Section, ...] = (
    section(UPDATES, "zypper", "-n", "-x", "list-updates"),
    section(PATCHES, "zypper", "-n", "-x", "list-patches"),
    section(REBOOT, "zypper", "needs-rebooting"),
)
REFRESH = section(REFRESH_SECTION, "zypper", "-n", "refresh")

# zypper(8) EXIT CODES: 100 updates needed, 101 security updates needed, 102 reboot needed,
# 103 zypper itself needs updating first: all mean the listing is good.
OK_CODES = frozenset({0, 100, 101, 102, 103})
_LOCK_RE = re.compile(r"locked by the application with pid (?P<pid>\d+)(?: \((?P<prog>[^)]*)\))?")
_SEVERITIES = {
    "critical": "Critical",
    "important": "Important",
    "moderate": "Moderate",
    "low": "Low",
}


def check_status(output: SectionOutput, command: str) -> list[str]:
    """Notes for the exit codes that leave a usable answer; raise for the others."""
    status = output.status
    if status in OK_CODES:
        return []
    if status == 104:
        return [f"{command}: zypper reported a package or capability not found (exit 104)"]
    if status == 106:
        detail = "; ".join(_messages(output.body, ("error", "warning"))[:3])
        return [
            f"{command}: some repositories were skipped because refreshing them failed "
            f"(exit 106), the list may be incomplete" + (f": {clip(detail, 300)}" if detail else "")
        ]
    text = "\n".join(_messages(output.body, ("error", "warning", "info"))) or output.body
    if status == 7:
        match = _LOCK_RE.search(output.body)
        who = "another process"
        if match is not None:
            who = f"process {match.group('pid')}"
            if match.group("prog"):
                who += f" ({clip(match.group('prog'), 80)})"
        raise PlatformError(
            "locked",
            f"{command}: system management is locked by {who}; another package operation "
            "is running, try again when it ends",
        )
    if status == 6:
        raise PlatformError(
            "command-failed",
            f"{command}: zypper has no repositories defined (exit 6), so nothing can be assessed",
        )
    raise PlatformError(
        "command-failed", f"{command} failed (exit {status}): {tail(text) or 'no output'}"
    )


def _messages(body: str, kinds: tuple[str, ...]) -> list[str]:
    """The text of zypper's ``<message type=…>`` elements, read line by line (zypper prints
    one element per line), without parsing the whole stream."""
    found: list[str] = []
    for match in re.finditer(r'<message type="(\w+)">(.*?)</message>', body, re.DOTALL):
        if match.group(1) in kinds:
            try:
                text = ET.fromstring(f"<m>{match.group(2)}</m>").text or ""
            except ET.ParseError:
                text = match.group(2)
            found.append(clip(text.strip(), 200))
    return found


def parse_stream(body: str, section_name: str) -> ET.Element:
    """The ``<stream>`` element of zypper's XML output; anything before it (a warning on
    stderr) is ignored. Raises ``unparseable`` for missing, malformed or DTD-bearing XML."""
    if "<!DOCTYPE" in body or "<!ENTITY" in body:  # zypper never sends one; refuse entities
        raise PlatformError("unparseable", f"{section_name}: zypper's XML output has a DTD")
    start = body.find("<stream>")
    end = body.rfind("</stream>")
    if start < 0 or end < start:
        raise PlatformError(
            "unparseable",
            f"{section_name}: no complete <stream> in zypper's XML output: "
            f"{tail(body, 3) or 'no output'}",
        )
    text = body[start : end + len("</stream>")]
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise PlatformError(
            "unparseable", f"{section_name}: zypper's XML output is malformed ({exc})"
        ) from None


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    arch: str
    edition: str
    edition_old: str | None
    repo: str | None


@dataclass(frozen=True, slots=True)
class Patch:
    name: str
    edition: str
    category: str
    severity: str | None
    restart: bool
    issues: tuple[str, ...]
    repo: str | None


@dataclass(slots=True)
class Listing:
    packages: list[Package] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _updates(root: ET.Element) -> list[ET.Element]:
    return [u for ul in root.iter("update-list") for u in ul.findall("update")]


def _repo(update: ET.Element) -> str | None:
    source = update.find("source")
    return source.get("alias") if source is not None else None


def _notes_from(root: ET.Element, command: str) -> list[str]:
    notes = [
        f"{command}: {clip((m.text or '').strip(), 200)}"
        for m in root.iter("message")
        if m.get("type") in ("error", "warning") and (m.text or "").strip()
    ]
    blocked = sum(len(b.findall("update")) for b in root.iter("blocked-update-list"))
    if blocked:
        notes.append(f"{command}: {blocked} update(s) are blocked by dependency problems")
    return notes


def parse_updates(body: str, into: Listing) -> None:
    root = parse_stream(body, UPDATES)
    into.notes += _notes_from(root, "zypper list-updates")
    for number, update in enumerate(_updates(root), 1):
        if update.get("kind", "package") != "package":
            continue
        name, arch, edition = update.get("name"), update.get("arch"), update.get("edition")
        if not name or not arch or not edition:
            into.problems.append(
                f"{UPDATES} update {number}: no name, arch or edition: {clip(str(update.attrib))}"
            )
            continue
        into.packages.append(
            Package(name, arch, edition, update.get("edition-old") or None, _repo(update))
        )


def parse_patches(body: str, into: Listing) -> None:
    root = parse_stream(body, PATCHES)
    into.notes += _notes_from(root, "zypper list-patches")
    for number, update in enumerate(_updates(root), 1):
        if update.get("kind", "patch") != "patch":
            continue
        if update.get("status", "needed") != "needed":
            continue
        name, edition = update.get("name"), update.get("edition")
        if not name or not edition:
            into.problems.append(
                f"{PATCHES} patch {number}: no name or edition: {clip(str(update.attrib))}"
            )
            continue
        issues: list[str] = []
        for issue in update.iter("issue"):
            ident, kind = issue.get("id"), (issue.get("type") or "").lower()
            if not ident:
                continue
            issues.append(ident if kind == "cve" or not kind else f"{kind}#{ident}")
        into.patches.append(
            Patch(
                name=name,
                edition=edition,
                category=(update.get("category") or "").lower(),
                severity=_SEVERITIES.get((update.get("severity") or "").lower()),
                restart=update.get("restart") == "true",
                issues=tuple(dict.fromkeys(issues)),
                repo=_repo(update),
            )
        )


def updates(listing: Listing) -> tuple[list[FoundUpdate], list[str]]:
    """Patches, then the packages no patch covers (see the module's docstring); and a note
    saying how many packages were counted through patches."""
    found = [
        FoundUpdate(
            platform_id=f"patch:{patch.name}",
            name=patch.name,
            installed=None,
            available=patch.edition,
            classification="security" if patch.category == "security" else "other",
            severity=patch.severity,
            advisories=patch.issues,
            source=patch.repo,
            reboot_likely=patch.restart,
        )
        for patch in listing.patches
    ]
    patched_repos = {patch.repo for patch in listing.patches if patch.repo}
    covered = 0
    for package in listing.packages:
        if package.repo in patched_repos:
            covered += 1
            continue
        found.append(
            FoundUpdate(
                platform_id=f"{package.name}.{package.arch}",
                name=package.name,
                installed=package.edition_old,
                available=package.edition,
                classification="other",
                source=package.repo,
                reboot_likely=reboot_likely(package.name),
            )
        )
    notes = []
    if covered:
        notes.append(
            f"{covered} package update(s) from repositories that publish patches are counted "
            "through their patches"
        )
    return found, notes
