"""Pre-flight checks before a Linux machine installs its plan: the round of
docs/scan-script.md "Pre-flight" as a sans-I/O generator.

    checker = preflight(planned)             # what the plan would install there
    command = next(checker)                  # a Command: one script for ``sh -c``
    command = checker.send(Result(...))      # … until StopIteration carries the Preflight

Three checks, each passed, failed (the machine is skipped by a run) or not run (why):

- ``disk``: free space (``df -P -k /var /boot``) at least :data:`MIN_FREE_VAR_KB` on /var (the
  package cache and the package database) and :data:`MIN_FREE_BOOT_KB` on /boot (a new kernel
  and its initramfs);
- ``packages``: the package manager's own check of its state (``dpkg --audit``: anything
  printed is a package left unpacked or half configured, as after an interrupted dpkg;
  ``dnf check`` / ``yum check``: dependency problems and duplicates in the rpm database;
  ``zypper verify --dry-run``: broken dependencies, which needs root: asked again through
  ``sudo -n`` when the login user is not root);
- ``holds``: held or locked packages (``apt-mark showhold``, ``dnf``/``yum versionlock list`` when
  the versionlock plugin is installed, ``zypper locks``) that a planned update needs: the
  update's own package, or on RPM systems a package of the same source (named ``H-…`` for a
  hold on ``H``, or the reverse), which installs in lockstep with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

from backends.platforms.probe import (
    Answer,
    Branch,
    SectionOutput,
    build_script,
    clip,
    new_nonce,
    section,
    split_answer,
)
from backends.platforms.records import Command, PlatformError, Result

PREFLIGHT_TIMEOUT = 180.0
MIN_FREE_VAR_KB = 500 * 1024
MIN_FREE_BOOT_KB = 100 * 1024
_NO_LOCK_WAIT = "--setopt=exit_on_lock=True"
ZYPPER_NEEDS_ROOT = 5  # ZYPPER_EXIT_ERR_PRIVILEGES

DF = section("df", "df", "-P", "-k", "/var", "/boot")
DPKG_AUDIT = section("dpkg-audit", "dpkg", "--audit")
APT_HOLDS = section("apt-holds", "apt-mark", "showhold")
DNF_CHECK = section("dnf-check", "dnf", "-q", _NO_LOCK_WAIT, "check")
DNF_LOCKS = section("dnf-locks", "dnf", "-q", _NO_LOCK_WAIT, "versionlock", "list")
YUM_CHECK = section("yum-check", "yum", "-q", _NO_LOCK_WAIT, "check")
YUM_LOCKS = section("yum-locks", "yum", "-q", _NO_LOCK_WAIT, "versionlock", "list")
ZYPPER_VERIFY = section("zypper-verify", "zypper", "-n", "verify", "--dry-run")
ZYPPER_LOCKS = section("zypper-locks", "zypper", "-n", "locks")
NO_MANAGER = section("manager", "apt-get", quiet=True)

# manager -> (its state check, its holds)
_SECTIONS = {
    "apt": (DPKG_AUDIT.name, APT_HOLDS.name),
    "dnf": (DNF_CHECK.name, DNF_LOCKS.name),
    "yum": (YUM_CHECK.name, YUM_LOCKS.name),
    "zypper": (ZYPPER_VERIFY.name, ZYPPER_LOCKS.name),
}
_HOW_HELD = {
    "apt": "apt-mark hold",
    "dnf": "dnf versionlock",
    "yum": "yum versionlock",
    "zypper": "zypper lock",
}


@dataclass(frozen=True, slots=True)
class Planned:
    """An update the plan would install: its platform id and name, as the scan found them."""

    platform_id: str
    name: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str  # disk | packages | holds
    ok: bool | None  # None: not run, ``detail`` says why
    detail: str


@dataclass(slots=True)
class Preflight:
    manager: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.ok is False]


@dataclass(frozen=True, slots=True)
class Limits:
    var_kb: int = MIN_FREE_VAR_KB
    boot_kb: int = MIN_FREE_BOOT_KB


LIMITS = Limits()


def preflight_script(nonce: str) -> str:
    return build_script(
        nonce,
        common=(DF,),
        branches=(
            Branch("apt-get", (DPKG_AUDIT, APT_HOLDS)),
            Branch("dnf", (DNF_CHECK, DNF_LOCKS)),
            Branch("yum", (YUM_CHECK, YUM_LOCKS)),
            Branch("zypper", (ZYPPER_VERIFY, ZYPPER_LOCKS)),
        ),
        otherwise=(NO_MANAGER,),
    )


def preflight(
    planned: Sequence[Planned], limits: Limits = LIMITS, nonce: str | None = None
) -> Generator[Command, Result, Preflight]:
    """Check the machine the engine runs the yielded commands on, for installing ``planned``."""

    def fresh() -> str:
        return nonce if nonce is not None else new_nonce()

    first = fresh()
    result = yield Command(preflight_script(first), timeout=PREFLIGHT_TIMEOUT)
    answer = split_answer(result, first, "pre-flight")
    manager = _manager(answer)
    state_section, holds_section = _SECTIONS[manager]
    outcome = Preflight(manager)
    outcome.checks.append(disk_check(_need(answer, DF.name), limits))

    state = _need(answer, state_section)
    if manager == "zypper" and state.status == ZYPPER_NEEDS_ROOT:
        state = yield from _verify_as_root(fresh)
    outcome.checks.append(_STATE_CHECKS[manager](state))

    holds, why = read_holds(manager, _need(answer, holds_section))
    outcome.checks.append(holds_check(manager, holds, planned, why))
    return outcome


def _verify_as_root(fresh: Callable[[], str]) -> Generator[Command, Result, SectionOutput]:
    round_nonce = fresh()
    result = yield Command(
        build_script(round_nonce, common=(ZYPPER_VERIFY,)),
        privileged=True,
        timeout=PREFLIGHT_TIMEOUT,
    )
    try:
        answer = split_answer(result, round_nonce, "zypper verify")
    except PlatformError as exc:
        if exc.kind == "sudo-password":
            return SectionOutput("sudo: a password is required", -1)
        raise
    return _need(answer, ZYPPER_VERIFY.name)


def _need(answer: Answer, name: str) -> SectionOutput:
    output = answer.get(name)
    if output is None:
        raise PlatformError(
            "unparseable", f"the pre-flight output lacks section {name}: the script did not run"
        )
    return output


def _manager(answer: Answer) -> str:
    if answer.get(NO_MANAGER.name) is not None:
        raise PlatformError("unsupported", "no known package manager on this machine")
    for manager, (state, _) in _SECTIONS.items():
        if answer.get(state) is not None:
            return manager
    raise PlatformError("unparseable", "the pre-flight output has no package manager section")


# -- disk --------------------------------------------------------------------------------------

_DF_ROW = re.compile(
    r"^(?P<fs>\S.*?)\s+(?P<blocks>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+"
    r"(?P<capacity>\d+%|-)\s+(?P<mount>/.*)$"
)
_DF_ERROR = re.compile(r"^df: (?:'(?P<q>[^']*)'|(?P<path>[^:]+)): (?P<why>.*)$")


@dataclass(frozen=True, slots=True)
class Space:
    path: str
    filesystem: str
    mount: str
    available_kb: int


def size_text(kb: int) -> str:
    """Kibibytes as an operator reads them: ``42 MB``, ``1.5 GB``."""
    mb = kb / 1024
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def read_df(output: SectionOutput, paths: Sequence[str]) -> tuple[list[Space], dict[str, str]]:
    """Free space per path of ``df -P -k PATH…`` (rows come in the order of the paths, one per
    path that exists), and the paths df could not look at, with its reason."""
    missing: dict[str, str] = {}
    rows: list[re.Match[str]] = []
    for line in output.lines:
        if (row := _DF_ROW.match(line.rstrip())) is not None:
            rows.append(row)
        elif (error := _DF_ERROR.match(line.rstrip())) is not None:
            missing[error.group("q") or error.group("path")] = error.group("why")
    present = [p for p in paths if p not in missing]
    if len(rows) != len(present):
        raise ValueError(f"df printed {len(rows)} rows for {len(present)} paths")
    spaces = [
        Space(path, row.group("fs"), row.group("mount"), int(row.group("avail")))
        for path, row in zip(present, rows, strict=True)
    ]
    return spaces, missing


def disk_check(output: SectionOutput, limits: Limits = LIMITS) -> CheckResult:
    wanted = {"/var": limits.var_kb, "/boot": limits.boot_kb}
    try:
        spaces, missing = read_df(output, list(wanted))
    except ValueError as exc:
        detail = clip(" ".join(output.body.split()), 160) or f"exit {output.status}"
        return CheckResult("disk", False, f"cannot read free space ({exc}): {detail}")
    low = [
        f"{s.path} has {size_text(s.available_kb)} free on {s.filesystem} "
        f"(mounted on {s.mount}), below {size_text(wanted[s.path])}"
        for s in spaces
        if s.available_kb < wanted[s.path]
    ]
    if low:
        return CheckResult("disk", False, "; ".join(low))
    shown = [f"{s.path} {size_text(s.available_kb)} free" for s in spaces]
    shown += [f"{path}: not checked ({why})" for path, why in missing.items()]
    if "/var" in missing:
        return CheckResult("disk", False, f"/var: {missing['/var']}")
    return CheckResult("disk", True, ", ".join(shown))


# -- package state -----------------------------------------------------------------------------

_DPKG_STATES = (
    ("in a mess", "must be reinstalled"),
    ("unpacked but not yet configured", "unpacked, not configured"),
    ("only half configured", "half configured"),
    ("only half installed", "half installed"),
    ("awaiting processing of triggers", "awaiting triggers"),
    ("have been triggered", "triggers pending"),
    ("missing the list control file", "missing its file list"),
    ("missing the md5sums control file", "missing its md5sums"),
)


def dpkg_audit_check(output: SectionOutput) -> CheckResult:
    """``dpkg --audit`` prints nothing when every package is installed cleanly; anything it
    prints names packages left broken (an interrupted dpkg, a failed configure)."""
    body = output.body.strip()
    if not body:
        if output.status == 0:
            return CheckResult("packages", True, "dpkg --audit: no problem")
        return CheckResult("packages", False, f"dpkg --audit failed (exit {output.status})")
    found: dict[str, list[str]] = {}
    state = "broken"
    for line in output.lines:
        if not line.strip():
            continue
        if line.startswith(" "):
            found.setdefault(state, []).append(line.split()[0])
            continue
        for phrase, short in _DPKG_STATES:
            if phrase in line:
                state = short
    if not found:
        return CheckResult(
            "packages", False, f"dpkg --audit reports a problem: {clip(' '.join(body.split()))}"
        )
    parts = [f"{what}: {clip(', '.join(names), 120)}" for what, names in found.items()]
    return CheckResult(
        "packages",
        False,
        f"dpkg --audit: {'; '.join(parts)} (dpkg was interrupted? run dpkg --configure -a)",
    )


def _rpm_check(command: str) -> Callable[[SectionOutput], CheckResult]:
    def check(output: SectionOutput) -> CheckResult:
        if output.status == 0:
            return CheckResult("packages", True, f"{command}: no problem")
        if output.status == 200:
            return CheckResult(
                "packages",
                None,
                f"not checked: {command} could not take the package manager's lock "
                f"(another one is running): {clip(output.body.strip(), 160)}",
            )
        problems = [
            line.strip()
            for line in output.lines
            if line.strip()
            and not line.startswith("Error: Check discovered")
            and line.strip() != "Error: check all"
        ]
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        listed = "; ".join(clip(p, 160) for p in problems[:3]) or f"exit {output.status}"
        return CheckResult("packages", False, f"{command}: {listed}{more}")

    return check


def zypper_verify_check(output: SectionOutput) -> CheckResult:
    text = output.body
    if output.status == -1:
        return CheckResult(
            "packages", None, "not checked: zypper verify needs root and sudo asks for a password"
        )
    if output.status == ZYPPER_NEEDS_ROOT:
        return CheckResult("packages", None, "not checked: zypper verify needs root")
    if output.status == 0 and "Dependencies of all installed packages are satisfied" in text:
        return CheckResult("packages", True, "zypper verify: dependencies satisfied")
    if "dependencies of installed packages are broken" in text:
        lines = [line.strip() for line in output.lines if line.strip()]
        start = next((i for i, line in enumerate(lines) if "are broken" in line), 0)
        fixes = [line for line in lines[start + 1 :] if not line.endswith("...")]
        return CheckResult(
            "packages",
            False,
            "zypper verify: dependencies of installed packages are broken; it would: "
            + clip(" ".join(fixes), 200),
        )
    return CheckResult(
        "packages",
        None,
        f"not checked: zypper verify exited {output.status}: "
        f"{clip(' '.join(text.split()[-30:]), 160)}",
    )


_STATE_CHECKS: dict[str, Callable[[SectionOutput], CheckResult]] = {
    "apt": dpkg_audit_check,
    "dnf": _rpm_check("dnf check"),
    "yum": _rpm_check("yum check"),
    "zypper": zypper_verify_check,
}


# -- holds -------------------------------------------------------------------------------------

_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*(?::[a-z0-9-]+)?$")
# dnf: name-[epoch:]version-release.arch-or-*; yum: [epoch:]name-version-release.arch-or-*
_LOCK_ENTRY = re.compile(r"^!?(?:\d+:)?(?P<name>[A-Za-z0-9_.+-]+?)-(?:\d+:)?[^-\s]+-[^-\s]+$")


@dataclass(frozen=True, slots=True)
class Hold:
    name: str  # a package name; a glob (``*``, ``?``) for zypper locks
    kind: str = "package"  # package | patch (zypper)


def read_holds(manager: str, output: SectionOutput) -> tuple[list[Hold] | None, str | None]:
    """The machine's holds, or ``None`` with the reason when they cannot be known."""
    if manager == "apt":
        if output.status != 0:
            return None, f"apt-mark showhold failed (exit {output.status})"
        names = [line.strip() for line in output.lines if _APT_NAME.match(line.strip())]
        return [Hold(name.split(":")[0]) for name in names], None
    if manager in ("dnf", "yum"):
        body = output.body
        if output.status != 0:
            if "No such command" in body:
                return None, f"the {manager} versionlock plugin is not installed"
            return None, f"{manager} versionlock list failed (exit {output.status})"
        holds = []
        for line in output.lines:
            entry = line.strip()
            if entry.startswith("!"):
                continue  # an exclude of one version, not a lock
            if (match := _LOCK_ENTRY.match(entry)) is not None:
                holds.append(Hold(match.group("name")))
        return holds, None
    if output.status != 0:
        return None, f"zypper locks failed (exit {output.status})"
    return _zypper_locks(output), None


