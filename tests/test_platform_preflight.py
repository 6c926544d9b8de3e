"""The pre-flight round, driven with captured outputs: the script it sends, free space, the
package managers' own state checks, holds and locks, and a privileged retry for zypper."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from backends.platforms.preflight import (
    CheckResult,
    Hold,
    Planned,
    Preflight,
    blocking_hold,
    disk_check,
    dpkg_audit_check,
    preflight,
    preflight_script,
    read_holds,
    zypper_verify_check,
)
from backends.platforms.probe import SectionOutput
from backends.platforms.records import Command, PlatformError, Result

NONCE = "0123456789abcdef"

DF_OK = """\
Filesystem            1024-blocks    Used Available Capacity Mounted on
/dev/mapper/rhel-root    20961280 4617384  16343896      23% /
/dev/sda1                 1038336  283576    754760      28% /boot
"""
DF_FULL_BOOT = """\
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1         30830548  8145528  21095772      28% /
/dev/sda2           499656   458696     40960      92% /boot
"""
DPKG_INTERRUPTED = """\
The following packages have been unpacked but not yet configured.
They must be configured using dpkg --configure or the configure
menu option in dselect for them to work:
 libssl3              Secure Sockets Layer toolkit - shared libraries

The following packages are only half configured, probably due to problems
configuring them the first time.  The configuration should be retried using
dpkg --configure <package> or the configure menu option in dselect:
 openssl              Secure Sockets Layer toolkit - cryptographic utility

"""
ZYPPER_LOCKS = """\

# | Name      | Type    | Repository
--+-----------+---------+-----------
1 | openssl-3 | package | (any)
2 | kernel-*  | package | (any)
3 | SUSE-2024-42 | patch | (any)

