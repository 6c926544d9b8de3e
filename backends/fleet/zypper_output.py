"""How zypper prints, as tables and as ``--xmlout`` streams (zypper 1.14, SLE 15).

Two behaviours of the real zypper that a parser has to live with are kept on purpose:

- ``zypper -x list-patches`` ignores ``--category`` and ``--severity``: its XML path lists every
  applicable patch and leaves filtering to the reader (zypper ``src/update.cc``
  ``xml_list_patches``);
- when a patch for the package manager itself is needed, list-patches puts only such patches in
  ``<update-list>`` and the others in ``<blocked-update-list>``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from backends.fleet.kinds import ZypperRepos
from backends.fleet.profiles import Installed, Machine
from backends.fleet.repository import Advisory
from backends.fleet.streams import Output

_LOADING = ("Loading repository data...", "Reading installed packages...")


def _esc(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def _repos(machine: Machine) -> ZypperRepos:
    assert machine.kind.zypper is not None
    return machine.kind.zypper


def _repo(machine: Machine, pkg: Installed) -> tuple[str, str]:
    repos = _repos(machine)
    return repos.applications if pkg.state.source.repo == "applications" else repos.basesystem


def _stream(messages: Sequence[str], body: str = "", errors: Sequence[str] = ()) -> str:
    lines = ["<?xml version='1.0'?>", "<stream>"]
    lines += [f'<message type="info">{_esc(m)}</message>' for m in messages]
    lines += [f'<message type="error">{_esc(m)}</message>' for m in errors]
    text = "".join(line + "\n" for line in lines) + body
    return text + "</stream>\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """zypper's table: cells padded to the widest, `` | `` between, a ``-+-`` rule under the
    header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells, widths, strict=True)]
        return " | ".join(padded).rstrip() + "\n"

    rule = "-+-".join("-" * w for w in widths) + "\n"
    return line(header) + rule + "".join(line(r) for r in rows)


def list_updates(machine: Machine, xml: bool, quiet: bool) -> Output:
    """``zypper list-updates``: package updates (kernels, installed side by side, are not)."""
    updates = sorted(
        (
            (name, arch, pkg)
            for pkg in machine.outdated
            if not pkg.state.source.multiversion and not machine.is_held(pkg)
            for name, arch in pkg.binaries
        ),
        key=lambda item: item[0],
    )
    if xml:
        lines = ['<update-status version="0.6">', "<update-list>"]
        for name, arch, pkg in updates:
            alias, url = _repo(machine, pkg)
            summary = pkg.state.source.summary
            lines += [
                f'<update kind="package" name="{_esc(name)}" edition="{pkg.candidate}" '
                f'arch="{arch}" edition-old="{pkg.version}">',
                f"<summary>{_esc(summary)}</summary>",
                f"<description>{_esc(summary)}.</description>",
                "<license/>",
                f'<source url="{_esc(url)}" alias="{_esc(alias)}"/>',
                "</update>",
            ]
        lines += ["</update-list>", "</update-status>"]
        return Output.of(_stream(_LOADING, "".join(line + "\n" for line in lines)))
    head = "" if quiet else "".join(m + "\n" for m in _LOADING)
    if not updates:
        return Output.of(head + "No updates found.\n")
    rows = [
        ("v", _repo(machine, pkg)[0], name, pkg.version, pkg.candidate, arch)
        for name, arch, pkg in updates
    ]
    header = ("S", "Repository", "Name", "Current Version", "Available Version", "Arch")
    return Output.of(head + _table(header, rows))


def _patches(machine: Machine, everything: bool) -> list[tuple[Advisory, Installed, bool]]:
    """(patch, its package, needed) for every patch newer than what is installed."""
    found: dict[str, tuple[Advisory, Installed, bool]] = {}
    for pkg in machine.packages:  # a source split by a package install: needed by any part
        for index, patch in enumerate(pkg.state.advisories):
            if patch is None:
                continue
            needed = index > pkg.index
            if needed or everything:
                seen = found.get(patch.id)
                if seen is None or (needed and not seen[2]):
                    found[patch.id] = (patch, pkg, needed)
    return sorted(found.values(), key=lambda item: item[0].id)


def _patch_xml(
    machine: Machine, patch: Advisory, pkg: Installed, needed: bool, reboot_ok: bool
) -> str:
    source = pkg.state.source
    alias, url = _repo(machine, pkg)
    restart = source.reboot
    verb = {"security": "Security", "recommended": "Recommended", "optional": "Optional"}[
        patch.kind
    ]
    summary = f"{verb} update for {source.name}"
    fixes = "".join(f"\n- {cve}: fixed a vulnerability in {source.name}." for cve in patch.cves)
    fixes += "".join(f"\n- bsc#{bug}: fixed an issue." for bug in patch.bugs)
    description = f"This update for {source.name} fixes the following issues:\n{fixes}\n"
    date = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(patch.issued))
    lines = [
        f'<update kind="patch" name="{patch.id}" edition="1" arch="noarch" '
        f'status="{"needed" if needed else "applied"}" category="{patch.kind}" '
        f'severity="{patch.severity}" pkgmanager="{str(source.update_stack).lower()}" '
        f'restart="{str(restart).lower()}" interactive="{str(restart and not reboot_ok).lower()}">',
        f"<summary>{_esc(summary)}</summary>",
        f"<description>{_esc(description)}</description>",
        "<license/>",
        f'<source url="{_esc(url)}" alias="{_esc(alias)}"/>',
        f'<issue-date time_t="{patch.issued}" text="{date}"/>',
        "<issue-list>",
    ]
    for bug in patch.bugs:
        lines += [
            f'<issue type="bugzilla" id="{bug}">',
            f"<title>{_esc(source.name)}: issue {bug}</title>",
            f"<href>https://bugzilla.suse.com/show_bug.cgi?id={bug}</href>",
            "</issue>",
        ]
    for cve in patch.cves:
        lines += [
            f'<issue type="cve" id="{cve}">',
            f"<title>{cve}</title>",
            f"<href>https://www.suse.com/security/cve/{cve}/</href>",
            "</issue>",
        ]
    lines += ["</issue-list>", "</update>"]
    return "".join(line + "\n" for line in lines)


