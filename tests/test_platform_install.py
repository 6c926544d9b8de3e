"""What a run sends to install, reboot and read the boot id, and how the answers are read:
from real captured outputs (tests/data/platforms/*install*.txt), and never crashing on
hostile, cut, huge or non-UTF-8 answers (a seeded random loop stands in for hypothesis)."""

from __future__ import annotations

import random
import re
import shlex

import pytest

from backends.platforms.install import (
    InstallOutcome,
    Pinned,
    boot_id_command,
    display_line,
    install_command,
    install_outcome,
    progress_line,
    read_boot_id,
    reboot_command,
    reboot_error,
    waits_for_lock,
)
from backends.platforms.records import Result
from tests.conftest import DATA
from tests.test_platform_linux import garbage
from tests.test_platform_probe import frame

PLATFORMS = DATA / "platforms"
NONCE = "0123456789abcdef"  # the nonce of the captured answers
P = Pinned

_MARKER = re.compile(r"echo '@@patchdeck:([0-9a-f]{16}):([a-z][a-z0-9-]*)'")
_END = re.compile(r'echo "@@patchdeck:([0-9a-f]{16}):end:\$\?"')
_COMMAND = re.compile(r"(?P<words>.+?) (?P<redirect>>/dev/null 2>&1|3>&1 2>&1|2>&1)")
_EXPORT = re.compile(r"export [A-Z][A-Z0-9_]*=[A-Za-z0-9_.,:/+-]*")
PROGRAMS = {"apt-get", "dpkg-query", "test", "cat", "dnf", "yum", "rpm", "needs-restarting"}
PROGRAMS |= {"zypper", "shutdown"}


def read(name: str) -> Result:
    return Result(0, (PLATFORMS / name).read_text())


def check_install_subset(script: str) -> list[str]:
    """Every line one of docs/install-script.md's forms; the sections in order."""
    lines = script[:-1].split("\n")
    assert script.endswith("\n") and lines[0] == "export LC_ALL=C"
    sections: list[str] = []
    open_section: str | None = None
    for line in lines[1:]:
        if match := _MARKER.fullmatch(line):
            assert open_section is None and match[1] == NONCE
            open_section = match[2]
            sections.append(open_section)
        elif _END.fullmatch(line):
            assert open_section is not None
            open_section = None
        elif _EXPORT.fullmatch(line):
            assert not sections, "exports come first"
        else:
            match = _COMMAND.fullmatch(line)
            assert match is not None and open_section is not None, line
            words = shlex.split(match["words"])
            assert shlex.join(words) == match["words"], line
            assert words[0] in PROGRAMS, words[0]
            if match["redirect"] == "3>&1 2>&1":
                assert words[0] == "apt-get" and "APT::Status-Fd=3" in words
    assert open_section is None
    return sections


# -- the commands ----------------------------------------------------------------------------


def test_apt_command_installs_exactly_the_pinned_versions_as_root() -> None:
    items = [
        P("openssl", "openssl", "3.0.15-1~deb12u1"),
        P("libc6:i386", "libc6", "2.36-9+deb12u9"),
    ]
    command = install_command("apt", items, nonce=NONCE, lock_timeout=600)
    assert command.privileged and command.timeout == 3600 + 600
    assert check_install_subset(command.script) == [
        "apt-install",
        "apt-installed",
        "reboot-flag",
        "reboot-pkgs",
    ]
    lines = command.script.split("\n")
    assert "export DEBIAN_FRONTEND=noninteractive" in lines
    install = shlex.split(lines[lines.index(f"echo '@@patchdeck:{NONCE}:apt-install'") + 1])
    assert install[:6] == [
        "apt-get",
        "install",
        "--only-upgrade",
        "-y",
        "-q",
        "--no-install-recommends",
    ]
    assert "Dpkg::Options::=--force-confold" in install and "DPkg::Lock::Timeout=600" in install
    assert install[-4:] == [
        "openssl=3.0.15-1~deb12u1",
        "libc6:i386=2.36-9+deb12u9",
        "3>&1",
        "2>&1",
    ]


