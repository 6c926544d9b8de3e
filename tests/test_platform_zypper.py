"""zypper: XML listings read with ElementTree, patches as the unit, exit codes, reboot;
read from outputs the real zypper 1.14.42 printed (tests/data/platforms)."""

from __future__ import annotations

import pytest

from backends.platforms import linux, zypper
from backends.platforms.probe import SectionOutput
from backends.platforms.reboot import zypper_needs_rebooting
from backends.platforms.records import Assessment, FoundUpdate, PlatformError, Result
from tests.conftest import DATA
from tests.test_platform_probe import frame

PLATFORMS = DATA / "platforms"
NONCE = "00112233445566cc"
LONG = "patchdeck-a-package-name-long-enough-to-wrap"
OS_RELEASE = 'NAME="SLES"\nVERSION_ID="15.5"\nID="sles"\nID_LIKE="suse"\n'


def read(name: str) -> str:
    return (PLATFORMS / name).read_text()


def test_real_list_updates() -> None:
    listing = zypper.Listing()
    zypper.parse_updates(read("zypper-list-updates.xml"), listing)
    assert listing.packages == [
        zypper.Package("plain", "noarch", "2.0-1", "1.0-1", "extra"),
        zypper.Package("foo", "noarch", "1.1-1", "1.0-1", "local"),
        zypper.Package("kernel-core", "noarch", "1:5.1-1", "1:5.0-2", "local"),
        zypper.Package(LONG, "noarch", "1.1-1", "1.0-1", "local"),
    ]
    assert (listing.problems, listing.notes) == ([], [])


def test_real_list_patches() -> None:
    listing = zypper.Listing()
    zypper.parse_patches(read("zypper-list-patches.xml"), listing)
    assert listing.patches == [
        zypper.Patch(
            "PDSA-2025:0001",
            "2.0",
            "security",
            "Important",
            False,
            ("CVE-2025-0001", "bugzilla#1234567"),
            "local",
        ),
        zypper.Patch(
            "PDSA-2025:0003", "1", "security", "Critical", True, ("CVE-2025-0003",), "local"
        ),
        zypper.Patch("PDBA-2025:0002", "1", "bugfix", None, False, (), "local"),
    ]


def sections(**changes: tuple[str, int]) -> dict[str, tuple[str, int]]:
    result = {
        "os-release": (OS_RELEASE, 0),
        "boot-id": ("fa05d376-3357-4a11-a893-2fb215c086b7", 0),
        "zypper-updates": (read("zypper-list-updates.xml"), 0),
        "zypper-patches": (read("zypper-list-patches.xml"), 0),
        "zypper-reboot": (read("zypper-needs-rebooting-yes.txt"), 102),
    }
    result.update({k.replace("_", "-"): v for k, v in changes.items()})
    return result


def scan(answer: dict[str, tuple[str, int]]) -> Assessment:
    assessor = linux.assess(nonce=NONCE)
    next(assessor)
    with pytest.raises(StopIteration) as done:
        assessor.send(Result(0, frame(NONCE, answer)))
    assessment: Assessment = done.value.value
    return assessment


# What the real zypper's outputs (captured) amount to; the real-binary test expects the same.
EXPECTED = [
    FoundUpdate(
        "patch:PDSA-2025:0001",
        "PDSA-2025:0001",
        None,
        "2.0",
        "security",
        "Important",
        ("CVE-2025-0001", "bugzilla#1234567"),
        "local",
        False,
    ),
    FoundUpdate(
        "patch:PDSA-2025:0003",
        "PDSA-2025:0003",
        None,
        "1",
        "security",
        "Critical",
        ("CVE-2025-0003",),
        "local",
        True,
    ),
    FoundUpdate(
        "patch:PDBA-2025:0002", "PDBA-2025:0002", None, "1", "other", None, (), "local", False
    ),
    FoundUpdate("plain.noarch", "plain", "1.0-1", "2.0-1", "other", None, (), "extra", False),
]


def test_a_zypper_scan_from_real_outputs() -> None:
    assessment = scan(sections())
    assert assessment.updates == EXPECTED
    assert assessment.notes == [
        "3 package update(s) from repositories that publish patches are counted through their "
        "patches"
    ]
    assert assessment.problems == []
    facts = assessment.facts
    assert (facts.package_manager, facts.distro, facts.reboot_required) == ("zypper", "sles", True)


def test_reboot_not_needed_and_unknown() -> None:
    assert (
        scan(
            sections(zypper_reboot=(read("zypper-needs-rebooting-no.txt"), 0))
        ).facts.reboot_required
        is False
    )
    state = zypper_needs_rebooting(SectionOutput("Unknown command 'needs-rebooting'", 1))
    assert state.required is None
    assert state.notes == [
        "reboot state unknown: zypper needs-rebooting exited 1 (it needs zypper 1.14.15 or "
        "later): Unknown command 'needs-rebooting'"
    ]


def test_the_real_lock_names_the_holder() -> None:
    with pytest.raises(PlatformError) as caught:
        scan(sections(zypper_updates=(read("zypper-list-updates-locked.xml"), 7)))
    assert caught.value.kind == "locked"
    assert str(caught.value) == (
        "zypper list-updates: system management is locked by process 22515 (sleep); another "
        "package operation is running, try again when it ends"
    )


