"""Debian and Ubuntu: what apt would upgrade, and which of it is a security update.

Listing: ``apt-get -s -o Debug::NoLocking=1 dist-upgrade`` (read-only, no root, no lock), one
``Inst`` line per package (research/backends.md §1.2)::

    Inst <name>[:<arch>] [<installed>] (<candidate> <rel>[, <rel>…] [<arch>])[ [<broken>]]

Each ``<rel>`` is ``Label:Version/Suite`` of a Release file. Classification (§1.3): security when
a ``<rel>`` of the candidate has the label ``Debian-Security`` (every Debian release, including
the old ``buster/updates`` naming) or a suite ending ``-security`` (Ubuntu, Ubuntu ESM
``*-infra-security`` / ``*-apps-security``); otherwise still security when ``apt-cache policy``
shows a version above the installed one (``***``) from a security source: a security fix
masked by a newer candidate from another suite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from backends.platforms.probe import Section, SectionOutput, clip, section, tail
from backends.platforms.reboot import reboot_likely
from backends.platforms.records import FoundUpdate, PlatformError

LIST = "apt-list"
POLICY = "apt-policy"
UPDATE = "apt-update"
REBOOT_FLAG = "reboot-flag"
REBOOT_PKGS = "reboot-pkgs"

LISTING: tuple[Section, ...] = (
    section(LIST, "apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"),
    section(REBOOT_FLAG, "test", "-e", "/var/run/reboot-required", quiet=True),
    section(REBOOT_PKGS, "cat", "/var/run/reboot-required.pkgs"),
)
# apt-get update never waits for the lists lock (DPkg::Lock::Timeout defaults to 0 for
# apt-get): a held lock fails at once and the message names its holder.
REFRESH = section(UPDATE, "apt-get", "-q", "update")

INST_RE = re.compile(
    r"Inst (?P<name>\S+?)(?::(?P<archq>\S+))? (?:\[(?P<cur>[^\]]+)\] )?"
    r"\((?P<new>\S+)(?: (?P<rels>.*?))? \[(?P<arch>[^\]]+)\]\)(?: \[.*\])?\Z"
)
REMV_RE = re.compile(r"(?:Remv|Purg) (?P<name>\S+)(?: \[(?P<cur>[^\]]+)\])?")
# Debian policy §5.6.1: package names; an optional ":arch" as apt prints foreign packages.
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]*(?::[a-z0-9][a-z0-9-]*)?\Z")

# Lines of apt-get's simulation that carry nothing to read.
_NOISE_RE = re.compile(
    r"(?:Reading package lists|Building dependency tree|Reading state information|"
    r"Calculating upgrade|NOTE: This is only a simulation!|Note, selecting|"
    r"\d+ upgraded, \d+ newly installed)"
)
_HELD_RE = re.compile(r"The following (?:packages have been kept back|upgrades have been deferred)")


@dataclass(frozen=True, slots=True)
class Release:
    """One ``Label:Version/Suite`` of an Inst line."""

    label: str
    version: str
    suite: str

    @classmethod
    def parse(cls, text: str) -> Release:
        label, colon, rest = text.partition(":")
        if not colon:  # no Release file: apt prints the site (or "localhost")
            return cls("", "", text)
        version, slash, suite = rest.rpartition("/")
        return cls(label, version, suite) if slash else cls(label, "", rest)

    @property
    def security(self) -> bool:
        return self.label.casefold() == "debian-security" or self.suite.endswith("-security")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One Inst line: a package apt would install or upgrade."""

    name: str  # with ":arch" for a foreign-architecture package, as apt takes it back
    installed: str | None  # None: a new package pulled in by the upgrade
    version: str
    releases: tuple[Release, ...]
    arch: str

    @property
    def security(self) -> bool:
        return any(release.security for release in self.releases)

    @property
    def suites(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.suite for r in self.releases if r.suite))


