"""How apt-get, apt-cache and apt print, written after real apt 2.x output (the samples in the
research notes): ``Inst`` lines, ``apt-cache policy`` version tables, ``apt list`` lines."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from backends.fleet.kinds import AptSuites
from backends.fleet.profiles import Installed, Machine
from backends.fleet.repository import RELEASE, SECURITY, UPDATES, SourceState, archive
from backends.fleet.streams import Output, Printer

_SUITE_ORDER = (RELEASE, UPDATES, SECURITY)

_SIMULATION_NOTE = """\
NOTE: This is only a simulation!
      {binary} needs root privileges for real execution.
      Keep also in mind that locking is deactivated,
      so don't depend on the relevance to the real current situation!
"""
CLI_WARNING = (
    "\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n"
)


def _suites(kind_apt: AptSuites) -> dict[str, tuple[str, str, str]]:
    """suite -> (rel as in Inst lines, archive as in apt list, mirror line of apt-cache policy)"""
    return {
        RELEASE: (kind_apt.release_rel, kind_apt.release_archive, kind_apt.release_url),
        UPDATES: (kind_apt.updates_rel, kind_apt.updates_archive, kind_apt.updates_url),
        SECURITY: (kind_apt.security_rel, kind_apt.security_archive, kind_apt.security_url),
    }


def _apt(machine: Machine) -> AptSuites:
    assert machine.kind.apt is not None
    return machine.kind.apt


def _ordered(suites: Iterable[str]) -> list[str]:
    present = set(suites)
    return [s for s in _SUITE_ORDER if s in present]


@dataclass(frozen=True, slots=True)
class _Binary:
    name: str
    arch: str
    installed: str | None
    candidate: str
    suites: frozenset[str]  # of the candidate


def _new_binaries(state: SourceState) -> list[_Binary]:
    """The packages a kernel metapackage's candidate pulls in (new ABI), at the candidate."""
    source = state.source
    n = source.start + state.top - 1
    a, b = source.offsets
    version = source.new_version.format(n=n, a=n + a, b=n + b)
    return [
        _Binary(template.format(n=n), arch, None, version, state.suites[-1])
        for template, arch in source.new_binaries
    ]


def _binaries(pkg: Installed) -> list[_Binary]:
    return [
        _Binary(name, arch, pkg.version, pkg.candidate, pkg.state.suites[-1])
        for name, arch in pkg.binaries
    ]


def wrap_names(names: Sequence[str]) -> str:
    """A package list as apt prints it under a heading: two spaces in, wrapped before column 79."""
    lines: list[str] = []
    used = 0
    for name in names:
        if not lines or used + len(name) >= 76:
            lines.append("  " + name)
            used = len(name)
        else:
            lines[-1] += " " + name
            used += 1 + len(name)
    return "".join(line + "\n" for line in lines)


def _rels(machine: Machine, suites: frozenset[str]) -> str:
    table = _suites(_apt(machine))
    return ", ".join(table[s][0] for s in _ordered(suites))


def simulate(machine: Machine, root: bool, dist: bool, quiet: int, binary: str) -> Output:
    """``apt-get -s upgrade`` (``dist=False``) or ``dist-upgrade`` / ``full-upgrade``."""
    plan = _Plan()
    for pkg in machine.outdated:
        source = pkg.state.source
        names = [name for name, _ in pkg.binaries]
        if machine.is_held(pkg):
            plan.kept.extend(names)  # apt-mark hold: its binaries depend on one another
        elif pkg.held:
            plan.deferred.extend(names)
        elif source.new_binaries and not dist:
            plan.kept.extend(names)
        else:
            new = _new_binaries(pkg.state) if source.new_binaries and not pkg.only else []
            plan.new.extend(new)
            plan.upgrade.extend(_binaries(pkg))
            plan.groups.append(new + _binaries(pkg))
    plan.not_upgraded = len(plan.kept) + len(plan.deferred)
    return _transaction(machine, root, quiet, binary, plan)


@dataclass(slots=True)
class _Plan:
    groups: list[list[_Binary]] = field(default_factory=list)  # Inst lines, source by source
    upgrade: list[_Binary] = field(default_factory=list)
    new: list[_Binary] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # phased updates held back here
    not_upgraded: int = 0
    calculating: bool = True  # an upgrade prints "Calculating upgrade..."
    skipped: list[str] = field(default_factory=list)  # install --only-upgrade of absent packages


def _phasing_heading(machine: Machine) -> bool:
    """apt 2.7 names phased updates apart; older apt lists them as kept back."""
    major, minor = (int(x) for x in _apt(machine).apt_version.split(".")[:2])
    return (major, minor) >= (2, 7)


