"""/etc/os-release: the fields patchdeck keeps, quoted or not, and the family they name."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.platforms.osrelease import OsRelease, parse_os_release

# Abridged from the os-release files these distributions ship (values as they print them).
SAMPLES = {
    "debian": (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n',
        "debian",
        "12",
        "debian",
    ),
    "ubuntu": (
        'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
        "ubuntu",
        "22.04",
        "debian",
    ),
    "rhel": (
        'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n'
        'PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n',
        "rhel",
        "9.4",
        "rhel",
    ),
    "centos": (
        'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n'
        'PRETTY_NAME="CentOS Linux 7 (Core)"\n',
        "centos",
        "7",
        "rhel",
    ),
    "rocky": (
        'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 '
        '(Blue Onyx)"\n',
        "rocky",
        "9.3",
        "rhel",
    ),
    "almalinux": (
        'ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.9"\nPRETTY_NAME="AlmaLinux '
        '8.9 (Midnight Oncilla)"\n',
        "almalinux",
        "8.9",
        "rhel",
    ),
    "ol": (
        'ID="ol"\nID_LIKE="fedora"\nVERSION_ID="8.9"\nPRETTY_NAME="Oracle Linux Server 8.9"\n',
        "ol",
        "8.9",
        "rhel",
    ),
    "fedora": (
        'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40 (Server Edition)"\n',
        "fedora",
        "40",
        "rhel",
    ),
    "sles": (
        'NAME="SLES"\nVERSION_ID="15.5"\nID="sles"\nID_LIKE="suse"\nPRETTY_NAME="SUSE Linux '
        'Enterprise Server 15 SP5"\n',
        "sles",
        "15.5",
        "suse",
    ),
    "sled": (
        'ID="sled"\nID_LIKE="suse"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Desktop '
        '15 SP5"\n',
        "sled",
        "15.5",
        "suse",
    ),
    "leap": (
        'ID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.6"\nPRETTY_NAME="openSUSE '
        'Leap 15.6"\n',
        "opensuse-leap",
        "15.6",
        "suse",
    ),
    "tumbleweed": (
        'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\nVERSION_ID="20240520"\n'
        'PRETTY_NAME="openSUSE Tumbleweed"\n',
        "opensuse-tumbleweed",
        "20240520",
        "suse",
    ),
}


@pytest.mark.parametrize("distro", sorted(SAMPLES))
def test_distributions(distro: str) -> None:
    text, ident, version, family = SAMPLES[distro]
    release, problems = parse_os_release(text)
    assert (release.id, release.version_id, release.family) == (ident, version, family)
    assert problems == []


def test_this_machine() -> None:
    path = Path("/etc/os-release")
    if not path.exists():
        pytest.skip("no /etc/os-release here")
    release, problems = parse_os_release(path.read_text(errors="replace"))
    assert problems == []
    assert release.id is not None and release.pretty_name is not None


def test_quoting_forms() -> None:
    text = (
        "# a comment\n\n"
        "ID='ubuntu'\n"
        'PRETTY_NAME="A \\"quoted\\" name with \\$dollar and \\\\ slash"\n'
        "VERSION_ID=22.04\n"
        "ID_LIKE='debian'\n"
    )
    release, problems = parse_os_release(text)
    assert release == OsRelease(
        id="ubuntu",
        id_like=("debian",),
        version_id="22.04",
        pretty_name='A "quoted" name with $dollar and \\ slash',
    )
    assert problems == []
    assert release.is_like("debian") and not release.is_like("rhel")


def test_broken_lines_are_problems_and_the_rest_is_kept() -> None:
    text = (
        "ID=debian\n"
        'PRETTY_NAME="never closed\n'
        "not a line at all\n"
        "VERSION_ID=12; rm -rf /\n"
        "lower=case\n"
        'ID_LIKE="Bad Id \u00e9"\n'
    )
    release, problems = parse_os_release(text)
    assert release == OsRelease(
        id="debian", id_like=("bad", "id"), version_id=None, pretty_name=None
    )
    assert problems == [
        "os-release line 2: not KEY=value: 'PRETTY_NAME=\"never closed'",
        "os-release line 3: not KEY=value: 'not a line at all'",
        "os-release line 4: not KEY=value: 'VERSION_ID=12; rm -rf /'",
        "os-release line 5: not KEY=value: 'lower=case'",
    ]


def test_an_id_that_is_not_an_identifier_is_refused() -> None:
    release, problems = parse_os_release('ID="de bian"\nVERSION_ID="1\u00b2"\n')
    assert (release.id, release.version_id, release.family) == (None, None, None)
    assert problems == [
        "os-release: ID is not an identifier: 'de bian'",
        "os-release: VERSION_ID is not an identifier: '1\u00b2'",
    ]