@dataclass(slots=True)
class Simulation:
    candidates: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_listing(output: SectionOutput) -> None:
    """apt-get exits 0, or 100 on any error (apt-get(8) DIAGNOSTICS)."""
    if output.status == 0:
        return
    errors = [line for line in output.lines if line.startswith("E: ")]
    if any("dpkg was interrupted" in line for line in errors):
        raise PlatformError(
            "command-failed",
            "apt-get -s dist-upgrade failed: dpkg was interrupted on this machine; "
            f"run 'dpkg --configure -a' there first ({clip(errors[0], 200)})",
        )
    detail = tail("\n".join(errors) or output.body) or "no output"
    raise PlatformError(
        "command-failed", f"apt-get -s dist-upgrade failed (exit {output.status}): {detail}"
    )


def parse_simulation(body: str) -> Simulation:
    """The Inst lines of ``apt-get -s dist-upgrade``; Remv lines and held-back lists as notes;
    every line that is none of apt's known forms as a problem."""
    sim = Simulation()
    removals: list[str] = []
    held: list[str] = []
    in_held = False
    for number, line in enumerate(body.split("\n"), 1):
        if not line.strip():
            continue
        if line[0] in " \t":  # package lists under a heading, the simulation notice
            if in_held:
                held.extend(line.split())
            continue
        in_held = False
        if line.startswith("Inst "):
            candidate = _inst(line)
            if candidate is None:
                sim.problems.append(f"{LIST} line {number}: unreadable Inst line: {clip(line)!r}")
            else:
                sim.candidates.append(candidate)
        elif line.startswith(("Remv ", "Purg ")):
            match = REMV_RE.match(line)
            if match is None:
                sim.problems.append(f"{LIST} line {number}: unreadable Remv line: {clip(line)!r}")
            else:
                cur = match.group("cur")
                removals.append(f"{match.group('name')} ({cur})" if cur else match.group("name"))
        elif line.startswith("Conf ") or _NOISE_RE.match(line):
            continue
        elif line.startswith(("W: ", "N: ", "E: ")):
            sim.notes.append(f"apt-get: {clip(line, 200)}")
        elif line.endswith(":") and line.startswith("The following "):
            in_held = bool(_HELD_RE.match(line))
        elif line.endswith(":") and " packages" in line:  # "Suggested packages:" and the like
            continue
        else:
            sim.problems.append(f"{LIST} line {number}: not an Inst line: {clip(line)!r}")
    if removals:
        sim.notes.append(
            f"dist-upgrade would remove {len(removals)} package(s): "
            f"{clip(', '.join(removals), 300)}"
        )
    if held:
        sim.notes.append(
            f"apt holds back {len(held)} package(s) (kept back or phased): "
            f"{clip(' '.join(held), 300)}"
        )
    return sim


def _inst(line: str) -> Candidate | None:
    match = INST_RE.match(line)
    if match is None:
        return None
    name = match.group("name")
    if match.group("archq"):
        name = f"{name}:{match.group('archq')}"
    rels = match.group("rels") or ""
    releases = tuple(Release.parse(rel.strip()) for rel in rels.split(",") if rel.strip())
    return Candidate(name, match.group("cur"), match.group("new"), releases, match.group("arch"))


# -- round 2: apt-cache policy ---------------------------------------------------------------


# One command line (the whole script is one argument of ``sh -c``, which Linux limits to
# 128 KiB): beyond this many characters of names the rest are not looked up.
POLICY_ARGS_LIMIT = 96 * 1024


@dataclass(slots=True)
class PolicyRequest:
    section: Section | None = None  # None: nothing to ask
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def policy_section(candidates: Iterable[Candidate]) -> PolicyRequest:
    """``apt-cache policy`` of the candidates not from a security origin that replace an
    installed version (see :func:`policy_request`)."""
    return policy_request(c.name for c in candidates if not c.security and c.installed is not None)


