"""``dnf upgrade`` / ``yum update`` for real on a simulated EL machine.

What dnf prints follows real dnf 4.14 (tests/data/platforms/dnf-install*.txt): the
transaction table, one ``  Upgrading        : NEVRA   n/N`` line per element with the
``Cleanup`` of each old version after them and a ``Verifying`` pass numbered from 1 again,
``Upgraded:``, ``Complete!``. A spec no repository offers is ``No match for argument`` (and
``Nothing to do.``, exit 0, when nothing else is left); a ``failing-package`` fails its
``%pre`` scriptlet, the others are upgraded and dnf ends ``Error: Transaction failed`` (exit 1).
With ``exit_on_lock`` a held lock (``dpkg-lock``) is exit 200 at once (yum: 1); without it dnf
waits for its holder. yum (EL 7) prints its own older layout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from backends.fleet import installing
from backends.fleet.installing import LOCK_PID, Step
from backends.fleet.profiles import Machine
from backends.fleet.streams import Output, Printer

_NEVRA = re.compile(r"(?P<name>.+)-(?P<evr>(?:\d+:)?[^-:]+-[^-]+)\.(?P<arch>[A-Za-z0-9_]+)\Z")
_DNF_OWNER = (
    f"  The application with PID {LOCK_PID} is: dnf\n"
    "          Memory : 112 M RSS (515 MB VSZ)\n"
    "          Started: Mon Oct 14 09:10:02 2024 - 02:43 ago\n"
    "          State  : Sleeping\n"
)
_INSTALL_ONLY = frozenset({"kernel"})  # sources dnf installs side by side


def _plain(evr: str) -> str:
    return evr[2:] if evr.startswith("0:") else evr


def _nevra(step: Step, version: str | None = None) -> str:
    return f"{step.name}-{_plain(version or step.new)}.{step.arch}"


def _full_nevra(step: Step, version: str) -> str:
    evr = version if ":" in version else f"0:{version}"
    return f"{step.name}-{evr}.{step.arch}"


def upgrade(machine: Machine, specs: Sequence[str], exit_on_lock: bool, binary: str) -> Output:
    """``dnf -y upgrade SPEC…`` / ``yum -y update SPEC…`` as root."""
    yum = binary == "yum" or machine.kind.manager == "yum"
    p = Printer()
    remaining = installing.lock_remaining(machine)
    if remaining > 0:
        if exit_on_lock:
            if yum:
                p.err(
                    f"Existing lock /var/run/yum.pid: another copy is running as pid {LOCK_PID}.\n"
                    "Another app is currently holding the yum lock; exiting as configured by "
                    "exit_on_lock\n"
                )
                return p.done(1)
            p.err(f"metadata already locked by {LOCK_PID}\n" + _DNF_OWNER)
            return p.done(200)
        p.out(f"Waiting for process with pid {LOCK_PID} to finish.\n")
        if math.isinf(remaining):
            return p.done(0, hang=True)
        p.pause(remaining)
    steps, missing = _resolve(machine, p, specs)
    if not yum:
        p.out("Last metadata expiration check: 0:12:31 ago on Mon 14 Oct 2024 09:22:01 AM UTC.\n")
    for spec in missing:
        p.err(f"No match for argument: {spec}\n")
    if not steps:
        if missing:
            p.err("Error: No packages marked for upgrade.\n")
            return p.done(1)
        p.out("Dependencies resolved.\nNothing to do.\nComplete!\n")
        return p.done(0)
    failing = machine.faults.failing_package
    hang = machine.faults.hang_install
    todo = steps[: installing.halves(steps)] if hang else steps
    failed = frozenset(s.name for s in todo if s.name == failing)
    installing.apply(machine, todo, failed)
    if yum:
        _yum_transaction(machine, p, steps, todo, failed)
    else:
        _dnf_transaction(machine, p, steps, todo, failed)
    if hang:
        return p.done(0, hang=True)
    return p.done(1 if failed else 0)


def _resolve(machine: Machine, p: Printer, specs: Sequence[str]) -> tuple[list[Step], list[str]]:
    steps: list[Step] = []
    missing: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        found = _match(machine, spec)
        if found is None:
            missing.append(spec)
            continue
        name, arch, index = found
        pkg = machine.by_binary.get(name)
        if pkg is None:
            missing.append(spec)
            continue
        if index <= pkg.index:
            p.out(f"Package {name}-{_plain(pkg.version)}.{arch} is already installed.\n")
            continue
        if name not in seen:
            seen.add(name)
            steps.append(installing.step_for(pkg, name, arch, index))
    return steps, missing


def _match(machine: Machine, spec: str) -> tuple[str, str, int] | None:
    """(name, arch, version index) a dnf spec names: ``NAME-[E:]V-R.ARCH``, ``NAME.ARCH`` or
    ``NAME`` (the newest version)."""
    binaries = machine.archive_binaries
    if (match := _NEVRA.match(spec)) and match.group("name") in binaries:
        state, arch = binaries[match.group("name")]
        wanted = _plain(match.group("evr"))
        for index, version in enumerate(state.versions):
            if _plain(version) == wanted and match.group("arch") in (arch, "noarch"):
                return match.group("name"), arch, index
        return None
    name, _, arch = spec.rpartition(".")
    if name in binaries and binaries[name][1] == arch:
        return name, arch, binaries[name][0].top
    if spec in binaries:
        return spec, binaries[spec][1], binaries[spec][0].top
    return None


def _row(name: str, arch: str, version: str, repo: str) -> str:
    return f" {name:<21} {arch:<16} {_plain(version):<17} {repo:<13} {'1.2 M':>7}\n"


def _line(action: str, what: str, n: int, total: int) -> str:
    counter = f"{n}/{total}"
    return f"  {action:<17}: {what:<{max(55 - len(counter), len(what))}} {counter} \n"


def _repo(machine: Machine, step: Step) -> str:
    rpm = machine.kind.rpm
    assert rpm is not None
    return rpm.appstream if step.state.source.repo == "appstream" else rpm.baseos


def _dnf_transaction(
    machine: Machine, p: Printer, steps: list[Step], todo: list[Step], failed: frozenset[str]
) -> None:
    pause = machine.timing.install_step
    bar = "=" * 80 + "\n"
    installs = [s for s in steps if s.state.source.name in _INSTALL_ONLY]
    upgrades = [s for s in steps if s not in installs]
    p.out("Dependencies resolved.\n" + bar)
    p.out(" Package               Architecture     Version           Repository       Size\n")
    p.out(bar)
    for title, group in (("Installing:", installs), ("Upgrading:", upgrades)):
        if group:
            p.out(title + "\n")
            for step in sorted(group, key=lambda s: s.name):
                p.out(_row(step.name, step.arch, step.new, _repo(machine, step)))
    p.out("\nTransaction Summary\n" + bar)
    if installs:
        p.out(f"Install  {len(installs)} Package{'s' if len(installs) > 1 else ''}\n")
    if upgrades:
        p.out(f"Upgrade  {len(upgrades)} Package{'s' if len(upgrades) > 1 else ''}\n")
    p.out(f"\nTotal download size: {1.2 * len(steps):.1f} M\nDownloading Packages:\n")
    for number, step in enumerate(steps, 1):
        file = f"({number}/{len(steps)}): {_nevra(step)}.rpm"
        p.out(f"{file[:47]:<47} 2.1 MB/s | 1.2 MB     00:00    \n")
        p.pause(pause / 2)
    p.out("-" * 80 + "\n")
    p.out(f"{'Total':<47} 2.0 MB/s | {1.2 * len(steps):.1f} MB     00:00     \n")
    p.out(
        "Running transaction check\nTransaction check succeeded.\n"
        "Running transaction test\nTransaction test succeeded.\nRunning transaction\n"
    )
    total = len(steps) + len(upgrades)
    p.out(_line("Preparing", "", 1, 1))
    n = 0
    for number, step in enumerate(steps):
        if number == len(todo):
            return  # hang-install
        n += 1
        if step.name in failed:
            p.out(_line("Running scriptlet", _nevra(step), n, total))
            p.out(
                f"error: %prein({_full_nevra(step, step.new)}) scriptlet failed, exit status 1\n\n"
                f"Error in PREIN scriptlet in rpm package {step.name}\n"
            )
        else:
            action = "Installing" if step in installs else "Upgrading"
            p.out(_line(action, _nevra(step), n, total))
        p.pause(pause)
    for step in upgrades:
        n += 1
        p.out(_line("Cleanup", _nevra(step, step.old), n, total))
        if step.name in failed:
            p.out(f"error: {_full_nevra(step, step.new)}: install failed\n\n")
    n = 0
    for step in steps:
        for version in (step.new, step.old) if step in upgrades else (step.new,):
            n += 1
            p.out(_line("Verifying", _nevra(step, version), n, total))
    p.pause(pause)
    done = [s for s in steps if s.name not in failed]
    for title, group in (("Upgraded:", [s for s in done if s in upgrades]),
                         ("Installed:", [s for s in done if s in installs])):  # fmt: skip
        if group:
            p.out(f"\n{title}\n")
            p.out("".join(f"  {_nevra(s):<76}\n" for s in group))
    if failed:
        broken = [s for s in steps if s.name in failed]
        p.out("Failed:\n")
        p.out("".join(f"  {_nevra(s, s.old)}    {_nevra(s)}\n" for s in broken))
        p.out("\n")
        p.err("Error: Transaction failed\n")
        return
    p.out("\nComplete!\n")


def _yum_transaction(
    machine: Machine, p: Printer, steps: list[Step], todo: list[Step], failed: frozenset[str]
) -> None:
    pause = machine.timing.install_step
    p.out("Loaded plugins: fastestmirror\nLoading mirror speeds from cached hostfile\n")
    p.out("Resolving Dependencies\n--> Running transaction check\n")
    for step in steps:
        old = step.old if step.old and ":" in step.old else f"0:{step.old}"
        new = step.new if ":" in step.new else f"0:{step.new}"
        p.out(f"---> Package {step.name}.{step.arch} {old} will be updated\n")
        p.out(f"---> Package {step.name}.{step.arch} {new} will be an update\n")
    p.out("--> Finished Dependency Resolution\n\nDependencies Resolved\n\n")
    bar = "=" * 80 + "\n"
    p.out(bar + " Package          Arch        Version                 Repository      Size\n")
    p.out(bar + "Updating:\n")
    for step in steps:
        p.out(f" {step.name:<16} {step.arch:<11} {_plain(step.new):<23} updates  1.2 M\n")
    p.out(f"\nTransaction Summary\n{bar}Upgrade  {len(steps)} Package{'s' * (len(steps) > 1)}\n\n")
    p.out(f"Total download size: {1.2 * len(steps):.1f} M\nDownloading packages:\n")
    for number, step in enumerate(steps, 1):
        p.out(f"({number}/{len(steps)}): {_nevra(step)}.rpm | 1.2 MB  00:00:00\n")
    p.out("Running transaction check\nRunning transaction test\nTransaction test succeeded\n")
    p.out("Running transaction\n")
    total = 2 * len(steps)
    n = 0
    for number, step in enumerate(steps):
        if number == len(todo):
            return
        n += 1
        if step.name in failed:
            p.out(
                f"Error in PREIN scriptlet in rpm package {_nevra(step)}\n"
                f"error: %pre({_nevra(step)}) scriptlet failed, exit status 1\n"
                f"error: install: %pre scriptlet failed (2), skipping {_nevra(step)}\n"
            )
        else:
            p.out(
                _line("Updating", _nevra(step), n, total).replace(
                    "  Updating         ", "  Updating   "
                )
            )
        p.pause(pause)
    for step in steps:
        n += 1
        p.out(
            _line("Cleanup", _nevra(step, step.old), n, total).replace(
                "  Cleanup          ", "  Cleanup    "
            )
        )
    n = 0
    for step in steps:
        for version in (step.new, step.old):
            n += 1
            p.out(
                _line("Verifying", _nevra(step, version), n, total).replace(
                    "  Verifying        ", "  Verifying  "
                )
            )
    done = [s for s in steps if s.name not in failed]
    if done:
        p.out(
            "\nUpdated:\n"
            + "".join(
                f"  {s.name}.{s.arch} {s.new if ':' in s.new else '0:' + s.new}\n" for s in done
            )
        )
    if failed:
        p.out(
            "\nFailed:\n"
            + "".join(
                f"  {s.name}.{s.arch} {s.new if ':' in s.new else '0:' + s.new}\n"
                for s in steps
                if s.name in failed
            )
        )
    p.out("\nComplete!\n")