def test_dnf_yum_and_zypper_commands() -> None:
    items = [P("openssl-libs.x86_64", "openssl-libs", "1:3.0.7-28.el9_4")]
    dnf = install_command("dnf", items, nonce=NONCE, lock_timeout=600)
    assert check_install_subset(dnf.script) == ["dnf-install", "dnf-installed", "needs-restarting"]
    assert (
        "dnf -y --setopt=exit_on_lock=True upgrade openssl-libs-1:3.0.7-28.el9_4.x86_64 2>&1"
        in dnf.script
    )
    assert dnf.timeout == 3600  # dnf does not wait for a lock: the runner retries
    yum = install_command("yum", items, nonce=NONCE, lock_timeout=5)
    assert " update openssl-libs-1:3.0.7-28.el9_4.x86_64 " in yum.script
    zypper = install_command(
        "zypper",
        [
            P("patch:SUSE-SLE-Module-Basesystem-15-SP6-2024-3803", "x", "1"),
            P("vim.x86_64", "vim", "9.1-1"),
        ],
        nonce=NONCE,
        lock_timeout=30,
    )
    assert check_install_subset(zypper.script) == [
        "zypper-install",
        "zypper-installed",
        "zypper-reboot",
    ]
    assert "export ZYPP_LOCK_TIMEOUT=30\n" in zypper.script
    assert (
        "patch:SUSE-SLE-Module-Basesystem-15-SP6-2024-3803=1 vim.x86_64=9.1-1 2>&1" in zypper.script
    )
    assert [waits_for_lock(m) for m in ("apt", "dnf", "yum", "zypper")] == [
        True,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("manager", "item"),
    [
        ("apt", P("-oAPT::Get=x", "x", None)),
        ("apt", P("openssl", "openssl", "1.0; reboot")),
        ("dnf", P("openssl", "openssl", "1.0-1")),  # no arch
        ("dnf", P("--setopt=x.x86_64", "x", None)),
        ("zypper", P("patch:", "", None)),
        ("zypper", P("vim.x86_64", "vim", "1 2")),
    ],
)
def test_items_a_manager_would_misread_are_refused(manager: str, item: Pinned) -> None:
    with pytest.raises(ValueError):
        install_command(manager, [item], nonce=NONCE, lock_timeout=1)


def test_bad_arguments_are_refused() -> None:
    one = [P("curl", "curl", None)]
    with pytest.raises(ValueError, match="not a package manager"):
        install_command("pacman", one, nonce=NONCE, lock_timeout=1)
    with pytest.raises(ValueError, match="nothing to install"):
        install_command("apt", [], nonce=NONCE, lock_timeout=1)
    with pytest.raises(ValueError, match="nonce"):
        install_command("apt", one, nonce="XYZ", lock_timeout=1)


# -- progress --------------------------------------------------------------------------------


def _progress(manager: str, name: str) -> list[tuple[float, str | None]]:
    found = [progress_line(manager, line) for line in read(name).stdout.split("\n")]
    return [(round(p.percent, 2), p.item) for p in found if p is not None]


def test_apt_status_fd_lines_give_percent_and_package() -> None:
    seen = _progress("apt", "apt-install.txt")
    assert seen[0] == (8.95, None)  # dlstatus:3:89.4793: downloads take the first tenth
    assert (10.0, None) in seen  # pmstatus:dpkg-exec:0.0000:Running dpkg
    assert (15.29, "jq") in seen  # pmstatus:jq:5.8824:Unpacking jq (amd64)
    assert seen[-1] == (94.71, "jq")  # pmstatus:jq:94.1176:Installed jq (amd64)
    assert progress_line("apt", "Setting up jq (1.6-2.1+deb12u3) ...") is None
    line = "pmstatus:libjq1:52.9412:Configuring libjq1 (amd64)"
    assert progress_line("apt", line).message == "Configuring libjq1 (amd64)"  # type: ignore[union-attr]
    assert display_line("apt", line) is None
    assert display_line("apt", "Setting up jq (1.6-2.1+deb12u3) ...") is not None


def test_dnf_transaction_lines_give_percent_and_package() -> None:
    seen = _progress("dnf", "dnf-install.txt")
    assert seen[0] == (10.0, None)  # Preparing
    assert seen[1] == (23.33, "plain-2.0-1.noarch")  # Upgrading 1/6
    assert seen[6] == (90.0, "foo-1.0-1.noarch")  # Cleanup 6/6
    assert seen[-1] == (100.0, "plain-1.0-1.noarch")  # Verifying 6/6
    yum = "  Updating   : openssl-1.0.2k-26.el7_9.x86_64                            1/4 "
    assert progress_line("yum", yum) is not None
    download = "(2/3): foo-1.1-1.noarch.rpm                      2.1 MB/s | 1.2 MB     00:00    "
    assert progress_line("dnf", download).percent == pytest.approx(6.67, abs=0.01)  # type: ignore[union-attr]


