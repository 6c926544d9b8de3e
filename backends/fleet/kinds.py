"""The kinds of machine the simulated fleet has: what each one's files, shell and repositories say.

Texts here (``/etc/os-release``, suite labels, mirror lines, repository ids) are copied from real
installations of each release, so that what the fleet prints reads like the real thing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AptSuites:
    """One Debian or Ubuntu release's archive: the ``Label:Version/Archive`` strings apt prints in
    ``Inst`` lines and the mirror lines ``apt-cache policy`` prints."""

    codename: str
    release_rel: str  # e.g. Debian:12.12/oldstable
    updates_rel: str
    security_rel: str
    release_archive: str  # the Archive (suite) name apt list shows, e.g. oldstable
    updates_archive: str
    security_archive: str
    release_url: str  # e.g. http://mirror.example.net/debian bookworm/main
    updates_url: str
    security_url: str
    apt_version: str


@dataclass(frozen=True, slots=True)
class RpmRepos:
    """One EL release's repositories and advisory naming."""

    baseos: str
    appstream: str
    names: tuple[tuple[str, str], ...]  # (repo id, name) as ``dnf makecache`` prints them
    advisory_prefix: str  # RH, RL, AL: RHSA / RHBA / RHEA …; "" when there is no updateinfo
    mirror: str  # the host a metadata download fails to resolve (repository-failure fault)
    subscription_manager: bool = False


@dataclass(frozen=True, slots=True)
class ZypperRepos:
    """One SUSE release's update repositories and patch naming."""

    basesystem: tuple[str, str]  # (alias, url)
    applications: tuple[str, str]
    patch_prefix_basesystem: str  # e.g. SUSE-SLE-Module-Basesystem-15-SP6
    patch_prefix_applications: str
    pool: tuple[str, ...]  # aliases of repositories that are always up to date on refresh


@dataclass(frozen=True, slots=True)
class Kind:
    key: str  # debian-12, rhel-9, …: the ``kind=`` tag
    label: str
    manager: str  # apt | dnf | yum | zypper
    shell: str  # how its /bin/sh reports errors: dash | bash | bash4
    weight: int  # how often it appears in a fleet
    os_release: str
    kernel: str  # apt: ``uname -r`` with ``{n}`` the ABI; others read their kernel package
    programs: tuple[tuple[str, str], ...]  # external programs: (name, path)
    apt: AptSuites | None = None
    rpm: RpmRepos | None = None
    zypper: ZypperRepos | None = None

    def program_path(self, name: str) -> str | None:
        for program, path in self.programs:
            if program == name:
                return path
        return None


_COMMON = (
    ("cat", "/usr/bin/cat"),
    ("uname", "/usr/bin/uname"),
    ("id", "/usr/bin/id"),
    ("whoami", "/usr/bin/whoami"),
    ("hostname", "/usr/bin/hostname"),
    ("df", "/usr/bin/df"),
    ("sudo", "/usr/bin/sudo"),
    ("sh", "/usr/bin/sh"),
    ("bash", "/usr/bin/bash"),
    ("env", "/usr/bin/env"),
    ("timeout", "/usr/bin/timeout"),
    ("nice", "/usr/bin/nice"),
    ("nohup", "/usr/bin/nohup"),
    ("shutdown", "/usr/sbin/shutdown"),
    ("reboot", "/usr/sbin/reboot"),
    ("systemctl", "/usr/bin/systemctl"),
)
_APT = (
    *_COMMON,
    ("apt-get", "/usr/bin/apt-get"),
    ("apt-cache", "/usr/bin/apt-cache"),
    ("apt", "/usr/bin/apt"),
    ("dpkg", "/usr/bin/dpkg"),
    ("dpkg-query", "/usr/bin/dpkg-query"),
    ("apt-mark", "/usr/bin/apt-mark"),
)
_DNF = (
    *_COMMON,
    ("dnf", "/usr/bin/dnf"),
    ("yum", "/usr/bin/yum"),
    ("rpm", "/usr/bin/rpm"),
    ("needs-restarting", "/usr/bin/needs-restarting"),
)
_YUM = (
    *_COMMON,
    ("yum", "/usr/bin/yum"),
    ("rpm", "/usr/bin/rpm"),
    ("needs-restarting", "/usr/bin/needs-restarting"),
)
_ZYPPER = (*_COMMON, ("zypper", "/usr/bin/zypper"), ("rpm", "/usr/bin/rpm"))

DEBIAN_12 = Kind(
    key="debian-12",
    label="Debian 12",
    manager="apt",
    shell="dash",
    weight=20,
    os_release="""\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
""",
    kernel="6.1.0-{n}-amd64",
    programs=_APT,
    apt=AptSuites(
        codename="bookworm",
        release_rel="Debian:12.12/oldstable",
        updates_rel="Debian:12-updates/oldstable-updates",
        security_rel="Debian-Security:12/oldstable-security",
        release_archive="oldstable",
        updates_archive="oldstable-updates",
        security_archive="oldstable-security",
        release_url="http://mirror.example.net/debian bookworm/main",
        updates_url="http://mirror.example.net/debian bookworm-updates/main",
        security_url="http://mirror.example.net/debian-security bookworm-security/main",
        apt_version="2.6.1",
    ),
)

