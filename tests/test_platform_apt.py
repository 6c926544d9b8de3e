"""apt: Inst lines, security by origin and by masked version, refresh failures; checked against
real output of this Debian 12 machine and against the truth computed from `apt list
--upgradable` and `apt-cache policy` by a separate, simpler reading."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from backends.platforms import apt, linux
from backends.platforms.probe import SectionOutput
from backends.platforms.records import Assessment, Command, PlatformError, Result
from tests.conftest import DATA, require_tool
from tests.test_platform_probe import check_subset, frame

PLATFORMS = DATA / "platforms"
NONCE = "00112233445566aa"
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
BOOT_ID = "fa05d376-3357-4a11-a893-2fb215c086b7"


def read(name: str) -> str:
    return (PLATFORMS / name).read_text()


# -- the truth, computed independently -------------------------------------------------------


def truth(upgradable: str, policy: str) -> dict[str, str]:
    """name -> security | other, from `apt list --upgradable` (the suites of the candidate)
    and `apt-cache policy` (a -security source above the *** line)."""
    blocks: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", policy.strip()):
        name, _, rest = block.partition(":\n")
        blocks[name] = rest
    result: dict[str, str] = {}
    for line in upgradable.splitlines():
        if "[upgradable from:" not in line:
            continue
        name, _, rest = line.partition("/")
        suites = rest.split(" ", 1)[0].split(",")
        if any(suite.endswith("-security") for suite in suites):
            result[name] = "security"
            continue
        above = blocks.get(name, "").split(" *** ", 1)[0]
        result[name] = "security" if "-security" in above else "other"
    return result


def drive(round1: str, round2: str | None) -> tuple[Assessment, list[Command]]:
    """Run assess() on captured answers; the commands it sent."""
    assessor = linux.assess(nonce=NONCE)
    commands = [next(assessor)]
    try:
        commands.append(assessor.send(Result(0, round1)))
        assert round2 is not None, "a policy round was asked for"
        assessor.send(Result(0, round2))
    except StopIteration as done:
        return done.value, commands
    raise AssertionError("assess() asked for a third round")


def round1(listing: str, flag_status: int = 1, pkgs: tuple[str, int] = ("", 1)) -> str:
    return frame(
        NONCE,
        {
            "os-release": (OS_RELEASE, 0),
            "boot-id": (BOOT_ID, 0),
            "apt-list": (listing, 0),
            "reboot-flag": ("", flag_status),
            "reboot-pkgs": pkgs,
        },
    )


def policy_answer(policy: str) -> str:
    return frame(NONCE, {"apt-policy": (policy, 0)})


# -- this machine's captured output ----------------------------------------------------------


def test_fresh_capture_parses_every_line() -> None:
    sim = apt.parse_simulation(read("apt-get-s-dist-upgrade.txt"))
    assert (len(sim.candidates), sim.problems, sim.notes) == (135, [], [])
    assert sum(c.security for c in sim.candidates) == 81
    by_name = {c.name: c for c in sim.candidates}
    gcrypt = by_name["libgcrypt20-dev"]
    assert (gcrypt.installed, gcrypt.version, gcrypt.arch) == (
        "1.10.1-3",
        "1.10.1-3+deb12u1",
        "amd64",
    )
    assert gcrypt.releases == (
        apt.Release("Debian", "12.15", "oldstable"),
        apt.Release("Debian-Security", "12", "oldstable-security"),
    )
    assert gcrypt.security and gcrypt.suites == ("oldstable", "oldstable-security")


def test_the_notice_apt_get_prints_for_a_user_is_not_a_problem() -> None:
    as_user = apt.parse_simulation(read("apt-get-s-dist-upgrade-as-user.txt"))
    as_root = apt.parse_simulation(read("apt-get-s-dist-upgrade.txt"))
    assert (as_user.problems, as_user.notes) == ([], [])
    assert as_user.candidates == as_root.candidates


def test_fresh_capture_counts_equal_the_truth() -> None:
    expected = truth(read("apt-list-upgradable.txt"), read("apt-cache-policy-non-security.txt"))
    assessment, commands = drive(
        round1(read("apt-get-s-dist-upgrade.txt")),
        policy_answer(read("apt-cache-policy-non-security.txt")),
    )
    got = {u.name: u.classification for u in assessment.updates}
    assert got == expected
    assert Counter(got.values()) == {"security": 81, "other": 54}
    # round 2 asked exactly for the candidates without a security origin
    policy_line = next(line for line in commands[1].script.splitlines() if "apt-cache" in line)
    asked = policy_line.removeprefix("apt-cache policy ").removesuffix(" 2>&1").split()
    assert sorted(asked) == sorted(n for n, c in expected.items() if c == "other")
    assert check_subset(commands[1].script) == ["apt-policy"]
    assert not commands[1].privileged
    assert assessment.problems == [] and assessment.notes == []
    assert assessment.facts.package_manager == "apt"
    assert (assessment.facts.distro, assessment.facts.version) == ("debian", "12")
    assert assessment.facts.reboot_required is False


def test_research_sample_openssh_client_is_a_masked_security_update() -> None:
    """The sample's openssh-client candidate (deb12u10) comes from oldstable only, while
    bookworm-security has deb12u9, newer than the installed deb12u6."""
    masked = read("sample-apt-cache-policy-openssh-client-masked.txt")
    # the other 53 non-security packages had the same installed versions as in the fresh capture
    policy = read("apt-cache-policy-non-security.txt") + masked
    expected = truth(read("sample-apt-list-upgradable.txt"), policy)
    assert expected["openssh-client"] == "security"
    assessment, _ = drive(round1(read("sample-apt-get-s-dist-upgrade.txt")), policy_answer(policy))
    got = {u.name: u.classification for u in assessment.updates}
    assert got == expected
    assert Counter(got.values()) == {"security": 82, "other": 54}
    ssh = next(u for u in assessment.updates if u.name == "openssh-client")
    assert (ssh.installed, ssh.available, ssh.source) == (
        "1:9.2p1-2+deb12u6",
        "1:9.2p1-2+deb12u10",
        "oldstable",
    )
    assert assessment.notes == [
        "1 update(s) counted as security because a security version newer than the installed "
        "one is masked by a candidate from another suite: openssh-client"
    ]


def test_policy_versions_below_the_installed_one_do_not_count() -> None:
    policies, problems = apt.parse_policy(read("apt-cache-policy-openssh-client.txt"))
    assert problems == []
    ssh = policies["openssh-client"]
    assert (ssh.installed, ssh.candidate, ssh.installed_seen) == (
        "1:9.2p1-2+deb12u10",
        "1:9.2p1-2+deb12u10",
        True,
    )
    assert ssh.newer_security == [] and apt.masked_security(policies) == {}
    policies, problems = apt.parse_policy(read("apt-cache-policy-non-security.txt"))
    assert problems == [] and len(policies) == 54
    assert apt.masked_security(policies) == {}
    assert policies["systemd"].installed == "252.38-1~deb12u1"


def test_research_sample_policy_of_openssl() -> None:
    policies, problems = apt.parse_policy(read("sample-apt-cache-policy-openssl.txt"))
    assert problems == []
    assert apt.masked_security(policies) == {"openssl": ("3.0.22-1~deb12u2",)}


def test_new_packages_have_no_installed_version() -> None:
    sim = apt.parse_simulation(read("apt-get-s-install-new-packages.txt"))
    assert (len(sim.candidates), sim.problems) == (47, [])
    assert all(c.installed is None for c in sim.candidates)
    zypper = next(c for c in sim.candidates if c.name == "zypper")
    assert (zypper.version, zypper.suites, zypper.security) == ("1.14.42-2", ("oldstable",), False)
    # new packages are not sent to apt-cache policy: there is no installed version to mask
    assert apt.policy_section(sim.candidates) == apt.PolicyRequest(None, [], [])


# -- Inst line forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "installed", "version", "suites", "security"),
    [
        (
            "Inst libc6:i386 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [i386])",
            "libc6:i386",
            "2.36-9",
            "2.36-9+deb12u4",
            ("stable",),
            False,
        ),
        (
            "Inst update-manager-core [1:22.04.9] (1:22.04.10 Ubuntu:22.04/jammy-updates, "
            "Ubuntu:22.04/jammy-security [amd64]) [update-manager-core:amd64 ]",
            "update-manager-core",
            "1:22.04.9",
            "1:22.04.10",
            ("jammy-updates", "jammy-security"),
            True,
        ),
        (
            "Inst libssl3 [3.0.2-0ubuntu1.15] (3.0.2-0ubuntu1.18 "
            "UbuntuESM:22.04/jammy-infra-security [amd64])",
            "libssl3",
            "3.0.2-0ubuntu1.15",
            "3.0.2-0ubuntu1.18",
            ("jammy-infra-security",),
            True,
        ),
        (
            "Inst tzdata [2021a-1] (2021a-1+deb10u1 Debian-Security:10/oldoldstable [all])",
            "tzdata",
            "2021a-1",
            "2021a-1+deb10u1",
            ("oldoldstable",),
            True,
        ),
        (
            "Inst mytool [1.0] (1.1 localhost [amd64])",
            "mytool",
            "1.0",
            "1.1",
            ("localhost",),
            False,
        ),
        (
            "Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/stable-security "
            "[amd64])",
            "linux-image-6.1.0-28-amd64",
            None,
            "6.1.119-1",
            ("stable-security",),
            True,
        ),
    ],
)
def test_inst_forms(
    line: str,
    name: str,
    installed: str | None,
    version: str,
    suites: tuple[str, ...],
    security: bool,
) -> None:
    sim = apt.parse_simulation(line)
    assert sim.problems == []
    (candidate,) = sim.candidates
    assert (candidate.name, candidate.installed, candidate.version) == (name, installed, version)
    assert (candidate.suites, candidate.security) == (suites, security)


def test_removals_held_packages_and_unreadable_lines() -> None:
    body = "\n".join(
        [
            "NOTE: This is only a simulation!",
            "      apt-get needs root privileges for real execution.",
            "Reading package lists...",
            "The following packages have been kept back:",
            "  linux-image-amd64 linux-headers-amd64",
            "The following packages will be REMOVED:",
            "  oldlib1",
            "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])",
            "Remv oldlib1 [1.0-1]",
            "Purg oldconf",
            "Inst broken line without parentheses",
            "something unexpected: \ufffd\ufffd" + "x" * 200,
            "W: Some warning from apt",
            "1 upgraded, 0 newly installed, 1 to remove and 2 not upgraded.",
        ]
    )
    sim = apt.parse_simulation(body)
    assert [c.name for c in sim.candidates] == ["bash"]
    assert sim.problems == [
        "apt-list line 11: unreadable Inst line: 'Inst broken line without parentheses'",
        "apt-list line 12: not an Inst line: '"
        + ("something unexpected: \ufffd\ufffd" + "x" * 200)[:119]
        + "…'",
    ]
    assert sim.notes == [
        "apt-get: W: Some warning from apt",
        "dist-upgrade would remove 2 package(s): oldlib1 (1.0-1), oldconf",
        "apt holds back 2 package(s) (kept back or phased): linux-image-amd64 linux-headers-amd64",
    ]


def test_reboot_likely_packages() -> None:
    sim = apt.parse_simulation(read("apt-get-s-dist-upgrade.txt"))
    found = apt.updates(sim.candidates, {})
    assert sorted(u.name for u in found if u.reboot_likely) == ["systemd"]
    kernel = apt.updates(
        apt.parse_simulation(
            "Inst linux-image-amd64 [6.1.1] (6.1.2 Debian:12/stable [amd64])\n"
            "Inst libc6 [2.36-9] (2.36-10 Debian:12/stable [amd64])\n"
            "Inst linux-libc-dev [6.1.1] (6.1.2 Debian:12/stable [amd64])"
        ).candidates,
        {},
    )
    assert [u.reboot_likely for u in kernel] == [True, True, False]


# -- round 2 arguments -----------------------------------------------------------------------


def test_policy_refuses_names_outside_debians_charset() -> None:
    def candidate(name: str) -> apt.Candidate:
        return apt.Candidate(name, "1", "2", (apt.Release("Debian", "12", "stable"),), "amd64")

    names = ["good-pkg", "lib++1.0", "x:i386", "Bad", "a;reboot", "$(id)", "-o", "é"]
    request = apt.policy_section([candidate(n) for n in names])
    assert request.section is not None and request.notes == []
    assert request.section.steps[0].argv == (
        "apt-cache",
        "policy",
        "good-pkg",
        "lib++1.0",
        "x:i386",
    )
    assert request.problems == [
        f"apt-list: {n!r} is not a Debian package name; not sent to apt-cache policy"
        for n in ["Bad", "a;reboot", "$(id)", "-o", "é"]
    ]


def test_policy_command_line_stays_under_the_argument_limit() -> None:
    candidates = [
        apt.Candidate(
            f"package-{i:05d}", "1", "2", (apt.Release("Debian", "12", "stable"),), "amd64"
        )
        for i in range(8000)
    ]
    request = apt.policy_section(candidates)
    assert request.section is not None
    sent = request.section.steps[0].argv[2:]
    assert len(sent) == apt.POLICY_ARGS_LIMIT // len("package-00000 ")
    assert len(request.section.steps[0].line()) < 100 * 1024
    assert request.notes == [
        f"{8000 - len(sent)} update(s) not checked for a masked security version: too many "
        "packages for one apt-cache policy command line"
    ]


def test_policy_round_failure_keeps_the_candidates_classification() -> None:
    listing = "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n"
    assessment, _ = drive(
        round1(listing),
        frame(NONCE, {"apt-policy": ("E: The package cache file is corrupted", 100)}),
    )
    assert [u.classification for u in assessment.updates] == ["other"]
    assert assessment.notes == [
        "apt-cache policy failed (exit 100), so security versions masked by another suite "
        "were not looked for: E: The package cache file is corrupted"
    ]


def test_policy_round_cut_short_is_an_error() -> None:
    listing = "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n"
    with pytest.raises(PlatformError, match="ended inside section 'apt-policy'"):
        drive(round1(listing), f"@@patchdeck:{NONCE}:apt-policy\nbash:\n  Installed: 5")


def test_reboot_required_and_its_packages() -> None:
    assessment, commands = drive(
        round1("", flag_status=0, pkgs=("linux-image-6.1.0-28-amd64\nlibc6\n\nlibc6\n", 0)), None
    )
    assert len(commands) == 1  # nothing to ask apt-cache policy about
    assert assessment.facts.reboot_required is True
    assert assessment.facts.reboot_packages == ("linux-image-6.1.0-28-amd64", "libc6")
    assert assessment.updates == []


# -- failures --------------------------------------------------------------------------------


def test_listing_failure_says_why() -> None:
    with pytest.raises(PlatformError) as caught:
        apt.check_listing(
            SectionOutput(
                "Reading package lists...\nE: dpkg was interrupted, you must manually run "
                "'dpkg --configure -a' to correct the problem.",
                100,
            )
        )
    assert caught.value.kind == "command-failed"
    assert "dpkg was interrupted on this machine; run 'dpkg --configure -a' there first" in str(
        caught.value
    )
    with pytest.raises(PlatformError, match=r"failed \(exit 100\): E: Unable to correct"):
        apt.check_listing(SectionOutput("E: Unable to correct problems", 100))


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        (
            "Reading package lists...\nE: Could not get lock /var/lib/apt/lists/lock. It is held "
            "by process 1234 (apt-get)\nE: Unable to lock directory /var/lib/apt/lists/",
            100,
            "locked",
            "apt-get update could not take the lock /var/lib/apt/lists/lock: it is held by "
            "process 1234 (apt-get); another package operation is running, try again when it ends",
        ),
        (
            "E: Could not get lock /var/lib/apt/lists/lock - open (11: Resource temporarily "
            "unavailable)",
            100,
            "locked",
            "apt-get update could not take the lock /var/lib/apt/lists/lock: it is held by "
            "another process; another package operation is running, try again when it ends",
        ),
        (
            "Hit:1 http://mirror.example.net/debian bookworm InRelease\n"
            "Err:2 http://example.org/repo stable InRelease\n"
            "  Could not resolve 'example.org'\n"
            "W: Failed to fetch http://example.org/repo/dists/stable/InRelease  Could not "
            "resolve 'example.org'\n"
            "W: Some index files failed to download. They have been ignored, or old ones used "
            "instead.",
            0,
            "command-failed",
            "apt-get update did not refresh every repository (exit 0):\n"
            "W: Failed to fetch http://example.org/repo/dists/stable/InRelease  Could not "
            "resolve 'example.org'\n"
            "W: Some index files failed to download. They have been ignored, or old ones used "
            "instead.",
        ),
    ],
)
def test_refresh_failures(body: str, status: int, kind: str, message: str) -> None:
    with pytest.raises(PlatformError) as caught:
        apt.check_refresh(SectionOutput(body, status))
    assert caught.value.kind == kind
    assert str(caught.value).startswith(message)


def test_refresh_permission_denied_is_not_called_a_lock_held_by_someone() -> None:
    body = "E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)"
    with pytest.raises(PlatformError) as caught:
        apt.check_refresh(SectionOutput(body, 100))
    assert caught.value.kind == "command-failed"
    assert str(caught.value) == ("apt-get update failed (exit 100):\n" + body)


def test_refresh_success_with_warnings() -> None:
    body = (
        "Hit:1 http://mirror.example.net/debian bookworm InRelease\n"
        "W: Target Packages (main/binary-amd64/Packages) is configured multiple times in "
        "/etc/apt/sources.list:1 and /etc/apt/sources.list.d/x.list:1\n"
        "Reading package lists..."
    )
    assert apt.check_refresh(SectionOutput(body, 0)) == [
        "apt-get update: W: Target Packages (main/binary-amd64/Packages) is configured multiple "
        "times in /etc/apt/sources.list:1 and /etc/apt/sources.list.d/x.list:1"
    ]
    assert (
        apt.check_refresh(SectionOutput("Hit:1 http://mirror.example.net/debian bookworm", 0)) == []
    )


def test_refresh_round_runs_first_and_privileged() -> None:
    assessor = linux.assess(refresh=True, nonce=NONCE)
    command = next(assessor)
    assert command.privileged
    assert check_subset(command.script)[0] == "apt-update"
    body = (
        "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 77 (unattended-upgr)"
    )
    with pytest.raises(PlatformError) as caught:
        assessor.send(Result(0, frame(NONCE, {"apt-update": (body, 100)})))
    assert caught.value.kind == "locked"
    assert "process 77 (unattended-upgr)" in str(caught.value)


# -- live, on this machine (read-only: a simulation and apt-cache) ---------------------------


def _sh(script: str) -> Result:
    run = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    return Result(run.returncode, run.stdout, run.stderr)


def test_live_scan_of_this_machine_equals_the_truth() -> None:
    require_tool("apt-get", "apt")
    if not Path("/var/lib/dpkg/status").exists():
        pytest.skip("apt-get without a dpkg database: not a Debian-family machine")
    assessor = linux.assess()
    command = next(assessor)
    sent: list[Command] = [command]
    try:
        while True:
            assert not command.privileged  # never apt-get update here
            check_subset(command.script)
            command = assessor.send(_sh(command.script))
            sent.append(command)
    except StopIteration as done:
        assessment: Assessment = done.value
    upgradable = _sh("apt list --upgradable 2>/dev/null").stdout
    others = [
        line.split("/", 1)[0]
        for line in upgradable.splitlines()
        if "[upgradable from:" in line and "-security" not in line.split(" ", 1)[0]
    ]
    policy = _sh("apt-cache policy " + " ".join(others)).stdout if others else ""
    expected = truth(upgradable, policy)
    # apt list names a foreign-architecture package without its ":arch"
    got = {
        u.name.split(":")[0]: u.classification
        for u in assessment.updates
        if u.installed is not None
    }
    held = " ".join(note for note in assessment.notes if note.startswith("apt holds back"))
    # phased or kept-back upgrades are in apt list but not in what dist-upgrade would do
    assert [name for name in expected if name not in got and name not in held.split()] == []
    assert got == {name: c for name, c in expected.items() if name in got}
    assert assessment.facts.package_manager == "apt"
    assert assessment.facts.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert assessment.problems == []
    assert len(sent) == (2 if others else 1)
