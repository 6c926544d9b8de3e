"""``zypper install`` of patches and packages for real on a simulated SUSE machine, and the
``zypper search -s`` that tells what is installed.

What it prints follows real zypper 1.14 (tests/data/platforms/zypper-install*.txt): with
``-x``, one XML element per line — the install summary, the ``Continue?`` prompt, per package
``Retrieving package NEVRA (n/N)`` and ``<progress id="install-resolvable" name="(n/N)
Installing: NEVRA" value=…/>`` (0, 50, 100, then 0, 100 for the second pass, then
``done="1"``). ``ZYPP_LOCK_TIMEOUT`` is honoured against the ``dpkg-lock`` fault (exit 7);
capabilities not found are exit 104 and nothing is installed; a ``failing-package`` is
committed last and fails (exit 8); a patch that suggests a reboot ends in exit 102.
"""

from __future__ import annotations

from collections.abc import Sequence

from backends.fleet import installing
from backends.fleet.installing import LOCK_PID, Step
from backends.fleet.profiles import Installed, Machine
from backends.fleet.repository import Advisory, SourceState
from backends.fleet.streams import Output, Printer

_LOCKED = (
    f"System management is locked by the application with pid {LOCK_PID} (packagekitd).\n"
    "Close this application before trying again."
)
_CONTINUE = (
    '<prompt id="0">\n<text>Continue?</text>\n'
    '<option default="1" value="y" desc="Yes, accept the summary and proceed with '
    'installation/removal of packages."/>\n'
    '<option value="n" desc="No, cancel the operation."/>\n</prompt>\n'
)


