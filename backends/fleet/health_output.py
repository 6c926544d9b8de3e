"""How the tools that tell a machine's health print: ``df``, ``dpkg --audit``, ``apt-mark
showhold``, ``dnf``/``yum check``, ``versionlock list``, ``zypper verify`` and ``zypper locks``.

Written after the real tools' output (GNU coreutils ``df -P``, dpkg's ``audit`` explanations,
dnf's ``check`` problem lines, zypper's locks table and verify messages); what they report comes
from the machine's state (:mod:`backends.fleet.profiles`): its disks, held packages and whether
its package database was left broken.
"""

from __future__ import annotations

from collections.abc import Sequence

from backends.fleet.profiles import Disk, Installed, Machine
from backends.fleet.streams import Output

_DPKG_HALF_CONFIGURED = """\
The following packages are only half configured, probably due to problems
configuring them the first time.  The configuration should be retried using
dpkg --configure <package> or the configure menu option in dselect:
"""


def _mounts(machine: Machine) -> dict[str, Disk]:
    """Every path df can be asked about on the machine -> its file system."""
    disks = machine.disks
    root = disks["/var"] if disks["/var"].mount == "/" else disks["/boot"]
    if root.mount != "/":
        root = Disk(root.filesystem, root.blocks, root.used, root.available, "/")
    found = {path: root for path in ("/", "/etc", "/usr", "/tmp", "/home", "/root", "/opt")}
    found.update(disks)
    return found


def _capacity(disk: Disk) -> str:
    total = disk.used + disk.available
    return f"{-(-disk.used * 100 // total) if total else 0}%"


def df(machine: Machine, args: Sequence[str]) -> Output:
    """``df -P -k [PATH…]`` (other options are accepted and ignored): one row per path, in
    order; a path that does not exist is an error on stderr and exit 1."""
    paths = [a for a in args if not a.startswith("-")]
    mounts = _mounts(machine)
    rows: list[Disk] = []
    errors: list[str] = []
    if not paths:
        rows = list({d.mount: d for d in mounts.values()}.values())
    for path in paths:
        disk = mounts.get(path.rstrip("/") or "/")
        if disk is None:
            errors.append(f"df: {path}: No such file or directory\n")
        else:
            rows.append(disk)
    cells = [("Filesystem", "1024-blocks", "Used", "Available", "Capacity", "Mounted on")]
    cells += [
        (d.filesystem, str(d.blocks), str(d.used), str(d.available), _capacity(d), d.mount)
        for d in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    lines = []
    for row in cells:
        first = row[0].ljust(widths[0])
        numbers = " ".join(cell.rjust(widths[i]) for i, cell in enumerate(row[1:5], 1))
        lines.append(f"{first} {numbers} {row[5]}\n")
    return Output.of("".join(lines), "".join(errors), 1 if errors else 0)


def _broken(machine: Machine) -> Installed | None:
    """The package an interrupted install left broken: the first outdated one (else the
    first installed)."""
    if not machine.faults.broken_packages:
        return None
    return next(iter(machine.outdated), None) or next(iter(machine.packages), None)


def dpkg_audit(machine: Machine) -> Output:
    """``dpkg --audit``: nothing when all is well; dpkg's explanation and the packages (name
    padded to 20, then the summary cut at the 80th column) when not."""
    pkg = _broken(machine)
    rows: list[tuple[str, str]] = []
    if pkg is not None:
        source = pkg.state.source
        rows += [(name, source.summary or f"{source.name} package") for name, _ in source.binaries]
    for name in sorted(machine.half_configured):  # a postinst that failed in an install
        found = machine.archive_binaries.get(name)
        summary = found[0].source.summary if found and found[0].source.summary else "package"
        rows.append((name, summary))
    if not rows:
        return Output.of()
    lines = "".join(f" {name:<20} {summary}"[:80] + "\n" for name, summary in rows)
    return Output.of(_DPKG_HALF_CONFIGURED + lines + "\n")


def apt_showhold(machine: Machine) -> Output:
    return Output.of("".join(name + "\n" for name in machine.held_names))


def _nevra(name: str, version: str, arch: str) -> str:
    return f"{name}-{version}.{arch}"


def rpm_check(machine: Machine, yum: bool) -> Output:
    """``dnf check`` / ``yum check``: silent when the rpm database is sound; a duplicate left
    by an interrupted transaction otherwise (exit 1)."""
    pkg = _broken(machine)
    if pkg is None:
        return Output.of()
    name, arch = pkg.state.source.binaries[-1]
    newer = pkg.state.versions[min(pkg.index + 1, pkg.state.top)]
    problem = f"{_nevra(name, newer, arch)} is a duplicate with {_nevra(name, pkg.version, arch)}\n"
    if yum:
        return Output.of(problem, "Error: check all\n", 1)
    return Output.of(problem, "Error: Check discovered 1 problem(s)\n", 1)


def versionlock_list(machine: Machine, yum: bool) -> Output:
    """``dnf versionlock list`` (``name-epoch:version-release.*``) or ``yum versionlock list``
    (``epoch:name-version-release.*``), one lock per line."""
    pkg = machine.held_source
    lines = []
    for name in machine.held_names:
        assert pkg is not None
        epoch, _, rest = pkg.version.rpartition(":")
        epoch = epoch or "0"
        lines.append(f"{epoch}:{name}-{rest}.*" if yum else f"{name}-{epoch}:{rest}.*")
    return Output.of("".join(line + "\n" for line in lines))


_LOADING = "Loading repository data...\nReading installed packages...\n"


def zypper_verify(machine: Machine, root: bool, dry_run: bool) -> Output:
    """``zypper verify [--dry-run]``: needs root, as every command that may change the
    system does (zypper's NeedsRootCondition), even with ``--dry-run``."""
    if not root:
        return Output.of("", "Root privileges are required to run this command.\n", 5)
    pkg = _broken(machine)
    if pkg is None:
        return Output.of(_LOADING + "\nDependencies of all installed packages are satisfied.\n")
    if not dry_run:
        return Output.of("", "zypper verify: repairing is not simulated by patchdeck's fleet\n", 1)
    name = pkg.state.source.binaries[0][0]
    return Output.of(
        _LOADING
        + "\nSome of the dependencies of installed packages are broken. In order to fix these "
        "dependencies, the following actions need to be taken:\n\n"
        f"The following package is going to be upgraded:\n  {name}\n\n"
        "1 package to upgrade.\n"
    )


def zypper_locks(machine: Machine) -> Output:
    """``zypper locks``: zypper's table of locks, or its message when there is none."""
    if not machine.held_names:
        return Output.of("\nThere are no package locks defined.\n\n")
    rows = [(str(i), name, "package", "(any)") for i, name in enumerate(machine.held_names, 1)]
    header = ("#", "Name", "Type", "Repository")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() + "\n"

    rule = "-+-".join("-" * w for w in widths) + "\n"
    return Output.of("\n" + line(header) + rule + "".join(line(r) for r in rows) + "\n")
