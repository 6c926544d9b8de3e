"""dnf and EL7 yum: columnar rows (wrapped or not), updateinfo, installed versions, locks,
needs-restarting; read from outputs the real dnf 4.14 printed (tests/data/platforms)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from backends.platforms import dnf, linux
from backends.platforms.probe import SectionOutput
from backends.platforms.reboot import needs_restarting
from backends.platforms.records import Assessment, FoundUpdate, PlatformError, Result
from tests.conftest import DATA, REQUIRE_SYSTEM_TESTS
from tests.test_platform_probe import frame

PLATFORMS = DATA / "platforms"
NONCE = "00112233445566bb"
LONG = "patchdeck-a-package-name-long-enough-to-wrap"
OS_RELEASE = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n'


def read(name: str) -> str:
    return (PLATFORMS / name).read_text()


ROWS = [
    dnf.Row("foo", "noarch", "1.1-1", "local"),
    dnf.Row("kernel-core", "noarch", "1:5.1-1", "local"),
    dnf.Row(LONG, "noarch", "1.1-1", "local"),
    dnf.Row("plain", "noarch", "2.0-1", "extra"),
]
EXPECTED = [
    FoundUpdate(
        "foo.noarch",
        "foo",
        "1.0-1",
        "1.1-1",
        "security",
        "Important",
        ("PDSA-2025:0001",),
        "local",
        False,
    ),
    FoundUpdate(
        "kernel-core.noarch",
        "kernel-core",
        "1:5.0-2",
        "1:5.1-1",
        "security",
        "Critical",
        ("PDSA-2025:0003",),
        "local",
        True,
    ),
    FoundUpdate(
        f"{LONG}.noarch", LONG, "1.0-1", "1.1-1", "other", None, ("PDBA-2025:0002",), "local", False
    ),
    FoundUpdate("plain.noarch", "plain", "1.0-1", "2.0-1", "other", None, (), "extra", False),
]


def test_check_update_rows_and_obsoleting() -> None:
    rows = dnf.parse_rows(read("dnf-check-update.txt"), "dnf-list")
    assert rows.rows == ROWS
    assert rows.obsoleting == ["newtool.noarch"]
    assert rows.problems == []


def test_rows_wrapped_on_a_narrow_terminal_read_the_same() -> None:
    text = (PLATFORMS / "dnf-check-update-64-columns-tty.txt").read_bytes().decode()
    assert f"{LONG}.noarch\r\n " in text  # the real wrap: name.arch alone, then the rest indented
    rows = dnf.parse_rows(text, "dnf-list")
    assert (rows.rows, rows.obsoleting, rows.problems) == (ROWS, ["newtool.noarch"], [])


def test_updateinfo_rows() -> None:
    info = dnf.parse_updateinfo(read("dnf-updateinfo-list-updates.txt"), "dnf-updateinfo")
    assert info.problems == [] and info.lines == 3
    assert info.by_package == {
        ("foo", "noarch"): [dnf.Advisory("PDSA-2025:0001", True, "Important")],
        ("kernel-core", "noarch"): [dnf.Advisory("PDSA-2025:0003", True, "Critical")],
        (LONG, "noarch"): [dnf.Advisory("PDBA-2025:0002", False, None)],
    }


def test_installed_versions_keep_the_newest_kernel() -> None:
    rows = dnf.parse_rows(read("dnf-list-installed.txt"), "dnf-installed")
    assert rows.problems == [] and len(rows.rows) == 6
    installed = dnf.installed_versions(rows.rows)
    assert installed[("kernel-core", "noarch")] == "1:5.0-2"
    assert installed[("plain", "noarch")] == "1.0-1"


def scan(sections: dict[str, tuple[str, int]]) -> Assessment:
    assessor = linux.assess(nonce=NONCE)
    next(assessor)
    with pytest.raises(StopIteration) as done:
        assessor.send(Result(0, frame(NONCE, sections)))
    assessment: Assessment = done.value.value
    return assessment


def dnf_sections(**changes: tuple[str, int]) -> dict[str, tuple[str, int]]:
    sections = {
        "os-release": (OS_RELEASE, 0),
        "boot-id": ("fa05d376-3357-4a11-a893-2fb215c086b7", 0),
        "dnf-list": (read("dnf-check-update.txt"), 100),
        "dnf-updateinfo": (read("dnf-updateinfo-list-updates.txt"), 0),
        "dnf-installed": (read("dnf-list-installed.txt"), 0),
        "needs-restarting": (
            "Core libraries or services have been updated since boot-up:\n  * kernel\n\n"
            "Reboot is required to fully utilize these updates.\n"
            "More information: https://access.redhat.com/solutions/27943",
            1,
        ),
    }
    sections.update({k.replace("_", "-"): v for k, v in changes.items()})
    return sections


def test_a_dnf_scan_from_real_outputs() -> None:
    assessment = scan(dnf_sections())
    assert assessment.updates == EXPECTED
    assert assessment.facts.package_manager == "dnf"
    assert (assessment.facts.distro, assessment.facts.version) == ("rocky", "9.3")
    assert assessment.facts.reboot_required is True
    assert assessment.problems == []
    assert assessment.notes == [
        "dnf also offers 1 obsoleting package(s), not counted: newtool.noarch"
    ]


def test_no_security_metadata_counts_everything_as_other() -> None:
    assessment = scan(dnf_sections(dnf_updateinfo=("", 0)))
    assert [u.classification for u in assessment.updates] == ["other"] * 4
    assert all(u.advisories == () and u.severity is None for u in assessment.updates)
    assert dnf.NO_UPDATEINFO == (
        "no security metadata (updateinfo) in this system's repositories: "
        "updates are counted as other"
    )
    assert dnf.NO_UPDATEINFO in assessment.notes


def test_updateinfo_failing_says_why() -> None:
    assessment = scan(
        dnf_sections(dnf_updateinfo=("Error: Unknown argument --updates for updateinfo", 1))
    )
    assert [u.classification for u in assessment.updates] == ["other"] * 4
    assert (
        f"{dnf.NO_UPDATEINFO} (dnf updateinfo exited 1: "
        "Error: Unknown argument --updates for updateinfo)"
    ) in assessment.notes


def test_installed_list_failing_leaves_installed_unknown() -> None:
    assessment = scan(dnf_sections(dnf_installed=("Error: rpmdb open failed", 1)))
    assert [u.installed for u in assessment.updates] == [None] * 4
    assert "installed versions unknown: dnf list installed exited 1" in assessment.notes


def test_no_updates() -> None:
    assessment = scan(dnf_sections(dnf_list=("", 0), dnf_updateinfo=("", 0)))
    assert assessment.updates == [] and assessment.problems == []
    assert dnf.NO_UPDATEINFO not in assessment.notes


def test_the_real_lock_message_names_the_holder() -> None:
    with pytest.raises(PlatformError) as caught:
        scan(dnf_sections(dnf_list=(read("dnf-check-update-locked.txt"), 200)))
    assert caught.value.kind == "locked"
    assert str(caught.value) == (
        "dnf check-update could not take the package manager's lock: it is held by process "
        "22512 (sleep); another package operation is running, try again when it ends"
    )


def test_check_update_error() -> None:
    body = (
        "Error: Failed to download metadata for repo 'appstream': Cannot download repomd.xml: "
        "Curl error (6): Couldn't resolve host name"
    )
    with pytest.raises(PlatformError) as caught:
        scan(dnf_sections(dnf_list=(body, 1)))
    assert caught.value.kind == "command-failed"
    assert str(caught.value) == f"dnf check-update failed (exit 1): {body}"


# -- EL7 yum ---------------------------------------------------------------------------------

# yum 3 prints the same fmtColumns rows, wrapped at 80 columns even without a terminal.
YUM_LIST = """
kernel.x86_64                         3.10.0-1160.119.1.el7          updates
NetworkManager-libnm.x86_64           1:1.18.8-2.el7_9               updates
python-perf-debuginfo-common-long-name.x86_64
                                      3.10.0-1160.119.1.el7          updates