def test_zypper_progress_elements_give_percent_and_package() -> None:
    seen = _progress("zypper", "zypper-install.txt")
    assert seen[0] == (10.0, "plain-2.0-1.noarch")  # (1/2) Installing, no value yet
    assert (32.5, "plain-2.0-1.noarch") in seen  # value="50"
    assert (55.0, "foo-1.1-1.noarch") in seen  # Retrieving package foo (2/2)
    assert seen[-1] == (100.0, "foo-1.1-1.noarch")  # done="1"
    text = [display_line("zypper", line) for line in read("zypper-install.txt").stdout.split("\n")]
    shown = [t for t in text if t]
    assert shown[:3] == [
        "Loading repository data...",
        "Reading installed packages...",
        "Resolving package dependencies...",
    ]
    assert not any(t.startswith(("<", "@@patchdeck")) for t in shown)


# -- outcomes of the real answers -------------------------------------------------------------


def outcome(manager: str, name: str, *items: Pinned) -> InstallOutcome:
    return install_outcome(manager, read(name), items, NONCE)


def test_apt_success() -> None:
    done = outcome(
        "apt",
        "apt-install.txt",
        P("pdtest", "pdtest", "1.1"),
        P("pdother", "pdother", "1.1"),
        P("jq", "jq", "1.6-2.1+deb12u3"),
        P("libjq1", "libjq1", "1.6-2.1+deb12u3"),
    )
    assert done.installed == ("pdtest", "pdother", "jq", "libjq1")
    assert (done.failed, done.error, done.error_kind) == ((), None, None)
    assert done.reboot_required is False
    assert "pmstatus" not in done.tail and done.tail.endswith(
        "Processing triggers for libc-bin (2.36-9+deb12u14) ..."
    )


def test_apt_failing_postinst_fails_only_that_package() -> None:
    done = outcome(
        "apt",
        "apt-install-postinst-failed.txt",
        P("pdtest", "pdtest", "1.1"),
        P("pdfail", "pdfail", "1.1"),
        P("pdother", "pdother", "1.1"),
    )
    why = (
        "installed pdfail package post-installation script subprocess returned error exit status 1"
    )
    assert done.installed == ("pdtest", "pdother")
    assert done.failed == (("pdfail", f"failed to install or configure: {why}"),)
    assert done.error_kind == "command-failed"
    assert done.error == f"1 package(s) failed to install or configure: pdfail (pdfail: {why})"


def test_apt_lock_names_its_holder_from_the_waiting_lines() -> None:
    done = outcome("apt", "apt-install-locked.txt", P("pdtest", "pdtest", "1.1"))
    assert done.installed == () and done.error_kind == "locked"
    assert done.error == (
        "the package lock /var/lib/dpkg/lock-frontend was still held by python3 (process 107) "
        "when apt stopped waiting for it (the lock timeout); nothing was installed"
    )
    assert done.failed == (("pdtest", f"still at 1.0: {done.error}"),)


def test_apt_lock_without_waiting_and_other_refusals() -> None:
    def answer(body: str, status: int = 100) -> InstallOutcome:
        stdout = frame(
            NONCE,
            {
                "apt-install": (body, status),
                "apt-installed": ("openssl\tamd64\t3.0.11-1~deb12u2\tii ", 0),
            },
        )
        return install_outcome(
            "apt", Result(0, stdout), [P("openssl", "openssl", "3.0.15-1")], NONCE
        )

    locked = answer(
        "E: Could not get lock /var/lib/dpkg/lock-frontend. "
        "It is held by process 4711 (unattended-upgr)\n"
        "N: Be aware that removing the lock file is not a solution and may break your system.\n"
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), "
        "is another process using it?"
    )
    assert locked.error_kind == "locked" and "held by unattended-upgr (process 4711)" in (
        locked.error or ""
    )
    interrupted = answer(
        "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' "
        "to correct the problem. "
    )
    assert interrupted.error_kind == "command-failed" and "dpkg --configure -a" in (
        interrupted.error or ""
    )
    gone = answer("E: Version '3.0.15-1' for 'openssl' was not found")
    assert (
        gone.error
        == "version 3.0.15-1 of openssl is no longer offered by the repositories (plan again); "
        "nothing was installed"
    )
    assert gone.failed == (("openssl", f"still at 3.0.11-1~deb12u2: {gone.error}"),)
    skipped = answer("Skipping openssl, it is not installed and only upgrades are requested.", 0)
    assert skipped.error is None and skipped.failed == (("openssl", "still at 3.0.11-1~deb12u2"),)