def policy_request(names: Iterable[str]) -> PolicyRequest:
    """``apt-cache policy`` of ``names``. Each name is checked against Debian's charset (the
    names refused are problems, never sent) and written shell-quoted (probe.Step.line quotes
    every word)."""
    request = PolicyRequest()
    wanted: list[str] = []
    for name in names:
        if not PACKAGE_RE.match(name):
            request.problems.append(
                f"{LIST}: {clip(name)!r} is not a Debian package name; not sent to apt-cache policy"
            )
            continue
        wanted.append(name)
    wanted = list(dict.fromkeys(wanted))
    sent: list[str] = []
    length = 0
    for name in wanted:
        length += len(name) + 1
        if length > POLICY_ARGS_LIMIT:
            break
        sent.append(name)
    if len(sent) < len(wanted):
        request.notes.append(
            f"{len(wanted) - len(sent)} update(s) not checked for a masked security version: "
            f"too many packages for one apt-cache policy command line"
        )
    if sent:
        request.section = section(POLICY, "apt-cache", "policy", *sent)
    return request


@dataclass(slots=True)
class Policy:
    """One package's ``apt-cache policy`` block."""

    installed: str | None = None
    candidate: str | None = None
    installed_seen: bool = False  # the *** line was found
    newer_security: list[str] = field(default_factory=list)  # versions above *** from security


_POLICY_VERSION_RE = re.compile(r" (\*\*\*| {3}) (\S+) (-?\d+)\Z")
_POLICY_SOURCE_RE = re.compile(r" {8}(-?\d+) (\S.*)\Z")
_POLICY_FIELD_RE = re.compile(r"  ([A-Z][A-Za-z ]*):(?: (.*))?\Z")


def security_source(source: str) -> bool:
    """A version-table source line from a security archive: a suite ending ``-security``
    (Debian 11+, Ubuntu, Ubuntu ESM) or Debian's security archive, whose path is
    ``debian-security`` on every mirror (Debian 10 and older named the suite
    ``<codename>/updates``)."""
    words = source.split()
    url = words[0] if words else ""
    dist = words[1].split("/", 1)[0] if len(words) > 1 else ""
    return dist.endswith("-security") or "debian-security" in url


def parse_policy(body: str) -> tuple[dict[str, Policy], list[str]]:
    """Blocks of ``apt-cache policy <pkg>…`` by the package name as asked for."""
    policies: dict[str, Policy] = {}
    problems: list[str] = []
    current: Policy | None = None
    version: str | None = None
    above_installed = False
    for number, line in enumerate(body.split("\n"), 1):
        if not line.strip():
            continue
        if line[0] not in " \t":
            if line.endswith(":") and " " not in line:
                current = policies.setdefault(line[:-1], Policy())
                version, above_installed = None, True
            elif line.startswith(("N: ", "W: ", "E: ")):
                current = None  # "N: Unable to locate package …"
            else:
                problems.append(f"{POLICY} line {number}: unreadable: {clip(line)!r}")
                current = None
            continue
        if current is None:
            problems.append(f"{POLICY} line {number}: outside any package: {clip(line)!r}")
            continue
        if match := _POLICY_VERSION_RE.match(line):
            version = match.group(2)
            if match.group(1) == "***":
                current.installed_seen = True
                above_installed = False
            continue
        if match := _POLICY_SOURCE_RE.match(line):
            if version is None:
                problems.append(f"{POLICY} line {number}: source before a version: {clip(line)!r}")
            elif (
                above_installed
                and security_source(match.group(2))
                and version not in current.newer_security
            ):
                current.newer_security.append(version)
            continue
        if match := _POLICY_FIELD_RE.match(line):
            key, value = match.group(1), (match.group(2) or "").strip()
            if key == "Installed":
                current.installed = None if value in ("", "(none)") else value
            elif key == "Candidate":
                current.candidate = None if value in ("", "(none)") else value
            continue
        problems.append(f"{POLICY} line {number}: unreadable: {clip(line)!r}")
    return policies, problems


