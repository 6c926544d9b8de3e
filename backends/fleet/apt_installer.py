"""``apt-get install`` for real on a simulated Debian or Ubuntu machine, and ``dpkg-query``.

What it prints follows real apt 2.6 and dpkg 1.21 (captured in a throwaway copy of a Debian 12
machine, tests/data/platforms/apt-install*.txt): the summary, ``Get:`` lines, dpkg's
``Preparing to unpack`` / ``Unpacking`` / ``Setting up`` lines and, on the descriptor that
``-o APT::Status-Fd=N`` names, ``dlstatus:`` and ``pmstatus:`` lines whose percent advances by
``100 / (4 × packages + 1)`` as dpkg's does. ``DPkg::Lock::Timeout`` is honoured against the
``dpkg-lock`` fault, ``broken-packages`` makes apt refuse (dpkg was interrupted), a
``failing-package`` fails its postinst and is left half-configured, ``hang-install`` stops half
way.
"""

from __future__ import annotations

from collections.abc import Sequence

from backends.fleet import installing
from backends.fleet.apt_output import wrap_names
from backends.fleet.installing import LOCK_PID, Step
from backends.fleet.profiles import Machine
from backends.fleet.repository import RELEASE, SECURITY, UPDATES, SourceState
from backends.fleet.streams import Output, Printer

_LOCK = "/var/lib/dpkg/lock-frontend"
_HOLDER = f"It is held by process {LOCK_PID} (unattended-upgr)"
_HEAD = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"


def new_binaries(state: SourceState, index: int) -> list[tuple[str, str, str]]:
    """(name, arch, version) of the kernel ABI packages a metapackage's version pulls in."""
    source = state.source
    if not source.new_binaries or index < 1:
        return []
    n = source.start + index - 1
    a, b = source.offsets
    version = source.new_version.format(n=n, a=n + a, b=n + b)
    return [(template.format(n=n), arch, version) for template, arch in source.new_binaries]


def _option(options: Sequence[str], key: str) -> str | None:
    for option in options:
        name, _, value = option.partition("=")
        if name.lower() == key.lower():
            return value
    return None