def test_dnf_outcomes() -> None:
    foo, plain = P("foo.noarch", "foo", "1.1-1"), P("plain.noarch", "plain", "2.0-1")
    done = outcome(
        "dnf", "dnf-install.txt", foo, P("kernel-core.noarch", "kernel-core", "1:5.1-1"), plain
    )
    assert (len(done.installed), done.failed, done.error) == (3, (), None)
    assert done.reboot_required is None  # needs-restarting is not installed there

    failed = outcome(
        "dnf", "dnf-install-scriptlet-failed.txt", foo, P("broken.noarch", "broken", "1.1-1"), plain
    )
    assert failed.installed == ("foo.noarch", "plain.noarch")
    assert failed.failed == (("broken.noarch", "its %prein scriptlet failed, exit status 127"),)
    assert (
        failed.error == "1 package(s) failed to install: broken "
        "(broken: its %prein scriptlet failed, exit status 127)"
    )

    gone = outcome("dnf", "dnf-install-version-gone.txt", P("foo.noarch", "foo", "1.2-1"), plain)
    assert gone.installed == ("plain.noarch",)  # installed by an earlier run: at its pin
    assert gone.failed == (
        ("foo.noarch", "version 1.2-1 is no longer offered by the repositories (plan again)"),
    )
    assert gone.error_kind == "command-failed"  # although dnf exited 0

    locked = outcome("dnf", "dnf-install-locked.txt", plain)
    assert locked.error_kind == "locked"
    assert "held by process 4832 (sleep)" in (locked.error or "")


def test_zypper_outcomes() -> None:
    patch1 = P("patch:PDSA-2025:0001", "PDSA-2025:0001", "2.0")
    patch3 = P("patch:PDSA-2025:0003", "PDSA-2025:0003", "1")
    plain = P("plain.noarch", "plain", "2.0-1")
    done = outcome("zypper", "zypper-install.txt", patch1, plain)
    assert (done.installed, done.failed, done.error, done.reboot_required) == (
        ("patch:PDSA-2025:0001", "plain.noarch"),
        (),
        None,
        False,
    )
    reboot = outcome("zypper", "zypper-install-reboot.txt", patch3)
    assert reboot.installed == ("patch:PDSA-2025:0003",) and reboot.reboot_required is True

    failed = outcome(
        "zypper",
        "zypper-install-scriptlet-failed.txt",
        patch3,
        P("broken.noarch", "broken", "1.1-1"),
    )
    assert failed.installed == ()
    assert dict(failed.failed)["broken.noarch"] == "its %prein scriptlet failed, exit status 127"
    assert dict(failed.failed)["patch:PDSA-2025:0003"].startswith(
        "not applied: 1 package(s) failed"
    )
    assert (failed.error or "").endswith("and zypper aborted the rest")

    missing = outcome(
        "zypper",
        "zypper-install-not-found.txt",
        P("patch:NOPE-1", "NOPE-1", "1"),
        P("foo.noarch", "foo", "9.9-1"),
    )
    assert missing.installed == () and missing.error_kind == "command-failed"
    assert dict(missing.failed) == {
        "patch:NOPE-1": "no longer offered by the repositories (plan again)",
        "foo.noarch": "no longer offered by the repositories (plan again)",
    }

    locked = outcome("zypper", "zypper-install-locked.txt", plain)
    assert locked.error == (
        "zypper's lock was still held by sleep (process 5158) when zypper stopped waiting for "
        "it (the lock timeout); nothing was installed"
    )
    assert locked.failed == (("plain.noarch", locked.error),)


def test_zypper_asks_to_run_again_after_updating_itself() -> None:
    stdout = frame(
        NONCE, {"zypper-install": ("<stream>\n</stream>", 103), "zypper-installed": ("", 104)}
    )
    again = install_outcome("zypper", Result(0, stdout), [P("patch:X-1", "X-1", "1")], NONCE)
    assert again.rerun and again.error is None
    assert again.failed == (
        ("patch:X-1", "not installed yet: zypper updated itself first and must be run again"),
    )


def test_answers_that_cannot_be_read() -> None:
    items = [P("curl", "curl", "7.88.1-10+deb12u8")]
    sudo = install_outcome("apt", Result(1, "", "sudo: a password is required\n"), items, NONCE)
    assert sudo.error_kind == "sudo-password" and sudo.failed[0][0] == "curl"
    cut = install_outcome(
        "apt",
        Result(None, f"@@patchdeck:{NONCE}:apt-install\nReading package lists...\n"),
        items,
        NONCE,
    )
    assert cut.error_kind == "unparseable" and "connection closed" in (cut.error or "")
    assert cut.tail == f"@@patchdeck:{NONCE}:apt-install\nReading package lists..."


