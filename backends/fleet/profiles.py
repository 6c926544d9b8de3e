"""One simulated machine: its kind, what it has installed, whether it needs a reboot.

Everything is derived from the fleet's seed and the machine's index, so a fleet started twice
with the same seed has the same machines. Building a :class:`Machine` is cheap (a few random
draws); what it has installed is worked out on first use, and what its tools print is cached in
:attr:`Machine.cache` by the programs in :mod:`backends.fleet.tools`.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from backends.fleet.faults import NO_FAULTS, MachineFaults
from backends.fleet.kinds import KINDS, Kind
from backends.fleet.repository import SourceState, archive
from backends.fleet.timing import Timing


@dataclass(frozen=True, slots=True)
class Installed:
    """A source package on one machine: which of its versions is installed. After an install
    of some of its binaries only, a source has one entry per version, each naming its
    binaries in ``only``."""

    state: SourceState
    index: int
    held: bool = False  # apt, phased update: ``apt-get upgrade`` keeps it back here
    only: tuple[tuple[str, str], ...] = ()  # (binary, arch) this entry covers; () = all

    @property
    def binaries(self) -> tuple[tuple[str, str], ...]:
        return self.only or self.state.source.binaries

    @property
    def version(self) -> str:
        return self.state.versions[self.index]

    @property
    def candidate(self) -> str:
        return self.state.versions[-1]

    @property
    def outdated(self) -> bool:
        return self.index < self.state.top


@dataclass(frozen=True, slots=True)
class Disk:
    """A mounted file system in 1024-byte blocks: what ``df -P -k`` prints of it."""

    filesystem: str
    blocks: int
    used: int
    available: int
    mount: str


def machine_name(index: int) -> str:
    return f"sim-{index:03d}"


def pick_kind(seed: int, index: int) -> Kind:
    """The first ten machines of any fleet are one of each kind (in a seeded order), so a small
    fleet shows them all; the rest follow the kinds' weights."""
    if index < len(KINDS):
        order = list(KINDS)
        random.Random(f"patchdeck-fleet:{seed}:kinds").shuffle(order)
        return order[index]
    rng = random.Random(f"patchdeck-fleet:{seed}:{index}:kind")
    return rng.choices(KINDS, weights=[k.weight for k in KINDS])[0]


