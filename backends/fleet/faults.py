"""Faults a simulated machine can be given, and the spec that assigns them.

A spec is a mapping (from a JSON or YAML file, or a Python object in tests)::

    {
      "machines": {
        "sim-003": ["refuse-auth"],
        "sim-010": [{"slow": 2.5}, "lock"],
        "sim-011": {"drop": true, "sudo-password": true}
      },
      "random": {"garbage": 0.01, "slow": {"rate": 0.05, "seconds": 3}}
    }

``machines`` names faults per machine, as a list of names and ``{name: value}`` items or as one
mapping; ``random`` gives each machine a fault with a probability (drawn from the fleet's seed,
so the same seed picks the same machines). Both may be given; a machine gets the union.

Faults (``_`` may stand for ``-``):

- ``refuse-auth``: every public key is refused (the client sees permission denied).
- ``hang``: commands are accepted and never answered; the channel stays open until the client
  gives up.
- ``garbage``: every program prints random bytes (invalid UTF-8, terminal escape sequences, NULs)
  instead of its output, with status 0; shell builtins such as ``echo`` still work.
- ``drop``: the first half of a command's output is sent, then the connection is closed abruptly.
- ``slow``: every command waits this many seconds before answering (``true`` means 2 s).
- ``sudo-password``: ``sudo`` wants a password (``sudo -n`` fails with ``sudo: a password is
  required``, status 1), as on machines whose sudoers has no NOPASSWD rule.
- ``lock``: the package lists are locked by another process: apt's update fails with
  ``E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)``
  (status 100), zypper exits 7, dnf and yum wait for the lock forever (dnf with
  ``--setopt=exit_on_lock=True`` exits 200).
- ``repo-failure``: a repository cannot be reached on refresh: apt prints ``W: Failed to fetch …``
  and ``W: Some index files failed to download …`` and exits 0, dnf and yum exit 1, zypper 4.
- ``down``: nothing answers on the machine's port: the port is held (bound, so no other program
  takes it) but not listened on, so every connection is refused, as when a machine's sshd is
  stopped. The machine is still listed and registered like the others.
- ``wua-error`` (Windows machines only): the Windows Update Agent's search fails with HRESULT
  0x8024402C (the update server's name cannot be resolved), as on a machine whose WSUS or proxy
  is misconfigured. Linux machines ignore it.
- ``full-boot``: /boot is a partition of its own with 40 MB free (old kernels fill it), as
  ``df`` shows.
- ``full-var``: /var (the root file system on most kinds) has 200 MB free.
- ``held-package``: the first binary of the machine's first outdated source package that has
  more than one (``openssl`` on most kinds) is held: ``apt-mark hold`` on apt machines
  (``apt-get`` keeps its source back), a ``dnf`` or ``yum versionlock`` entry (the plugin
  installed; ``check-update`` leaves that package out but lists the rest of its source, as dnf
  does not resolve dependencies there), a ``zypper`` lock (``list-updates`` leaves its source
  out; its patches are still needed).
- ``broken-packages``: the package database is left broken, as by an interrupted install:
  ``dpkg --audit`` lists the first outdated package's binaries as half configured, ``dnf
  check`` / ``yum check`` report a duplicate, ``zypper verify`` (as root) wants to fix a
  dependency.

- ``dpkg-lock``: another program holds the package manager's lock when an install comes:
  ``unattended-upgrades`` (process ``unattended-upgr``, pid 4711) on apt machines,
  ``dnf-automatic`` (pid 4711, as ``dnf``) on dnf and yum ones, ``packagekitd`` (pid 4711) on SUSE.
  ``true`` holds it for ever; a number holds it that many seconds from the first install that
  meets it. apt waits ``DPkg::Lock::Timeout`` seconds printing ``Waiting for cache lock: …``,
  dnf and yum fail at once with ``exit_on_lock`` (else wait), zypper waits
  ``ZYPP_LOCK_TIMEOUT``. Scans are not affected (they take no lock).
- ``failing-package``: the named binary package fails to install: its maintainer script
  exits 1 (apt: the others are configured, it is left half-configured; dnf/yum: its
  ``%pre`` scriptlet fails, the others are upgraded, exit 1; zypper: it is committed last,
  fails, exit 8). It stays at its old version.
- ``hang-install``: an install stops half way through (the first half of its packages are
  installed) and prints nothing more, never exiting, until the client gives up.
- ``no-return``: after ``shutdown -r`` the machine never comes back: its port refuses
  connections for good.
- ``failing-update`` (Windows machines only): the update with this KB (``KB5037422`` or
  ``5037422``) fails to install in the install task with ``0x8024200B
  WU_E_UH_INSTALLERFAILURE``; the others install.
- ``down-mid-install`` (Windows machines only): the machine goes down while its install task
  is installing an update (the middle one of the task's updates, the only one of one; those
  before it are installed, it and those after it are not): its connections are cut and
  refused for ``Timing.reboot_down`` seconds, then it is back with a new boot time, as after
  an unexpected restart, with the install task gone (its directory and progress file stay).
  Once: the machine's next install goes through.

Windows machines (``win-000`` …, see :mod:`backends.fleet.winrm_server`) take ``refuse-auth``
(every login gets HTTP 401), ``hang``, ``garbage``, ``drop``, ``slow``, ``down``,
``wua-error``, ``failing-update``, ``hang-install`` (the install task stops after its first
download and runs for ever), ``down-mid-install`` and ``no-return`` (never back after
``Restart-Computer``); the other faults are about Linux tools and mean nothing to them.

Whatever its faults, a simulated Windows machine refuses, as Windows does, to download or
install updates from a WinRM session: a script that calls ``Download()`` / ``Install()`` on
what ``CreateUpdateDownloader()`` / ``CreateUpdateInstaller()`` made, in the session itself
rather than in a scheduled task's worker, fails with ``0x80070005`` (``E_ACCESSDENIED``,
:mod:`backends.fleet.windows_machine`).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

FAULTS = (
    "refuse-auth",
    "hang",
    "garbage",
    "drop",
    "slow",
    "sudo-password",
    "lock",
    "repo-failure",
    "down",
    "wua-error",
    "full-boot",
    "full-var",
    "held-package",
    "broken-packages",
    "dpkg-lock",
    "failing-package",
    "hang-install",
    "no-return",
    "failing-update",
    "down-mid-install",
)
DEFAULT_SLOW_SECONDS = 2.0
FOREVER = math.inf


class FaultSpecError(ValueError):
    """A fault spec that cannot be used; ``str()`` names the item at fault."""


@dataclass(frozen=True, slots=True)
class MachineFaults:
    refuse_auth: bool = False
    hang: bool = False
    garbage: bool = False
    drop: bool = False
    slow: float = 0.0  # seconds
    sudo_password: bool = False
    lock: bool = False
    repo_failure: bool = False
    down: bool = False
    wua_error: bool = False
    full_boot: bool = False
    full_var: bool = False
    held_package: bool = False
    broken_packages: bool = False
    dpkg_lock: float = 0.0  # seconds held from the first install that meets it; inf: always
    failing_package: str = ""  # a binary package whose install fails
    hang_install: bool = False
    no_return: bool = False
    failing_update: str = ""  # Windows: the KB of an update whose install fails
    down_mid_install: bool = False  # Windows: an unexpected restart during the install task

    def names(self) -> list[str]:
        """The faults set, by spec name."""
        return [f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name)]

    def merged(self, other: MachineFaults) -> MachineFaults:
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name)}
        return replace(self, **changes)


NO_FAULTS = MachineFaults()


def _fault_name(name: object, where: str) -> str:
    if not isinstance(name, str) or name.replace("_", "-") not in FAULTS:
        raise FaultSpecError(f"{where}: unknown fault {name!r} (known: {', '.join(FAULTS)})")
    return name.replace("_", "-")


def _one(name: str, value: object, where: str) -> MachineFaults:
    if name == "dpkg-lock":
        if value is True:
            return MachineFaults(dpkg_lock=FOREVER)
        if value is False:
            return NO_FAULTS
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return MachineFaults(dpkg_lock=float(value))
        raise FaultSpecError(f"{where}: dpkg-lock wants true or seconds (> 0), not {value!r}")
    if name == "failing-package":
        if isinstance(value, str) and value and value.strip() == value and " " not in value:
            return MachineFaults(failing_package=value)
        raise FaultSpecError(f"{where}: failing-package wants a package name, not {value!r}")
    if name == "failing-update":
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if re.fullmatch(r"(?:KB)?[0-9]{4,10}", text, re.IGNORECASE):
            return MachineFaults(failing_update=text.upper())
        raise FaultSpecError(f"{where}: failing-update wants a KB (KB5037422), not {value!r}")
    if name == "slow":
        if value is True:
            seconds = DEFAULT_SLOW_SECONDS
        elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            seconds = float(value)
        else:
            raise FaultSpecError(f"{where}: slow wants seconds (a number >= 0), not {value!r}")
        return MachineFaults(slow=seconds)
    if not isinstance(value, bool):
        raise FaultSpecError(f"{where}: {name} wants true or false, not {value!r}")
    flags: dict[str, Any] = {name.replace("-", "_"): value}
    return MachineFaults(**flags) if value else NO_FAULTS


def _machine_faults(spec: object, where: str) -> MachineFaults:
    items: list[tuple[object, object]] = []
    if isinstance(spec, str):
        items.append((spec, True))
    elif isinstance(spec, Mapping):
        items.extend(spec.items())
    elif isinstance(spec, list):
        for item in spec:
            if isinstance(item, str):
                items.append((item, True))
            elif isinstance(item, Mapping) and len(item) == 1:
                items.extend(item.items())
            else:
                raise FaultSpecError(f"{where}: {item!r} is not a fault name or {{name: value}}")
    else:
        raise FaultSpecError(f"{where}: expected a list of faults, not {spec!r}")
    faults = NO_FAULTS
    for name, value in items:
        faults = faults.merged(_one(_fault_name(name, where), value, where))
    return faults


@dataclass(frozen=True, slots=True)
class RandomFault:
    rate: float
    seconds: float = DEFAULT_SLOW_SECONDS  # for slow


@dataclass(frozen=True, slots=True)
class FaultSpec:
    machines: Mapping[str, MachineFaults] = field(default_factory=dict)
    random: Mapping[str, RandomFault] = field(default_factory=dict)

    @classmethod
    def from_obj(cls, obj: object, where: str = "faults") -> FaultSpec:
        """Validate a parsed spec; raises :class:`FaultSpecError`."""
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise FaultSpecError(f"{where}: expected a mapping with 'machines' and/or 'random'")
        unknown = set(obj) - {"machines", "random"}
        if unknown:
            raise FaultSpecError(f"{where}: unknown key {sorted(map(str, unknown))[0]!r}")
        machines_obj = obj.get("machines") or {}
        random_obj = obj.get("random") or {}
        if not isinstance(machines_obj, Mapping):
            raise FaultSpecError(f"{where}: 'machines' must map machine names to faults")
        if not isinstance(random_obj, Mapping):
            raise FaultSpecError(f"{where}: 'random' must map fault names to rates")
        machines = {
            str(name): _machine_faults(spec, f"{where}: machines.{name}")
            for name, spec in machines_obj.items()
        }
        rates: dict[str, RandomFault] = {}
        for name, value in random_obj.items():
            item = f"{where}: random.{name}"
            fault = _fault_name(name, item)
            if fault in ("failing-package", "failing-update"):
                raise FaultSpecError(f"{item}: {fault} names what fails: give it per machine")
            seconds = DEFAULT_SLOW_SECONDS
            if isinstance(value, Mapping):
                unknown_keys = set(value) - {"rate", "seconds"}
                if unknown_keys or "rate" not in value:
                    raise FaultSpecError(f"{item}: expected {{rate: R}} or {{rate: R, seconds: S}}")
                seconds = value.get("seconds", seconds)
                value = value["rate"]
                if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                    raise FaultSpecError(f"{item}: seconds must be a number >= 0")
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
                raise FaultSpecError(f"{item}: rate must be a number from 0 to 1, not {value!r}")
            rates[fault] = RandomFault(float(value), float(seconds))
        return cls(machines=machines, random=rates)

    @classmethod
    def load(cls, path: Path) -> FaultSpec:
        """Read a JSON or YAML file (JSON is read as YAML)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FaultSpecError(f"{path}: {exc.strerror or exc}") from None
        try:
            obj: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark is not None else ""
            raise FaultSpecError(f"{path}:{line} not valid JSON or YAML") from None
        return cls.from_obj(obj, where=str(path))

    def for_machine(self, name: str, seed: int) -> MachineFaults:
        faults = self.machines.get(name, NO_FAULTS)
        for fault, chance in self.random.items():
            rng = random.Random(f"patchdeck-fleet:{seed}:{name}:fault:{fault}")
            if rng.random() < chance.rate:
                value: object = chance.seconds if fault in ("slow", "dpkg-lock") else True
                faults = faults.merged(_one(fault, value, "random"))
        return faults