def list_patches(
    machine: Machine,
    xml: bool,
    quiet: bool,
    everything: bool,
    categories: set[str],
    severities: set[str],
    reboot_ok: bool,
) -> Output:
    """``zypper list-patches``."""
    patches = _patches(machine, everything)
    stack = not everything and any(
        pkg.state.source.update_stack for _, pkg, needed in patches if needed
    )
    if xml:
        first = [p for p in patches if not stack or p[1].state.source.update_stack]
        body = '<update-status version="0.6">\n<update-list>\n'
        body += "".join(_patch_xml(machine, *p, reboot_ok) for p in first)
        body += "</update-list>\n"
        if stack:
            body += "<blocked-update-list>\n"
            body += "".join(_patch_xml(machine, *p, reboot_ok) for p in patches if p not in first)
            body += "</blocked-update-list>\n"
        body += "</update-status>\n"
        return Output.of(_stream(_LOADING, body))
    shown = [
        p
        for p in patches
        if (not categories or p[0].kind in categories)
        and (not severities or p[0].severity in severities)
    ]
    head = "" if quiet else "".join(m + "\n" for m in _LOADING)
    if not shown:
        return Output.of(head + "No updates found.\n")
    header = ("Repository", "Name", "Category", "Severity", "Interactive", "Status", "Summary")
    rows = [
        (
            _repo(machine, pkg)[0],
            patch.id,
            patch.kind,
            patch.severity,
            "reboot" if pkg.state.source.reboot and not reboot_ok else "---",
            "needed" if needed else "applied",
            f"{patch.kind.capitalize()} update for {pkg.state.source.name}",
        )
        for patch, pkg, needed in shown
    ]
    needed = [p for p in patches if p[2]]
    security = sum(1 for p in needed if p[0].kind == "security")
    tail = (
        f"\nFound {len(needed)} applicable patches:\n"
        f"{len(needed)} patches needed ({security} security patches)\n"
    )
    return Output.of(head + "\n" + _table(header, rows) + tail)


def patch_check(machine: Machine, xml: bool) -> Output:
    """``zypper patch-check``: 100 when patches are needed, 101 when security ones are."""
    needed = [p for p in _patches(machine, False) if p[2]]
    security = sum(1 for p in needed if p[0].kind == "security")
    summary = f"{len(needed)} patches needed ({security} security patches)"
    status = 101 if security else 100 if needed else 0
    if xml:
        return Output.of(_stream([*_LOADING, summary]), "", status)
    return Output.of("".join(m + "\n" for m in _LOADING) + "\n" + summary + "\n", "", status)


def needs_rebooting(machine: Machine, xml: bool) -> Output:
    """``zypper needs-rebooting``: exit 102 when ``/run/reboot-needed`` exists."""
    if machine.reboot_required:
        lines = (
            "Core libraries or services have been updated.",
            "Reboot is required to ensure that your system benefits from these updates.",
        )
        status = 102
    else:
        lines = (
            "No core libraries or services have been updated.",
            "Reboot is probably not necessary.",
        )
        status = 0
    if xml:
        return Output.of(_stream(lines), "", status)
    return Output.of("".join(line + "\n" for line in lines), "", status)


def refresh(machine: Machine, root: bool, xml: bool, lock: bool, repo_failure: bool) -> Output:
    """``zypper refresh``: root only; exit 7 while locked, 4 when a repository fails."""
    if not root:
        message = "Root privileges are required for refreshing system repositories."
        return Output.of(
            _stream((), errors=[message]) if xml else "", "" if xml else message + "\n", 5
        )
    if lock:
        message = (
            "System management is locked by the application with pid 4242 (zypper).\n"
            "Close this application before trying again."
        )
        if xml:
            return Output.of(_stream((), errors=[message]), "", 7)
        return Output.of("", message + "\n", 7)
    repos = _repos(machine)
    info: list[str] = [f"Repository '{alias}' is up to date." for alias in repos.pool]
    errors: list[str] = []
    for number, (alias, url) in enumerate((repos.basesystem, repos.applications)):
        if repo_failure and number == 0:
            host = url.split("/")[2]
            errors += [
                f"Repository '{alias}' is invalid.",
                f"[{alias}|{url}] Valid metadata not found at specified URL\n"
                f"History:\n - Download (curl) error for '{url}repodata/repomd.xml':\n"
                f"Error code: Connection failed\nError message: Could not resolve host: {host}\n",
                "Please check if the URIs defined for this repository are pointing to a valid "
                "repository.",
                f"Skipping repository '{alias}' because of the above error.",
                "Some of the repositories have not been refreshed because of an error.",
            ]
            continue
        info += [
            f"Retrieving repository '{alias}' metadata",
            f"Building repository '{alias}' cache",
        ]
    if not errors:
        info.append("All repositories have been refreshed.")
    status = 4 if errors else 0
    if xml:
        return Output.of(_stream(info, errors=errors), "", status)
    out = "".join(
        line + (" ...[done]" if line.startswith(("Retrieving", "Building")) else "") + "\n"
        for line in info
    )
    return Output.of(out, "".join(e + "\n" for e in errors), status)