# -- reboot and boot id ------------------------------------------------------------------------


def test_reboot_and_boot_id() -> None:
    reboot = reboot_command(nonce=NONCE)
    assert reboot.privileged
    assert check_install_subset(reboot.script) == ["reboot"]
    assert "shutdown -r +0 'patchdeck: rebooting to complete updates' 2>&1" in reboot.script
    accepted = Result(0, frame(NONCE, {"reboot": ("", 0)}))
    assert reboot_error(accepted, NONCE) is None
    assert reboot_error(Result(None, ""), NONCE) is None  # the connection went first
    assert reboot_error(Result(0, f"@@patchdeck:{NONCE}:reboot\n"), NONCE) is None  # cut
    refused = Result(0, frame(NONCE, {"reboot": ("Call to Reboot failed: Access denied", 1)}))
    assert (
        reboot_error(refused, NONCE)
        == "shutdown -r refused to reboot (exit 1): Call to Reboot failed: Access denied"
    )
    boot = boot_id_command(nonce=NONCE)
    assert not boot.privileged and check_install_subset(boot.script) == ["boot-id"]
    uuid = "fa05d376-3357-4a11-a893-2fb215c086b7"
    assert read_boot_id(Result(0, frame(NONCE, {"boot-id": (uuid, 0)})), NONCE) == uuid
    assert read_boot_id(Result(0, frame(NONCE, {"boot-id": ("not-a-uuid", 0)})), NONCE) is None
    assert read_boot_id(Result(0, "garbage"), NONCE) is None


# -- hostile input -----------------------------------------------------------------------------

SECTIONS = {
    "apt": ("apt-install", "apt-installed", "reboot-flag", "reboot-pkgs"),
    "dnf": ("dnf-install", "dnf-installed", "needs-restarting"),
    "yum": ("yum-install", "yum-installed", "needs-restarting"),
    "zypper": ("zypper-install", "zypper-installed", "zypper-reboot"),
}
KINDS = {None, "locked", "command-failed", "sudo-password", "unparseable"}


def test_answers_of_garbage_end_in_an_outcome_for_every_item() -> None:
    rng = random.Random(4242)
    items = {
        "apt": [P("pdtest", "pdtest", "1.1"), P("libc6:i386", "libc6", "2.36-9")],
        "dnf": [P("foo.noarch", "foo", "1.1-1"), P("kernel.x86_64", "kernel", "1:5.1-1")],
        "yum": [P("foo.noarch", "foo", "1.1-1")],
        "zypper": [
            P("patch:PDSA-2025:0001", "PDSA-2025:0001", "2.0"),
            P("plain.noarch", "plain", "2.0-1"),
        ],
    }
    for case in range(1200):
        manager = ("apt", "dnf", "yum", "zypper")[case % 4]
        sections = {
            name: (garbage(rng), rng.choice([0, 1, 7, 8, 100, 102, 103, 104, 127, 200]))
            for name in SECTIONS[manager]
        }
        stdout = frame(NONCE, sections)
        if case % 5 == 0:
            stdout = stdout[: rng.randrange(len(stdout) + 1)]
        result = Result(rng.choice([0, 1, None]), stdout, garbage(rng) if case % 3 == 0 else "")
        done = install_outcome(manager, result, items[manager], NONCE)
        assert done.error_kind in KINDS
        ids = [item.platform_id for item in items[manager]]
        assert sorted([*done.installed, *(i for i, _ in done.failed)]) == sorted(ids)
        for line in stdout.split("\n")[:50]:
            found = progress_line(manager, line)
            assert found is None or 0 <= found.percent <= 100
            display_line(manager, line)
        reboot_error(result, NONCE)
        read_boot_id(result, NONCE)


def test_huge_and_odd_lines() -> None:
    for manager in ("apt", "dnf", "yum", "zypper"):
        for line in (
            "pmstatus:x:" + "9" * 5000 + ":m",
            "pmstatus:x:nan:m",
            "pmstatus:x:-5:m",
            "dlstatus:1:inf:m",
            "  Upgrading : x 7/3 ",
            "  Upgrading : x 0/0 ",
            '<progress id="install-resolvable" name="(2/1) Installing: x" value="50"/>',
            '<progress id="install-resolvable" name="(1/1) Installing: x" value="99999999"/>',
            "\x00\udcff" * 3000,
        ):
            found = progress_line(manager, line)
            assert found is None or 0 <= found.percent <= 100
    assert progress_line("apt", "pmstatus:x:-5:m").percent == 10.0  # type: ignore[union-attr]
