"""The scan scripts keep to docs/scan-script.md's shell subset; answers split by nonce only."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping

import pytest

from backends.platforms import apt, linux
from backends.platforms.probe import (
    Section,
    SectionOutput,
    Step,
    build_script,
    section,
    split_answer,
)
from backends.platforms.records import PlatformError, Result

NONCE = "0123456789abcdef"

# docs/scan-script.md's programs, and the files `cat` and `test` may touch.
PROGRAMS = {
    "cat",
    "test",
    "true",
    "apt-get",
    "apt-cache",
    "dnf",
    "yum",
    "needs-restarting",
    "zypper",
}
CAT_FILES = {
    "/etc/os-release",
    "/proc/sys/kernel/random/boot_id",
    "/var/run/reboot-required.pkgs",
}
# The contract's sections, and the ones the platforms add (reported to the lead for the doc).
CONTRACT_SECTIONS = {
    "os-release",
    "boot-id",
    "apt-list",
    "apt-policy",
    "apt-update",
    "reboot-flag",
    "reboot-pkgs",
    "dnf-list",
    "dnf-updateinfo",
    "yum-list",
    "yum-updateinfo",
    "needs-restarting",
    "zypper-updates",
    "zypper-patches",
    "zypper-reboot",
    "manager",
}
ADDED_SECTIONS = {"dnf-installed", "yum-installed", "dnf-refresh", "yum-refresh", "zypper-refresh"}

_MARKER = re.compile(r"echo '@@patchdeck:([0-9a-f]{16}):([a-z][a-z0-9-]*)'")
_END = re.compile(r'echo "@@patchdeck:([0-9a-f]{16}):end:\$\?"')
_IF = re.compile(r"(if|elif) command -v ([a-z-]+) >/dev/null 2>&1; then")
_COMMAND = re.compile(r"(?P<words>.+?) (?P<redirect>>/dev/null 2>&1|2>&1)")


def check_subset(script: str) -> list[str]:
    """Fail unless every line of ``script`` is one of the contract's forms; the sections in
    the order they appear."""
    assert script.endswith("\n")
    lines = script[:-1].split("\n")
    assert lines[0] == "export LC_ALL=C", lines[0]
    nonces: set[str] = set()
    sections: list[str] = []
    open_section: str | None = None
    in_if = False
    seen_else = False
    for line in lines[1:]:
        if match := _MARKER.fullmatch(line):
            assert open_section is None, f"section {match[2]} opened inside {open_section}"
            nonces.add(match[1])
            open_section = match[2]
            sections.append(open_section)
        elif match := _END.fullmatch(line):
            assert open_section is not None, "end line outside a section"
            nonces.add(match[1])
            open_section = None
        elif match := _IF.fullmatch(line):
            assert open_section is None
            assert match[2] in PROGRAMS
            if match[1] == "if":
                assert not in_if, "nested if"
                in_if, seen_else = True, False
            else:
                assert in_if and not seen_else
        elif line in ("else", "fi"):
            assert in_if and open_section is None, line
            if line == "else":
                assert not seen_else
                seen_else = True
            else:
                in_if = False
        else:
            match = _COMMAND.fullmatch(line)
            assert match is not None, f"not a contract line: {line!r}"
            assert open_section is not None, f"command outside a section: {line!r}"
            words = shlex.split(match["words"])
            assert shlex.join(words) == match["words"], f"not shlex-quoted words: {line!r}"
            assert words[0] in PROGRAMS, words[0]
            if words[0] == "cat":
                assert len(words) == 2 and words[1] in CAT_FILES, line
            if words[0] == "test":
                assert words[1:] == ["-e", "/var/run/reboot-required"], line
    assert open_section is None and not in_if
    assert len(nonces) == 1, nonces
    assert sections, "no section"
    return sections


def frame(nonce: str, sections: Mapping[str, tuple[str, int]]) -> str:
    """What a machine prints for ``sections``: body and end status each."""
    out: list[str] = []
    for name, (body, status) in sections.items():
        out.append(f"@@patchdeck:{nonce}:{name}\n")
        if body:
            out.append(body if body.endswith("\n") else body + "\n")
        out.append(f"@@patchdeck:{nonce}:end:{status}\n")
    return "".join(out)


# -- scripts ---------------------------------------------------------------------------------


def test_scan_script_is_the_contract_subset_and_runs_the_managers_in_order() -> None:
    script = linux.scan_script(NONCE)
    sections = check_subset(script)
    assert sections == [
        "os-release",
        "boot-id",
        "apt-list",
        "reboot-flag",
        "reboot-pkgs",
        "dnf-list",
        "dnf-updateinfo",
        "dnf-installed",
        "needs-restarting",
        "yum-list",
        "yum-updateinfo",
        "yum-installed",
        "needs-restarting",
        "zypper-updates",
        "zypper-patches",
        "zypper-reboot",
        "manager",
    ]
    assert set(sections) <= CONTRACT_SECTIONS | ADDED_SECTIONS
    ifs = [line for line in script.split("\n") if _IF.fullmatch(line)]
    assert [_IF.fullmatch(line)[2] for line in ifs] == ["apt-get", "dnf", "yum", "zypper"]  # type: ignore[index]
    assert "apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1" in script
    assert "test -e /var/run/reboot-required >/dev/null 2>&1" in script
    assert "dnf -q --setopt=exit_on_lock=True check-update 2>&1" in script
    assert "dnf -q --setopt=exit_on_lock=True updateinfo list --updates 2>&1" in script
    assert "yum -q --setopt=exit_on_lock=True updateinfo list updates 2>&1" in script
    assert "zypper -n -x list-updates 2>&1" in script
    assert "zypper -n -x list-patches 2>&1" in script
    assert "needs-restarting -r 2>&1" in script


def test_refresh_and_policy_scripts_are_the_contract_subset() -> None:
    assert check_subset(linux.refresh_script(NONCE)) == [
        "apt-update",
        "dnf-refresh",
        "yum-refresh",
        "zypper-refresh",
        "manager",
    ]
    assert "apt-get -q update 2>&1" in linux.refresh_script(NONCE)
    request = apt.policy_section(
        [
            apt.Candidate(
                "bash",
                "5.2.15-2+b8",
                "5.2.15-2+b13",
                (apt.Release.parse("Debian:12.15/oldstable"),),
                "amd64",
            ),
            apt.Candidate(
                "libc6:i386",
                "2.36-9",
                "2.36-9+deb12u4",
                (apt.Release.parse("Debian:12.15/oldstable"),),
                "i386",
            ),
        ]
    )
    assert request.section is not None and request.problems == []
    script = linux.policy_script(NONCE, request.section)
    assert check_subset(script) == ["apt-policy"]
    assert "apt-cache policy bash libc6:i386 2>&1" in script


def test_the_checker_refuses_what_the_contract_does_not_allow() -> None:
    good = linux.scan_script(NONCE)
    for bad in (
        good.replace("export LC_ALL=C\n", ""),
        good.replace("cat /etc/os-release 2>&1", "cat /etc/os-release | head 2>&1"),
        good.replace("cat /etc/os-release 2>&1", "cat $(echo /etc/os-release) 2>&1"),
        good.replace("cat /etc/os-release 2>&1", "cat /etc/os-release && true 2>&1"),
        good.replace("cat /etc/os-release 2>&1", "rm -rf / 2>&1"),
        good.replace("else\n", "else\nif command -v dnf >/dev/null 2>&1; then\nfi\n"),
    ):
        with pytest.raises(AssertionError):
            check_subset(bad)


def test_hostile_words_are_quoted_and_odd_names_refused() -> None:
    line = Step(("apt-cache", "policy", "a;b", "$(reboot)", "it's")).line()
    assert line == "apt-cache policy 'a;b' '$(reboot)' 'it'\"'\"'s' 2>&1"
    assert shlex.split(line[: -len(" 2>&1")]) == ["apt-cache", "policy", "a;b", "$(reboot)", "it's"]
    with pytest.raises(ValueError, match="not a program name"):
        Step(("rm -rf /",)).line()
    with pytest.raises(ValueError, match="not a section name"):
        Section("Bad Name", (Step(("true",)),)).lines(NONCE)
    with pytest.raises(ValueError, match="16 lowercase hex"):
        build_script("NOT-A-NONCE", common=(section("boot-id", "true"),))


def test_generated_script_runs_in_dash_with_no_manager(tmp_path: object) -> None:
    """The real /bin/sh runs the script: with no manager on PATH it takes the else branch and
    the manager section ends with status 127."""
    script = linux.scan_script(NONCE)
    run = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
        timeout=30,
        check=False,
    )
    answer = split_answer(Result(run.returncode, run.stdout, run.stderr), NONCE)
    assert list(answer.sections) == ["os-release", "boot-id", "manager"]
    assert answer.sections["manager"] == SectionOutput("", 127)
    assert answer.sections["os-release"].status == 127  # no cat on that PATH either


# -- splitting answers -----------------------------------------------------------------------


def test_split_reads_sections_and_ignores_stray_lines_and_foreign_markers() -> None:
    stdout = (
        "Welcome banner\n"
        + frame(NONCE, {"os-release": ("ID=debian\n@@patchdeck:ffffffffffffffff:end:0\n", 0)})
        + "sh: 3: oops\r\n"
        + frame(NONCE, {"boot-id": ("", 1)})
    )
    answer = split_answer(Result(0, stdout), NONCE)
    assert answer.sections == {
        "os-release": SectionOutput("ID=debian\n@@patchdeck:ffffffffffffffff:end:0", 0),
        "boot-id": SectionOutput("", 1),
    }
    assert answer.stray == ("Welcome banner", "sh: 3: oops")


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (
            f"@@patchdeck:{NONCE}:apt-list\nInst a [1] (2 x [amd64])\n",
            "ended inside section 'apt-list' without its end marker: the output was truncated",
        ),
        (
            f"@@patchdeck:{NONCE}:apt-list\n@@patchdeck:{NONCE}:reboot-flag\n",
            "section 'apt-list' has no end marker before section 'reboot-flag'",
        ),
        (frame(NONCE, {"boot-id": ("x", 0)}) * 2, "has section 'boot-id' twice"),
        (f"@@patchdeck:{NONCE}:end:0\n", "end marker outside any section"),
        (f"@@patchdeck:{NONCE}:Bad Section\n", "malformed marker"),
        ("", "printed no patchdeck sections (exit 0): no output"),
        (frame("ffffffffffffffff", {"boot-id": ("x", 0)}), "printed no patchdeck sections"),
    ],
)
def test_split_refuses_broken_answers(stdout: str, message: str) -> None:
    with pytest.raises(PlatformError) as caught:
        split_answer(Result(0, stdout), NONCE)
    assert caught.value.kind == "unparseable"
    assert message in str(caught.value)


def test_a_dropped_connection_is_said_in_words() -> None:
    with pytest.raises(PlatformError, match="the connection closed or the command was killed"):
        split_answer(Result(None, f"@@patchdeck:{NONCE}:apt-list\nInst a"), NONCE)


def test_sudo_wanting_a_password_is_its_own_kind() -> None:
    with pytest.raises(PlatformError) as caught:
        split_answer(Result(1, "", "sudo: a password is required\n"), NONCE, "refresh")
    assert caught.value.kind == "sudo-password"
    assert str(caught.value) == (
        "the refresh needs root and sudo on this machine asks for a password (sudo -n refused): "
        "sudo: a password is required"
    )
