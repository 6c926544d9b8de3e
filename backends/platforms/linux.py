"""Assessing a Linux machine: the rounds of docs/scan-script.md as a sans-I/O generator.

    assessor = assess(refresh=False)
    command = next(assessor)                 # a Command: a script for ``sh -c``
    command = assessor.send(Result(...))     # … until StopIteration carries the Assessment

Rounds: (0, only with ``refresh``) the manager's metadata refresh, privileged; (1) os-release,
boot id, and the listing and reboot sections of the first package manager found (apt-get, dnf,
yum, zypper); (2, apt only, when some candidate is not from a security origin)
``apt-cache policy`` of exactly those packages, to find masked security versions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

from backends.platforms import apt, dnf, zypper
from backends.platforms.osrelease import OsRelease, parse_os_release
from backends.platforms.probe import (
    Answer,
    Branch,
    Section,
    SectionOutput,
    build_script,
    check_nonce,
    clip,
    new_nonce,
    section,
    split_answer,
)
from backends.platforms.reboot import (
    RebootState,
    apt_reboot,
    needs_restarting,
    zypper_needs_rebooting,
)
from backends.platforms.records import (
    Assessment,
    Assessor,
    Command,
    Facts,
    FoundUpdate,
    PlatformError,
    Result,
)

SCAN_TIMEOUT = 300.0
REFRESH_TIMEOUT = 900.0
POLICY_TIMEOUT = 120.0
MAX_PROBLEMS = 50

OS_RELEASE = section("os-release", "cat", "/etc/os-release")
BOOT_ID = section("boot-id", "cat", "/proc/sys/kernel/random/boot_id")
# The else branch runs only when none of the managers is on PATH, so running the first of
# them there fails with status 127 ("not found"): the `manager` section's end status.
NO_MANAGER = section("manager", "apt-get", quiet=True)
MANAGERS = ("apt-get", "dnf", "yum", "zypper")

_BOOT_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


# Scripts are built once with this nonce and copied with each scan's own: building one costs
# more than parsing a small answer.
_TEMPLATE_NONCE = "5eed5eed5eed5eed"


def _from_template(template: str, nonce: str) -> str:
    check_nonce(nonce)
    return template.replace(_TEMPLATE_NONCE, nonce)


@functools.cache
def _scan_template() -> str:
    return build_script(
        _TEMPLATE_NONCE,
        common=(OS_RELEASE, BOOT_ID),
        branches=(
            Branch("apt-get", apt.LISTING),
            Branch("dnf", dnf.DNF.listing),
            Branch("yum", dnf.YUM.listing),
            Branch("zypper", zypper.LISTING),
        ),
        otherwise=(NO_MANAGER,),
    )


def scan_script(nonce: str) -> str:
    """Round 1."""
    return _from_template(_scan_template(), nonce)


@functools.cache
def _refresh_template() -> str:
    return build_script(
        _TEMPLATE_NONCE,
        branches=(
            Branch("apt-get", (apt.REFRESH,)),
            Branch("dnf", (dnf.DNF.refresh,)),
            Branch("yum", (dnf.YUM.refresh,)),
            Branch("zypper", (zypper.REFRESH,)),
        ),
        otherwise=(NO_MANAGER,),
    )


def refresh_script(nonce: str) -> str:
    """Round 0: the first manager's metadata refresh (run as root)."""
    return _from_template(_refresh_template(), nonce)


def policy_script(nonce: str, policy: Section) -> str:
    """Round 2 (apt)."""
    return build_script(nonce, common=(policy,))


def _scan_script_with_policy(nonce: str, prefetch: Section) -> str:
    """Round 1 that also asks, on apt machines, the ``apt-cache policy`` round 2 would."""
    return build_script(
        nonce,
        common=(OS_RELEASE, BOOT_ID),
        branches=(
            Branch("apt-get", (*apt.LISTING, prefetch)),
            Branch("dnf", dnf.DNF.listing),
            Branch("yum", dnf.YUM.listing),
            Branch("zypper", zypper.LISTING),
        ),
        otherwise=(NO_MANAGER,),
    )