openssl-libs.x86_64                   1:1.0.2k-26.el7_9
                                                                     updates
Obsoleting Packages
grub2.x86_64                          1:2.02-0.87.el7.centos.14      updates
    grub2.x86_64                      1:2.02-0.86.el7.centos         @updates
"""
YUM_INSTALLED = """Installed Packages
kernel.x86_64                         3.10.0-1160.el7                @anaconda
kernel.x86_64                         3.10.0-1160.118.1.el7          @updates
NetworkManager-libnm.x86_64           1:1.18.8-1.el7                 @anaconda
openssl-libs.x86_64                   1:1.0.2k-25.el7_9              @updates
"""
YUM_UPDATEINFO = """RHSA-2024:3010 Important/Sec. kernel-3.10.0-1160.119.1.el7.x86_64
RHSA-2024:2000 Moderate/Sec.  kernel-3.10.0-1160.119.1.el7.x86_64
RHBA-2024:1999 bugfix         kernel-3.10.0-1160.119.1.el7.x86_64
RHSA-2024:2999 Low/Sec.       openssl-libs-1:1.0.2k-26.el7_9.x86_64
updateinfo list done
"""


def yum_sections(**changes: tuple[str, int]) -> dict[str, tuple[str, int]]:
    sections = {
        "os-release": ('ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="7.9"\n', 0),
        "boot-id": ("fa05d376-3357-4a11-a893-2fb215c086b7", 0),
        "yum-list": (YUM_LIST, 100),
        "yum-updateinfo": (YUM_UPDATEINFO, 0),
        "yum-installed": (YUM_INSTALLED, 0),
        "needs-restarting": (
            "No core libraries or services have been updated.\nReboot is probably not necessary.",
            0,
        ),
    }
    sections.update({k.replace("_", "-"): v for k, v in changes.items()})
    return sections


def test_a_yum_scan_with_wrapped_rows() -> None:
    assessment = scan(yum_sections())
    assert assessment.facts.package_manager == "yum"
    assert assessment.facts.reboot_required is False
    assert assessment.problems == []
    assert assessment.updates == [
        FoundUpdate(
            "kernel.x86_64",
            "kernel",
            "3.10.0-1160.118.1.el7",
            "3.10.0-1160.119.1.el7",
            "security",
            "Important",
            ("RHSA-2024:3010", "RHSA-2024:2000", "RHBA-2024:1999"),
            "updates",
            True,
        ),
        FoundUpdate(
            "NetworkManager-libnm.x86_64",
            "NetworkManager-libnm",
            "1:1.18.8-1.el7",
            "1:1.18.8-2.el7_9",
            "other",
            None,
            (),
            "updates",
            False,
        ),
        FoundUpdate(
            "python-perf-debuginfo-common-long-name.x86_64",
            "python-perf-debuginfo-common-long-name",
            None,
            "3.10.0-1160.119.1.el7",
            "other",
            None,
            (),
            "updates",
            False,
        ),
        FoundUpdate(
            "openssl-libs.x86_64",
            "openssl-libs",
            "1:1.0.2k-25.el7_9",
            "1:1.0.2k-26.el7_9",
            "security",
            "Low",
            ("RHSA-2024:2999",),
            "updates",
            False,
        ),
    ]
    assert assessment.notes == [
        "yum also offers 1 obsoleting package(s), not counted: grub2.x86_64"
    ]


def test_centos7_without_updateinfo() -> None:
    assessment = scan(yum_sections(yum_updateinfo=("updateinfo list done\n", 0)))
    assert {u.classification for u in assessment.updates} == {"other"}
    assert dnf.NO_UPDATEINFO in assessment.notes


def test_a_yum_lock_seen_only_in_the_holder_details() -> None:
    body = (
        "Another app is currently holding the yum lock; waiting for it to exit...\n"
        "  The other application is: yum\n"
        "    Memory :  47 M RSS (364 MB VSZ)\n"
        "    Started: Mon Oct 14 09:10:02 2024 - 02:43 ago\n"
        "    State  : Sleeping, pid: 4242\n"
    )
    with pytest.raises(PlatformError) as caught:
        scan(yum_sections(yum_list=(body, 1)))
    assert caught.value.kind == "locked"
    assert "held by process 4242 (yum)" in str(caught.value)


def test_the_yum_lock_names_its_holder() -> None:
    body = (
        "Existing lock /var/run/yum.pid: another copy is running as pid 3523.\n"
        "Another app is currently holding the yum lock; exiting as configured by exit_on_lock\n"
        "  The other application is: PackageKit\n"
    )
    with pytest.raises(PlatformError) as caught:
        scan(yum_sections(yum_list=(body, 200)))
    assert caught.value.kind == "locked"
    assert "held by process 3523 (PackageKit)" in str(caught.value)


# -- rows that are not rows ------------------------------------------------------------------


def test_garbage_rows_are_problems_with_their_line() -> None:
    body = "\n".join(
        [
            "foo.noarch 1.1-1 local",
            "Failed to set locale, defaulting to C.UTF-8",
            "   orphan continuation",
            "bar.noarch",
            "baz.noarch 1.0-1 repo",
            "nodot 1.0-1 repo",
            "qux.x86_64 notaversion repo",
            "cut.noarch",
        ]
    )
    rows = dnf.parse_rows(body, "dnf-list")
    assert rows.rows == [
        dnf.Row("foo", "noarch", "1.1-1", "local"),
        dnf.Row("baz", "noarch", "1.0-1", "repo"),
    ]
    assert rows.problems == [
        "dnf-list line 2: not a package row: 'Failed to set locale, defaulting to C.UTF-8'",
        "dnf-list line 3: continuation without a row: '   orphan continuation'",
        "dnf-list line 4: row cut short: 'bar.noarch'",
        "dnf-list line 6: not a package row: 'nodot 1.0-1 repo'",
        "dnf-list line 7: not a package row: 'qux.x86_64 notaversion repo'",
        "dnf-list line 8: row cut short: 'cut.noarch'",
    ]


def test_garbage_advisory_rows() -> None:
    info = dnf.parse_updateinfo("RHSA-1 Important/Sec. not-a-nevra\nonly two\n", "dnf-updateinfo")
    assert info.by_package == {}
    assert info.problems == [
        "dnf-updateinfo line 1: not an advisory row: 'RHSA-1 Important/Sec. not-a-nevra'",
        "dnf-updateinfo line 2: not an advisory row: 'only two'",
    ]


# -- needs-restarting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "required", "note"),
    [
        ("Reboot is required to fully utilize these updates.", 1, True, None),
        (
            "Reboot is required to ensure that your system benefits from these updates.",
            1,
            True,
            None,
        ),
        (
            "No core libraries or services have been updated since boot-up.\nReboot should not be "
            "necessary.",
            0,
            False,
            None,
        ),
        (
            "Error: Failed to open the rpmdb",
            1,
            None,
            "reboot state unknown: needs-restarting -r exited 1: Error: Failed to open the rpmdb",
        ),
        (
            "sh: 1: needs-restarting: not found",
            127,
            None,
            "reboot state unknown: needs-restarting is not installed (dnf-plugins-core on dnf "
            "systems, yum-utils on EL7)",
        ),
    ],
)
def test_needs_restarting(body: str, status: int, required: bool | None, note: str | None) -> None:
    state = needs_restarting(SectionOutput(body, status))
    assert state.required is required
    assert state.notes == ([note] if note else [])


# -- rpm's version order ---------------------------------------------------------------------

# Answers of rpm 4.18's own rpm.labelCompare for these (checked on this machine; the test
# below compares many more against it when python3-rpm is installed).
VERCMP = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p10", "5.5p1", 1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10", "xyz10.1", -1),
    ("1.0aa", "1.0a", 1),
    ("2a", "2.0", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0~rc1", 1),
    ("1.0^git1", "1.01", -1),
    ("1.0^git1", "1.0.1", -1),
    ("6.0.rc1", "6.0", 1),
    ("1.0", "1.0^", -1),
    ("1_0", "1.0", 0),
    ("a", "1", -1),
]


@pytest.mark.parametrize(("a", "b", "expected"), VERCMP)
def test_rpmvercmp(a: str, b: str, expected: int) -> None:
    assert dnf.rpmvercmp(a, b) == expected
    assert dnf.rpmvercmp(b, a) == -expected


def test_evrcmp() -> None:
    assert dnf.evrcmp("1:1.0-1", "2.0-1") == 1
    assert dnf.evrcmp("0:2.0-1", "2.0-1") == 0
    assert dnf.evrcmp("2.0-1.el9", "2.0-1.el9_1") == -1


def test_rpmvercmp_agrees_with_rpm_itself() -> None:
    python = shutil.which("python3", path="/usr/bin:/bin")
    probe = [python or "python3", "-c", "import rpm"]
    if python is None or subprocess.run(probe, capture_output=True, check=False).returncode:
        reason = "the system python3 cannot import rpm: install the Debian package 'python3-rpm'"
        if REQUIRE_SYSTEM_TESTS:
            pytest.fail(reason)
        pytest.skip(reason)
    rng = random.Random(20241122)
    alphabet = "0123456789" * 3 + "abcxyz" + ".-_+~^"
    pairs = []
    for _ in range(2000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        b = (
            a
            if rng.random() < 0.1
            else "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        )
        pairs.append((a.replace("-", "."), b.replace("-", ".")))
    code = (
        "import json, sys, rpm\n"
        "pairs = json.load(sys.stdin)\n"
        "print(json.dumps([rpm.labelCompare(('0', a, '1'), ('0', b, '1')) for a, b in pairs]))\n"
    )
    run = subprocess.run(
        [python, "-c", code],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    theirs = json.loads(run.stdout)
    ours = [dnf.rpmvercmp(a, b) for a, b in pairs]
    mismatches = [(p, o, t) for p, o, t in zip(pairs, ours, theirs, strict=True) if o != t]
    assert mismatches == []