def _number(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.strip().isdigit() else default


def _deb_version(version: str) -> str:
    return version.split(":", 1)[-1]


class _Status:
    """apt's Status-Fd, when one was asked for."""

    def __init__(self, p: Printer, fd: int | None) -> None:
        self.p = p
        self.fd = fd

    def line(self, text: str) -> None:
        if self.fd is not None:
            self.p.fd(self.fd, text + "\n")


def install(
    machine: Machine,
    root: bool,
    options: Sequence[str],
    specs: Sequence[str],
    only_upgrade: bool,
    binary: str,
) -> Output:
    """``apt-get install [--only-upgrade] -y PKG[=VERSION] …`` as root."""
    p = Printer()
    status = _Status(p, _number(_option(options, "APT::Status-Fd"), -1))
    if status.fd is not None and status.fd < 0:
        status.fd = None
    timeout = _number(_option(options, "DPkg::Lock::Timeout"), 0)
    if not _take_lock(machine, p, timeout):
        return p.done(100)
    if machine.faults.broken_packages:
        p.err(
            "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct "
            "the problem. \n"
        )
        return p.done(100)
    p.out(_HEAD)
    steps, error = _resolve(machine, p, specs, only_upgrade)
    if error:
        p.err(error)
        return p.done(100)
    outdated = sum(len(pkg.binaries) for pkg in machine.outdated)
    upgraded = [s for s in steps if s.old is not None]
    new = [s for s in steps if s.old is None]
    if not steps:
        p.out(f"0 upgraded, 0 newly installed, 0 to remove and {outdated} not upgraded.\n")
        return p.done(0)
    if new:
        p.out("The following NEW packages will be installed:\n")
        p.out(wrap_names(sorted(s.name for s in new)))
    p.out(
        "The following packages will be upgraded:\n" + wrap_names(sorted(s.name for s in upgraded))
    )
    sizes = [_size(s) for s in steps]
    p.out(
        f"{len(upgraded)} upgraded, {len(new)} newly installed, 0 to remove and "
        f"{max(outdated - len(upgraded), 0)} not upgraded.\n"
        f"Need to get {sum(sizes):,} kB of archives.\n"
        f"After this operation, {len(steps) * 12} kB of additional disk space will be used.\n"
    )
    _download(machine, p, status, steps, sizes)
    failing = machine.faults.failing_package
    hang = machine.faults.hang_install
    todo = steps[: installing.halves(steps)] if hang else steps
    failed = frozenset(s.name for s in todo if s.name == failing)
    installing.apply(machine, todo, failed)
    for step in todo:
        if step.name in failed:
            machine.half_configured[step.name] = step.new
        else:
            machine.half_configured.pop(step.name, None)
    machine.reset()
    _dpkg(machine, p, status, steps, todo, failed)
    if hang:
        return p.done(0, hang=True)
    if failed:
        p.err("Errors were encountered while processing:\n")
        p.err("".join(f" {name}\n" for name in sorted(failed)))
        p.err("E: Sub-process /usr/bin/dpkg returned an error code (1)\n")
        return p.done(100)
    return p.done(0)


def _take_lock(machine: Machine, p: Printer, timeout: int) -> bool:
    """Wait for the ``dpkg-lock`` fault's holder as apt does: a line a second, at most
    ``timeout`` seconds; False when it was still held then."""
    remaining = installing.lock_remaining(machine)
    if remaining <= 0:
        return True
    if timeout <= 0:
        p.err(
            f"E: Could not get lock {_LOCK}. {_HOLDER}\n"
            "N: Be aware that removing the lock file is not a solution and may break your "
            "system.\n"
            f"E: Unable to acquire the dpkg frontend lock ({_LOCK}), is another process using "
            "it?\n"
        )
        return False
    waited = 0.0
    while waited < min(remaining, timeout):
        p.out(f"Waiting for cache lock: Could not get lock {_LOCK}. {_HOLDER}...\n")
        step = min(1.0, remaining - waited, timeout - waited)
        p.pause(step)
        waited += step
    if remaining > timeout:
        p.err(
            f"E: Unable to acquire the dpkg frontend lock ({_LOCK}), is another process using it?\n"
        )
        return False
    return True


def _resolve(
    machine: Machine, p: Printer, specs: Sequence[str], only_upgrade: bool
) -> tuple[list[Step], str]:
    """The packages to install, or the ``E:`` line that stops apt before it starts."""
    steps: list[Step] = []
    seen: set[str] = set()
    for spec in specs:
        name, _, wanted = spec.partition("=")
        name = name.split(":", 1)[0]
        found = machine.archive_binaries.get(name)
        if found is None:
            if _is_new_binary(machine, name):
                p.out(f"Skipping {name}, it is not installed and only upgrades are requested.\n")
                continue
            return [], f"E: Unable to locate package {name}\n"
        state, arch = found
        if wanted and wanted not in state.versions:
            return [], f"E: Version '{wanted}' for '{name}' was not found\n"
        pkg = machine.by_binary.get(name)
        if pkg is None:
            if only_upgrade:
                p.out(f"Skipping {name}, it is not installed and only upgrades are requested.\n")
                continue
            return [], f"E: Package '{name}' has no installation candidate\n"
        index = state.versions.index(wanted) if wanted else state.top
        if index <= pkg.index:
            if index < pkg.index:
                return (
                    [],
                    "E: Packages were downgraded and -y was used without --allow-downgrades.\n",
                )
            p.out(f"{name} is already the newest version ({pkg.version}).\n")
            continue
        if machine.is_held(pkg) and name in machine.held_names:
            return [], (
                "E: Held packages were changed and -y was used without "
                "--allow-change-held-packages.\n"
            )
        if name in seen:
            continue
        seen.add(name)
        steps.append(installing.step_for(pkg, name, arch, index))
        for extra, extra_arch, version in new_binaries(state, index):
            if extra not in seen:
                seen.add(extra)
                steps.append(Step(extra, extra_arch, state, None, version, index))
    return steps, ""


def _is_new_binary(machine: Machine, name: str) -> bool:
    for pkg in machine.packages:
        state = pkg.state
        for index in range(1, len(state.versions)):
            if any(extra[0] == name for extra in new_binaries(state, index)):
                return True
    return False


def _size(step: Step) -> int:
    return 40 + (sum(map(ord, step.name)) * 7) % 1900  # kB, stable per package


def _download(
    machine: Machine, p: Printer, status: _Status, steps: list[Step], sizes: list[int]
) -> None:
    apt = machine.kind.apt
    assert apt is not None
    urls = {RELEASE: apt.release_url, UPDATES: apt.updates_url, SECURITY: apt.security_url}
    total = sum(sizes)
    done = 0
    count = len(steps)
    status.line(f"dlstatus:1:0.0000:Retrieving file 1 of {count}")
    for number, (step, size) in enumerate(zip(steps, sizes, strict=True), 1):
        suites = step.state.suites[step.index] if step.state.suites else frozenset()
        suite = next((s for s in (SECURITY, UPDATES, RELEASE) if s in suites), RELEASE)
        mirror, component = urls[suite].split(" ")
        what = f"{step.name} {step.arch} {step.new}"
        p.out(f"Get:{number} {mirror} {component} amd64 {what} [{size:,} kB]\n")
        done += size
        p.pause(machine.timing.install_step / 2)
        nxt = min(number + 1, count)
        status.line(f"dlstatus:{nxt}:{100 * done / total:.4f}:Retrieving file {nxt} of {count}")
    p.out(f"Fetched {total:,} kB in 1s ({total * 9 // 10:,} kB/s)\n")
    p.out("debconf: delaying package configuration, since apt-utils is not installed\n")


def _dpkg(
    machine: Machine,
    p: Printer,
    status: _Status,
    steps: list[Step],
    todo: list[Step],
    failed: frozenset[str],
) -> None:
    """dpkg's unpack pass then its configure pass, each package two status steps apiece."""
    share = 100 / (4 * len(steps) + 1)
    done = 0
    pause = machine.timing.install_step

    def pct() -> str:
        return f"{done * share:.4f}"

    status.line(f"pmstatus:dpkg-exec:{pct()}:Running dpkg")
    p.out("(Reading database ... 112759 files and directories currently installed.)\n")
    for step in steps:
        file = f"{step.name}_{_deb_version(step.new)}_{step.arch}.deb"
        if step.old is None:
            p.out(f"Selecting previously unselected package {step.name}.\n")
        p.out(f"Preparing to unpack .../{file} ...\n")
        status.line(f"pmstatus:{step.name}:{pct()}:Preparing {step.name} (amd64)")
        done += 1
        status.line(f"pmstatus:{step.name}:{pct()}:Unpacking {step.name} (amd64)")
        over = f" over ({step.old})" if step.old is not None else ""
        p.out(f"Unpacking {step.name} ({step.new}){over} ...\n")
        p.pause(pause)
        done += 1
        status.line(f"pmstatus:{step.name}:{pct()}:Installing {step.name} (amd64)")
    status.line(f"pmstatus:dpkg-exec:{pct()}:Running dpkg")
    for number, step in enumerate(steps):
        if number == len(todo):
            return  # hang-install: nothing more
        p.out(f"Setting up {step.name} ({step.new}) ...\n")
        status.line(f"pmstatus:{step.name}:{pct()}:Preparing to configure {step.name} (amd64)")
        done += 1
        status.line(f"pmstatus:{step.name}:{pct()}:Configuring {step.name} (amd64)")
        p.pause(pause)
        if step.name in failed:
            why = (
                f"installed {step.name} package post-installation script subprocess returned "
                "error exit status 1"
            )
            p.err(f"dpkg: error processing package {step.name} (--configure):\n {why}\n")
            status.line(f"pmerror:{step.name}:{pct()}:{why}")
            done += 1
            continue
        done += 1
        status.line(f"pmstatus:{step.name}:{pct()}:Installed {step.name} (amd64)")
    p.out("Processing triggers for man-db (2.11.2-2) ...\n")
    if any(step.reboot for step in todo):
        p.out("Processing triggers for libc-bin (2.36-9+deb12u10) ...\n")


def dpkg_query(machine: Machine, args: Sequence[str]) -> Output:
    """``dpkg-query -W [--showformat=FORMAT] NAME…`` (``-f FORMAT`` too)."""
    fmt = "${binary:Package}\t${Version}\n"
    names: list[str] = []
    show = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-W", "--show"):
            show = True
        elif arg.startswith(("--showformat=", "-f=")):
            fmt = arg.partition("=")[2]
        elif arg in ("-f", "--showformat") and i < len(args):
            fmt = args[i]
            i += 1
        elif not arg.startswith("-"):
            names.append(arg)
    if not show:
        return Output.of("", "dpkg-query: error: need an action option\n", 2)
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    p = Printer()
    missing = False
    for spec in names:
        name = spec.split(":", 1)[0]
        row = _installed_row(machine, name)
        if row is None:
            p.err(f"dpkg-query: no packages found matching {spec}\n")
            missing = True
            continue
        arch, version, abbrev = row
        p.out(
            fmt.replace("${Package}", name)
            .replace("${binary:Package}", name)
            .replace("${Architecture}", arch)
            .replace("${Version}", version)
            .replace("${db:Status-Abbrev}", abbrev)
            .replace(
                "${Status}",
                "install ok installed" if abbrev == "ii " else "install ok half-configured",
            )
        )
    return p.done(1 if missing else 0)


def _installed_row(machine: Machine, name: str) -> tuple[str, str, str] | None:
    """(arch, version, dpkg state) of an installed package, or ``None``."""
    if name in machine.half_configured:
        arch = machine.archive_binaries[name][1] if name in machine.archive_binaries else "amd64"
        return arch, machine.half_configured[name], "iF "
    pkg = machine.by_binary.get(name)
    if pkg is not None:
        arch = dict(pkg.binaries).get(name, "amd64")
        return arch, pkg.version, "ii "
    for pkg in machine.packages:
        for extra, arch, version in new_binaries(pkg.state, pkg.index):
            if extra == name:
                return arch, version, "ii "
    return None
