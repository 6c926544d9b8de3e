"""The simulated machines without SSH: their shell, their tools' output, their data, faults.

The expectations here are written from the real tools' documented formats (research notes and
the captured samples), never from backends.platforms, so they hold the fleet to the real thing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import cmp_to_key
from pathlib import Path

import pytest

from backends.fleet.faults import NO_FAULTS, FaultSpec, FaultSpecError, MachineFaults
from backends.fleet.kinds import KINDS
from backends.fleet.profiles import Machine
from backends.fleet.repository import archive
from backends.fleet.shell import run_script
from backends.fleet.streams import Output
from backends.fleet.tools import Context
from backends.fleet.windows_machine import WindowsMachine

ROOT = Path(__file__).parent.parent
SEED = 11
NONCE = "0123456789abcdef"

# research/backends.md §1.2, validated there against a real Debian 12 capture
INST = re.compile(
    r"^Inst (?P<name>\S+?)(?::(?P<archq>\S+))? (?:\[(?P<cur>[^\]]+)\] )?"
    r"\((?P<new>\S+) (?P<rels>.*?) \[(?P<arch>[^\]]+)\]\)(?: \[.*\])?$"
)
# research/backends.md §2.3
UPDATEINFO = re.compile(
    r"^(?:i\s+)?(?P<id>\S+)\s+(?P<type>(?:\w+/Sec\.)|bugfix|enhancement|newpackage|unknown)"
    r"\s+(?P<nevra>\S+)$"
)


def machines(count: int = 60) -> list[Machine]:
    return [Machine(SEED, index) for index in range(count)]


def of_kind(key: str, count: int = 60) -> list[Machine]:
    return [m for m in machines(count) if m.kind.key == key]


def run(machine: Machine, script: str, user: str = "root", **faults: bool) -> Output:
    return run_script(script, Context(machine, user, user == "root", MachineFaults(**faults)))


def marker(section: str) -> str:
    return f"echo '@@patchdeck:{NONCE}:{section}'"


END = f'echo "@@patchdeck:{NONCE}:end:$?"'


def sections(text: str) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    pattern = re.compile(
        rf"^@@patchdeck:{NONCE}:(?P<name>[a-z-]+)\n(?P<body>.*?)^@@patchdeck:{NONCE}:end:(?P<rc>\d+)\n",
        re.M | re.S,
    )
    for match in pattern.finditer(text):
        found[match["name"]] = (match["body"], int(match["rc"]))
    return found


def scan_script() -> str:
    """A round-1 script in the shape docs/scan-script.md lays down."""

    def section(name: str, command: str) -> list[str]:
        return [marker(name), command, END]

    lines = ["export LC_ALL=C"]
    lines += section("os-release", "cat /etc/os-release 2>&1")
    lines += section("boot-id", "cat /proc/sys/kernel/random/boot_id 2>&1")
    lines.append("if command -v apt-get >/dev/null 2>&1; then")
    lines += section("apt-list", "apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1")
    lines += section("reboot-flag", "test -e /var/run/reboot-required >/dev/null 2>&1")
    lines += section("reboot-pkgs", "cat /var/run/reboot-required.pkgs 2>&1")
    lines.append("elif command -v dnf >/dev/null 2>&1; then")
    lines += section("dnf-list", "dnf -q --setopt=exit_on_lock=True check-update 2>&1")
    lines += section("dnf-updateinfo", "dnf -q updateinfo list --updates 2>&1")
    lines += section("needs-restarting", "needs-restarting -r 2>&1")
    lines.append("elif command -v yum >/dev/null 2>&1; then")
    lines += section("yum-list", "yum -q check-update 2>&1")
    lines += section("yum-updateinfo", "yum -q updateinfo list updates 2>&1")
    lines += section("needs-restarting", "needs-restarting -r 2>&1")
    lines.append("elif command -v zypper >/dev/null 2>&1; then")
    lines += section("zypper-updates", "zypper -n -x list-updates 2>&1")
    lines += section("zypper-patches", "zypper -n -x list-patches 2>&1")
    lines += section("zypper-reboot", "zypper needs-rebooting 2>&1")
    lines.append("else")
    lines += section("manager", "apt-get >/dev/null 2>&1")
    lines.append("fi")
    return "\n".join(lines) + "\n"


# -- the shell ---------------------------------------------------------------------------------


def test_scan_script_sections_and_statuses_per_manager() -> None:
    expected = {
        "apt": {"os-release", "boot-id", "apt-list", "reboot-flag", "reboot-pkgs"},
        "dnf": {"os-release", "boot-id", "dnf-list", "dnf-updateinfo", "needs-restarting"},
        "yum": {"os-release", "boot-id", "yum-list", "yum-updateinfo", "needs-restarting"},
        "zypper": {"os-release", "boot-id", "zypper-updates", "zypper-patches", "zypper-reboot"},
    }
    for machine in machines(10):  # the first ten are one of each kind
        out = run(machine, scan_script())
        assert out.status == 0 and out.text(2) == ""
        found = sections(out.text())
        assert set(found) == expected[machine.kind.manager], machine
        assert found["os-release"] == (machine.kind.os_release, 0)
        assert found["boot-id"] == (machine.boot_id + "\n", 0)
        if machine.kind.manager == "apt":
            flag = found["reboot-flag"]
            assert flag == ("", 0 if machine.reboot_required else 1)
            pkgs = found["reboot-pkgs"]
            assert pkgs[1] == (0 if machine.reboot_required else 1)
        if machine.kind.manager in ("dnf", "yum"):
            listing = found[f"{machine.kind.manager}-list"]
            assert listing[1] == (100 if machine.outdated else 0)
            assert found["needs-restarting"][1] == (1 if machine.reboot_required else 0)
        if machine.kind.manager == "zypper":
            assert found["zypper-reboot"][1] == (102 if machine.reboot_required else 0)


def test_dollar_question_if_elif_else_and_quoting() -> None:
    machine = next(m for m in machines(10) if m.kind.manager == "zypper")
    script = (
        "export LC_ALL=C\n"
        "false\n"
        'echo "first:$?"\n'
        "if command -v apt-get >/dev/null 2>&1; then\n"
        "  echo apt\n"
        "elif command -v nosuch >/dev/null 2>&1; then\n"
        "  echo nosuch\n"
        "elif command -v zypper >/dev/null 2>&1; then\n"
        "  echo 'zypper here' \"$LC_ALL\" \\$HOME 'it'\\''s'\n"
        "else\n"
        "  echo none\n"
        "fi\n"
        'echo "after:$?"\n'
        "nosuch-program --flag\n"
        'echo "missing:$?"\n'
        "true && echo and-ran || echo or-ran\n"
        '! true; echo "negated:$?"\n'
    )
    out = run(machine, script)
    assert out.text() == (
        "first:1\nzypper here C $HOME it's\nafter:0\nmissing:127\nand-ran\nnegated:1\n"
    )
    assert out.text(2) == "sh: line 14: nosuch-program: command not found\n"  # bash on SUSE
    assert out.status == 0


def test_not_found_and_syntax_errors_like_dash() -> None:
    debian = next(m for m in machines(10) if m.kind.key == "debian-12")
    out = run(debian, "echo one\nfoo bar\necho two\n")
    assert (out.text(), out.text(2), out.status) == ("one\ntwo\n", "sh: 2: foo: not found\n", 0)
    out = run(debian, "foo")
    assert out.status == 127
    # dash runs one complete command at a time: the first line runs, the bad one stops it
    out = run(debian, "echo ran\nfi\necho never\n")
    assert (out.text(), out.text(2), out.status) == (
        "ran\n",
        'sh: 2: Syntax error: "fi" unexpected\n',
        2,
    )
    out = run(debian, "if true; then\necho x\n")
    assert out.text(2) == 'sh: 3: Syntax error: end of file unexpected (expecting "fi")\n'
    assert out.status == 2
    out = run(debian, "echo 'open")
    assert out.text(2) == "sh: 1: Syntax error: Unterminated quoted string\n"
    out = run(debian, "cat /etc/os-release | grep ID")  # the fleet's sh has no pipes
    assert out.status == 2 and out.text() == ""


def test_redirections_route_stdout_and_stderr() -> None:
    debian = next(m for m in machines(10) if m.kind.key == "debian-12")
    out = run(debian, "cat /nonexistent")
    assert out.text() == "" and out.text(2) == "cat: /nonexistent: No such file or directory\n"
    out = run(debian, "cat /nonexistent 2>&1")
    assert out.text() == "cat: /nonexistent: No such file or directory\n" and out.text(2) == ""
    out = run(debian, "cat /nonexistent >/dev/null 2>&1; echo $?")
    assert (out.text(), out.text(2)) == ("1\n", "")
    out = run(debian, "echo to-err 1>&2; echo to-err2 >&2")
    assert (out.text(), out.text(2)) == ("", "to-err\nto-err2\n")
    out = run(debian, "apt list --upgradable 2>/dev/null")
    assert out.text().startswith("Listing...\n") and out.text(2) == ""


def test_sudo_runs_nested_scripts_and_respects_passwords() -> None:
    machine = next(m for m in machines(10) if m.kind.key == "debian-12")
    script = "sudo -n sh -c 'export LC_ALL=C\napt-get -q update 2>&1\necho \"rc=$?\"'"
    as_user = run(machine, script, user="ops")
    if machine.sudo_password:
        assert as_user.text(2) == "sudo: a password is required\n"
    else:
        assert as_user.text().startswith(
            "Hit:1 http://mirror.example.net/debian bookworm InRelease"
        )
        assert as_user.text().endswith("Reading package lists...\nrc=0\n")
    forced = run(machine, script, user="ops", sudo_password=True)
    assert (forced.text(), forced.text(2), forced.status) == (
        "",
        "sudo: a password is required\n",
        1,
    )
    unprivileged = run(machine, "apt-get -q update", user="ops")
    assert unprivileged.status == 100
    assert "E: Could not open lock file /var/lib/apt/lists/lock" in unprivileged.text(2)
    assert run(machine, "id -u; sudo -n id -u", user="ops").text() == "1000\n0\n"


# -- apt ---------------------------------------------------------------------------------------


def test_apt_simulation_lines_parse_with_the_documented_regex() -> None:
    for machine in [m for m in machines() if m.kind.manager == "apt"]:
        out = run(machine, "apt-get -s -o Debug::NoLocking=1 dist-upgrade")
        lines = out.text().splitlines()
        inst = [line for line in lines if line.startswith("Inst ")]
        assert all(INST.match(line) for line in inst), machine
        upgraded = sum(len(p.state.source.binaries) for p in machine.outdated if not p.held)
        summary = next(line for line in lines if " upgraded, " in line)
        assert summary.startswith(f"{upgraded} upgraded, ")
        assert out.status == 0


def test_apt_as_a_user_says_it_only_simulates() -> None:
    machine = next(m for m in machines(10) if m.kind.manager == "apt")
    out = run(machine, "apt-get -s dist-upgrade", user="ops")
    assert out.text().startswith("NOTE: This is only a simulation!\n      apt-get needs root")


def test_apt_cache_policy_shows_a_masked_security_version() -> None:
    found = False
    for machine in [m for m in machines() if m.kind.manager == "apt"]:
        for pkg in machine.outdated:
            state = pkg.state
            masked = "security" not in state.suites[-1] and any(
                "security" in state.suites[i] for i in range(pkg.index + 1, state.top)
            )
            if not masked:
                continue
            name = state.source.binaries[0][0]
            out = run(machine, f"apt-cache policy {name} no-such-package")
            text = out.text()
            assert text.startswith(f"{name}:\n  Installed: {pkg.version}\n")
            assert f"  Candidate: {pkg.candidate}\n" in text
            table = text.split("  Version table:\n")[1].splitlines()
            installed_at = next(i for i, line in enumerate(table) if line.startswith(" *** "))
            above = "\n".join(table[:installed_at])
            assert "-security/main amd64 Packages" in above  # the masked security version
            assert "-security" not in table[1]  # the candidate's own source is not security
            assert out.text(2) == "N: Unable to locate package no-such-package\n"
            found = True
    assert found, "no machine of the seeded fleet has a masked security update"


def test_apt_list_upgradable_prints_its_warning_on_stderr() -> None:
    machine = next(m for m in machines(10) if m.kind.manager == "apt")
    out = run(machine, "apt list --upgradable")
    assert out.text(2) == (
        "\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n"
    )
    rows = out.text().splitlines()
    assert rows[0] == "Listing..."
    row = re.compile(r"^\S+/\S+ \S+ (amd64|all) \[upgradable from: \S+\]$")
    assert all(row.match(line) for line in rows[1:])


def test_apt_update_faults() -> None:
    machine = next(m for m in machines(10) if m.kind.manager == "apt")
    locked = run(machine, "apt-get -q update", lock=True)
    assert locked.status == 100
    assert locked.text(2).startswith(
        "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\n"
    )
    failing = run(machine, "apt-get -q update", repo_failure=True)
    assert failing.status == 0
    assert "W: Failed to fetch " in failing.text(2)
    assert "W: Some index files failed to download." in failing.text(2)


# -- dnf, yum ----------------------------------------------------------------------------------


def test_dnf_check_update_exit_100_and_wrapped_rows() -> None:
    wrapped = re.compile(r"^\S+\.(noarch|x86_64)\n {20,}\S+ +\S+ *$", re.M)
    seen_wrap = seen_clean = False
    for machine in [m for m in machines(80) if m.kind.manager in ("dnf", "yum")]:
        program = machine.kind.manager
        out = run(machine, f"{program} -q check-update")
        if not machine.outdated:
            assert (out.status, out.text()) == (0, "")
            seen_clean = True
            continue
        assert out.status == 100
        assert out.text().startswith("\n")  # dnf prints the list's (empty) title line
        seen_wrap |= bool(wrapped.search(out.text()))
    assert seen_wrap, "no seeded dnf/yum machine wraps a long package name"
    del seen_clean


def test_dnf_updateinfo_lines_match_the_documented_regex() -> None:
    for machine in [m for m in machines() if m.kind.manager == "dnf"]:
        out = run(machine, "dnf -q updateinfo list --updates")
        lines = out.text().splitlines()
        assert all(UPDATEINFO.match(line) for line in lines), machine
        assert out.status == 0
    centos = next(m for m in machines(10) if m.kind.key == "centos-7")
    assert run(centos, "yum -q updateinfo list updates").text() == ""  # no updateinfo


def test_needs_restarting_texts() -> None:
    for machine in [m for m in machines(30) if m.kind.manager == "dnf"]:
        out = run(machine, "needs-restarting -r")
        if machine.reboot_required:
            assert out.status == 1
            assert "Reboot is required to fully utilize these updates." in out.text()
        else:
            assert out.status == 0
            assert "Reboot should not be necessary." in out.text()


# -- zypper ------------------------------------------------------------------------------------


def test_zypper_xml_parses_and_carries_the_attributes() -> None:
    for machine in [m for m in machines() if m.kind.manager == "zypper"]:
        updates = run(machine, "zypper -n -x list-updates")
        root = ET.fromstring(updates.text())
        assert root.tag == "stream"
        listed = root.findall("./update-status/update-list/update")
        expected = sum(
            len(p.state.source.binaries)
            for p in machine.outdated
            if not p.state.source.multiversion
        )
        assert len(listed) == expected
        for update in listed:
            assert update.get("kind") == "package"
            assert update.get("edition") and update.get("edition-old")
        patches = ET.fromstring(run(machine, "zypper -n -x list-patches").text())
        for patch in patches.iter("update"):
            assert patch.get("kind") == "patch"
            assert patch.get("category") in ("security", "recommended", "optional")
            assert patch.get("status") == "needed"
        reboot = run(machine, "zypper needs-rebooting")
        assert reboot.status == (102 if machine.reboot_required else 0)


def test_zypper_refresh_faults() -> None:
    machine = next(m for m in machines(10) if m.kind.manager == "zypper")
    assert run(machine, "zypper -n refresh").status == 0
    assert run(machine, "zypper -n refresh", lock=True).status == 7
    assert run(machine, "zypper -n refresh", repo_failure=True).status == 4
    assert run(machine, "zypper -n refresh", user="ops").status == 5


# -- data --------------------------------------------------------------------------------------


def _dpkg_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp (lib/dpkg/version.c)."""
    i = j = 0
    while i < len(a) or j < len(b):
        diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) else 0
            bc = _dpkg_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not diff:
                diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if diff:
            return diff
    return 0