def _transaction(machine: Machine, root: bool, quiet: int, binary: str, plan: _Plan) -> Output:
    p = Printer()
    if not root:
        p.out(_SIMULATION_NOTE.format(binary=binary))
    if quiet < 2:
        p.out(
            "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
        )
        if plan.calculating:
            p.out("Calculating upgrade...\n")
        for name in plan.skipped:
            p.out(f"Skipping {name}, it is not installed and only upgrades are requested.\n")
        kept = plan.kept
        if plan.deferred and _phasing_heading(machine):
            p.out("The following upgrades have been deferred due to phasing:\n")
            p.out(wrap_names(sorted(plan.deferred)))
        else:
            kept = kept + plan.deferred
        if kept:
            p.out("The following packages have been kept back:\n" + wrap_names(sorted(kept)))
        if plan.new:
            p.out("The following NEW packages will be installed:\n")
            p.out(wrap_names(sorted(b.name for b in plan.new)))
        if plan.upgrade:
            p.out("The following packages will be upgraded:\n")
            p.out(wrap_names(sorted(b.name for b in plan.upgrade)))
    p.out(
        f"{len(plan.upgrade)} upgraded, {len(plan.new)} newly installed, 0 to remove and "
        f"{plan.not_upgraded} not upgraded.\n"
    )
    order = list(plan.groups)
    random.Random(f"{machine.seed}:{machine.index}:apt-order").shuffle(order)
    for group in order:
        for i, b in enumerate(group):
            before = f" [{b.installed}]" if b.installed is not None else ""
            broken = " []" if i < len(group) - 1 else ""
            rels = _rels(machine, b.suites)
            p.out(f"Inst {b.name}{before} ({b.candidate} {rels} [{b.arch}]){broken}\n")
        for b in group:
            p.out(f"Conf {b.name} ({b.candidate} {_rels(machine, b.suites)} [{b.arch}])\n")
    return p.done(0)


def simulate_install(
    machine: Machine, root: bool, quiet: int, binary: str, specs: Sequence[str], only_upgrade: bool
) -> Output:
    """``apt-get -s install [--only-upgrade] pkg[=version] …``."""
    plan = _Plan(calculating=False)
    for spec in specs:
        name, _, wanted = spec.partition("=")
        found = machine.archive_binaries.get(name)
        if found is None:
            return _fail(root, binary, f"E: Unable to locate package {name}\n")
        state, arch = found
        if wanted and wanted not in state.versions:
            return _fail(root, binary, f"E: Version '{wanted}' for '{name}' was not found\n")
        pkg = machine.by_binary.get(name)
        if pkg is None:
            if only_upgrade:
                plan.skipped.append(name)
                continue
            return _fail(root, binary, f"E: Package '{name}' has no installation candidate\n")
        if not pkg.outdated or wanted == pkg.version or machine.is_held(pkg):
            continue
        b = _Binary(name, arch, pkg.version, wanted or pkg.candidate, pkg.state.suites[-1])
        plan.upgrade.append(b)
        plan.groups.append([b])
    outdated = sum(len(pkg.binaries) for pkg in machine.outdated)
    plan.not_upgraded = max(outdated - len(plan.upgrade), 0)
    return _transaction(machine, root, quiet, binary, plan)


def _fail(root: bool, binary: str, message: str) -> Output:
    note = "" if root else _SIMULATION_NOTE.format(binary=binary)
    head = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
    return Output.of(note + head, message, 100)


def list_upgradable(machine: Machine, fmt: str | None) -> Output:
    """``apt list --upgradable`` (optionally with ``APT::Cmd::format``)."""
    table = _suites(_apt(machine))
    rows: list[tuple[str, str]] = []
    for pkg in machine.outdated:
        archives = ",".join(table[s][1] for s in _ordered(pkg.state.suites[-1]))
        for name, arch in pkg.binaries:
            if fmt is None:
                line = f"{name}/{archives} {pkg.candidate} {arch} [upgradable from: {pkg.version}]"
            else:
                line = (
                    fmt.replace("${Package}", name)
                    .replace("${Architecture}", arch)
                    .replace("${installed:Version}", pkg.version)
                    .replace("${candidate:Version}", pkg.candidate)
                    .replace("${Version}", pkg.candidate)
                    .replace("${Origin}", archives)
                )
            rows.append((name, line))
    body = "".join(line + "\n" for _, line in sorted(rows))
    return Output.of("Listing...\n" + body, CLI_WARNING, 0)