class Machine:
    """A simulated machine's state. Not thread-safe; the fleet runs in one event loop."""

    def __init__(self, seed: int, index: int, faults: MachineFaults = NO_FAULTS) -> None:
        self.seed = seed
        self.index = index
        self.faults = faults  # the state they describe: a full /boot, a held package, …
        self.name = machine_name(index)
        self.kind = pick_kind(seed, index)
        rng = random.Random(f"patchdeck-fleet:{seed}:{index}")
        self.sudo_password = rng.random() < 0.08
        self.reboot_required = rng.random() < 0.25
        self.up_to_date = rng.random() < 0.08
        self.boot_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self._rng_state = rng.getstate()
        self.cache: dict[Any, Any] = {}
        self.timing = Timing()
        self.boots = 0  # reboots since the fleet started
        self.reboot_requested = False  # shutdown -r ran: the server takes the machine down
        self.installed_reboot: list[str] = []  # packages installed since boot that want one
        self.half_configured: dict[str, str] = {}  # apt: binary -> version dpkg left unconfigured
        self.lock_since: float | None = None  # when an install first met the held lock

    def __repr__(self) -> str:
        return f"Machine({self.name}, {self.kind.key})"

    @cached_property
    def packages(self) -> tuple[Installed, ...]:
        """Every source package installed here, in catalog order."""
        rng = random.Random()
        rng.setstate(self._rng_state)
        found: list[Installed] = []
        for state in archive(self.seed, self.kind.key):
            source = state.source
            if source.optional and rng.random() < 0.5:
                continue
            top = state.top
            if self.up_to_date:
                index = top
            elif source.masked and rng.random() < 0.7:
                index = rng.randrange(0, top - 1)  # below the masked security version
            elif source.update_stack:
                index = top if rng.random() < 0.85 else top - 1
            elif rng.random() < 0.35:
                index = top
            else:
                index = rng.randrange(0, top)
            held = source.phased and index < top and rng.random() < 0.5
            found.append(Installed(state, index, held))
        return tuple(found)

    @cached_property
    def by_binary(self) -> dict[str, Installed]:
        """Installed binary package name -> its source package (the entry covering it)."""
        return {name: pkg for pkg in self.packages for name, _ in pkg.binaries}

    @cached_property
    def archive_binaries(self) -> dict[str, tuple[SourceState, str]]:
        """Every binary the repositories hold (installed or not) -> (source state, arch)."""
        return {
            name: (state, arch)
            for state in archive(self.seed, self.kind.key)
            for name, arch in state.source.binaries
        }

    @property
    def outdated(self) -> list[Installed]:
        return [pkg for pkg in self.packages if pkg.outdated]

    @cached_property
    def kernel(self) -> str:
        """What ``uname -r`` says."""
        for pkg in self.packages:
            source = pkg.state.source
            if source.new_binaries:  # apt kernel metapackage: the ABI of the installed version
                abi = source.start + pkg.index - 1 if pkg.index else source.start - 2
                return self.kind.kernel.format(n=abi)
            if source.name == "kernel":
                return pkg.version.split(":")[-1] + ".x86_64"
            if source.name == "kernel-default":
                return pkg.version.rsplit(".", 1)[0] + "-default"
        return self.kind.kernel.format(n=0)

    @property
    def reboot_packages(self) -> tuple[str, ...]:
        """What asks for the reboot: package names as the platform's own tool reports them."""
        if not self.reboot_required:
            return ()
        if self.boots:
            return tuple(dict.fromkeys(self.installed_reboot))
        return tuple(dict.fromkeys((*self._first_reboot_packages, *self.installed_reboot)))

    @cached_property
    def _first_reboot_packages(self) -> tuple[str, ...]:
        """Why the machine already waited for a reboot when the fleet started."""
        if not self.reboot_required:
            return ()
        rng = random.Random(f"patchdeck-fleet:{self.seed}:{self.index}:reboot")
        if self.kind.apt is not None:
            names = [f"linux-image-{self.kernel}"]
            if self.kind.key.startswith("ubuntu"):
                names.append("linux-base")
            if rng.random() < 0.3:
                names.append("libc6")
            return tuple(names)
        candidates = ["kernel", "kernel-core", "glibc", "systemd", "linux-firmware"]
        if self.kind.manager == "yum":
            candidates = ["kernel", "glibc", "systemd", "dbus"]
        picked = {candidates[0]} | set(rng.sample(candidates[1:], rng.choice((0, 1, 2))))
        return tuple(sorted(picked))

    @cached_property
    def files(self) -> dict[str, str]:
        """The files scans read, by path (``/var/run`` is a link to ``/run``)."""
        files = {
            "/etc/os-release": self.kind.os_release,
            "/usr/lib/os-release": self.kind.os_release,
            "/proc/sys/kernel/random/boot_id": self.boot_id + "\n",
            "/etc/hostname": self.name + "\n",
        }
        if self.reboot_required and self.kind.apt is not None:
            files["/run/reboot-required"] = "*** System restart required ***\n"
            files["/run/reboot-required.pkgs"] = "".join(p + "\n" for p in self.reboot_packages)
        if self.reboot_required and self.kind.zypper is not None:
            files["/run/reboot-needed"] = ""
        return files

    @cached_property
    def _held_source_name(self) -> str | None:
        if not self.faults.held_package:
            return None
        for pkg in self.outdated:
            source = pkg.state.source
            if len(source.binaries) > 1 and not source.new_binaries and not source.multiversion:
                return source.name
        return None

    @property
    def held_source(self) -> Installed | None:
        """The outdated source package one of whose binaries is held (``held-package``): the
        first with more than one binary, kernels installed side by side aside. (Chosen once:
        the hold keeps it where it is.)"""
        name = self._held_source_name
        if name is None:
            return None
        return next((p for p in self.packages if p.state.source.name == name), None)

    def is_held(self, pkg: Installed) -> bool:
        return pkg.state.source.name == self._held_source_name

    @cached_property
    def held_names(self) -> tuple[str, ...]:
        """Binary packages held (``apt-mark hold``), version-locked or locked (zypper)."""
        pkg = self.held_source
        return (pkg.state.source.binaries[0][0],) if pkg is not None else ()

    @cached_property
    def versionlock_plugin(self) -> bool:
        """dnf/yum: whether the versionlock plugin is installed (always with a held package)."""
        if self.kind.rpm is None:
            return False
        rng = random.Random(f"patchdeck-fleet:{self.seed}:{self.index}:versionlock")
        return self.faults.held_package or rng.random() < 0.3

    @cached_property
    def disks(self) -> dict[str, Disk]:
        """The file system holding /var and the one holding /boot, as ``df`` sees them."""
        rng = random.Random(f"patchdeck-fleet:{self.seed}:{self.index}:disks")
        kind = self.kind
        size = rng.choice((20, 30, 40, 64, 100)) * 1024 * 1024
        used = int(size * rng.uniform(0.18, 0.65))
        if kind.rpm is not None:  # xfs on LVM, /boot a partition of its own
            group = {"rhel": "rhel", "rocky": "rl", "almalinux": "almalinux"}.get(
                kind.key.split("-")[0], "centos"
            )
            root = Disk(f"/dev/mapper/{group}-root", size, used, size - used, "/")
            boot_used = rng.randrange(180_000, 420_000)
            boot = Disk("/dev/sda1", 1_038_336, boot_used, 1_038_336 - boot_used, "/boot")
            var = root
        elif kind.zypper is not None:  # btrfs with a /var subvolume
            root = Disk("/dev/sda3", size, used, size - used - 16_384, "/")
            var = Disk("/dev/sda3", size, used, size - used - 16_384, "/var")
            boot = root
        else:  # ext4, 5% reserved for root
            device = "/dev/vda1" if kind.key.startswith("debian") else "/dev/sda1"
            root = Disk(device, size, used, size - used - size // 20, "/")
            var = boot = root
        if self.faults.full_var:
            var = Disk(var.filesystem, var.blocks, var.blocks - 204_800, 204_800, var.mount)
            boot = var if boot.mount == "/" and var.mount == "/" else boot
        if self.faults.full_boot:
            blocks = 1_038_336 if kind.rpm is not None else 499_656
            device = "/dev/sda1" if kind.rpm is not None else "/dev/sda2"
            boot = Disk(device, blocks, blocks - 40_960, 40_960, "/boot")
        return {"/var": var, "/boot": boot}

    def reset(self) -> None:
        """Forget cached outputs (after the machine's state changed)."""
        self.cache.clear()

    def _changed(self, *derived: str) -> None:
        for name in ("by_binary", "files", *derived):
            self.__dict__.pop(name, None)
        self.reset()

    def set_versions(self, targets: dict[str, int]) -> None:
        """Move binary packages (by name) to the version at that index of their source; the
        others of a source stay where they are (its entry splits into one per version, and
        joins again when all its binaries are at one version)."""
        if not targets:
            return
        sources: dict[str, tuple[Installed, dict[str, int]]] = {}
        for pkg in self.packages:  # catalog order; a split source's entries are together
            first, index_of = sources.setdefault(pkg.state.source.name, (pkg, {}))
            for name, _ in pkg.binaries:
                index_of[name] = targets.get(name, pkg.index)
        entries: list[Installed] = []
        for first, index_of in sources.values():
            state = first.state
            binaries = [b for b in state.source.binaries if b[0] in index_of]
            indexes = list(dict.fromkeys(index_of[name] for name, _ in binaries))
            whole = len(indexes) == 1 and len(binaries) == len(state.source.binaries)
            for index in indexes:
                only = () if whole else tuple(b for b in binaries if index_of[b[0]] == index)
                held = first.held and index < state.top
                entries.append(Installed(state, index, held, only))
        self.packages = tuple(entries)
        self._changed()

    def want_reboot(self, packages: list[str]) -> None:
        """Packages just installed that take effect only after a reboot."""
        if not packages:
            return
        self.reboot_required = True
        self.installed_reboot += packages
        self._changed()

    def reboot(self) -> None:
        """Come back up: a new boot id, the new kernel running, no reboot pending."""
        self.boots += 1
        rng = random.Random(f"patchdeck-fleet:{self.seed}:{self.index}:boot:{self.boots}")
        self.boot_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.reboot_required = False
        self.reboot_requested = False
        self.installed_reboot = []
        self._changed("kernel")
