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
from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

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
# In a script narrowed to the manager a machine had last time: another manager came first.
OTHER_MANAGER = section("other-manager", "true")
# The manager the listing sections of each branch belong to, by the program that guards it.
_MANAGER_OF = {"apt-get": "apt", "dnf": "dnf", "yum": "yum", "zypper": "zypper"}

_BOOT_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


T = TypeVar("T")


class Recall:
    """What one machine's sections meant the last time they were read: a re-scan whose section
    repeats last time's text word for word (the usual case) is not parsed again, and parsing
    is the costliest step of a scan over a kept connection. One entry per kind of section;
    the values it returns are shared, so nothing may change them."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, tuple[object, Any]] = {}

    def get(
        self, kind: str, outputs: Sequence[SectionOutput | None], compute: Callable[[], T]
    ) -> T:
        """``compute()``, or its value from last time if ``outputs`` repeat last time's."""
        # The sections themselves are the key: comparing two texts costs less than hashing one
        # on every scan, and a machine's sections are a few kilobytes.
        return self.keyed(kind, tuple(outputs), compute)

    def keyed(self, kind: str, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, or its value from last time if ``key`` equals last time's."""
        seen = self._seen.get(kind)
        if seen is not None and seen[0] == key:
            return cast(T, seen[1])
        value = compute()
        self._seen[kind] = (key, value)
        return value

    def derive(self, kind: str, source: object, compute: Callable[[], T]) -> T:
        """``compute()``, or its value from last time if ``source`` is the very object it was
        computed from then (what :meth:`get` returned, say)."""
        seen = self._seen.get(kind)
        if seen is not None and seen[0] is source:
            return cast(T, seen[1])
        value = compute()
        self._seen[kind] = (source, value)
        return value


# Scripts are built once with this nonce and copied with each scan's own: building one costs
# more than parsing a small answer.
_TEMPLATE_NONCE = "5eed5eed5eed5eed"


def _from_template(template: str, nonce: str) -> str:
    check_nonce(nonce)
    return template.replace(_TEMPLATE_NONCE, nonce)


def _branches(prefetch: Section | None = None) -> tuple[Branch, ...]:
    apt_sections = apt.LISTING if prefetch is None else (*apt.LISTING, prefetch)
    return (
        Branch("apt-get", apt_sections),
        Branch("dnf", dnf.DNF.listing),
        Branch("yum", dnf.YUM.listing),
        Branch("zypper", zypper.LISTING),
    )


def _round_one(nonce: str, expect: str | None, prefetch: Section | None = None) -> str:
    """Round 1: every manager's branch; or, when the machine used ``expect`` last time, only
    that one: the managers tested before it (they would win) answer ``other-manager``, and so
    does a machine without it. The choice is the full script's; only the script is shorter."""
    branches = _branches(prefetch)
    if expect is None:
        return build_script(
            nonce, common=(OS_RELEASE, BOOT_ID), branches=branches, otherwise=(NO_MANAGER,)
        )
    kept: list[Branch] = []
    for branch in branches:
        if _MANAGER_OF[branch.program] == expect:
            kept.append(branch)
            break
        kept.append(Branch(branch.program, (OTHER_MANAGER,)))
    return build_script(
        nonce, common=(OS_RELEASE, BOOT_ID), branches=kept, otherwise=(OTHER_MANAGER,)
    )


@functools.cache
def _scan_template(expect: str | None = None) -> str:
    return _round_one(_TEMPLATE_NONCE, expect)


def scan_script(nonce: str, expect: str | None = None) -> str:
    """Round 1, for every manager or narrowed to ``expect`` (see :func:`_round_one`)."""
    return _from_template(_scan_template(expect), nonce)


def likely_manager(distro: str | None, version: str | None) -> str | None:
    """The package manager a machine of this os-release ID and VERSION_ID uses, or ``None``
    when unknown: a guess that makes a re-scan's script shorter, never its answer different."""
    family = OsRelease(id=distro).family if distro else None
    if family == "debian":
        return "apt"
    if family == "suse":
        return "zypper"
    if family == "rhel":
        major = (version or "").split(".")[0]
        if distro == "amzn":
            return "yum" if major == "2" else "dnf"
        if distro != "fedora" and major.isdigit() and int(major) <= 7:
            return "yum"
        return "dnf"
    return None


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


def assess(
    refresh: bool = False,
    nonce: str | None = None,
    policy_hint: Sequence[str] = (),
    expect: str | None = None,
    recall: Recall | None = None,
) -> Assessor:
    """Assess the machine the engine runs the yielded commands on.

    Every script gets a new random nonce; a ``nonce`` given (tests) is used for every script.
    ``policy_hint`` names the packages an earlier scan of this machine looked up with
    ``apt-cache policy``: asked in round 1 already, a re-scan whose candidates have not
    changed needs no round 2 (one round trip instead of two). Only apt machines use it.
    ``expect`` names the manager the machine used last time (:func:`likely_manager`): round 1
    then carries only that manager's sections, and a machine that answers ``other-manager``
    gets the full round 1 after it. ``recall`` (one per machine, kept by the caller between
    scans) spares parsing sections that have not changed since the last scan."""
    if expect is not None and expect not in _MANAGER_OF.values():
        raise ValueError(f"not a package manager: {expect!r}")
    if nonce is not None:
        check_nonce(nonce)

    def fresh() -> str:
        return nonce if nonce is not None else new_nonce()

    notes: list[str] = []
    if refresh:
        round_nonce = fresh()
        result = yield Command(
            refresh_script(round_nonce),
            privileged=True,
            timeout=REFRESH_TIMEOUT,
        )
        notes += _check_refresh(split_answer(result, round_nonce, "refresh"))

    memo = recall if recall is not None else Recall()
    hint = tuple(policy_hint) if expect in (None, "apt") else ()
    answer = yield from _round_one_answer(fresh(), expect, hint, memo)
    if answer.get(OTHER_MANAGER.name) is not None:
        answer = yield from _round_one_answer(fresh(), None, hint, memo)
    release, release_problems = memo.get(
        "os-release", [answer.get(OS_RELEASE.name)], lambda: _os_release(answer)
    )
    problems = list(release_problems)
    boot_id = _boot_id(answer, problems)
    manager = _manager(answer, release)

    if manager == "apt":
        outcome = yield from _apt(answer, fresh, memo)
    elif manager in ("dnf", "yum"):
        flavor = dnf.DNF if manager == "dnf" else dnf.YUM
        outcome = memo.get(
            manager, [answer.get(name) for name in _dnf_sections(flavor)],
            lambda: _dnf(answer, flavor),
        )  # fmt: skip
    else:
        outcome = memo.get(
            "zypper", [answer.get(name) for name in _ZYPPER_SECTIONS], lambda: _zypper(answer)
        )
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


def _round_one_answer(
    nonce: str, expect: str | None, hint: tuple[str, ...], memo: Recall
) -> Generator[Command, Result, Answer]:
    if hint:

        def template() -> str:
            prefetch = apt.policy_request(hint).section
            return _round_one(_TEMPLATE_NONCE, expect, prefetch)

        script = _from_template(memo.keyed("round-one", (expect, hint), template), nonce)
    else:
        script = scan_script(nonce, expect)
    result = yield Command(script, timeout=SCAN_TIMEOUT)
    return split_answer(result, nonce, "scan")


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


def _apt(
    answer: Answer, fresh: Callable[[], str], memo: Recall
) -> Generator[Command, Result, _Outcome]:
    outputs = _require(answer, apt.LIST, apt.REBOOT_FLAG, apt.REBOOT_PKGS)
    listing = outputs[apt.LIST]
    apt.check_listing(listing)
    sim = memo.get("apt-list", [listing], lambda: apt.parse_simulation(listing.body))
    outcome = _Outcome()
    outcome.notes += sim.notes
    outcome.problems += sim.problems
    outcome.reboot = apt_reboot(outputs[apt.REBOOT_FLAG], outputs[apt.REBOOT_PKGS])

    policies: dict[str, apt.Policy] = {}
    policy_outputs: list[SectionOutput | None] = [listing]
    if (prefetched := answer.get(apt.POLICY)) is not None and prefetched.status == 0:
        body = prefetched.body
        first, unreadable = memo.get("apt-policy", [prefetched], lambda: apt.parse_policy(body))
        policies = dict(first)
        outcome.problems += unreadable
        policy_outputs.append(prefetched)
    asked = policies
    request = memo.get(
        "apt-request",
        policy_outputs,
        lambda: apt.policy_section(c for c in sim.candidates if c.name not in asked),
    )
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
            body = output.body
            more, unreadable = memo.get("apt-policy", [output], lambda: apt.parse_policy(body))
            outcome.problems += unreadable
            policies.update(more)
            policy_outputs.append(output)

    def classified() -> tuple[list[FoundUpdate], str | None]:
        masked = apt.masked_security(policies)
        return apt.updates(sim.candidates, masked), apt.masked_note(sim.candidates, masked)

    outcome.updates, note = memo.get("apt-updates", policy_outputs, classified)
    if note:
        outcome.notes.append(note)
    return outcome


def _dnf_sections(flavor: dnf.Flavor) -> tuple[str, ...]:
    return (
        flavor.list_section,
        flavor.updateinfo_section,
        flavor.installed_section,
        dnf.NEEDS_RESTARTING,
    )


_ZYPPER_SECTIONS = (zypper.UPDATES, zypper.PATCHES, zypper.REBOOT)


def _dnf(answer: Answer, flavor: dnf.Flavor) -> _Outcome:
    outputs = _require(answer, *_dnf_sections(flavor))
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
    outputs = _require(answer, *_ZYPPER_SECTIONS)
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
    return updates if len(kept) == len(updates) else kept


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"… and {len(problems) - MAX_PROBLEMS} more problems"]
