"""The generated scripts against the real dnf 4 and zypper that Debian ships, on local file://
repositories built here: the commands are accepted, their exit codes and output formats are
the ones the parsers read.

A scenario of empty noarch rpms (rpmbuild) is installed into a private root (``rpm --root``);
two repositories serve newer versions, one with an updateinfo.xml (security advisories with
severities, a reboot-suggested kernel). The scan script runs in the real /bin/sh with a PATH
holding only ``cat``, ``test`` and a wrapper for dnf (or zypper) that adds ``--installroot``
(``--root``): the script is the one a machine receives, unchanged."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.platforms import linux
from backends.platforms.probe import split_answer
from backends.platforms.records import Assessment, PlatformError, Result
from tests.conftest import DATA, require_tool

# The real binaries' answers must equal those parsed from their captured outputs.
from tests.test_platform_dnf import EXPECTED as DNF_EXPECTED
from tests.test_platform_dnf import LONG
from tests.test_platform_probe import check_subset
from tests.test_platform_zypper import EXPECTED as ZYPPER_EXPECTED

NONCE = "00112233445566ee"
SPEC = """Name: %{pname}
Version: %{pver}
Release: %{prel}
Epoch: %{pepoch}
Summary: patchdeck test package
License: MIT
BuildArch: noarch
%{?pobs:Obsoletes: %{pobs}}
%description
A package with no files, for patchdeck's tests.
%files
"""
UPDATEINFO = DATA / "platforms" / "updateinfo.xml"
# (name, version, release, epoch, obsoletes)
INSTALLED = [
    ("foo", "1.0", "1", "0", None),
    (LONG, "1.0", "1", "0", None),
    ("kernel-core", "5.0", "1", "1", None),
    ("kernel-core", "5.0", "2", "1", None),
    ("oldtool", "1.0", "1", "0", None),
    ("plain", "1.0", "1", "0", None),
]
LOCAL = [
    ("foo", "1.1", "1", "0", None),
    (LONG, "1.1", "1", "0", None),
    ("kernel-core", "5.1", "1", "1", None),
    ("newtool", "2.0", "1", "0", "oldtool < 2"),
]
EXTRA = [("plain", "2.0", "1", "0", None)]


def run(*argv: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "LC_ALL": "C", **(env or {})},
    )


@dataclass(frozen=True)
class Scenario:
    base: Path
    rpms: dict[tuple[str, str, str], Path]  # (name, version, release) -> file
    local: Path
    extra: Path

    def install(self, root: Path, packages: list[tuple[str, str, str, str, str | None]]) -> None:
        run(require_tool("rpm", "rpm"), "--root", root, "--initdb")
        files = [self.rpms[(name, ver, rel)] for name, ver, rel, _, _ in packages]
        # --nodeps: the packages are empty; rpm on Debian warns that dpkg owns the system.
        run(require_tool("rpm", "rpm"), "--root", root, "-i", "--nodeps", *files)


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    rpmbuild = require_tool("rpmbuild", "rpm")
    createrepo = require_tool("createrepo_c", "createrepo-c")
    modifyrepo = require_tool("modifyrepo_c", "createrepo-c")
    base = tmp_path_factory.mktemp("rpm")
    spec = base / "package.spec"
    spec.write_text(SPEC)
    rpms: dict[tuple[str, str, str], Path] = {}
    for name, ver, rel, epoch, obsoletes in {*INSTALLED, *LOCAL, *EXTRA}:
        defines = {
            "_topdir": base / "top",
            "pname": name,
            "pver": ver,
            "prel": rel,
            "pepoch": epoch,
        }
        if obsoletes:
            defines["pobs"] = obsoletes
        args = [a for key, value in defines.items() for a in ("--define", f"{key} {value}")]
        run(rpmbuild, "-bb", "--quiet", *args, spec)
        rpms[(name, ver, rel)] = base / "top" / "RPMS" / "noarch" / f"{name}-{ver}-{rel}.noarch.rpm"
    repos = {}
    for repo, packages in (("local", LOCAL), ("extra", EXTRA)):
        path = base / repo
        path.mkdir()
        for name, ver, rel, _, _ in packages:
            (path / rpms[(name, ver, rel)].name).write_bytes(rpms[(name, ver, rel)].read_bytes())
        run(createrepo, "-q", path)
        repos[repo] = path
    run(modifyrepo, "--mdtype=updateinfo", UPDATEINFO, repos["local"] / "repodata")
    return Scenario(base, rpms, repos["local"], repos["extra"])


def wrapper(bin_dir: Path, program: str, real: str, options: list[str]) -> None:
    """``bin_dir/program``: the real program with ``options`` first; the program itself gets
    the system PATH back (dnf runs helpers), the script keeps its own."""
    bin_dir.mkdir(exist_ok=True)
    words = " ".join(f"'{o}'" for o in options)
    (bin_dir / program).write_text(
        f'#!/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\nexec {real} {words} "$@"\n'
    )
    (bin_dir / program).chmod(0o755)
    for tool in ("cat", "test"):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(require_tool(tool, "coreutils"))


def sh(script: str, bin_dir: Path) -> Result:
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        check=False,
        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/root")},
    )
    return Result(done.returncode, done.stdout, done.stderr)


def scan(bin_dir: Path, refresh: bool = False) -> tuple[Assessment, list[Result]]:
    assessor = linux.assess(refresh=refresh, nonce=NONCE)
    command = next(assessor)
    results: list[Result] = []
    try:
        while True:
            check_subset(command.script)
            results.append(sh(command.script, bin_dir))
            command = assessor.send(results[-1])
    except StopIteration as done:
        assessment: Assessment = done.value
        return assessment, results


# -- dnf -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DnfRoot:
    root: Path
    bin: Path


def dnf_root(
    scenario: Scenario,
    where: Path,
    installed: list[tuple[str, str, str, str, str | None]],
    repos: dict[str, Path],
) -> DnfRoot:
    real = require_tool("dnf", "dnf")
    root = where / "root"
    root.mkdir()
    scenario.install(root, installed)
    config = where / "dnf.conf"
    sections = "".join(
        f"[{name}]\nname={name}\nbaseurl=file://{path}\ngpgcheck=0\n"
        for name, path in repos.items()
    )
    config.write_text(
        "[main]\ngpgcheck=0\nplugins=0\nreposdir=/nonexistent\ncachedir=/cache\n"
        "install_weak_deps=0\n" + sections
    )
    options = [f"--installroot={root}", f"--config={config}", "--releasever=1"]
    wrapper(where / "bin", "dnf", real, options)
    return DnfRoot(root, where / "bin")


@pytest.fixture
def dnf_updates(scenario: Scenario, tmp_path: Path) -> DnfRoot:
    return dnf_root(
        scenario, tmp_path, INSTALLED, {"local": scenario.local, "extra": scenario.extra}
    )


def test_dnf_scan_with_updates(dnf_updates: DnfRoot) -> None:
    assessment, results = scan(dnf_updates.bin)
    sections = split_answer(results[0], NONCE).sections
    assert {name: out.status for name, out in sections.items()} == {
        "os-release": 0,
        "boot-id": 0,
        "dnf-list": 100,
        "dnf-updateinfo": 0,
        "dnf-installed": 0,
        "needs-restarting": 127,  # dnf-plugins-core conflicts with zypper on Debian
    }
    assert assessment.updates == DNF_EXPECTED
    assert assessment.problems == []
    assert assessment.notes == [
        "dnf also offers 1 obsoleting package(s), not counted: newtool.noarch",
        "reboot state unknown: needs-restarting is not installed (dnf-plugins-core on dnf "
        "systems, yum-utils on EL7)",
    ]
    assert assessment.facts.package_manager == "dnf"


def test_dnf_scan_without_updates(scenario: Scenario, tmp_path: Path) -> None:
    current = dnf_root(
        scenario, tmp_path, [("plain", "2.0", "1", "0", None)], {"extra": scenario.extra}
    )
    assessment, results = scan(current.bin)
    sections = split_answer(results[0], NONCE).sections
    assert (sections["dnf-list"].status, sections["dnf-list"].body.strip()) == (0, "")
    assert (assessment.updates, assessment.problems) == ([], [])
    assert not any("updateinfo" in note for note in assessment.notes)


def test_dnf_without_updateinfo_counts_other(scenario: Scenario, tmp_path: Path) -> None:
    bare = dnf_root(scenario, tmp_path, INSTALLED, {"extra": scenario.extra})
    assessment, _ = scan(bare.bin)
    assert [(u.name, u.classification) for u in assessment.updates] == [("plain", "other")]
    assert assessment.notes[0] == (
        "no security metadata (updateinfo) in this system's repositories: "
        "updates are counted as other"
    )


def test_dnf_refresh_round_is_accepted(dnf_updates: DnfRoot) -> None:
    assessment, results = scan(dnf_updates.bin, refresh=True)
    assert split_answer(results[0], NONCE).sections["dnf-refresh"].status == 0
    assert assessment.updates == DNF_EXPECTED


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process for a lock file to name."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait(timeout=10)


def test_dnf_lock_is_named(dnf_updates: DnfRoot, sleeper: subprocess.Popen[bytes]) -> None:
    scan(dnf_updates.bin)  # creates the cache directory
    (dnf_updates.root / "cache" / "metadata_lock.pid").write_text(str(sleeper.pid))
    with pytest.raises(PlatformError) as caught:
        scan(dnf_updates.bin)
    assert caught.value.kind == "locked"
    assert str(caught.value) == (
        f"dnf check-update could not take the package manager's lock: it is held by process "
        f"{sleeper.pid} (sleep); another package operation is running, try again when it ends"
    )


# -- zypper ----------------------------------------------------------------------------------


@pytest.fixture
def zypper_root(scenario: Scenario, tmp_path: Path) -> tuple[Path, Path]:
    real = require_tool("zypper", "zypper")
    root = tmp_path / "root"
    root.mkdir()
    scenario.install(root, INSTALLED)
    for name, path in (("local", scenario.local), ("extra", scenario.extra)):
        run(real, "--root", root, "-n", "addrepo", "-G", f"file://{path}", name)
    wrapper(tmp_path / "bin", "zypper", real, ["--root", str(root)])
    return root, tmp_path / "bin"


def test_zypper_scan(zypper_root: tuple[Path, Path]) -> None:
    root, bin_dir = zypper_root
    assessment, results = scan(bin_dir)
    sections = split_answer(results[0], NONCE).sections
    assert {n: o.status for n, o in sections.items() if n.startswith("zypper")} == {
        "zypper-updates": 0,
        "zypper-patches": 0,
        "zypper-reboot": 0,
    }
    assert assessment.updates == ZYPPER_EXPECTED
    assert assessment.problems == []
    assert assessment.notes == [
        "3 package update(s) from repositories that publish patches are counted through their "
        "patches"
    ]
    assert assessment.facts.reboot_required is False
    (root / "run").mkdir(exist_ok=True)
    (root / "run" / "reboot-needed").touch()
    again, results = scan(bin_dir)
    assert split_answer(results[0], NONCE).sections["zypper-reboot"].status == 102
    assert again.facts.reboot_required is True


def test_zypper_refresh_round_is_accepted(zypper_root: tuple[Path, Path]) -> None:
    _, bin_dir = zypper_root
    assessment, results = scan(bin_dir, refresh=True)
    assert split_answer(results[0], NONCE).sections["zypper-refresh"].status == 0
    assert assessment.updates == ZYPPER_EXPECTED


def test_zypper_lock_is_named(
    zypper_root: tuple[Path, Path], sleeper: subprocess.Popen[bytes]
) -> None:
    root, bin_dir = zypper_root
    (root / "run").mkdir(exist_ok=True)
    (root / "run" / "zypp.pid").write_text(str(sleeper.pid))
    with pytest.raises(PlatformError) as caught:
        scan(bin_dir)
    assert caught.value.kind == "locked"
    assert str(caught.value) == (
        f"zypper list-updates: system management is locked by process {sleeper.pid} (sleep); "
        "another package operation is running, try again when it ends"
    )