DEBIAN_11 = Kind(
    key="debian-11",
    label="Debian 11",
    manager="apt",
    shell="dash",
    weight=8,
    os_release="""\
PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
""",
    kernel="5.10.0-{n}-amd64",
    programs=_APT,
    apt=AptSuites(
        codename="bullseye",
        release_rel="Debian:11.11/oldoldstable",
        updates_rel="Debian:11-updates/oldoldstable-updates",
        security_rel="Debian-Security:11/oldoldstable-security",
        release_archive="oldoldstable",
        updates_archive="oldoldstable-updates",
        security_archive="oldoldstable-security",
        release_url="http://mirror.example.net/debian bullseye/main",
        updates_url="http://mirror.example.net/debian bullseye-updates/main",
        security_url="http://security-mirror.example.net/debian-security bullseye-security/main",
        apt_version="2.2.4",
    ),
)

_UBUNTU_URLS = 'HOME_URL="https://www.ubuntu.com/"\nSUPPORT_URL="https://help.ubuntu.com/"\n'

UBUNTU_2204 = Kind(
    key="ubuntu-22.04",
    label="Ubuntu 22.04",
    manager="apt",
    shell="dash",
    weight=18,
    os_release=f"""\
PRETTY_NAME="Ubuntu 22.04.5 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.5 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
{_UBUNTU_URLS}\
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
""",
    kernel="5.15.0-{n}-generic",
    programs=_APT,
    apt=AptSuites(
        codename="jammy",
        release_rel="Ubuntu:22.04/jammy",
        updates_rel="Ubuntu:22.04/jammy-updates",
        security_rel="Ubuntu:22.04/jammy-security",
        release_archive="jammy",
        updates_archive="jammy-updates",
        security_archive="jammy-security",
        release_url="http://ubuntu-mirror.example.net/ubuntu jammy/main",
        updates_url="http://ubuntu-mirror.example.net/ubuntu jammy-updates/main",
        security_url="http://ubuntu-security.example.net/ubuntu jammy-security/main",
        apt_version="2.4.13",
    ),
)

UBUNTU_2404 = Kind(
    key="ubuntu-24.04",
    label="Ubuntu 24.04",
    manager="apt",
    shell="dash",
    weight=14,
    os_release=f"""\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
{_UBUNTU_URLS}\
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
""",
    kernel="6.8.0-{n}-generic",
    programs=_APT,
    apt=AptSuites(
        codename="noble",
        release_rel="Ubuntu:24.04/noble",
        updates_rel="Ubuntu:24.04/noble-updates",
        security_rel="Ubuntu:24.04/noble-security",
        release_archive="noble",
        updates_archive="noble-updates",
        security_archive="noble-security",
        release_url="http://ubuntu-mirror.example.net/ubuntu noble/main",
        updates_url="http://ubuntu-mirror.example.net/ubuntu noble-updates/main",
        security_url="http://ubuntu-security.example.net/ubuntu noble-security/main",
        apt_version="2.7.14",
    ),
)

RHEL_9 = Kind(
    key="rhel-9",
    label="RHEL 9",
    manager="dnf",
    shell="bash",
    weight=12,
    os_release="""\
NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9"
BUG_REPORT_URL="https://issues.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_BUGZILLA_PRODUCT_VERSION=9.4
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
""",
    kernel="",
    programs=_DNF,
    rpm=RpmRepos(
        baseos="rhel-9-for-x86_64-baseos-rpms",
        appstream="rhel-9-for-x86_64-appstream-rpms",
        names=(
            (
                "rhel-9-for-x86_64-baseos-rpms",
                "Red Hat Enterprise Linux 9 for x86_64 - BaseOS (RPMs)",
            ),
            (
                "rhel-9-for-x86_64-appstream-rpms",
                "Red Hat Enterprise Linux 9 for x86_64 - AppStream (RPMs)",
            ),
        ),
        advisory_prefix="RH",
        mirror="rhel-cdn.example.net",
        subscription_manager=True,
    ),
)

ROCKY_9 = Kind(
    key="rocky-9",
    label="Rocky Linux 9",
    manager="dnf",
    shell="bash",
    weight=8,
    os_release="""\
NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.4"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
""",
    kernel="",
    programs=_DNF,
    rpm=RpmRepos(
        baseos="baseos",
        appstream="appstream",
        names=(
            ("baseos", "Rocky Linux 9 - BaseOS"),
            ("appstream", "Rocky Linux 9 - AppStream"),
            ("extras", "Rocky Linux 9 - Extras"),
        ),
        advisory_prefix="RL",
        mirror="rocky-mirror.example.net",
    ),
)

