"""The assessment generator: rounds, errors in words, and parsers that never crash on hostile,
huge, truncated or non-UTF-8 input (a seeded random loop stands in for hypothesis)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from backends.platforms import apt, dnf, linux, zypper
from backends.platforms.osrelease import parse_os_release
from backends.platforms.records import Assessment, Command, PlatformError, Result
from tests.conftest import DATA
from tests.test_platform_probe import check_subset, frame

PLATFORMS = DATA / "platforms"
NONCE = "00112233445566dd"
KINDS = {"unparseable", "command-failed", "unsupported", "locked", "sudo-password"}
BOOT = ("fa05d376-3357-4a11-a893-2fb215c086b7", 0)
OS = ('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', 0)


def read(name: str) -> str:
    return (PLATFORMS / name).read_text()


def finish(assessor: linux.Assessor, *answers: Result) -> Assessment:
    """Send ``answers`` one by one; the Assessment. Fails if more rounds are asked for."""
    next(assessor)
    for answer in answers:
        try:
            assessor.send(answer)
        except StopIteration as done:
            result: Assessment = done.value
            return result
    raise AssertionError("assess() wanted another round")


def apt_round(listing: str = "") -> Result:
    return Result(
        0,
        frame(
            NONCE,
            {
                "os-release": OS,
                "boot-id": BOOT,
                "apt-list": (listing, 0),
                "reboot-flag": ("", 1),
                "reboot-pkgs": ("cat: /var/run/reboot-required.pkgs: No such file or directory", 1),
            },
        ),
    )


# -- rounds ----------------------------------------------------------------------------------


def test_a_scan_without_refresh_is_one_unprivileged_round() -> None:
    assessor = linux.assess(nonce=NONCE)
    command = next(assessor)
    assert command == Command(
        linux.scan_script(NONCE), privileged=False, timeout=linux.SCAN_TIMEOUT
    )
    with pytest.raises(StopIteration) as done:
        assessor.send(apt_round())
    assessment: Assessment = done.value.value
    assert assessment.updates == [] and assessment.problems == [] and assessment.notes == []
    assert assessment.facts.reboot_required is False
    assert assessment.facts.boot_id == BOOT[0]
    assert assessment.facts.pretty_name == "Debian GNU/Linux 12 (bookworm)"


def test_every_script_gets_its_own_nonce() -> None:
    assessor = linux.assess(refresh=True)
    first = next(assessor)
    (nonce0,) = {line.split(":")[1] for line in first.script.splitlines() if "@@patchdeck" in line}
    second = assessor.send(Result(0, frame(nonce0, {"apt-update": ("Hit:1 x", 0)})))
    (nonce1,) = {line.split(":")[1] for line in second.script.splitlines() if "@@patchdeck" in line}
    assert nonce0 != nonce1
    assert not second.privileged
    with pytest.raises(PlatformError, match="printed no patchdeck sections"):
        # an answer framed with the old nonce is not an answer to this script
        assessor.send(Result(0, frame(nonce0, {"os-release": OS})))


def test_refresh_then_scan_carries_the_refresh_notes() -> None:
    assessor = linux.assess(refresh=True, nonce=NONCE)
    warning = "W: Target Packages (main/binary-amd64/Packages) is configured multiple times"
    assessment = finish(
        assessor, Result(0, frame(NONCE, {"apt-update": (warning, 0)})), apt_round()
    )
    assert assessment.notes == [f"apt-get update: {warning}"]


@pytest.mark.parametrize(
    ("section", "body", "status", "kind", "message"),
    [
        ("dnf-refresh", "", 0, None, None),
        (
            "dnf-refresh",
            "Error: Failed to download metadata for repo 'baseos'",
            1,
            "command-failed",
            "dnf makecache failed (exit 1): Error: Failed to download metadata for repo 'baseos'",
        ),
        (
            "yum-refresh",
            "Existing lock /var/run/yum.pid: another copy is running as pid 812.",
            1,
            "locked",
            "yum makecache could not take the package manager's lock: it is held by process 812",
        ),
        ("zypper-refresh", "All repositories have been refreshed.", 0, None, None),
        (
            "manager",
            "",
            127,
            "unsupported",
            "no known package manager to refresh: none of apt-get, dnf, yum, zypper is on the PATH",
        ),
    ],
)
def test_refresh_outcomes(
    section: str, body: str, status: int, kind: str | None, message: str | None
) -> None:
    assessor = linux.assess(refresh=True, nonce=NONCE)
    next(assessor)
    answer = Result(0, frame(NONCE, {section: (body, status)}))
    if kind is None:
        assert assessor.send(answer).script == linux.scan_script(NONCE)
        return
    with pytest.raises(PlatformError) as caught:
        assessor.send(answer)
    assert caught.value.kind == kind
    assert message is not None and str(caught.value).startswith(message)


def test_no_package_manager_is_unsupported_and_names_the_system() -> None:
    answer = Result(
        0,
        frame(
            NONCE,
            {
                "os-release": ('PRETTY_NAME="Alpine Linux v3.20"\nID=alpine\n', 0),
                "boot-id": BOOT,
                "manager": ("", 127),
            },
        ),
    )
    with pytest.raises(PlatformError) as caught:
        finish(linux.assess(nonce=NONCE), answer)
    assert caught.value.kind == "unsupported"
    assert str(caught.value) == (
        "no known package manager on this machine (Alpine Linux v3.20): none of apt-get, dnf, "
        "yum, zypper is on the PATH"
    )


def test_a_script_cut_between_sections_is_unparseable() -> None:
    answer = Result(0, frame(NONCE, {"os-release": OS, "boot-id": BOOT, "apt-list": ("", 0)}))
    with pytest.raises(PlatformError) as caught:
        finish(linux.assess(nonce=NONCE), answer)
    assert caught.value.kind == "unparseable"
    assert str(caught.value) == (
        "the scan output lacks section(s) reboot-flag, reboot-pkgs: the script did not run to "
        "its end"
    )


def test_unreadable_os_release_and_boot_id_are_problems() -> None:
    answer = Result(
        0,
        frame(
            NONCE,
            {
                "os-release": ("cat: /etc/os-release: No such file or directory", 1),
                "boot-id": ("not-a-uuid", 0),
                "apt-list": ("", 0),
                "reboot-flag": ("", 1),
                "reboot-pkgs": ("", 1),
            },
        ),
    )
    assessment = finish(linux.assess(nonce=NONCE), answer)
    assert (assessment.facts.distro, assessment.facts.boot_id) == (None, None)
    assert assessment.problems == [
        "os-release: /etc/os-release is not readable: "
        "'cat: /etc/os-release: No such file or directory'",
        "boot-id: not a boot id (exit 0): 'not-a-uuid'",
    ]


def test_duplicates_are_dropped() -> None:
    inst = "Inst bash [1] (2 Debian-Security:12/stable-security [amd64])"
    assessment = finish(linux.assess(nonce=NONCE), apt_round(f"{inst}\n{inst}"))
    assert [u.name for u in assessment.updates] == ["bash"]
    assert assessment.problems == ["update 'bash' listed twice; kept the first"]


def test_problems_are_capped() -> None:
    listing = "\n".join(f"garbage {i}" for i in range(5000))
    assessment = finish(linux.assess(nonce=NONCE), apt_round(listing))
    assert assessment.updates == []
    assert len(assessment.problems) == linux.MAX_PROBLEMS + 1
    assert assessment.problems[0] == "apt-list line 1: not an Inst line: 'garbage 0'"
    assert assessment.problems[49] == "apt-list line 50: not an Inst line: 'garbage 49'"
    assert assessment.problems[-1] == "… and 4950 more problems"


def test_five_thousand_updates() -> None:
    lines = [
        f"Inst pkg{i} [1.0-{i}] (1.0-{i + 1} Debian-Security:12/stable-security [amd64])"
        for i in range(5000)
    ]
    assessment = finish(linux.assess(nonce=NONCE), apt_round("\n".join(lines)))
    assert len(assessment.updates) == 5000 and assessment.problems == []
    assert assessment.updates[4999].available == "1.0-5000"


def test_replacement_characters_from_non_utf8_output() -> None:
    raw = (
        b"Inst caf\xc3\xa9 [1] (2 Debian:12/stable [amd64])\n"
        b"Inst bad\xff\xfe [1] (2 \xff:12/st\xfeable [amd64])\n"
    )
    listing = raw.decode("utf-8", errors="replace")
    assessment = finish(linux.assess(nonce=NONCE), apt_round(listing))
    assert [u.name for u in assessment.updates] == ["café", "bad\ufffd\ufffd"]
    assert assessment.updates[1].source == "st\ufffdable"


# -- never another exception -----------------------------------------------------------------

CORPUS = [
    read("apt-get-s-dist-upgrade.txt"),
    read("apt-cache-policy-non-security.txt"),
    read("dnf-check-update.txt"),
    read("dnf-updateinfo-list-updates.txt"),
    read("dnf-list-installed.txt"),
    read("zypper-list-updates.xml"),
    read("zypper-list-patches.xml"),
    'ID="rhel"\nVERSION_ID="9"\n',
]
TOKENS = [
    "Inst",
    "Remv",
    "Conf",
    "[",
    "]",
    "(",
    ")",
    ":",
    "/",
    ",",
    "***",
    "500",
    "\t",
    " ",
    "  ",
    "<stream>",
    "</stream>",
    "<update",
    'kind="patch"',
    'name="x"',
    "/>",
    "<",
    ">",
    "&amp;",
    "&bogus;",
    "Obsoleting Packages",
    "\ufffd",
    "\x00",
    "\x1b[31m",
    "@@patchdeck",
    ".noarch",
    "1:2.0-1",
    "-security",
    "Installed:",
    "=",
    '"',
    "'",
    "\\",
    "\r",
    "\n",
    "\u2028",
]


def garbage(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # a real output, truncated somewhere
        text = rng.choice(CORPUS)
        return text[: rng.randrange(len(text) + 1)]
    if kind == 1:  # a real output with lines shuffled and mangled
        lines = rng.choice(CORPUS).split("\n")
        rng.shuffle(lines)
        return "\n".join(
            line[: rng.randrange(len(line) + 1)] + rng.choice(TOKENS) for line in lines[:60]
        )
    if kind == 2:  # tokens
        return "".join(rng.choice(TOKENS) for _ in range(rng.randrange(200)))
    raw = bytes(rng.randrange(256) for _ in range(rng.randrange(400)))
    return raw.decode("utf-8", errors="replace")


PARSERS: list[Callable[[str], object]] = [
    apt.parse_simulation,
    apt.parse_policy,
    lambda text: apt.check_refresh(apt.SectionOutput(text, 0)),
    lambda text: dnf.parse_rows(text, "dnf-list"),
    lambda text: dnf.parse_updateinfo(text, "dnf-updateinfo"),
    lambda text: zypper.parse_updates(text, zypper.Listing()),
    lambda text: zypper.parse_patches(text, zypper.Listing()),
    lambda text: zypper.check_status(zypper.SectionOutput(text, 106), "zypper x"),
    parse_os_release,
    lambda text: dnf.rpmvercmp(text[:20], text[20:40]),
]


def test_parsers_never_raise_anything_but_platform_errors() -> None:
    rng = random.Random(1122)
    for case in range(3000):
        text = garbage(rng)
        parser = PARSERS[case % len(PARSERS)]
        try:
            parser(text)
        except PlatformError as exc:
            assert exc.kind in KINDS, (case, exc.kind)


def test_whole_scans_of_garbage_end_in_an_assessment_or_a_platform_error() -> None:
    rng = random.Random(2211)
    managers = [
        ("apt-list", "reboot-flag", "reboot-pkgs"),
        ("dnf-list", "dnf-updateinfo", "dnf-installed", "needs-restarting"),
        ("yum-list", "yum-updateinfo", "yum-installed", "needs-restarting"),
        ("zypper-updates", "zypper-patches", "zypper-reboot"),
    ]
    outcomes = {"assessment": 0, "error": 0}
    for case in range(1500):
        sections = {"os-release": (garbage(rng), rng.choice([0, 1])), "boot-id": (garbage(rng), 0)}
        for name in managers[case % len(managers)]:
            sections[name] = (garbage(rng), rng.choice([0, 0, 1, 100, 102, 106, 127, 200]))
        stdout = frame(NONCE, sections)
        if case % 7 == 0:  # cut the answer anywhere
            stdout = stdout[: rng.randrange(len(stdout) + 1)]
        assessor = linux.assess(nonce=NONCE)
        next(assessor)
        try:
            command = assessor.send(Result(rng.choice([0, None]), stdout))
            check_subset(command.script)  # round 2: hostile names never leave the subset
            assessor.send(Result(0, frame(NONCE, {"apt-policy": (garbage(rng), 0)})))
        except StopIteration as done:
            assert isinstance(done.value, Assessment)
            outcomes["assessment"] += 1
        except PlatformError as exc:
            assert exc.kind in KINDS
            outcomes["error"] += 1
    assert outcomes["assessment"] > 100 and outcomes["error"] > 100, outcomes


def test_scripts_carry_only_their_own_nonce() -> None:
    from backends.platforms.probe import new_nonce

    for build in (linux.scan_script, linux.refresh_script):
        one, two = new_nonce(), new_nonce()
        script = build(one)
        assert "5eed5eed5eed5eed" not in script
        assert script.count(one) >= 4 and script.replace(one, two) == build(two)


# -- re-scans: the narrowed round 1 and recalled sections ---------------------------------------


@pytest.mark.parametrize(
    ("distro", "version", "manager"),
    [
        ("debian", "12", "apt"),
        ("ubuntu", "22.04", "apt"),
        ("rocky", "9.3", "dnf"),
        ("centos", "7", "yum"),
        ("ol", "7.9", "yum"),
        ("fedora", "7", "dnf"),
        ("amzn", "2", "yum"),
        ("amzn", "2023", "dnf"),
        ("sles", "15.5", "zypper"),
        ("opensuse-leap", "15.5", "zypper"),
        ("gentoo", "2.14", None),
        (None, None, None),
    ],
)
def test_likely_manager(distro: str | None, version: str | None, manager: str | None) -> None:
    assert linux.likely_manager(distro, version) == manager


def test_a_narrowed_round_one_carries_only_the_expected_managers_sections() -> None:
    full = linux.scan_script(NONCE)
    narrowed = linux.scan_script(NONCE, expect="dnf")
    check_subset(narrowed)
    assert len(narrowed) < len(full) / 2
    assert "dnf-list" in narrowed and "zypper" not in narrowed and "apt-list" not in narrowed
    # apt-get is still tested first, as in the full script: its presence would win
    assert narrowed.index("command -v apt-get") < narrowed.index("command -v dnf")
    assessment = finish(linux.assess(nonce=NONCE, expect="apt"), apt_round())
    assert assessment.facts.package_manager == "apt"


def test_a_machine_whose_manager_changed_gets_the_full_round_one() -> None:
    assessor = linux.assess(nonce=NONCE, expect="dnf")
    first = next(assessor)
    assert "apt-list" not in first.script
    changed = Result(0, frame(NONCE, {"os-release": OS, "boot-id": BOOT, "other-manager": ("", 0)}))
    second = assessor.send(changed)
    assert second.script == linux.scan_script(NONCE)
    with pytest.raises(StopIteration) as done:
        assessor.send(apt_round())
    assert done.value.value.facts.package_manager == "apt"


def test_a_recalled_scan_reads_the_same_as_a_fresh_one() -> None:
    listing = read("apt-get-s-dist-upgrade.txt")
    recall = linux.Recall()
    first = finish(linux.assess(nonce=NONCE, recall=recall), apt_round(listing), apt_round_two())
    again = finish(linux.assess(nonce=NONCE, recall=recall), apt_round(listing), apt_round_two())
    fresh = finish(linux.assess(nonce=NONCE), apt_round(listing), apt_round_two())
    assert again == first == fresh
    assert again.updates is first.updates  # not parsed a second time


def test_a_changed_section_is_parsed_again() -> None:
    listing = read("apt-get-s-dist-upgrade.txt")
    recall = linux.Recall()
    first = finish(linux.assess(nonce=NONCE, recall=recall), apt_round(listing), apt_round_two())
    shorter = "\n".join(line for line in listing.split("\n") if "openssl" not in line)
    second = finish(linux.assess(nonce=NONCE, recall=recall), apt_round(shorter), apt_round_two())
    assert {u.name for u in first.updates} - {u.name for u in second.updates} == {
        u.name for u in first.updates if "openssl" in u.name
    }
    assert len(second.updates) < len(first.updates)


def apt_round_two() -> Result:
    policy = read("apt-cache-policy-non-security.txt")
    return Result(0, frame(NONCE, {"apt-policy": (policy, 0)}))
