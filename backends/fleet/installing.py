"""What an install changes on a simulated machine, whichever tool prints it.

The package tools (:mod:`.apt_installer`, :mod:`.rpm_installer`, :mod:`.zypper_installer`)
work out which binary packages move to which version (:class:`Step`), print it the way the
real tool does (with pauses between progress lines, so a client sees it stream) and call
:func:`apply`: the machine's installed versions change, so later scans no longer list those
updates, and packages that take effect at boot (kernels, libc, systemd …) leave it waiting
for a reboot. State lives in the :class:`~backends.fleet.profiles.Machine` object, which
outlives every SSH connection.

The model is deliberately simple: exactly the packages named are installed (apt's kernel
metapackage pulls in its new ABI package, a SUSE patch moves every package of its source);
dependencies are not resolved. The state changes when the command starts, not line by line.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from backends.fleet.profiles import Installed, Machine
from backends.fleet.repository import SourceState

LOCK_PID = 4711


@dataclass(frozen=True, slots=True)
class Step:
    """One binary package an install moves: from ``old`` (``None``: new, apt's kernel ABI
    package) to ``new``, the version at ``index`` of its source."""

    name: str
    arch: str
    state: SourceState
    old: str | None
    new: str
    index: int

    @property
    def reboot(self) -> bool:
        return self.state.source.reboot


def lock_remaining(machine: Machine, now: float | None = None) -> float:
    """Seconds the ``dpkg-lock`` fault still holds the package lock (``inf``: for ever, 0: not
    held). The clock starts at the first install that meets the lock."""
    held = machine.faults.dpkg_lock
    if not held:
        return 0.0
    if math.isinf(held):
        return math.inf
    now = time.monotonic() if now is None else now
    if machine.lock_since is None:
        machine.lock_since = now
    return max(0.0, machine.lock_since + held - now)


def step_for(pkg: Installed, name: str, arch: str, index: int) -> Step:
    return Step(name, arch, pkg.state, pkg.version, pkg.state.versions[index], index)


def reboot_names(machine: Machine, steps: list[Step]) -> list[str]:
    """What the platform's own tooling names as wanting the reboot: the kernel ABI package
    and libc-like binaries on apt systems, the source (kernel, glibc, systemd) on RPM ones."""
    names: list[str] = []
    for step in steps:
        if not step.reboot:
            continue
        source = step.state.source
        if machine.kind.apt is not None:
            if source.new_binaries and step.old is not None:
                continue  # the metapackage: its new ABI package is named instead
            names.append(step.name)
        else:
            names.append(source.name)
    return names


def apply(machine: Machine, steps: list[Step], failed: frozenset[str] = frozenset()) -> None:
    """Install ``steps`` but the ``failed`` ones; a reboot is wanted if any of them needs one."""
    done = [step for step in steps if step.name not in failed]
    machine.set_versions({step.name: step.index for step in done if step.old is not None})
    machine.want_reboot(reboot_names(machine, done))


def halves(steps: list[Step]) -> int:
    """How many packages a ``hang-install`` gets through before it stops."""
    return (len(steps) + 1) // 2