ALMA_8 = Kind(
    key="almalinux-8",
    label="AlmaLinux 8",
    manager="dnf",
    shell="bash",
    weight=6,
    os_release="""\
NAME="AlmaLinux"
VERSION="8.10 (Cerulean Leopard)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.10"
PLATFORM_ID="platform:el8"
PRETTY_NAME="AlmaLinux 8.10 (Cerulean Leopard)"
ANSI_COLOR="0;34"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:almalinux:almalinux:8::baseos"
HOME_URL="https://almalinux.org/"
DOCUMENTATION_URL="https://wiki.almalinux.org/"
BUG_REPORT_URL="https://bugs.almalinux.org/"

ALMALINUX_MANTISBT_PROJECT="AlmaLinux-8"
ALMALINUX_MANTISBT_PROJECT_VERSION="8.10"
REDHAT_SUPPORT_PRODUCT="AlmaLinux"
REDHAT_SUPPORT_PRODUCT_VERSION="8.10"
SUPPORT_END=2029-06-01
""",
    kernel="",
    programs=_DNF,
    rpm=RpmRepos(
        baseos="baseos",
        appstream="appstream",
        names=(
            ("baseos", "AlmaLinux 8 - BaseOS"),
            ("appstream", "AlmaLinux 8 - AppStream"),
            ("extras", "AlmaLinux 8 - Extras"),
        ),
        advisory_prefix="AL",
        mirror="mirrors.almalinux.org",
    ),
)

CENTOS_7 = Kind(
    key="centos-7",
    label="CentOS 7",
    manager="yum",
    shell="bash4",
    weight=4,
    os_release="""\
NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
CENTOS_MANTISBT_PROJECT_VERSION="7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"

""",
    kernel="",
    programs=_YUM,
    rpm=RpmRepos(
        baseos="updates",
        appstream="updates",
        names=(("base", "base"), ("extras", "extras"), ("updates", "updates")),
        advisory_prefix="",  # CentOS 7 repositories ship no updateinfo
        mirror="centos-mirror.example.net",
    ),
)

SLES_15 = Kind(
    key="sles-15",
    label="SLES 15",
    manager="zypper",
    shell="bash",
    weight=5,
    os_release="""\
NAME="SLES"
VERSION="15-SP6"
VERSION_ID="15.6"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP6"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp6"
DOCUMENTATION_URL="https://documentation.suse.com/"
""",
    kernel="",
    programs=_ZYPPER,
    zypper=ZypperRepos(
        basesystem=(
            "SLE-Module-Basesystem15-SP6-Updates",
            "https://suse-updates.example.net/SUSE/Updates/SLE-Module-Basesystem/15-SP6/x86_64/update/",
        ),
        applications=(
            "SLE-Module-Server-Applications15-SP6-Updates",
            "https://suse-updates.example.net/SUSE/Updates/SLE-Module-Server-Applications/15-SP6/"
            "x86_64/update/",
        ),
        patch_prefix_basesystem="SUSE-SLE-Module-Basesystem-15-SP6",
        patch_prefix_applications="SUSE-SLE-Module-Server-Applications-15-SP6",
        pool=(
            "SLE-Module-Basesystem15-SP6-Pool",
            "SLE-Module-Server-Applications15-SP6-Pool",
            "SLE-Product-SLES15-SP6-Pool",
        ),
    ),
)

LEAP_15 = Kind(
    key="opensuse-leap-15",
    label="openSUSE Leap 15",
    manager="zypper",
    shell="bash",
    weight=5,
    os_release="""\
NAME="openSUSE Leap"
VERSION="15.6"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.6"
PRETTY_NAME="openSUSE Leap 15.6"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:opensuse:leap:15.6"
BUG_REPORT_URL="https://bugs.opensuse.org"
HOME_URL="https://www.opensuse.org/"
DOCUMENTATION_URL="https://en.opensuse.org/Portal:Leap"
LOGO="distributor-logo-Leap"
""",
    kernel="",
    programs=_ZYPPER,
    zypper=ZypperRepos(
        basesystem=("repo-sle-update", "http://opensuse-mirror.example.net/update/leap/15.6/sle/"),
        applications=("repo-update", "http://opensuse-mirror.example.net/update/leap/15.6/oss/"),
        patch_prefix_basesystem="openSUSE-SLE-15.6",
        patch_prefix_applications="openSUSE-SLE-15.6",
        pool=("repo-oss", "repo-non-oss", "repo-backports-update"),
    ),
)

KINDS: tuple[Kind, ...] = (
    DEBIAN_12,
    DEBIAN_11,
    UBUNTU_2204,
    UBUNTU_2404,
    RHEL_9,
    ROCKY_9,
    ALMA_8,
    CENTOS_7,
    SLES_15,
    LEAP_15,
)
KINDS_BY_KEY: dict[str, Kind] = {kind.key: kind for kind in KINDS}