def dpkg_compare(a: str, b: str) -> int:
    ea, _, ra = a.rpartition(":")
    eb, _, rb = b.rpartition(":")
    if int(ea or 0) != int(eb or 0):
        return int(ea or 0) - int(eb or 0)
    va, _, reva = ra.rpartition("-") if "-" in ra else (ra, "", "")
    vb, _, revb = rb.rpartition("-") if "-" in rb else (rb, "", "")
    return _verrevcmp(va, vb) or _verrevcmp(reva, revb)


def _rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp (without the caret)."""
    if a == b:
        return 0
    sa = re.findall(r"~|\d+|[A-Za-z]+", a)
    sb = re.findall(r"~|\d+|[A-Za-z]+", b)
    for x, y in zip(sa, sb, strict=False):
        if x == "~" or y == "~":
            if x != y:
                return -1 if x == "~" else 1
            continue
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        if x.isdigit():
            if int(x) != int(y):
                return 1 if int(x) > int(y) else -1
        elif x != y:
            return 1 if x > y else -1
    return (len(sa) > len(sb)) - (len(sa) < len(sb))


def rpm_compare(a: str, b: str) -> int:
    ea, _, ra = a.rpartition(":")
    eb, _, rb = b.rpartition(":")
    if int(ea or 0) != int(eb or 0):
        return int(ea or 0) - int(eb or 0)
    va, _, reva = ra.rpartition("-")
    vb, _, revb = rb.rpartition("-")
    return _rpmvercmp(va, vb) or _rpmvercmp(reva, revb)


def test_every_kinds_versions_increase_as_its_package_manager_compares_them() -> None:
    for kind in KINDS:
        compare = dpkg_compare if kind.manager == "apt" else rpm_compare
        for state in archive(SEED, kind.key):
            versions = list(state.versions)
            ordered = sorted(versions, key=cmp_to_key(compare))
            assert ordered == versions, (kind.key, state.source.name)
            assert len(set(versions)) == len(versions)


def test_machines_are_the_same_for_the_same_seed_and_mixed() -> None:
    first = [(m.kind.key, m.boot_id, [p.version for p in m.packages]) for m in machines(30)]
    again = [(m.kind.key, m.boot_id, [p.version for p in m.packages]) for m in machines(30)]
    assert first == again
    other = [Machine(SEED + 1, i).boot_id for i in range(30)]
    assert other != [m.boot_id for m in machines(30)]
    kinds = {m.kind.key for m in machines(10)}
    assert kinds == {k.key for k in KINDS}  # any fleet of ten has every kind


# -- faults ------------------------------------------------------------------------------------


def test_fault_spec_forms_and_errors(tmp_path: Path) -> None:
    spec = FaultSpec.from_obj(
        {
            "machines": {
                "sim-003": ["refuse-auth"],
                "sim-010": [{"slow": 2.5}, "lock"],
                "sim-011": {"drop": True, "sudo_password": True},
            },
            "random": {"garbage": 1.0, "slow": {"rate": 0.0, "seconds": 9}},
        }
    )
    assert spec.for_machine("sim-003", 1).refuse_auth
    assert spec.for_machine("sim-010", 1) == MachineFaults(slow=2.5, lock=True, garbage=True)
    assert spec.for_machine("sim-011", 1).names() == ["garbage", "drop", "sudo-password"]
    path = tmp_path / "faults.yaml"
    path.write_text("machines:\n  sim-001: [hang]\nrandom:\n  repo-failure: 0.5\n")
    loaded = FaultSpec.load(path)
    assert loaded.machines["sim-001"].hang
    for bad in (
        {"machines": {"sim-001": ["explode"]}},
        {"machines": {"sim-001": [{"slow": "fast"}]}},
        {"random": {"garbage": 2}},
        {"other": 1},
        ["refuse-auth"],
    ):
        with pytest.raises(FaultSpecError):
            FaultSpec.from_obj(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('{"machines": [')
    with pytest.raises(FaultSpecError, match="broken.json"):
        FaultSpec.load(broken)


def test_down_mid_install_is_a_flag_a_windows_machine_takes() -> None:
    spec = FaultSpec.from_obj(
        {"machines": {"win-006": ["down_mid_install"]}, "random": {"down-mid-install": 0.0}}
    )
    assert spec.for_machine("win-006", 1) == MachineFaults(down_mid_install=True)
    assert spec.for_machine("win-006", 1).names() == ["down-mid-install"]
    assert spec.for_machine("win-005", 1) == NO_FAULTS
    with pytest.raises(FaultSpecError, match="down-mid-install wants true or false"):
        FaultSpec.from_obj({"machines": {"win-006": [{"down-mid-install": 3}]}})


_WUA = """$w=New-Object -ComObject Microsoft.Update.Session
$s=$w.CreateUpdateInstaller()
"""


@pytest.mark.parametrize(
    ("script", "denied"),
    [
        (_WUA + "$s.Install()\n", True),
        (_WUA + "$r = $s.install( )\n", True),  # PowerShell's method names ignore case
        (_WUA.replace("Installer", "Downloader") + "$s.Download()\n", True),
        ("$p.Install()\n", False),  # no WUA installer made: some other object's method
        (_WUA + "# $s.Install()\n", False),
        (_WUA + "<#\n$s.Install()\n#>\n", False),
        (_WUA + "Write-Output '$s.Install()'\n", False),
        ("$x=@'\n" + _WUA + "$s.Install()\n'@\n", False),  # a here-string is text
        (_WUA + "try{$s.Install()}catch{Write-Output 'no'}\n", False),  # its catch: not simulated
    ],
)
def test_a_direct_wua_install_is_refused_only_when_it_is_code(script: str, denied: bool) -> None:
    machine = WindowsMachine(11, 0, NO_FAULTS)
    before = machine.pending
    answer = machine.run(script)
    assert ("0x80070005 (E_ACCESSDENIED)" in answer.stderr) is denied, answer
    if denied:
        assert answer.status == 1 and answer.stdout == ""
        assert answer.stderr.startswith("#< CLIXML\r\n")
        assert "UnauthorizedAccessException" in answer.stderr
    assert machine.pending == before


def test_garbage_replaces_tool_output_but_not_echo() -> None:
    machine = machines(1)[0]
    out = run(machine, "echo marker; cat /etc/os-release", garbage=True)
    data = b"".join(chunk for _, chunk in out.chunks)
    assert data.startswith(b"marker\n")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_fleet_modules_never_import_the_platforms() -> None:
    script = (
        "import importlib, pkgutil, sys\n"
        "import backends.fleet\n"
        "for m in pkgutil.walk_packages(backends.fleet.__path__, 'backends.fleet.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('backends.platforms')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]"