"""


def _section(name: str, body: str, status: int = 0) -> str:
    return f"@@patchdeck:{NONCE}:{name}\n{body}@@patchdeck:{NONCE}:end:{status}\n"


def _run(planned: list[Planned], *answers: str, privileged: list[bool] | None = None) -> Preflight:
    checker: Generator[Command, Result, Preflight] = preflight(planned, nonce=NONCE)
    command = next(checker)
    seen = [command.privileged]
    for text in answers:
        try:
            command = checker.send(Result(0, text))
            seen.append(command.privileged)
        except StopIteration as done:
            if privileged is not None:
                assert seen == privileged
            return done.value  # type: ignore[no-any-return]
    raise AssertionError("the pre-flight wanted more rounds")


def _checks(outcome: Preflight) -> dict[str, tuple[bool | None, str]]:
    return {c.check: (c.ok, c.detail) for c in outcome.checks}


def test_the_script_uses_only_the_documented_line_forms() -> None:
    script = preflight_script(NONCE)
    assert script.splitlines() == [
        "export LC_ALL=C",
        f"echo '@@patchdeck:{NONCE}:df'",
        "df -P -k /var /boot 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        "if command -v apt-get >/dev/null 2>&1; then",
        f"echo '@@patchdeck:{NONCE}:dpkg-audit'",
        "dpkg --audit 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        f"echo '@@patchdeck:{NONCE}:apt-holds'",
        "apt-mark showhold 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        "elif command -v dnf >/dev/null 2>&1; then",
        f"echo '@@patchdeck:{NONCE}:dnf-check'",
        "dnf -q --setopt=exit_on_lock=True check 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        f"echo '@@patchdeck:{NONCE}:dnf-locks'",
        "dnf -q --setopt=exit_on_lock=True versionlock list 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        "elif command -v yum >/dev/null 2>&1; then",
        f"echo '@@patchdeck:{NONCE}:yum-check'",
        "yum -q --setopt=exit_on_lock=True check 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        f"echo '@@patchdeck:{NONCE}:yum-locks'",
        "yum -q --setopt=exit_on_lock=True versionlock list 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        "elif command -v zypper >/dev/null 2>&1; then",
        f"echo '@@patchdeck:{NONCE}:zypper-verify'",
        "zypper -n verify --dry-run 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        f"echo '@@patchdeck:{NONCE}:zypper-locks'",
        "zypper -n locks 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        "else",
        f"echo '@@patchdeck:{NONCE}:manager'",
        "apt-get >/dev/null 2>&1",
        f'echo "@@patchdeck:{NONCE}:end:$?"',
        "fi",
    ]


def test_the_script_keeps_to_the_shell_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import test_platform_probe as contract

    programs = contract.PROGRAMS | {"df", "dpkg", "apt-mark"}  # docs/scan-script.md, pre-flight
    monkeypatch.setattr(contract, "PROGRAMS", programs)
    assert contract.check_subset(preflight_script(NONCE)) == [
        "df", "dpkg-audit", "apt-holds", "dnf-check", "dnf-locks", "yum-check", "yum-locks",
        "zypper-verify", "zypper-locks", "manager",
    ]  # fmt: skip


def test_a_healthy_apt_machine_passes_every_check() -> None:
    answer = _section("df", DF_OK) + _section("dpkg-audit", "") + _section("apt-holds", "")
    outcome = _run([Planned("openssl", "openssl")], answer)
    assert outcome.manager == "apt" and not outcome.failures
    assert _checks(outcome) == {
        "disk": (True, "/var 15.6 GB free, /boot 737 MB free"),
        "packages": (True, "dpkg --audit: no problem"),
        "holds": (True, "nothing held"),
    }


@pytest.mark.parametrize(
    ("body", "status", "ok", "detail"),
    [
        (DF_FULL_BOOT, 0, False,
         "/boot has 40 MB free on /dev/sda2 (mounted on /boot), below 100 MB"),
        (DF_OK.replace("16343896", "307200"), 0, False,
         "/var has 300 MB free on /dev/mapper/rhel-root (mounted on /), below 500 MB"),
        ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
         "/dev/vda1 30830548 8145528 21095772 28% /\n"
         "df: /boot: No such file or directory\n", 1, True,
         "/var 20.1 GB free, /boot: not checked (No such file or directory)"),
        ("sh: 1: df: not found\n", 127, False,
         "cannot read free space (df printed 0 rows for 2 paths): sh: 1: df: not found"),
    ],
)  # fmt: skip
def test_free_space(body: str, status: int, ok: bool, detail: str) -> None:
    assert disk_check(SectionOutput(body, status)) == CheckResult("disk", ok, detail)


def test_an_interrupted_dpkg_fails_the_package_check() -> None:
    result = dpkg_audit_check(SectionOutput(DPKG_INTERRUPTED, 0))
    assert result == CheckResult(
        "packages",
        False,
        "dpkg --audit: unpacked, not configured: libssl3; half configured: openssl "
        "(dpkg was interrupted? run dpkg --configure -a)",
    )


@pytest.mark.parametrize(
    ("manager", "body", "status", "ok", "detail"),
    [
        ("dnf", "", 0, True, "dnf check: no problem"),
        ("dnf", "openssl-libs-1:3.0.7-28.el9_4.x86_64 is a duplicate with "
         "openssl-libs-1:3.0.7-27.el9.x86_64\nError: Check discovered 1 problem(s)\n", 1, False,
         "dnf check: openssl-libs-1:3.0.7-28.el9_4.x86_64 is a duplicate with "
         "openssl-libs-1:3.0.7-27.el9.x86_64"),
        ("dnf", "Error: [Errno 11] Resource temporarily unavailable: lock held\n", 200, None,
         "not checked: dnf check could not take the package manager's lock (another one is "
         "running): Error: [Errno 11] Resource temporarily unavailable: lock held"),
        ("yum", "glibc-2.17-326.el7_9.x86_64 has missing requires of glibc-common = "
         "2.17-326.el7_9\nError: check all\n", 1, False,
         "yum check: glibc-2.17-326.el7_9.x86_64 has missing requires of glibc-common = "
         "2.17-326.el7_9"),
    ],
)  # fmt: skip
def test_the_rpm_database_check(
    manager: str, body: str, status: int, ok: bool | None, detail: str
) -> None:
    answer = (
        _section("df", DF_OK)
        + _section(f"{manager}-check", body, status)
        + _section(f"{manager}-locks", "")
    )
    assert _checks(_run([], answer))["packages"] == (ok, detail)


def test_zypper_verify_is_asked_again_as_root() -> None:
    first = (
        _section("df", DF_OK)
        + _section("zypper-verify", "Root privileges are required to run this command.\n", 5)
        + _section("zypper-locks", "\nThere are no package locks defined.\n\n")
    )
    broken = _section(
        "zypper-verify",
        "Loading repository data...\nReading installed packages...\n\nSome of the dependencies "
        "of installed packages are broken. In order to fix these dependencies, the following "
        "actions need to be taken:\n\nThe following package is going to be upgraded:\n"
        "  libopenssl3\n\n1 package to upgrade.\n",
    )
    outcome = _run([], first, broken, privileged=[False, True])
    assert _checks(outcome)["packages"] == (
        False,
        "zypper verify: dependencies of installed packages are broken; it would: The following "
        "package is going to be upgraded: libopenssl3 1 package to upgrade.",
    )
    assert _checks(outcome)["holds"] == (True, "nothing held")


def test_zypper_verify_is_not_checked_when_sudo_wants_a_password() -> None:
    first = (
        _section("df", DF_OK)
        + _section("zypper-verify", "Root privileges are required to run this command.\n", 5)
        + _section("zypper-locks", "")
    )
    outcome = _run([], first, "sudo: a password is required\n")
    assert _checks(outcome)["packages"] == (
        None,
        "not checked: zypper verify needs root and sudo asks for a password",
    )
    assert zypper_verify_check(
        SectionOutput("Dependencies of all installed packages are satisfied.\n", 0)
    ) == CheckResult("packages", True, "zypper verify: dependencies satisfied")


def test_holds_of_each_manager() -> None:
    apt, _ = read_holds("apt", SectionOutput("openssl\nlibc6:i386\n", 0))
    assert [h.name for h in apt or ()] == ["openssl", "libc6"]
    dnf, _ = read_holds(
        "dnf", SectionOutput("openssl-1:3.0.7-27.el9.*\nkernel-0:5.14.0-427.13.1.el9_4.*\n", 0)
    )
    assert [h.name for h in dnf or ()] == ["openssl", "kernel"]
    yum, _ = read_holds("yum", SectionOutput("0:openssl-1.0.2k-26.el7_9.*\n!0:vim-x-1-1.*\n", 0))
    assert [h.name for h in yum or ()] == ["openssl"]  # an exclude (!) is not a lock
    zypper, _ = read_holds("zypper", SectionOutput(ZYPPER_LOCKS, 0))
    assert [(h.name, h.kind) for h in zypper or ()] == [
        ("openssl-3", "package"),
        ("kernel-*", "package"),
        ("SUSE-2024-42", "patch"),
    ]
    missing = "No such command: versionlock. Please use /usr/bin/dnf --help\n"
    assert read_holds("dnf", SectionOutput(missing, 1)) == (
        None,
        "the dnf versionlock plugin is not installed",
    )


@pytest.mark.parametrize(
    ("manager", "held", "update", "why"),
    [
        ("apt", "openssl", Planned("openssl", "openssl"), "openssl is held (apt-mark hold)"),
        ("apt", "openssl", Planned("libssl3", "libssl3"), None),
        ("dnf", "openssl", Planned("openssl-libs.x86_64", "openssl-libs"),
         "openssl-libs needs openssl, built from the same source and held (dnf versionlock)"),
        ("dnf", "openssl-libs", Planned("openssl.x86_64", "openssl"),
         "openssl needs openssl-libs, built from the same source and held (dnf versionlock)"),
        ("dnf", "openssl", Planned("openssh.x86_64", "openssh"), None),
        ("zypper", "kernel-*", Planned("kernel-default.x86_64", "kernel-default"),
         "kernel-default is held (zypper lock)"),
        ("zypper", "openssl-3", Planned("patch:SUSE-2024-1", "SUSE-2024-1"), None),
    ],
)  # fmt: skip
def test_which_holds_block_an_update(
    manager: str, held: str, update: Planned, why: str | None
) -> None:
    assert blocking_hold(manager, update, [Hold(held)]) == why


def test_a_held_package_the_plan_needs_fails_the_machine() -> None:
    answer = (
        _section("df", DF_OK)
        + _section("dnf-check", "")
        + _section("dnf-locks", "openssl-1:3.0.7-27.el9.*\n")
    )
    outcome = _run([Planned("openssl-libs.x86_64", "openssl-libs")], answer)
    assert [c.check for c in outcome.failures] == ["holds"]
    unrelated = _run([Planned("curl.x86_64", "curl")], answer)
    assert _checks(unrelated)["holds"] == (True, "held, not needed by the plan: openssl")


def test_no_package_manager_is_an_error() -> None:
    with pytest.raises(PlatformError, match="no known package manager"):
        _run([], _section("df", DF_OK) + _section("manager", "", 127))