def policy(machine: Machine, names: Sequence[str]) -> Output:
    """``apt-cache policy name…``: one block per package found, ``N:`` notes for the rest."""
    p = Printer()
    if not names:
        p.out(_package_files(machine))
        return p.done(0)
    table = _suites(_apt(machine))
    new = {
        b.name: b
        for state in archive(machine.seed, machine.kind.key)
        if state.source.new_binaries
        for b in _new_binaries(state)
    }
    for name in names:
        found = machine.archive_binaries.get(name)
        rows: list[tuple[str, list[str], bool]] = []  # (version, mirror lines, installed)
        if found is not None:
            state, arch = found
            pkg = machine.by_binary.get(name)
            installed = pkg.version if pkg is not None else None
            candidate = state.versions[-1]
            for index in range(state.top, -1, -1):
                version = state.versions[index]
                suites = _ordered(state.suites[index])
                if not suites and version != installed:
                    continue
                mirrors = [f"500 {table[s][2]} amd64 Packages" for s in suites]
                if version == installed:
                    mirrors.append("100 /var/lib/dpkg/status")
                rows.append((version, mirrors, version == installed))
        elif name in new:
            b = new[name]
            installed, candidate = None, b.candidate
            mirrors = [f"500 {table[s][2]} amd64 Packages" for s in _ordered(b.suites)]
            rows.append((b.candidate, mirrors, False))
        else:
            p.err(f"N: Unable to locate package {name}\n")
            continue
        p.out(f"{name}:\n  Installed: {installed or '(none)'}\n  Candidate: {candidate}\n")
        p.out("  Version table:\n")
        for version, mirrors, here in rows:
            priority = mirrors[0].split(" ", 1)[0]
            p.out(f" {'***' if here else '   '} {version} {priority}\n")
            for mirror in mirrors:
                p.out(f"        {mirror}\n")
    return p.done(0)


def _package_files(machine: Machine) -> str:
    apt = _apt(machine)
    lines = ["Package files:", " 100 /var/lib/dpkg/status", "     release a=now"]
    for rel, suite_name, url in _suites(apt).values():
        label, _, rest = rel.partition(":")
        version = rest.rsplit("/", 1)[0]
        mirror, component = url.split(" ")
        codename = component.split("/")[0]
        origin = "Ubuntu" if label == "Ubuntu" else "Debian"
        lines.append(f" 500 {mirror} {component} amd64 Packages")
        lines.append(
            f"     release v={version},o={origin},a={suite_name},n={codename},l={label},"
            "c=main,b=amd64"
        )
        lines.append(f"     origin {mirror.split('/')[2]}")
    lines.append("Pinned packages:")
    return "".join(line + "\n" for line in lines)


def _mirrors(apt: AptSuites) -> list[tuple[str, str]]:
    """(mirror, suite) of each archive apt fetches, in sources.list order."""
    found: list[tuple[str, str]] = []
    for url in (apt.release_url, apt.updates_url, apt.security_url):
        mirror, component = url.split(" ")
        found.append((mirror, component.split("/")[0]))
    return found


def update(machine: Machine, root: bool, lock: bool, repo_failure: bool, front_end: bool) -> Output:
    """``apt-get update`` / ``apt update``: needs root (the fleet's ``sudo`` gives it)."""
    p = Printer()
    if front_end:
        p.err(CLI_WARNING)
    if not root:
        p.out("Reading package lists...\n")
        p.err(
            "E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)\n"
            "E: Unable to lock directory /var/lib/apt/lists/\n"
            "W: Problem unlinking the file /var/cache/apt/pkgcache.bin - RemoveCaches "
            "(13: Permission denied)\n"
            "W: Problem unlinking the file /var/cache/apt/srcpkgcache.bin - RemoveCaches "
            "(13: Permission denied)\n"
        )
        return p.done(100)
    if lock:
        p.err(
            "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\n"
            "N: Be aware that removing the lock file is not a solution and may break your "
            "system.\n"
            "E: Unable to lock directory /var/lib/apt/lists/\n"
        )
        return p.done(100)
    failed: list[str] = []
    fetched = 0
    for number, (mirror, suite) in enumerate(_mirrors(_apt(machine)), start=1):
        if repo_failure and number == 3:
            host = mirror.split("/")[2]
            p.out(
                f"Err:{number} {mirror} {suite} InRelease\n  Temporary failure resolving '{host}'\n"
            )
            failed.append(f"{mirror}/dists/{suite}/InRelease  Temporary failure resolving '{host}'")
        elif number == 1:
            p.out(f"Hit:{number} {mirror} {suite} InRelease\n")
        else:
            size = 48.0 + 7.4 * number
            fetched += int(size * 1000)
            p.out(f"Get:{number} {mirror} {suite} InRelease [{size:.1f} kB]\n")
    if fetched:
        p.out(f"Fetched {fetched // 1000} kB in 1s ({fetched // 1000 * 2 // 3} kB/s)\n")
    p.out("Reading package lists...\n")
    if front_end:
        count = sum(len(pkg.binaries) for pkg in machine.outdated)
        p.out("Building dependency tree...\nReading state information...\n")
        if count:
            p.out(f"{count} packages can be upgraded. Run 'apt list --upgradable' to see them.\n")
        else:
            p.out("All packages are up to date.\n")
    for line in failed:
        p.err(f"W: Failed to fetch {line}\n")
    if failed:
        p.err(
            "W: Some index files failed to download. They have been ignored, or old ones used "
            "instead.\n"
        )
    return p.done(0)