def test_only_packages_without_patches() -> None:
    """openSUSE Tumbleweed: no patches at all, every package its own unit."""
    empty = read("zypper-list-patches.xml").split("<update-list>")[0] + (
        "<update-list>\n</update-list>\n</update-status>\n</stream>\n"
    )
    assessment = scan(sections(zypper_patches=(empty, 0)))
    assert [u.platform_id for u in assessment.updates] == [
        "plain.noarch",
        "foo.noarch",
        "kernel-core.noarch",
        f"{LONG}.noarch",
    ]
    assert {u.classification for u in assessment.updates} == {"other"}
    assert [u.reboot_likely for u in assessment.updates] == [False, False, True, False]
    assert assessment.notes == []


PATCH_XML = """<?xml version='1.0'?>
<stream>
<message type="warning">Repository 'SLE-Module-Basesystem15-SP5-Updates' is out-of-date.</message>
<update-status version="0.6">
<update-list>
<update kind="patch" name="SUSE-SLE-Module-Basesystem-15-SP5-2024-1234" edition="1"
 arch="noarch" status="needed" category="recommended" severity="moderate" restart="false">
<source alias="upd"/></update>
<update kind="patch" name="applied-one" edition="1" arch="noarch" status="applied"
 category="security" severity="critical"/>
<update kind="patch" name="odd-severity" edition="1" arch="noarch" status="needed"
 category="security" severity="unspecified"><issue-list><issue type="cve" id="CVE-2024-1"/>
<issue type="cve" id="CVE-2024-1"/><issue type="jira" id="PED-7"/></issue-list></update>
<update kind="patch" edition="1" arch="noarch" status="needed"/>
</update-list>
<blocked-update-list>
<update kind="patch" name="blocked" edition="1" arch="noarch"/>
</blocked-update-list>
</update-status>
</stream>
"""


def test_patch_attributes_statuses_and_messages() -> None:
    listing = zypper.Listing()
    zypper.parse_patches(PATCH_XML, listing)
    assert listing.patches == [
        zypper.Patch(
            "SUSE-SLE-Module-Basesystem-15-SP5-2024-1234",
            "1",
            "recommended",
            "Moderate",
            False,
            (),
            "upd",
        ),
        zypper.Patch(
            "odd-severity", "1", "security", None, False, ("CVE-2024-1", "jira#PED-7"), None
        ),
    ]
    assert listing.problems == [
        "zypper-patches patch 4: no name or edition: "
        "{'kind': 'patch', 'edition': '1', 'arch': 'noarch', 'status': 'needed'}"
    ]
    assert listing.notes == [
        "zypper list-patches: Repository 'SLE-Module-Basesystem15-SP5-Updates' is out-of-date.",
        "zypper list-patches: 1 update(s) are blocked by dependency problems",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "zypper-updates: no complete <stream> in zypper's XML output: no output"),
        (
            "<?xml version='1.0'?>\n<stream>\n<update-status version=\"0.6\">\n<update-list>\n",
            "zypper-updates: no complete <stream> in zypper's XML output",
        ),
        (
            "<stream><update-list><update></stream>",
            "zypper-updates: zypper's XML output is malformed",
        ),
        (
            '<!DOCTYPE x [<!ENTITY a "aaaa">]><stream>&a;</stream>',
            "zypper-updates: zypper's XML output has a DTD",
        ),
    ],
)
def test_broken_xml_is_unparseable(body: str, message: str) -> None:
    with pytest.raises(PlatformError) as caught:
        zypper.parse_updates(body, zypper.Listing())
    assert caught.value.kind == "unparseable"
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (
            6,
            "command-failed",
            "zypper list-updates: zypper has no repositories defined (exit 6), so nothing can be "
            "assessed",
        ),
        (1, "command-failed", "zypper list-updates failed (exit 1): Unexpected exception."),
        (4, "command-failed", "zypper list-updates failed (exit 4): Unexpected exception."),
    ],
)
def test_failing_exit_codes(status: int, kind: str, message: str) -> None:
    body = (
        "<?xml version='1.0'?>\n<stream>\n"
        '<message type="error">Unexpected exception.</message>\n</stream>\n'
    )
    with pytest.raises(PlatformError) as caught:
        zypper.check_status(SectionOutput(body, status), "zypper list-updates")
    assert (caught.value.kind, str(caught.value)) == (kind, message)


def test_exit_codes_that_keep_the_answer() -> None:
    body = (
        "<stream>\n<message type=\"error\">Repository 'x' is invalid.</message>\n"
        '<message type="info">Loading repository data...</message>\n</stream>\n'
    )
    for status in (0, 100, 101, 102, 103):
        assert zypper.check_status(SectionOutput(body, status), "zypper list-patches") == []
    assert zypper.check_status(SectionOutput(body, 106), "zypper list-patches") == [
        "zypper list-patches: some repositories were skipped because refreshing them failed "
        "(exit 106), the list may be incomplete: Repository 'x' is invalid."
    ]
    assert zypper.check_status(SectionOutput(body, 104), "zypper list-patches") == [
        "zypper list-patches: zypper reported a package or capability not found (exit 104)"
    ]


def test_refresh_round_for_zypper() -> None:
    assessor = linux.assess(refresh=True, nonce=NONCE)
    assert next(assessor).privileged
    locked = "System management is locked by the application with pid 7914 (/usr/bin/zypper)."
    with pytest.raises(PlatformError) as caught:
        assessor.send(Result(0, frame(NONCE, {"zypper-refresh": (locked, 7)})))
    assert caught.value.kind == "locked"
    assert "process 7914 (/usr/bin/zypper)" in str(caught.value)