def _zypper_locks(output: SectionOutput) -> list[Hold]:
    """Rows of zypper's locks table (``# | Name | Type | Repository``, a ``Matches`` column
    with ``--matches``); a name may be a glob and may carry a version range."""
    holds: list[Hold] = []
    header: list[str] | None = None
    for line in output.lines:
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) < 3:
            continue
        if header is None:
            if cells[0] == "#":
                header = [c.lower() for c in cells]
            continue
        if set(line.strip()) <= set("-+"):
            continue
        row = dict(zip(header, cells, strict=False))
        name = row.get("name", "").split(" ")[0]
        if not name or name.startswith("("):
            continue
        kind = row.get("type", "package")
        holds.append(Hold(name, "patch" if kind == "patch" else "package"))
    return holds


def _glob(pattern: str, value: str) -> bool:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(body, value) is not None


def _package(update: Planned) -> tuple[str, bool]:
    """An update's package name, and whether it is a zypper patch."""
    if update.platform_id.startswith("patch:"):
        return update.name, True
    return update.name.split(":")[0], False


def blocking_hold(manager: str, update: Planned, holds: Sequence[Hold]) -> str | None:
    """Why ``update`` cannot be installed past ``holds``, or ``None``."""
    how = _HOW_HELD[manager]
    name, patch = _package(update)
    rpm = manager in ("dnf", "yum", "zypper")
    for hold in holds:
        if (hold.kind == "patch") != patch:
            continue
        if _glob(hold.name, name):
            return f"{name} is held ({how})"
        plain = rpm and not patch and not any(c in hold.name for c in "*?")
        if plain and (name.startswith(hold.name + "-") or hold.name.startswith(name + "-")):
            return f"{name} needs {hold.name}, built from the same source and held ({how})"
    return None


def holds_check(
    manager: str, holds: list[Hold] | None, planned: Sequence[Planned], why: str | None = None
) -> CheckResult:
    """Failed when a hold blocks a planned update; not run when the holds are unknown (``why``)."""
    if holds is None:
        return CheckResult("holds", None, f"not checked: {why or 'holds unknown'}")
    blocked = [why for update in planned if (why := blocking_hold(manager, update, holds))]
    if blocked:
        more = f" and {len(blocked) - 5} more" if len(blocked) > 5 else ""
        return CheckResult("holds", False, "; ".join(blocked[:5]) + more)
    if not holds:
        return CheckResult("holds", True, "nothing held")
    names = ", ".join(h.name for h in holds)
    detail = f"held, not needed by the plan: {clip(names, 160)}"
    if manager == "zypper" and any(u.platform_id.startswith("patch:") for u in planned):
        detail += " (patches are not matched: zypper does not list a patch's packages)"
    return CheckResult("holds", True, detail)
