"""The simulated machines' health tools print what the real ones print: ``df``, ``dpkg
--audit``, ``apt-mark showhold``, ``dnf check``, ``versionlock list`` (with and without the
plugin), ``zypper verify`` (root only) and ``zypper locks``; and a held package is held back
the way each package manager holds it back."""

from __future__ import annotations

import re

from backends.fleet.faults import MachineFaults
from backends.fleet.profiles import Machine, pick_kind
from backends.fleet.shell import run_script
from backends.fleet.streams import STDOUT, Output
from backends.fleet.tools import Context

SEED = 11
DF_ROW = re.compile(r"^\S+ +\d+ +\d+ +\d+ +\d+% /\S*$")


def _machine(kind: str, **faults: bool) -> Machine:
    index = next(i for i in range(40) if pick_kind(SEED, i).key == kind)
    machine = Machine(SEED, index, MachineFaults(**faults))
    assert machine.outdated, "pick a seed whose machine of this kind misses updates"
    return machine


def _run(machine: Machine, script: str, user: str = "root") -> tuple[str, str, int]:
    output: Output = run_script(script, Context(machine, user, user == "root", machine.faults))
    out = b"".join(data for fd, data in output.chunks if fd == STDOUT).decode()
    err = b"".join(data for fd, data in output.chunks if fd != STDOUT).decode()
    return out, err, output.status


def test_df_prints_posix_rows_in_the_order_asked() -> None:
    out, err, status = _run(_machine("rhel-9"), "df -P -k /var /boot")
    header, var, boot = out.splitlines()
    assert header.split() == ["Filesystem", "1024-blocks", "Used", "Available", "Capacity",
                              "Mounted", "on"]  # fmt: skip
    assert DF_ROW.match(var) and var.endswith(" /") and var.startswith("/dev/mapper/rhel-root ")
    assert DF_ROW.match(boot) and boot.endswith(" /boot")
    assert (err, status) == ("", 0)
    out, err, status = _run(_machine("debian-12"), "df -P -k /var /nowhere")
    assert len(out.splitlines()) == 2
    assert (err, status) == ("df: /nowhere: No such file or directory\n", 1)


def test_a_full_boot_is_a_partition_of_its_own() -> None:
    healthy = _run(_machine("debian-12"), "df -P -k /boot")[0].splitlines()[1]
    assert healthy.endswith(" /")  # /boot on the root file system
    full = _run(_machine("debian-12", full_boot=True), "df -P -k /boot")[0].splitlines()[1]
    assert full.split()[0] == "/dev/sda2" and full.split()[3] == "40960" and full.endswith(" /boot")


def test_an_interrupted_dpkg_shows_in_dpkg_audit() -> None:
    assert _run(_machine("debian-12"), "dpkg --audit") == ("", "", 0)
    out, _, _ = _run(_machine("debian-12", broken_packages=True), "dpkg --audit")
    lines = out.splitlines()
    assert lines[0] == ("The following packages are only half configured, probably due to problems")
    assert lines[3].startswith(" ") and len(lines[3].split()[0]) > 1


def test_apt_keeps_a_held_package_back() -> None:
    machine = _machine("debian-12", held_package=True)
    held = machine.held_names
    assert held and _run(machine, "apt-mark showhold") == (held[0] + "\n", "", 0)
    simulated = _run(machine, "apt-get -s -o Debug::NoLocking=1 dist-upgrade")[0]
    assert "The following packages have been kept back:" in simulated
    installs = {line.split()[1] for line in simulated.splitlines() if line.startswith("Inst ")}
    assert machine.held_source is not None
    assert not installs & {name for name, _ in machine.held_source.state.source.binaries}


def test_dnf_versionlock_hides_only_the_locked_name() -> None:
    machine = _machine("rhel-9", held_package=True)
    (held,) = machine.held_names
    locks, _, status = _run(machine, "dnf -q versionlock list")
    assert status == 0 and re.fullmatch(rf"{held}-\d+:[^-\s]+-[^-\s]+\.\*\n", locks)
    listed = _run(machine, "dnf -q check-update")[0]
    names = {line.split(".")[0] for line in listed.splitlines() if line and line[0] != " "}
    assert machine.held_source is not None
    others = {n for n, _ in machine.held_source.state.source.binaries} - {held}
    assert held not in names and others <= names  # check-update resolves no dependencies


def test_without_the_versionlock_plugin_dnf_has_no_such_command() -> None:
    machine = next(
        m
        for i in range(40)
        if (m := Machine(SEED, i)).kind.manager == "dnf" and not m.versionlock_plugin
    )
    out, err, status = _run(machine, "dnf -q versionlock list")
    assert status == 1 and "No such command: versionlock." in out + err


def test_dnf_check_reports_a_duplicate() -> None:
    assert _run(_machine("rhel-9"), "dnf -q check")[2] == 0
    out, err, status = _run(_machine("rhel-9", broken_packages=True), "dnf -q check")
    assert status == 1 and " is a duplicate with " in out
    assert err == "Error: Check discovered 1 problem(s)\n"


def test_zypper_verify_needs_root_and_locks_are_a_table() -> None:
    machine = _machine("sles-15", held_package=True, broken_packages=True)
    out, err, status = _run(machine, "zypper -n verify --dry-run", user="deploy")
    assert (out, err, status) == ("", "Root privileges are required to run this command.\n", 5)
    out, _, status = _run(machine, "zypper -n verify --dry-run")
    assert status == 0 and "dependencies of installed packages are broken" in out
    out, _, _ = _run(machine, "zypper -n locks", user="deploy")
    rows = [line.split("|") for line in out.splitlines() if "|" in line]
    assert [c.strip() for c in rows[0]] == ["#", "Name", "Type", "Repository"]
    assert [c.strip() for c in rows[1]] == ["1", machine.held_names[0], "package", "(any)"]
    healthy = _machine("sles-15")
    assert _run(healthy, "zypper -n locks")[0] == "\nThere are no package locks defined.\n\n"
    assert "satisfied" in _run(healthy, "zypper -n verify --dry-run")[0]