def masked_security(policies: dict[str, Policy]) -> dict[str, tuple[str, ...]]:
    """Packages with a security version above the installed one, and those versions."""
    return {
        name: tuple(policy.newer_security)
        for name, policy in policies.items()
        if policy.installed_seen and policy.newer_security
    }


# -- records ---------------------------------------------------------------------------------


def updates(
    candidates: Sequence[Candidate], masked: dict[str, tuple[str, ...]]
) -> list[FoundUpdate]:
    found: list[FoundUpdate] = []
    for candidate in candidates:
        security = candidate.security or candidate.name in masked
        suites = candidate.suites
        found.append(
            FoundUpdate(
                platform_id=candidate.name,
                name=candidate.name,
                installed=candidate.installed,
                available=candidate.version,
                classification="security" if security else "other",
                source=", ".join(suites) if suites else None,
                reboot_likely=reboot_likely(candidate.name),
            )
        )
    return found


def masked_note(candidates: Sequence[Candidate], masked: dict[str, tuple[str, ...]]) -> str | None:
    names = [c.name for c in candidates if not c.security and c.name in masked]
    if not names:
        return None
    return (
        f"{len(names)} update(s) counted as security because a security version newer than "
        "the installed one is masked by a candidate from another suite: "
        f"{clip(', '.join(names), 300)}"
    )


# -- round 0: apt-get update -----------------------------------------------------------------

_LOCK_RE = re.compile(
    r"Could not get lock (?P<path>\S+?)\.?(?: It is held by process (?P<pid>\d+)"
    r"(?: \((?P<prog>[^)]*)\))?| - open)"
)
# W: lines of apt-get update that mean a repository was not refreshed.
_REPO_FAILED_RE = re.compile(
    r"Failed to fetch|Some index files failed|does not have a Release file|is not signed|"
    r"NO_PUBKEY|signatures (?:couldn't|were invalid)|GPG error|is no longer signed|"
    r"not valid yet|is expired|Could not resolve|Temporary failure resolving|"
    r"Unable to connect|Connection failed|Could not connect|Hash Sum mismatch|"
    r"File has unexpected size|Clearsigned file isn't valid"
)


def check_refresh(output: SectionOutput) -> list[str]:
    """``apt-get -q update`` exits 0 even when repositories fail (only ``W:`` lines), so its
    lines are read: a held lists lock is ``locked`` naming the holder, a failed repository
    or any ``E:`` line is ``command-failed``. Other warnings come back as notes."""
    lines = output.lines
    for line in lines:
        if match := _LOCK_RE.search(line):
            path = match.group("path")
            pid, prog = match.group("pid"), match.group("prog")
            holder = f"process {pid}" + (f" ({prog})" if prog else "") if pid else "another process"
            raise PlatformError(
                "locked",
                f"apt-get update could not take the lock {path}: it is held by {holder}; "
                "another package operation is running, try again when it ends",
            )
    failed = [
        line
        for line in lines
        if line.startswith("E: ") or (line.startswith("W: ") and _REPO_FAILED_RE.search(line))
    ]
    if failed:
        shown = "\n".join(clip(line, 200) for line in failed[:6])
        more = f"\n… and {len(failed) - 6} more" if len(failed) > 6 else ""
        what = (
            "failed"
            if any(line.startswith("E: ") for line in failed)
            else "did not refresh every repository"
        )
        raise PlatformError(
            "command-failed", f"apt-get update {what} (exit {output.status}):\n{shown}{more}"
        )
    if output.status != 0:
        raise PlatformError(
            "command-failed",
            f"apt-get update failed (exit {output.status}): {tail(output.body) or 'no output'}",
        )
    return [f"apt-get update: {clip(line, 200)}" for line in lines if line.startswith("W: ")]
