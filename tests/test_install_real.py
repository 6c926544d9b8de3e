"""The install scripts against the real dnf 4 and zypper that Debian ships, on local file://
repositories built here (as tests/test_platform_rpm_real.py does for the scan): the commands
are accepted, the packages really change in a private root, and the outcomes are read right.

Empty noarch rpms (rpmbuild) are installed into a private root (``rpm --root``); the
repository ``local`` has newer versions and an updateinfo.xml (patches for SUSE), ``extra``
one more. ``broken-1.1-1`` has a ``%pre`` scriptlet that cannot run (the root has no shell),
so its install fails as a maintainer script failure does. The script runs in the real
/bin/sh with a PATH holding only ``cat``, ``test`` and wrappers that add ``--installroot`` /
``--root`` to dnf, rpm and zypper: the script is the one a machine receives, unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.platforms.install import Pinned, install_command, install_outcome, progress_line
from backends.platforms.records import InstallOutcome
from tests.conftest import DATA, require_tool
from tests.test_platform_install import check_install_subset
from tests.test_platform_rpm_real import run, sh, wrapper

NONCE = "0123456789abcdef"
SPEC = """Name: %{pname}
Version: %{pver}
Release: %{prel}
Epoch: %{pepoch}
Summary: patchdeck test package
License: MIT
BuildArch: noarch
%{?pprov:Provides: %{pprov}}
%description
A package with no files, for patchdeck's tests.
%{?pfail:%pre
exit 1
}
%files
"""
# (name, version, release, epoch, extra defines)
BUILT = [
    ("foo", "1.0", "1", "0", {}),
    ("foo", "1.1", "1", "0", {}),
    ("kernel-core", "5.0", "1", "1", {}),
    ("kernel-core", "5.1", "1", "1", {}),
    ("plain", "1.0", "1", "0", {}),
    ("plain", "2.0", "1", "0", {}),
    ("broken", "1.0", "1", "0", {}),
    ("broken", "1.1", "1", "0", {"pfail": "1"}),
    ("shprovider", "1.0", "1", "0", {"pprov": "/bin/sh"}),  # satisfies the %pre's need
]
INSTALLED = ["foo-1.0-1", "kernel-core-5.0-1", "plain-1.0-1", "broken-1.0-1", "shprovider-1.0-1"]
LOCAL = ["foo-1.1-1", "kernel-core-5.1-1", "broken-1.1-1"]
EXTRA = ["plain-2.0-1"]
P = Pinned
FOO, PLAIN = P("foo.noarch", "foo", "1.1-1"), P("plain.noarch", "plain", "2.0-1")
KERNEL, BROKEN = (
    P("kernel-core.noarch", "kernel-core", "1:5.1-1"),
    P("broken.noarch", "broken", "1.1-1"),
)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rpmbuild = require_tool("rpmbuild", "rpm")
    createrepo = require_tool("createrepo_c", "createrepo-c")
    modifyrepo = require_tool("modifyrepo_c", "createrepo-c")
    base = tmp_path_factory.mktemp("rpm-install")
    spec = base / "package.spec"
    spec.write_text(SPEC)
    for name, version, release, epoch, extra in BUILT:
        defines = {"_topdir": base / "top", "pname": name, "pver": version, "prel": release}
        defines |= {"pepoch": epoch, **extra}
        args = [a for key, value in defines.items() for a in ("--define", f"{key} {value}")]
        run(rpmbuild, "-bb", "--quiet", *args, spec)
    for repo, names in (("local", LOCAL), ("extra", EXTRA)):
        (base / repo).mkdir()
        for stem in names:
            rpm = base / "top" / "RPMS" / "noarch" / f"{stem}.noarch.rpm"
            (base / repo / rpm.name).write_bytes(rpm.read_bytes())
        run(createrepo, "-q", base / repo)
    run(
        modifyrepo,
        "--mdtype=updateinfo",
        DATA / "platforms" / "updateinfo.xml",
        base / "local" / "repodata",
    )
    return base


@dataclass(frozen=True)
class Root:
    root: Path
    bin: Path

    def install(self, manager: str, *items: Pinned) -> tuple[InstallOutcome, str]:
        command = install_command(manager, items, nonce=NONCE, lock_timeout=2)
        check_install_subset(command.script)
        result = sh(command.script, self.bin)
        return install_outcome(manager, result, items, NONCE), result.stdout

    def versions(self) -> set[str]:
        rpm = require_tool("rpm", "rpm")
        done = run(rpm, "--root", self.root, "-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\\n")
        return set(done.stdout.split())


def _root(repos: Path, where: Path) -> Path:
    rpm = require_tool("rpm", "rpm")
    root = where / "root"
    root.mkdir()
    run(rpm, "--root", root, "--initdb")
    files = [repos / "top" / "RPMS" / "noarch" / f"{stem}.noarch.rpm" for stem in INSTALLED]
    run(rpm, "--root", root, "-i", "--nodeps", *files)
    return root


@pytest.fixture
def dnf_root(repos: Path, tmp_path: Path) -> Root:
    real = require_tool("dnf", "dnf")
    root = _root(repos, tmp_path)
    config = tmp_path / "dnf.conf"
    config.write_text(
        "[main]\ngpgcheck=0\nplugins=0\nreposdir=/nonexistent\ncachedir=/cache\n"
        "install_weak_deps=0\n"
        + "".join(
            f"[{name}]\nname={name}\nbaseurl=file://{repos / name}\ngpgcheck=0\n"
            for name in ("local", "extra")
        )
    )
    bin_dir = tmp_path / "bin"
    wrapper(bin_dir, "dnf", real, [f"--installroot={root}", f"--config={config}", "--releasever=1"])
    wrapper(bin_dir, "rpm", require_tool("rpm", "rpm"), [f"--root={root}"])
    return Root(root, bin_dir)


@pytest.fixture
def zypper_root(repos: Path, tmp_path: Path) -> Root:
    real = require_tool("zypper", "zypper")
    root = _root(repos, tmp_path)
    for name in ("local", "extra"):
        run(real, "--root", root, "-n", "addrepo", "-G", f"file://{repos / name}", name)
    wrapper(tmp_path / "bin", "zypper", real, ["--root", str(root)])
    return Root(root, tmp_path / "bin")


def test_dnf_upgrades_exactly_the_pinned_packages(dnf_root: Root) -> None:
    done, stdout = dnf_root.install("dnf", FOO, KERNEL)
    assert (done.installed, done.failed, done.error) == (
        ("foo.noarch", "kernel-core.noarch"),
        (),
        None,
    )
    assert {"foo-1.1-1", "kernel-core-5.1-1", "plain-1.0-1"} <= dnf_root.versions()
    items = [p.item for line in stdout.split("\n") if (p := progress_line("dnf", line))]
    assert "foo-1.1-1.noarch" in items and "kernel-core-1:5.1-1.noarch" in items


def test_dnf_scriptlet_failure_and_a_version_no_longer_offered(dnf_root: Root) -> None:
    done, _ = dnf_root.install("dnf", FOO, BROKEN, PLAIN)
    assert done.installed == ("foo.noarch", "plain.noarch")
    assert done.failed == (("broken.noarch", "its %prein scriptlet failed, exit status 127"),)
    assert "broken-1.0-1" in dnf_root.versions()
    gone, _ = dnf_root.install("dnf", P("foo.noarch", "foo", "1.2-1"))
    assert gone.failed == (
        ("foo.noarch", "version 1.2-1 is no longer offered by the repositories (plan again)"),
    )


def test_zypper_installs_patches_and_packages(zypper_root: Root) -> None:
    patch = P("patch:PDSA-2025:0001", "PDSA-2025:0001", "2.0")
    done, stdout = zypper_root.install("zypper", patch, PLAIN)
    assert (done.installed, done.failed, done.error) == (
        ("patch:PDSA-2025:0001", "plain.noarch"),
        (),
        None,
    )
    assert {"foo-1.1-1", "plain-2.0-1", "kernel-core-5.0-1"} <= zypper_root.versions()
    assert any(progress_line("zypper", line) for line in stdout.split("\n"))
    reboot, _ = zypper_root.install("zypper", P("patch:PDSA-2025:0003", "PDSA-2025:0003", "1"))
    assert reboot.installed == ("patch:PDSA-2025:0003",) and reboot.reboot_required is True


def test_zypper_failure_and_missing_items(zypper_root: Root) -> None:
    done, _ = zypper_root.install("zypper", BROKEN)
    assert done.failed == (("broken.noarch", "its %prein scriptlet failed, exit status 127"),)
    assert done.error_kind == "command-failed"
    missing, _ = zypper_root.install("zypper", P("patch:NOPE-1", "NOPE-1", "1"), PLAIN)
    assert missing.installed == () and missing.error_kind == "command-failed"
    assert "plain-1.0-1" in zypper_root.versions()  # 104: nothing was installed