def assess(
    refresh: bool = False, nonce: str | None = None, policy_hint: Sequence[str] = ()
) -> Assessor:
    """Assess the machine the engine runs the yielded commands on.

    Every script gets a new random nonce; a ``nonce`` given (tests) is used for every script.
    ``policy_hint`` names the packages an earlier scan of this machine looked up with
    ``apt-cache policy``: asked in round 1 already, a re-scan whose candidates have not
    changed needs no round 2 (one round trip instead of two). Only apt machines use it."""
    if nonce is not None:
        check_nonce(nonce)

    def fresh() -> str:
        return nonce if nonce is not None else new_nonce()

    notes: list[str] = []
    if refresh:
        round_nonce = fresh()
        result = yield Command(
            refresh_script(round_nonce), privileged=True, timeout=REFRESH_TIMEOUT
        )
        notes += _check_refresh(split_answer(result, round_nonce, "refresh"))

    round_nonce = fresh()
    prefetch = apt.policy_request(policy_hint).section if policy_hint else None
    script = (
        scan_script(round_nonce)
        if prefetch is None
        else _scan_script_with_policy(round_nonce, prefetch)
    )
    result = yield Command(script, timeout=SCAN_TIMEOUT)
    answer = split_answer(result, round_nonce, "scan")
    release, problems = _os_release(answer)
    boot_id = _boot_id(answer, problems)
    manager = _manager(answer, release)

    if manager == "apt":
        outcome = yield from _apt(answer, fresh)
    elif manager in ("dnf", "yum"):
        outcome = _dnf(answer, dnf.DNF if manager == "dnf" else dnf.YUM)
    else:
        outcome = _zypper(answer)
    reboot = outcome.reboot
    notes += outcome.notes + reboot.notes
    problems += outcome.problems
    updates = _unique(outcome.updates, problems)  # adds a problem per duplicate

    facts = Facts(
        family="linux",
        distro=release.id,
        version=release.version_id,
        pretty_name=release.pretty_name,
        package_manager=manager,
        boot_id=boot_id,
        reboot_required=reboot.required,
        reboot_packages=reboot.packages,
    )
    return Assessment(
        facts=facts,
        updates=updates,
        problems=_capped(problems),
        notes=list(dict.fromkeys(notes)),
    )