def _esc(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


class _Out:
    """zypper's two faces: XML elements with ``-x``, plain lines without."""

    def __init__(self, p: Printer, xml: bool) -> None:
        self.p = p
        self.xml = xml

    def message(self, text: str, kind: str = "info") -> None:
        if self.xml:
            self.p.out(f'<message type="{kind}">{_esc(text)}</message>\n')
        elif kind == "error":
            self.p.err(text + "\n")
        else:
            self.p.out(text + "\n")

    def raw(self, xml: str, text: str = "") -> None:
        if self.xml:
            self.p.out(xml)
        elif text:
            self.p.out(text)


def install(machine: Machine, specs: Sequence[str], xml: bool, env: dict[str, str]) -> Output:
    """``zypper [-x] -n install [-t patch] SPEC…`` as root."""
    p = Printer()
    out = _Out(p, xml)
    if xml:
        p.out("<?xml version='1.0'?>\n<stream>\n")
    remaining = installing.lock_remaining(machine)
    if remaining > 0:
        wait = env.get("ZYPP_LOCK_TIMEOUT", "0")
        timeout = float(wait) if wait.isdigit() else 0.0
        p.pause(min(remaining, timeout))
        if remaining > timeout:
            out.message(_LOCKED, "error")
            return _end(p, xml, 7)
    out.message("Loading repository data...")
    out.message("Reading installed packages...")
    steps: list[Step] = []
    patches: list[Advisory] = []
    missing: list[str] = []
    for spec in specs:
        found = _resolve(machine, out, spec)
        if found is None:
            missing.append(spec)
            continue
        more, patch = found
        if patch is not None:
            patches.append(patch)
        for step in more:  # two patches of one source: the newer wins
            same = next((i for i, s in enumerate(steps) if s.name == step.name), None)
            if same is None:
                steps.append(step)
            elif steps[same].index < step.index:
                steps[same] = step
    if missing:
        for spec in missing:
            out.message(f"'{spec}' not found in package names. Trying capabilities.")
            out.message(f"No provider of '{spec}' found.", "error")
        return _end(p, xml, 104)
    if not steps:
        out.message("Resolving package dependencies...")
        out.message("Nothing to do.")
        return _end(p, xml, 0)
    failing = machine.faults.failing_package
    steps.sort(key=lambda s: s.name == failing)  # the failing one is committed last
    out.message("Resolving package dependencies...")
    _summary(out, steps, patches)
    hang = machine.faults.hang_install
    todo = steps[: installing.halves(steps)] if hang else steps
    failed = frozenset(s.name for s in todo if s.name == failing)
    installing.apply(machine, todo, failed)
    pause = machine.timing.install_step
    for number, step in enumerate(steps, 1):
        if number > len(todo):
            return p.done(0, hang=True)
        nevra = f"{step.name}-{step.new}.{step.arch}"
        total = len(steps)
        out.message(
            f"Retrieving package {nevra} ({number}/{total}),   1.2 MiB (  4.1 MiB unpacked)"
        )
        name = f"({number}/{total}) Installing: {nevra}"
        values = ("0", "50") if step.name in failed else ("0", "50", "100", "0", "100")
        out.raw(f'<progress id="install-resolvable" name="{_esc(name)}"/>\n')
        for value in values:
            out.raw(f'<progress id="install-resolvable" name="{_esc(name)}" value="{value}"/>\n')
            p.pause(pause / 2)
        if step.name in failed:
            out.raw(
                f'<progress id="install-resolvable" name="{_esc(name)}" done="0"/>\n',
                f"{name} ...[error]\n",
            )
            out.message(
                f"Installation of {nevra} failed:\nError: Subprocess failed. Error: RPM failed: "
                f"error: %prein({_full(step.name, step.new, step.arch)}) scriptlet failed, "
                f"exit status 1\nerror: {_full(step.name, step.new, step.arch)}: install "
                f"failed\nerror: {_full(step.name, step.old or '', step.arch)}: erase skipped\n",
                "error",
            )
            out.raw('<prompt id="7">\n<text>Abort, retry, ignore?</text>\n</prompt>\n')
            out.message(
                "Problem occurred during or after installation or removal of packages:\n"
                "Installation has been aborted as directed.\n"
                "Please see the above error message for a hint.\n",
                "error",
            )
            return _end(p, xml, 8)
        out.raw(
            f'<progress id="install-resolvable" name="{_esc(name)}" done="1"/>\n',
            f"{name} ...[done]\n",
        )
    if any(machine_source_reboot(patch, steps) for patch in patches):
        out.message(
            "One of the installed patches requires a reboot of your machine. Reboot as soon "
            "as possible.",
            "warning",
        )
        return _end(p, xml, 102)
    return _end(p, xml, 0)


def machine_source_reboot(patch: Advisory, steps: list[Step]) -> bool:
    """Whether a patch of these steps suggests a reboot (its source's packages do)."""
    return any(step.reboot and patch in step.state.advisories for step in steps)


def _full(name: str, version: str, arch: str) -> str:
    evr = version if ":" in version else f"0:{version}"
    return f"{name}-{evr}.{arch}"


def _end(p: Printer, xml: bool, status: int) -> Output:
    if xml:
        p.out("</stream>\n")
    return p.done(status)


def _resolve(machine: Machine, out: _Out, spec: str) -> tuple[list[Step], Advisory | None] | None:
    """The packages ``spec`` moves (and the patch it names), or ``None`` when no such patch,
    package or version exists."""
    body, _, edition = spec.partition("=")
    if body.startswith("patch:"):
        wanted = body[len("patch:") :]
        if edition not in ("", "1"):
            return None
        brought: Advisory | None = None
        steps: list[Step] = []
        for state, index, patch in _patch_versions(machine, wanted):
            brought = patch  # one patch may cover several source packages
            steps += [
                installing.step_for(entry, name, arch, index)
                for entry in machine.packages
                if entry.state is state and entry.index < index
                for name, arch in entry.binaries
            ]
        if brought is None:
            return None
        if not steps:
            out.message(f"Patch '{wanted}' is already installed.")
        return steps, brought
    name, dot, arch = body.rpartition(".")
    if not dot:
        name, arch = body, ""
    found = machine.archive_binaries.get(name)
    current = machine.by_binary.get(name)
    if found is None or current is None or (arch and arch != found[1]):
        return None
    pkg = current
    state = found[0]
    if edition and edition not in state.versions:
        return None
    index = state.versions.index(edition) if edition else state.top
    if index <= pkg.index:
        out.message(f"Package '{name}' is already installed.")
        return [], None
    return [installing.step_for(pkg, name, found[1], index)], None


def _patch_versions(machine: Machine, patch_id: str) -> list[tuple[SourceState, int, Advisory]]:
    """Every installed source with a version that patch ``patch_id`` brings, and that index."""
    found: list[tuple[SourceState, int, Advisory]] = []
    states = list(dict.fromkeys(pkg.state for pkg in machine.packages))
    for state in states:
        for index, patch in enumerate(state.advisories):
            if patch is not None and patch.id == patch_id:
                found.append((state, index, patch))
    return found


def _summary(out: _Out, steps: list[Step], patches: list[Advisory]) -> None:
    out.raw(
        f'<install-summary download-size="{len(steps) * 1258291}" space-usage-diff="0" '
        f'packages-to-change="{len(steps)}">\n<to-upgrade>\n',
        "\nThe following "
        + (f"{len(steps)} packages are" if len(steps) > 1 else "package is")
        + " going to be upgraded:\n  "
        + " ".join(s.name for s in steps)
        + "\n",
    )
    for step in steps:
        out.raw(
            f'<solvable type="package" name="{_esc(step.name)}" edition="{step.new}" '
            f'arch="{step.arch}" edition-old="{step.old}" arch-old="{step.arch}" '
            f'summary="{_esc(step.state.source.summary)}">\n'
            f"<description>{_esc(step.state.source.summary)}.</description></solvable>\n"
        )
    out.raw("</to-upgrade>\n")
    if patches:
        out.raw("<to-install>\n")
        for patch in patches:
            out.raw(
                f'<solvable type="patch" name="{_esc(patch.id)}" edition="1" arch="noarch" '
                f'summary="{patch.kind.capitalize()} update">\n'
                "<description>Maintenance update.</description></solvable>\n"
            )
        out.raw("</to-install>\n")
    out.raw("</install-summary>\n" + _CONTINUE)


def search(machine: Machine, names: Sequence[str], kinds: set[str], installed_only: bool) -> Output:
    """``zypper -x search -s --match-exact [-t patch] [-t package] NAME…``: one solvable per
    version (``installed``, ``other-version``, ``not-installed``), exit 104 when none."""
    rows: list[str] = []
    wanted = set(names)
    kinds = kinds or {"package"}
    if "patch" in kinds:
        for patch_id in sorted(wanted):
            versions = _patch_versions(machine, patch_id)
            if not versions:
                continue
            applied = all(
                entry.index >= index
                for state, index, _ in versions
                for entry in machine.packages
                if entry.state is state
            )
            status = "installed" if applied else "not-installed"
            first = next(e for e in machine.packages if e.state is versions[0][0])
            rows.append(
                f'<solvable status="{status}" name="{_esc(patch_id)}" kind="patch" '
                f'edition="1" arch="noarch" repository="{_alias(machine, first)}"/>'
            )
    if "package" in kinds:
        for name in sorted(wanted):
            mine = machine.by_binary.get(name)
            found = machine.archive_binaries.get(name)
            if found is None:
                continue
            state, arch = found
            for index, version in enumerate(state.versions):
                if mine is not None and index == mine.index:
                    repo = "(System Packages)"
                    status = "installed"
                elif index == 0:
                    continue
                else:
                    repo = _alias(machine, mine) if mine is not None else "repo-update"
                    status = "other-version" if mine is not None else "not-installed"
                if installed_only and status != "installed":
                    continue
                rows.append(
                    f'<solvable status="{status}" name="{_esc(name)}" kind="package" '
                    f'edition="{version}" arch="{arch}" repository="{_esc(repo)}"/>'
                )
    head = (
        "<?xml version='1.0'?>\n<stream>\n"
        '<message type="info">Loading repository data...</message>\n'
        '<message type="info">Reading installed packages...</message>\n'
    )
    if not rows:
        return Output.of(
            head + '<message type="info">No matching items found.</message>\n</stream>\n', "", 104
        )
    body = '\n<search-result version="0.0">\n<solvable-list>\n' + "".join(r + "\n" for r in rows)
    return Output.of(head + body + "</solvable-list>\n</search-result>\n</stream>\n")


def _alias(machine: Machine, pkg: Installed | None) -> str:
    zypper = machine.kind.zypper
    assert zypper is not None
    if pkg is not None and pkg.state.source.repo == "applications":
        return zypper.applications[0]
    return zypper.basesystem[0]
