"""How dnf (EL 8/9), yum (EL 7), needs-restarting and rpm print.

``check-update`` rows are laid out by a port of dnf's own ``calcColumns`` / ``fmtColumns`` for an
80-column non-terminal, so long package names wrap onto a second line exactly where dnf wraps
them; ``updateinfo list`` uses dnf's ``'%-*s %-*s %s'`` layout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from backends.fleet.kinds import RpmRepos
from backends.fleet.profiles import Installed, Machine
from backends.fleet.repository import Advisory
from backends.fleet.streams import Output, Printer

_SECURITY_LABELS = {
    "Critical": "Critical/Sec.",
    "Important": "Important/Sec.",
    "Moderate": "Moderate/Sec.",
    "Low": "Low/Sec.",
}
NOT_ROOT = (
    "Error: This command has to be run with superuser privileges "
    "(under the root user on most systems).\n"
)


def _repos(machine: Machine) -> RpmRepos:
    assert machine.kind.rpm is not None
    return machine.kind.rpm


def split_evr(evr: str) -> tuple[str, str, str]:
    """``[epoch:]version-release`` -> (epoch or "0", version, release)."""
    epoch, _, rest = evr.rpartition(":")
    version, _, release = rest.rpartition("-")
    return epoch or "0", version, release


@dataclass(frozen=True, slots=True)
class _Row:
    name: str
    arch: str
    evr: str
    repo: str


def _repo_of(machine: Machine, pkg: Installed) -> str:
    repos = _repos(machine)
    return repos.appstream if pkg.state.source.repo == "appstream" else repos.baseos


def _updates(machine: Machine) -> list[_Row]:
    """What check-update lists: every newer binary, version-locked ones excluded (the
    versionlock plugin excludes them by name; check-update resolves no dependencies, so the
    rest of a locked package's source is still listed)."""
    locked = set(machine.held_names)
    rows = [
        _Row(name, arch, pkg.candidate, _repo_of(machine, pkg))
        for pkg in machine.outdated
        for name, arch in pkg.binaries
        if name not in locked
    ]
    return sorted(rows, key=lambda r: (r.name, r.arch))


def _obsoletes(machine: Machine) -> list[tuple[_Row, _Row]]:
    """EL 8's grub2-tools-* packages obsoleting grub2-tools: dnf lists them on every check."""
    for pkg in machine.outdated:
        if pkg.state.source.name == "grub2":
            installed_from = "@anaconda" if pkg.index == 0 else "@baseos"
            old = _Row("grub2-tools", "x86_64", pkg.version, installed_from)
            names = ("grub2-tools", "grub2-tools-efi", "grub2-tools-extra", "grub2-tools-minimal")
            return [(_Row(n, "x86_64", pkg.candidate, _repo_of(machine, pkg)), old) for n in names]
    return []


def _spaces_help(current: int, lengths: list[tuple[int, int]], left: int) -> int:
    total = 0
    for length, count in lengths:
        if left < length - current:
            break
        total += count
    return total


def calc_columns(
    data: list[dict[int, int]], remainder_column: int, total_width: int = 80
) -> list[int]:
    """dnf's ``Output.calcColumns``: column widths that overflow as few rows as possible."""
    cols = len(data)
    lengths = [sorted(column.items()) for column in data]
    columns = [1] * (cols - 1) + [0]
    total_width -= sum(columns) + (cols - 1)
    if not columns[-1]:
        total_width += 1
    while total_width > 0:
        helps = 0
        val = 0
        for d in range(cols):
            thelps = _spaces_help(columns[d], lengths[d], total_width)
            if not thelps:
                continue
            if helps and d == cols - 1 and thelps / 2 < helps:
                continue
            if thelps < helps:
                continue
            helps = thelps
            val = d
        if helps:
            diff = lengths[val].pop(0)[0] - columns[val]
            if not columns[val] and val == cols - 1:
                total_width -= 1
            columns[val] += diff
            total_width -= diff
            continue
        overflowed = sum(1 for d in range(cols) if lengths[d])
        if overflowed:
            norm = total_width // overflowed
            for d in range(cols):
                if lengths[d]:
                    columns[d] += norm
                    total_width -= norm
        cols -= 1
        norm = total_width // cols
        for d in range(cols):
            columns[d] += norm
        columns[remainder_column] += total_width - cols * norm
        total_width = 0
    return columns


def fmt_columns(values: Sequence[str], widths: Sequence[int]) -> str:
    """dnf's ``Output.fmtColumns`` for left-aligned columns: an over-wide value ends the line and
    the next column continues on the following one, indented to its place."""
    msg = ""
    total = 0
    for value, width in zip(values[:-1], widths[:-1], strict=True):
        if len(value) <= width:
            msg += value + " " * (width - len(value)) + " "
        else:
            msg += value + "\n" + " " * (total + width + 1)
        total += width + 1
    last = values[-1]
    return msg + last + " " * max(0, widths[-1] - len(last))


def _listing(rows: list[_Row], obsoletes: list[tuple[_Row, _Row]], title: str = "") -> str:
    data: list[dict[int, int]] = [{}, {}, {}]

    def count(row: _Row, indent: int = 0) -> None:
        for column, length in enumerate(
            (len(row.name) + 1 + len(row.arch) + indent, len(row.evr), len(row.repo))
        ):
            data[column][length] = data[column].get(length, 0) + 1

    for row in rows:
        count(row)
    for new, old in obsoletes:
        count(new)
        count(old, 4)
    widths = calc_columns(data, remainder_column=1)

    def line(row: _Row, indent: str = "") -> str:
        return fmt_columns((f"{indent}{row.name}.{row.arch}", row.evr, row.repo), widths) + "\n"

    text = title + "\n" if rows else ""  # listPkgs prints its description line first
    text += "".join(line(row) for row in rows)
    if obsoletes:
        text += "Obsoleting Packages\n"
        for new, old in sorted(obsoletes, key=lambda pair: pair[0].name):
            text += line(new) + line(old, "    ")
    return text


def _preamble(machine: Machine, quiet: bool, metadata_check: bool = True) -> str:
    if quiet:
        return ""
    repos = _repos(machine)
    if machine.kind.manager == "yum":
        mirrors = "".join(f" * {name}: centos-mirror.example.net\n" for name, _ in repos.names)
        return (
            "Loaded plugins: fastestmirror\nLoading mirror speeds from cached hostfile\n" + mirrors
        )
    text = "Updating Subscription Management repositories.\n" if repos.subscription_manager else ""
    if metadata_check:
        text += "Last metadata expiration check: 0:41:07 ago on Mon 14 Oct 2024 09:12:45 AM UTC.\n"
    return text


def check_update(machine: Machine, quiet: bool, security_only: bool) -> Output:
    """``dnf check-update`` / ``yum check-update``: exit 100 when there is something to update."""
    rows = _updates(machine)
    obsoletes = [] if security_only else _obsoletes(machine)
    if security_only:
        secure = {
            name
            for pkg in machine.outdated
            if any(a is not None and a.kind == "security" for a in _pending(pkg))
            for name, _ in pkg.binaries
        }
        rows = [row for row in rows if row.name in secure]
        if machine.kind.manager == "yum" and not quiet:
            count = len(_updates(machine))
            return Output.of(
                _preamble(machine, quiet)
                + f"No packages needed for security; {count} packages available\n",
                "",
                0,
            )
    text = _preamble(machine, quiet) + _listing(rows, obsoletes)
    return Output.of(text, "", 100 if rows or obsoletes else 0)


def _installed_from(machine: Machine, pkg: Installed) -> str:
    """The repository column of an installed package: ``@anaconda`` for what the installer put
    there, ``@<repo>`` for later updates."""
    if pkg.index == 0:
        return "@anaconda"
    if machine.kind.manager == "yum":
        return "@updates"
    return "@" + _repo_of(machine, pkg)


def list_packages(machine: Machine, which: str, quiet: bool) -> Output:
    """``dnf list --installed`` / ``--upgrades`` (``yum list installed`` / ``updates``)."""
    yum = machine.kind.manager == "yum"
    if which == "installed":
        title = "Installed Packages"
        rows = sorted(
            (
                _Row(name, arch, pkg.version, _installed_from(machine, pkg))
                for pkg in machine.packages
                for name, arch in pkg.binaries
            ),
            key=lambda r: (r.name, r.arch),
        )
    else:
        title = "Updated Packages" if yum else "Available Upgrades"
        rows = _updates(machine)
    if not rows:
        return Output.of(_preamble(machine, quiet), "Error: No matching Packages to list\n", 1)
    return Output.of(_preamble(machine, quiet) + _listing(rows, [], title))


def _pending(pkg: Installed) -> list[Advisory | None]:
    """The advisories of every version newer than the installed one."""
    return list(pkg.state.advisories[pkg.index + 1 :])


def _advisory_rows(
    machine: Machine, which: str, kinds: set[str], severities: set[str]
) -> list[tuple[str, str, str, str]]:
    """(mark, advisory id, label, nevra) for ``updateinfo list``."""
    found: dict[tuple[str, bool], dict[str, str]] = {}
    for pkg in machine.packages:
        state = pkg.state
        for index in range(1, len(state.versions)):
            advisory = state.advisories[index]
            if advisory is None:
                continue
            installed = index <= pkg.index
            if (which == "updates" and installed) or (which == "installed" and not installed):
                continue
            if kinds and advisory.kind not in kinds:
                continue
            if severities and advisory.severity.lower() not in severities:
                continue
            label = (
                _SECURITY_LABELS.get(advisory.severity, "Unknown/Sec.")
                if advisory.kind == "security"
                else advisory.kind
            )
            for name, arch in pkg.binaries:
                if not installed and name in machine.held_names:
                    continue  # version-locked: its newer versions are excluded
                nevra = f"{name}-{state.versions[index]}.{arch}"
                found.setdefault((nevra, installed), {})[advisory.id] = label
    rows: list[tuple[str, str, str, str]] = []
    for (nevra, installed), ids in sorted(found.items()):
        for advisory_id, label in ids.items():
            mark = ("i " if installed else "  ") if which == "all" else ""
            rows.append((mark, advisory_id, label, nevra))
    return rows


def updateinfo(
    machine: Machine, quiet: bool, args: Sequence[str], options: dict[str, str]
) -> Output:
    """``dnf updateinfo [list|summary] [--updates|--installed|--all] [--security] …``."""
    words = set(args)
    which = "updates"
    for flag in ("installed", "all", "available", "updates"):
        if flag in words or f"--{flag}" in options:
            which = flag
    which = "updates" if which == "available" else which
    kinds = {k for k in ("security", "bugfix", "enhancement") if k in words or f"--{k}" in options}
    if "sec" in words:
        kinds.add("security")
    severities = {
        s.strip().lower()
        for value in (options.get("--sec-severity", ""), options.get("--secseverity", ""))
        for s in value.split(",")
        if s.strip()
    }
    if severities:
        kinds.add("security")
    rows = _advisory_rows(machine, which, kinds, severities)
    head = _preamble(machine, quiet)
    if machine.kind.manager == "yum":
        done = "" if quiet else "updateinfo list done\n" if "summary" not in words else ""
        return Output.of(head + _plain_rows(rows) + done, "", 0)
    if "summary" in words or not ({"list", "info"} & words or "--list" in options):
        return Output.of(head + _summary(rows, which), "", 0)
    return Output.of(head + _plain_rows(rows), "", 0)


def _plain_rows(rows: list[tuple[str, str, str, str]]) -> str:
    if not rows:
        return ""
    idw = max(len(r[1]) for r in rows)
    tlw = max(len(r[2]) for r in rows)
    return "".join(
        f"{mark}{aid:<{idw}} {label:<{tlw}} {nevra}\n" for mark, aid, label, nevra in rows
    )


def _summary(rows: list[tuple[str, str, str, str]], which: str) -> str:
    if not rows:
        return ""
    unique = {(aid, label) for _, aid, label, _ in rows}
    security = [label for _, label in unique if label.endswith("/Sec.")]
    lines = [f"Updates Information Summary: {'available' if which == 'updates' else which}"]
    if security:
        lines.append(f"    {len(security)} Security notice(s)")
        for severity in ("Critical", "Important", "Moderate", "Low"):
            count = security.count(f"{severity}/Sec.")
            if count:
                lines.append(f"        {count:>2} {severity} Security notice(s)")
    for kind, title in (("bugfix", "Bugfix"), ("enhancement", "Enhancement")):
        count = sum(1 for _, label in unique if label == kind)
        if count:
            lines.append(f"    {count:>2} {title} notice(s)")
    return "".join(line + "\n" for line in lines)


def needs_restarting(machine: Machine, reboothint: bool) -> Output:
    """``needs-restarting -r``: exit 1 and the packages when a reboot is needed."""
    head = (
        "Updating Subscription Management repositories.\n"
        if _repos(machine).subscription_manager
        else ""
    )
    if not reboothint:
        if not machine.reboot_required:
            return Output.of(head, "", 0)
        return Output.of(
            head + "1 : /usr/lib/systemd/systemd --switched-root --system --deserialize 31\n"
            "812 : /usr/sbin/sshd -D\n",
            "",
            0,
        )
    if machine.kind.manager == "yum":
        if not machine.reboot_required:
            return Output.of(
                "No core libraries or services have been updated.\n"
                "Reboot is probably not necessary.\n"
            )
        versions = {pkg.state.source.name: pkg.version for pkg in machine.packages}
        lines = "".join(
            f"  {name} -> {versions.get(name, '').split(':')[-1]}\n"
            for name in machine.reboot_packages
        )
        return Output.of(
            "Core libraries or services have been updated:\n" + lines + "\n"
            "Reboot is required to ensure that your system benefits from these updates.\n\n"
            "More information:\nhttps://access.redhat.com/solutions/27943\n",
            "",
            1,
        )
    if not machine.reboot_required:
        return Output.of(
            head + "No core libraries or services have been updated since boot-up.\n"
            "Reboot should not be necessary.\n"
        )
    lines = "".join(f"  * {name}\n" for name in machine.reboot_packages)
    return Output.of(
        head + "Core libraries or services have been updated since boot-up:\n" + lines + "\n"
        "Reboot is required to fully utilize these updates.\n"
        "More information: https://access.redhat.com/solutions/27943\n",
        "",
        1,
    )


_YUM_OWNER = (
    "  The other application is: yum\n"
    "    Memory :  47 M RSS (364 MB VSZ)\n"
    "    Started: Mon Oct 14 09:10:02 2024 - 02:43 ago\n"
    "    State  : Sleeping, pid: 4242\n"
)
_DNF_OWNER = (
    "  The application with PID 4242 is: dnf\n"
    "          Memory : 112 M RSS (515 MB VSZ)\n"
    "          Started: Mon Oct 14 09:10:02 2024 - 02:43 ago\n"
    "          State  : Sleeping\n"
)


def _locked(machine: Machine, quiet: bool, exit_on_lock: bool) -> Output:
    """Another dnf or yum holds the lock: wait for it forever, or with ``exit_on_lock`` say so
    and exit (dnf 200, yum 1)."""
    if machine.kind.manager == "yum":
        held = "Existing lock /var/run/yum.pid: another copy is running as pid 4242.\n"
        if exit_on_lock:
            return Output.of(
                _preamble(machine, quiet),
                held + "Another app is currently holding the yum lock; exiting as configured by "
                "exit_on_lock\n",
                1,
            )
        waiting = "Another app is currently holding the yum lock; waiting for it to exit...\n"
        chunks = Output.of(_preamble(machine, quiet), held + waiting + _YUM_OWNER).chunks
        return Output(chunks, 0, hang=True)
    if exit_on_lock:
        return Output.of("", "metadata already locked by 4242\n" + _DNF_OWNER, 200)
    return Output(Output.of("Waiting for process with pid 4242 to finish.\n").chunks, 0, hang=True)


def makecache(
    machine: Machine, root: bool, quiet: bool, lock: bool, repo_failure: bool, exit_on_lock: bool
) -> Output:
    """``dnf makecache [--refresh]`` / ``yum makecache [fast]``."""
    repos = _repos(machine)
    yum = machine.kind.manager == "yum"
    if not root:
        if yum:
            return Output.of("", "You need to be root to perform this command.\n", 1)
        return Output.of("", NOT_ROOT, 1)
    if lock:
        return _locked(machine, quiet, exit_on_lock)
    if repo_failure:
        host = repos.mirror
        if yum:
            return Output.of(
                _preamble(machine, False, metadata_check=False),
                f"Could not retrieve mirrorlist http://{host}/?release=7&arch=x86_64&repo=os"
                f"&infra=stock error was"
                f'\n14: curl#6 - "Could not resolve host: {host}; Unknown error"\n\n\n'
                " One of the configured repositories failed (Unknown),\n"
                " and yum doesn't have enough cached data to continue. At this point the only\n"
                " safe thing yum can do is fail.\n",
                1,
            )
        repo = repos.names[-1][0] if len(repos.names) < 3 else repos.names[1][0]
        url = f"https://{host}/mirrorlist?arch=x86_64&repo={repo}"
        curl = (
            f"Curl error (6): Couldn't resolve host name for {url} [Could not resolve host: {host}]"
        )
        return Output.of(
            "Updating Subscription Management repositories.\n"
            if repos.subscription_manager
            else "",
            f"Errors during downloading metadata for repository '{repo}':\n  - {curl}\n"
            f"Error: Failed to download metadata for repo '{repo}': Cannot prepare internal "
            f"mirrorlist: {curl}\n",
            1,
        )
    if quiet:
        return Output.of("", "", 0)
    p = Printer()
    if yum:
        p.out(_preamble(machine, False, metadata_check=False))
        for name, _ in repos.names:
            p.out(f"{name:<57}| {3.6 - len(name) / 10:.1f} kB  00:00:00\n")
        p.out("Metadata Cache Created\n")
        return p.done(0)
    if repos.subscription_manager:
        p.out("Updating Subscription Management repositories.\n")
    for number, (_, title) in enumerate(repos.names):
        p.out(
            f"{title[:47]:<47} {42 + 6 * number:>3} kB/s | {4.1 + 0.4 * number:.1f} kB     00:00\n"
        )
    p.out("Metadata cache created.\n")
    return p.done(0)


def _tags(pkg: Installed, name: str, arch: str, evr: str, repo: str) -> dict[str, str]:
    epoch, version, release = split_evr(evr)
    return {
        "name": name,
        "epoch": epoch,
        "version": version,
        "release": release,
        "arch": arch,
        "evr": evr,
        "repoid": repo,
        "reponame": repo,
        "nevra": f"{name}-{epoch}:{version}-{release}.{arch}",
        "nvra": f"{name}-{version}-{release}.{arch}",
        "summary": pkg.state.source.summary,
    }


_TAG = re.compile(r"%(-?\d+)?\{([A-Za-z_]+)\}")


def query_format(fmt: str, tags: dict[str, str]) -> str:
    """rpm's and dnf's ``%{tag}`` (any case, optional ``-N`` width) with ``\\n``/``\\t``."""

    def one(match: re.Match[str]) -> str:
        value = tags.get(match.group(2).lower(), "(none)")
        width = int(match.group(1) or 0)
        return value.ljust(-width) if width < 0 else value.rjust(width)

    return _TAG.sub(one, fmt).replace("\\n", "\n").replace("\\t", "\t")


def repoquery_upgrades(machine: Machine, fmt: str | None) -> Output:
    """``dnf repoquery --upgrades [--qf FORMAT]``: one line per package, sorted, no duplicates."""
    fmt = fmt or "%{name}-%{epoch}:%{version}-%{release}.%{arch}"
    lines: set[str] = set()
    for pkg in machine.outdated:
        for name, arch in pkg.binaries:
            text = query_format(fmt, _tags(pkg, name, arch, pkg.candidate, _repo_of(machine, pkg)))
            lines.add(text if text.endswith("\n") else text + "\n")
    return Output.of("".join(sorted(lines)), "", 0)


def rpm_query(machine: Machine, names: Sequence[str], fmt: str | None, everything: bool) -> Output:
    """``rpm -q [--qf FORMAT] name…`` and ``rpm -qa``."""
    fmt = fmt or "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"
    installed = {name: (pkg, arch) for pkg in machine.packages for name, arch in pkg.binaries}
    p = Printer()
    missing = 0
    wanted = sorted(installed) if everything else list(names)
    for name in wanted:
        found = installed.get(name)
        if found is None:
            p.out(f"package {name} is not installed\n")
            missing += 1
            continue
        pkg, arch = found
        tags = _tags(pkg, name, arch, pkg.version, "@System")
        if tags["epoch"] == "0" and ":" not in pkg.version:
            tags["epoch"] = "(none)"
        p.out(query_format(fmt, tags))
    return p.done(min(missing, 255))