@dataclass(slots=True)
class _Outcome:
    updates: list[FoundUpdate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reboot: RebootState = field(default_factory=RebootState)


def _require(answer: Answer, *names: str) -> dict[str, SectionOutput]:
    missing = [name for name in names if answer.get(name) is None]
    if missing:
        raise PlatformError(
            "unparseable",
            f"the scan output lacks section(s) {', '.join(missing)}: the script did not run "
            "to its end",
        )
    return {name: answer.sections[name] for name in names}


def _os_release(answer: Answer) -> tuple[OsRelease, list[str]]:
    output = answer.get(OS_RELEASE.name)
    if output is None:
        raise PlatformError("unparseable", "the scan output lacks section os-release")
    if output.status != 0:
        return OsRelease(), [f"os-release: /etc/os-release is not readable: {clip(output.body)!r}"]
    return parse_os_release(output.body)


def _boot_id(answer: Answer, problems: list[str]) -> str | None:
    output = answer.get(BOOT_ID.name)
    if output is None:
        raise PlatformError("unparseable", "the scan output lacks section boot-id")
    value = output.body.strip()
    if output.status == 0 and _BOOT_ID_RE.match(value):
        return value
    problems.append(f"boot-id: not a boot id (exit {output.status}): {clip(value)!r}")
    return None


def _manager(answer: Answer, release: OsRelease) -> str:
    if answer.get(NO_MANAGER.name) is not None:
        system = (
            f" ({release.pretty_name or release.id})" if release.pretty_name or release.id else ""
        )
        raise PlatformError(
            "unsupported",
            f"no known package manager on this machine{system}: none of "
            f"{', '.join(MANAGERS)} is on the PATH",
        )
    for name, listing in (
        ("apt", apt.LIST),
        ("dnf", dnf.DNF.list_section),
        ("yum", dnf.YUM.list_section),
        ("zypper", zypper.UPDATES),
    ):
        if answer.get(listing) is not None:
            return name
    raise PlatformError(
        "unparseable", "the scan output has no package manager section: the script did not run"
    )


def _check_refresh(answer: Answer) -> list[str]:
    if answer.get(NO_MANAGER.name) is not None:
        raise PlatformError(
            "unsupported",
            f"no known package manager to refresh: none of {', '.join(MANAGERS)} is on the PATH",
        )
    if (output := answer.get(apt.UPDATE)) is not None:
        return apt.check_refresh(output)
    for flavor in (dnf.DNF, dnf.YUM):
        if (output := answer.get(flavor.refresh_section)) is not None:
            dnf.check_status(output, f"{flavor.manager} makecache", ok=(0,))
            return []
    if (output := answer.get(zypper.REFRESH_SECTION)) is not None:
        return zypper.check_status(output, "zypper refresh")
    raise PlatformError("unparseable", "the refresh output has no refresh section")


def _apt(answer: Answer, fresh: Callable[[], str]) -> Generator[Command, Result, _Outcome]:
    outputs = _require(answer, apt.LIST, apt.REBOOT_FLAG, apt.REBOOT_PKGS)
    apt.check_listing(outputs[apt.LIST])
    sim = apt.parse_simulation(outputs[apt.LIST].body)
    outcome = _Outcome()
    outcome.notes += sim.notes
    outcome.problems += sim.problems
    outcome.reboot = apt_reboot(outputs[apt.REBOOT_FLAG], outputs[apt.REBOOT_PKGS])

    policies: dict[str, apt.Policy] = {}
    if (prefetched := answer.get(apt.POLICY)) is not None and prefetched.status == 0:
        policies, unreadable = apt.parse_policy(prefetched.body)
        outcome.problems += unreadable
    needed = [c for c in sim.candidates if c.name not in policies]
    request = apt.policy_section(needed)
    outcome.problems += request.problems
    outcome.notes += request.notes
    if (policy := request.section) is not None:
        round_nonce = fresh()
        result = yield Command(policy_script(round_nonce, policy), timeout=POLICY_TIMEOUT)
        second = split_answer(result, round_nonce, "apt-cache policy")
        output = second.get(apt.POLICY)
        if output is None:
            raise PlatformError("unparseable", "the apt-cache policy output lacks its section")
        if output.status != 0:
            outcome.notes.append(
                f"apt-cache policy failed (exit {output.status}), so security versions masked "
                f"by another suite were not looked for: {clip(output.body.strip(), 200)}"
            )
        else:
            more, unreadable = apt.parse_policy(output.body)
            outcome.problems += unreadable
            policies.update(more)
    masked = apt.masked_security(policies)
    outcome.updates = apt.updates(sim.candidates, masked)
    if note := apt.masked_note(sim.candidates, masked):
        outcome.notes.append(note)
    return outcome


def _dnf(answer: Answer, flavor: dnf.Flavor) -> _Outcome:
    outputs = _require(
        answer,
        flavor.list_section,
        flavor.updateinfo_section,
        flavor.installed_section,
        dnf.NEEDS_RESTARTING,
    )
    manager = flavor.manager
    listing = outputs[flavor.list_section]
    dnf.check_status(listing, f"{manager} check-update", ok=(0, 100))
    rows = dnf.parse_rows(listing.body, flavor.list_section)
    outcome = _Outcome()
    outcome.problems += rows.problems
    if rows.obsoleting:
        outcome.notes.append(
            f"{manager} also offers {len(rows.obsoleting)} obsoleting package(s), not counted: "
            f"{clip(', '.join(rows.obsoleting), 200)}"
        )

    installed: dict[tuple[str, str], str] | None = None
    listed = outputs[flavor.installed_section]
    if listed.status == 0:
        installed_rows = dnf.parse_rows(listed.body, flavor.installed_section)
        outcome.problems += installed_rows.problems
        installed = dnf.installed_versions(installed_rows.rows)
    else:
        outcome.notes.append(
            f"installed versions unknown: {manager} list installed exited {listed.status}"
        )

    info: dnf.UpdateInfo | None = None
    advisories = outputs[flavor.updateinfo_section]
    if advisories.status != 0:
        detail = (
            clip(advisories.body.strip().split("\n")[-1], 160) if advisories.body.strip() else ""
        )
        outcome.notes.append(
            f"{dnf.NO_UPDATEINFO} ({manager} updateinfo exited {advisories.status}"
            + (f": {detail})" if detail else ")")
        )
    else:
        info = dnf.parse_updateinfo(advisories.body, flavor.updateinfo_section)
        outcome.problems += info.problems
        if rows.rows and info.lines == 0:
            outcome.notes.append(dnf.NO_UPDATEINFO)
            info = None
    outcome.updates = dnf.updates(rows.rows, installed, info)
    outcome.reboot = needs_restarting(outputs[dnf.NEEDS_RESTARTING])
    return outcome


def _zypper(answer: Answer) -> _Outcome:
    outputs = _require(answer, zypper.UPDATES, zypper.PATCHES, zypper.REBOOT)
    outcome = _Outcome()
    listing = zypper.Listing()
    for name, command, parse in (
        (zypper.UPDATES, "zypper list-updates", zypper.parse_updates),
        (zypper.PATCHES, "zypper list-patches", zypper.parse_patches),
    ):
        outcome.notes += zypper.check_status(outputs[name], command)
        parse(outputs[name].body, listing)
    outcome.notes += listing.notes
    outcome.problems += listing.problems
    outcome.updates, unit_notes = zypper.updates(listing)
    outcome.notes += unit_notes
    outcome.reboot = zypper_needs_rebooting(outputs[zypper.REBOOT])
    return outcome


def _unique(updates: list[FoundUpdate], problems: list[str]) -> list[FoundUpdate]:
    seen: set[str] = set()
    kept: list[FoundUpdate] = []
    for update in updates:
        if update.platform_id in seen:
            problems.append(f"update {clip(update.platform_id)!r} listed twice; kept the first")
            continue
        seen.add(update.platform_id)
        kept.append(update)
    return kept


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"… and {len(problems) - MAX_PROBLEMS} more problems"]
