"""What each kind's repositories hold: source packages, their binaries and how versions advance.

A :class:`Source` is one source package as the distribution builds it: every binary package of it
carries the same version. Its versions are ``first`` (what the release shipped) followed by
``template`` filled with a counter ``n`` from ``start`` upwards; ``{a}`` and ``{b}`` are ``n``
plus ``offsets``, for the few version schemes that carry two numbers (kernels). Templates are
written so that each version sorts after the one before it, as the real ones do.

``channel`` says how an apt archive publishes it: ``sec`` (security fixes, sometimes folded into a
point release or masked by a newer ``-updates`` version), ``point`` (point releases or ``-updates``
only) or ``updates`` (``-updates`` first, like tzdata). RPM and SUSE sources get an advisory or
a patch per version instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    binaries: tuple[tuple[str, str], ...]  # (binary package, arch)
    first: str
    template: str
    start: int
    channel: str = "sec"  # sec | point | updates
    optional: bool = False  # installed on some machines only
    reboot: bool = False  # updating it asks for a reboot (kernel, libc, systemd, …)
    masked: bool = False  # apt: always masked (a security version below a non-security candidate)
    phased: bool = False  # Ubuntu: phased, held back by ``apt-get upgrade`` on some machines
    new_binaries: tuple[tuple[str, str], ...] = ()  # apt: pulled in as NEW (kernel ABI packages)
    new_version: str = ""  # version template of ``new_binaries``
    offsets: tuple[int, int] = (0, 0)
    repo: str = "baseos"  # rpm: baseos | appstream; zypper: basesystem | applications
    summary: str = ""
    update_stack: bool = False  # zypper: a patch of the package manager itself
    multiversion: bool = False  # zypper: installed side by side (kernels), patches only

    def version(self, n: int) -> str:
        a, b = self.offsets
        return self.template.format(n=n, a=n + a, b=n + b)

    def versions(self, steps: int) -> tuple[str, ...]:
        """``first`` then ``steps`` later versions, oldest first."""
        return (self.first, *(self.version(self.start + i) for i in range(steps)))


def _bins(arch: str, *names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, arch) for name in names)


def _mixed(*pairs: str) -> tuple[tuple[str, str], ...]:
    """``"name:arch"`` strings to pairs."""
    return tuple((p.split(":")[0], p.split(":")[1]) for p in pairs)


A64 = "amd64"
X86 = "x86_64"

DEBIAN_12: tuple[Source, ...] = (
    Source("openssl", _bins(A64, "openssl", "libssl3"), "3.0.9-1", "3.0.{n}-1~deb12u1", 11),
    Source(
        "openssh",
        _bins(A64, "openssh-client", "openssh-server", "openssh-sftp-server"),
        "1:9.2p1-2",
        "1:9.2p1-2+deb12u{n}",
        1,
        masked=True,
    ),
    Source(
        "glibc",
        _mixed("libc6:amd64", "libc-bin:amd64", "libc-l10n:all", "locales:all"),
        "2.36-9",
        "2.36-9+deb12u{n}",
        1,
        reboot=True,
    ),
    Source(
        "systemd",
        _bins(A64, "systemd", "libsystemd0", "libudev1", "udev", "systemd-sysv", "libpam-systemd"),
        "252.6-1",
        "252.{n}-1~deb12u1",
        12,
        reboot=True,
    ),
    Source(
        "linux-signed-amd64",
        _bins(A64, "linux-image-amd64"),
        "6.1.27-1",
        "6.1.{a}-1",
        20,
        reboot=True,
        new_binaries=_bins(A64, "linux-image-6.1.0-{n}-amd64"),
        new_version="6.1.{a}-1",
        offsets=(90, 0),
    ),
    Source(
        "curl",
        _bins(A64, "curl", "libcurl4", "libcurl3-gnutls"),
        "7.88.1-10",
        "7.88.1-10+deb12u{n}",
        1,
    ),
    Source("bash", _bins(A64, "bash"), "5.2.15-2+b2", "5.2.15-2+b{n}", 3, channel="point"),
    Source("tzdata", _bins("all", "tzdata"), "2023c-5", "2025a-0+deb12u{n}", 1, channel="updates"),
    Source("sudo", _bins(A64, "sudo"), "1.9.13p3-1+deb12u1", "1.9.13p3-1+deb12u{n}", 2),
    Source(
        "libxml2", _bins(A64, "libxml2"), "2.9.14+dfsg-1.3~deb12u1", "2.9.14+dfsg-1.3~deb12u{n}", 2
    ),
    Source(
        "git",
        _mixed("git:amd64", "git-man:all"),
        "1:2.39.2-1.1",
        "1:2.39.5-0+deb12u{n}",
        1,
        optional=True,
    ),
    Source(
        "vim",
        _mixed("vim:amd64", "vim-common:all", "vim-runtime:all", "xxd:amd64"),
        "2:9.0.1378-2",
        "2:9.0.1378-2+deb12u{n}",
        1,
        optional=True,
    ),
    Source(
        "python3.11",
        _bins(
            A64, "python3.11", "libpython3.11-stdlib", "python3.11-minimal", "libpython3.11-minimal"
        ),
        "3.11.2-6",
        "3.11.2-6+deb12u{n}",
        1,
    ),
    Source(
        "postgresql-15",
        _bins(A64, "postgresql-15", "postgresql-client-15", "libpq5"),
        "15.3-0+deb12u1",
        "15.{n}-0+deb12u1",
        5,
        optional=True,
    ),
    Source(
        "nginx",
        _mixed("nginx:amd64", "nginx-common:all"),
        "1.22.1-9",
        "1.22.1-9+deb12u{n}",
        1,
        optional=True,
    ),
    Source(
        "base-files", _bins(A64, "base-files"), "12.4+deb12u1", "12.4+deb12u{n}", 5, channel="point"
    ),
    Source(
        "ca-certificates",
        _bins("all", "ca-certificates"),
        "20230311",
        "20230311+deb12u{n}",
        1,
        channel="point",
    ),
    Source("gnutls28", _bins(A64, "libgnutls30"), "3.7.9-2", "3.7.9-2+deb12u{n}", 1),
    Source(
        "krb5",
        _mixed(
            "libgssapi-krb5-2:amd64",
            "libkrb5-3:amd64",
            "libk5crypto3:amd64",
            "libkrb5support0:amd64",
            "krb5-locales:all",
        ),
        "1.20.1-2",
        "1.20.1-2+deb12u{n}",
        1,
    ),
)

DEBIAN_11: tuple[Source, ...] = (
    Source(
        "openssl", _bins(A64, "openssl", "libssl1.1"), "1.1.1n-0+deb11u4", "1.1.1w-0+deb11u{n}", 1
    ),
    Source(
        "openssh",
        _bins(A64, "openssh-client", "openssh-server", "openssh-sftp-server"),
        "1:8.4p1-5+deb11u1",
        "1:8.4p1-5+deb11u{n}",
        2,
        masked=True,
    ),
    Source(
        "glibc",
        _mixed("libc6:amd64", "libc-bin:amd64", "locales:all"),
        "2.31-13+deb11u5",
        "2.31-13+deb11u{n}",
        6,
        reboot=True,
    ),
    Source(
        "systemd",
        _bins(A64, "systemd", "libsystemd0", "libudev1", "udev", "systemd-sysv", "libpam-systemd"),
        "247.3-7+deb11u1",
        "247.3-7+deb11u{n}",
        2,
        reboot=True,
    ),
    Source(
        "linux-signed-amd64",
        _bins(A64, "linux-image-amd64"),
        "5.10.179-1",
        "5.10.{a}-1",
        26,
        reboot=True,
        new_binaries=_bins(A64, "linux-image-5.10.0-{n}-amd64"),
        new_version="5.10.{a}-1",
        offsets=(171, 0),
    ),
    Source(
        "curl",
        _bins(A64, "curl", "libcurl4", "libcurl3-gnutls"),
        "7.74.0-1.3+deb11u7",
        "7.74.0-1.3+deb11u{n}",
        8,
    ),
    Source("sudo", _bins(A64, "sudo"), "1.9.5p2-3+deb11u1", "1.9.5p2-3+deb11u{n}", 2),
    Source(
        "tzdata",
        _bins("all", "tzdata"),
        "2021a-1+deb11u10",
        "2024a-0+deb11u{n}",
        1,
        channel="updates",
    ),
    Source(
        "python3.9",
        _bins(A64, "python3.9", "libpython3.9-stdlib", "python3.9-minimal", "libpython3.9-minimal"),
        "3.9.2-1",
        "3.9.2-1+deb11u{n}",
        1,
    ),
    Source(
        "libxml2", _bins(A64, "libxml2"), "2.9.10+dfsg-6.7+deb11u3", "2.9.10+dfsg-6.7+deb11u{n}", 4
    ),
    Source(
        "git",
        _mixed("git:amd64", "git-man:all"),
        "1:2.30.2-1+deb11u2",
        "1:2.30.2-1+deb11u{n}",
        3,
        optional=True,
    ),
    Source(
        "nginx",
        _mixed("nginx:amd64", "nginx-common:all", "nginx-core:amd64"),
        "1.18.0-6.1+deb11u3",
        "1.18.0-6.1+deb11u{n}",
        4,
        optional=True,
    ),
    Source(
        "postgresql-13",
        _bins(A64, "postgresql-13", "postgresql-client-13", "libpq5"),
        "13.11-0+deb11u1",
        "13.{n}-0+deb11u1",
        13,
        optional=True,
    ),
    Source(
        "base-files", _bins(A64, "base-files"), "11.1+deb11u7", "11.1+deb11u{n}", 8, channel="point"
    ),
    Source("gnutls28", _bins(A64, "libgnutls30"), "3.7.1-5+deb11u3", "3.7.1-5+deb11u{n}", 4),
)

_PRO_CLIENT = _bins(A64, "ubuntu-pro-client", "ubuntu-pro-client-l10n")

UBUNTU_2204: tuple[Source, ...] = (
    Source("openssl", _bins(A64, "openssl", "libssl3"), "3.0.2-0ubuntu1", "3.0.2-0ubuntu1.{n}", 10),
    Source(
        "openssh",
        _bins(A64, "openssh-client", "openssh-server", "openssh-sftp-server"),
        "1:8.9p1-3",
        "1:8.9p1-3ubuntu0.{n}",
        6,
        masked=True,
    ),
    Source(
        "glibc",
        _bins(A64, "libc6", "libc-bin"),
        "2.35-0ubuntu3",
        "2.35-0ubuntu3.{n}",
        5,
        reboot=True,
    ),
    Source(
        "systemd",
        _bins(
            A64,
            "systemd",
            "libsystemd0",
            "libudev1",
            "udev",
            "systemd-sysv",
            "libpam-systemd",
            "libnss-systemd",
        ),
        "249.11-0ubuntu3",
        "249.11-0ubuntu3.{n}",
        9,
        reboot=True,
    ),
    Source(
        "linux-meta",
        _bins(A64, "linux-generic", "linux-image-generic", "linux-headers-generic"),
        "5.15.0.25.27",
        "5.15.0.{n}.{a}",
        110,
        reboot=True,
        new_binaries=_mixed(
            "linux-image-5.15.0-{n}-generic:amd64",
            "linux-modules-5.15.0-{n}-generic:amd64",
            "linux-headers-5.15.0-{n}:all",
            "linux-headers-5.15.0-{n}-generic:amd64",
        ),
        new_version="5.15.0-{n}.{b}",
        offsets=(-2, 10),
    ),
    Source(
        "curl",
        _bins(A64, "curl", "libcurl4", "libcurl3-gnutls"),
        "7.81.0-1",
        "7.81.0-1ubuntu1.{n}",
        13,
    ),
    Source("sudo", _bins(A64, "sudo"), "1.9.9-1ubuntu2", "1.9.9-1ubuntu2.{n}", 4),
    Source(
        "tzdata",
        _bins("all", "tzdata"),
        "2022a-0ubuntu1",
        "2024a-0ubuntu0.22.04.{n}",
        1,
        channel="point",
    ),
    Source(
        "python3.10",
        _bins(
            A64, "python3.10", "libpython3.10-stdlib", "python3.10-minimal", "libpython3.10-minimal"
        ),
        "3.10.4-3",
        "3.10.12-1~22.04.{n}",
        3,
    ),
    Source("libxml2", _bins(A64, "libxml2"), "2.9.13+dfsg-1build1", "2.9.13+dfsg-1ubuntu0.{n}", 3),
    Source(
        "vim",
        _mixed("vim:amd64", "vim-common:all", "vim-runtime:all", "vim-tiny:amd64", "xxd:amd64"),
        "2:8.2.3995-1ubuntu2",
        "2:8.2.3995-1ubuntu2.{n}",
        15,
        optional=True,
    ),
    Source(
        "git",
        _mixed("git:amd64", "git-man:all"),
        "1:2.34.1-1ubuntu1",
        "1:2.34.1-1ubuntu1.{n}",
        9,
        optional=True,
    ),
    Source(
        "nginx",
        _mixed("nginx:amd64", "nginx-common:all", "nginx-core:amd64"),
        "1.18.0-6ubuntu14",
        "1.18.0-6ubuntu14.{n}",
        3,
        optional=True,
    ),
    Source(
        "postgresql-14",
        _bins(A64, "postgresql-14", "postgresql-client-14", "libpq5"),
        "14.2-1ubuntu1",
        "14.{n}-0ubuntu0.22.04.1",
        11,
        optional=True,
    ),
    Source(
        "base-files", _bins(A64, "base-files"), "12ubuntu4", "12ubuntu4.{n}", 3, channel="point"
    ),
    Source("gnutls28", _bins(A64, "libgnutls30"), "3.7.3-4ubuntu1", "3.7.3-4ubuntu1.{n}", 2),
    Source(
        "krb5",
        _mixed(
            "libgssapi-krb5-2:amd64",
            "libkrb5-3:amd64",
            "libk5crypto3:amd64",
            "libkrb5support0:amd64",
            "krb5-locales:all",
        ),
        "1.19.2-2",
        "1.19.2-2ubuntu0.{n}",
        1,
    ),
    Source(
        "ubuntu-advantage-tools",
        _PRO_CLIENT,
        "27.7~22.04.1",
        "3{n}~22.04",
        2,
        channel="point",
        phased=True,
    ),
)

UBUNTU_2404: tuple[Source, ...] = (
    Source(
        "openssl", _bins(A64, "openssl", "libssl3t64"), "3.0.13-0ubuntu3", "3.0.13-0ubuntu3.{n}", 1
    ),
    Source(
        "openssh",
        _bins(A64, "openssh-client", "openssh-server", "openssh-sftp-server"),
        "1:9.6p1-3ubuntu13",
        "1:9.6p1-3ubuntu13.{n}",
        3,
        masked=True,
    ),
    Source(
        "glibc",
        _bins(A64, "libc6", "libc-bin"),
        "2.39-0ubuntu8",
        "2.39-0ubuntu8.{n}",
        1,
        reboot=True,
    ),
    Source(
        "systemd",
        _bins(
            A64,
            "systemd",
            "libsystemd0",
            "libsystemd-shared",
            "libudev1",
            "udev",
            "systemd-sysv",
            "systemd-resolved",
            "libpam-systemd",
            "libnss-systemd",
        ),
        "255.4-1ubuntu8",
        "255.4-1ubuntu8.{n}",
        1,
        reboot=True,
    ),
    Source(
        "linux-meta",
        _bins(A64, "linux-generic", "linux-image-generic", "linux-headers-generic"),
        "6.8.0-31.31",
        "6.8.0-{n}.{n}",
        35,
        reboot=True,
        new_binaries=_mixed(
            "linux-image-6.8.0-{n}-generic:amd64",
            "linux-modules-6.8.0-{n}-generic:amd64",
            "linux-headers-6.8.0-{n}:all",
            "linux-headers-6.8.0-{n}-generic:amd64",
        ),
        new_version="6.8.0-{n}.{n}",
    ),
    Source(
        "curl",
        _bins(A64, "curl", "libcurl4t64", "libcurl3t64-gnutls"),
        "8.5.0-2ubuntu10",
        "8.5.0-2ubuntu10.{n}",
        1,
    ),
    Source("sudo", _bins(A64, "sudo"), "1.9.15p5-3ubuntu5", "1.9.15p5-3ubuntu5.24.04.{n}", 1),
    Source(
        "tzdata",
        _bins("all", "tzdata"),
        "2024a-2ubuntu1",
        "2024b-0ubuntu0.24.04.{n}",
        1,
        channel="updates",
    ),
    Source(
        "python3.12",
        _bins(
            A64,
            "python3.12",
            "libpython3.12t64",
            "python3.12-minimal",
            "libpython3.12-minimal",
            "libpython3.12-stdlib",
        ),
        "3.12.3-1",
        "3.12.3-1ubuntu0.{n}",
        1,
    ),
    Source(
        "libxml2", _bins(A64, "libxml2"), "2.9.14+dfsg-1.3ubuntu3", "2.9.14+dfsg-1.3ubuntu3.{n}", 1
    ),
    Source(
        "vim",
        _mixed("vim:amd64", "vim-common:all", "vim-runtime:all", "vim-tiny:amd64", "xxd:amd64"),
        "2:9.1.0016-1ubuntu7",
        "2:9.1.0016-1ubuntu7.{n}",
        1,
        optional=True,
    ),
    Source(
        "git",
        _mixed("git:amd64", "git-man:all"),
        "1:2.43.0-1ubuntu7",
        "1:2.43.0-1ubuntu7.{n}",
        1,
        optional=True,
    ),
    Source(
        "nginx",
        _mixed("nginx:amd64", "nginx-common:all"),
        "1.24.0-2ubuntu7",
        "1.24.0-2ubuntu7.{n}",
        1,
        optional=True,
    ),
    Source(
        "postgresql-16",
        _bins(A64, "postgresql-16", "postgresql-client-16", "libpq5"),
        "16.2-1ubuntu4",
        "16.{n}-0ubuntu0.24.04.1",
        4,
        optional=True,
    ),
    Source(
        "base-files", _bins(A64, "base-files"), "13ubuntu10", "13ubuntu10.{n}", 1, channel="point"
    ),
    Source("gnutls28", _bins(A64, "libgnutls30t64"), "3.8.3-1.1ubuntu3", "3.8.3-1.1ubuntu3.{n}", 1),
    Source(
        "ubuntu-advantage-tools",
        _PRO_CLIENT,
        "31.2.3",
        "3{n}~24.04",
        3,
        channel="point",
        phased=True,
    ),
)

_EL9_KERNEL = _bins(
    X86,
    "kernel",
    "kernel-core",
    "kernel-modules",
    "kernel-modules-core",
    "kernel-tools",
    "kernel-tools-libs",
)

EL_9: tuple[Source, ...] = (
    Source(
        "openssl",
        _bins(X86, "openssl", "openssl-libs"),
        "1:3.0.7-27.el9",
        "1:3.0.7-{n}.el9_4",
        28,
        summary="Utilities from the general purpose cryptography library with TLS implementation",
    ),
    Source(
        "openssh",
        _bins(X86, "openssh", "openssh-clients", "openssh-server"),
        "8.7p1-38.el9",
        "8.7p1-38.el9_4.{n}",
        1,
        summary="An open source implementation of SSH protocol version 2",
    ),
    Source(
        "glibc",
        _bins(X86, "glibc", "glibc-common", "glibc-minimal-langpack", "glibc-langpack-en"),
        "2.34-100.el9",
        "2.34-100.el9_4.{n}",
        2,
        reboot=True,
        summary="The GNU libc libraries",
    ),
    Source(
        "systemd",
        _mixed(
            "systemd:x86_64",
            "systemd-libs:x86_64",
            "systemd-pam:x86_64",
            "systemd-udev:x86_64",
            "systemd-rpm-macros:noarch",
        ),
        "252-32.el9_4",
        "252-32.el9_4.{n}",
        1,
        reboot=True,
        summary="System and Service Manager",
    ),
    Source(
        "kernel",
        _EL9_KERNEL,
        "5.14.0-427.13.1.el9_4",
        "5.14.0-427.{n}.1.el9_4",
        16,
        reboot=True,
        summary="The Linux kernel",
    ),
    Source(
        "curl",
        _bins(X86, "curl", "libcurl"),
        "7.76.1-29.el9_4",
        "7.76.1-29.el9_4.{n}",
        1,
        summary="A utility for getting files from remote servers",
    ),
    Source(
        "sudo",
        _bins(X86, "sudo"),
        "1.9.5p2-10.el9_3",
        "1.9.5p2-{n}.el9_4",
        11,
        summary="Allows restricted root access for specified users",
    ),
    Source(
        "tzdata",
        _bins("noarch", "tzdata"),
        "2024a-1.el9",
        "2025a-{n}.el9",
        1,
        summary="Timezone data",
    ),
    Source(
        "python3.9",
        _bins(X86, "python3", "python3-libs"),
        "3.9.18-3.el9_4.1",
        "3.9.18-3.el9_4.{n}",
        3,
        summary="Python 3.9 interpreter",
    ),
    Source(
        "subscription-manager",
        _mixed(
            "subscription-manager:x86_64",
            "subscription-manager-rhsm-certificates:noarch",
            "python3-subscription-manager-rhsm:x86_64",
            "dnf-plugin-subscription-manager:x86_64",
        ),
        "1.29.40-1.el9",
        "1.29.40-{n}.el9_4",
        2,
        summary="Tools and libraries for subscription and repository management",
    ),
    Source(
        "NetworkManager",
        _bins(
            X86,
            "NetworkManager",
            "NetworkManager-libnm",
            "NetworkManager-team",
            "NetworkManager-tui",
            "NetworkManager-cloud-setup",
        ),
        "1:1.46.0-8.el9_4",
        "1:1.46.0-{n}.el9_4",
        9,
        summary="Network connection manager and user applications",
    ),
    Source(
        "dnf-plugins-core",
        _bins(
            "noarch",
            "dnf-plugins-core",
            "python3-dnf-plugins-core",
            "yum-utils",
            "python3-dnf-plugin-post-transaction-actions",
        ),
        "4.3.0-13.el9",
        "4.3.0-{n}.el9_4",
        14,
        summary="Core Plugins for DNF",
    ),
    Source(
        "selinux-policy",
        _bins("noarch", "selinux-policy", "selinux-policy-targeted"),
        "38.1.35-2.el9_4",
        "38.1.35-2.el9_4.{n}",
        1,
        summary="SELinux policy configuration",
    ),
    Source(
        "microcode_ctl",
        _bins("noarch", "microcode_ctl"),
        "4:20230808-2.el9",
        "4:20240531-{n}.el9_4",
        1,
        reboot=True,
        summary="CPU microcode updates for Intel x86 processors",
    ),
    Source(
        "linux-firmware",
        _bins("noarch", "linux-firmware", "linux-firmware-whence"),
        "20240111-142.el9",
        "20240{n}-143.el9_4",
        310,
        reboot=True,
        summary="Firmware files used by the Linux kernel",
    ),
    Source(
        "postgresql",
        _bins(X86, "postgresql", "postgresql-server", "postgresql-private-libs"),
        "13.14-1.el9_3",
        "13.{n}-1.el9_4",
        15,
        optional=True,
        repo="appstream",
        summary="PostgreSQL client programs",
    ),
    Source(
        "nginx",
        _mixed("nginx:x86_64", "nginx-core:x86_64", "nginx-filesystem:noarch"),
        "1:1.20.1-14.el9_2.1",
        "1:1.20.1-{n}.el9_4",
        15,
        optional=True,
        repo="appstream",
        summary="A high performance web server and reverse proxy server",
    ),
)

ALMA_8: tuple[Source, ...] = (
    Source(
        "openssl",
        _bins(X86, "openssl", "openssl-libs"),
        "1:1.1.1k-12.el8_9",
        "1:1.1.1k-{n}.el8_10",
        13,
        summary="Utilities from the general purpose cryptography library with TLS implementation",
    ),
    Source(
        "openssh",
        _bins(X86, "openssh", "openssh-clients", "openssh-server"),
        "8.0p1-24.el8",
        "8.0p1-{n}.el8_10",
        25,
        summary="An open source implementation of SSH protocol version 2",
    ),
    Source(
        "glibc",
        _bins(X86, "glibc", "glibc-common", "glibc-minimal-langpack", "glibc-langpack-en"),
        "2.28-251.el8_10.1",
        "2.28-251.el8_10.{n}",
        2,
        reboot=True,
        summary="The GNU libc libraries",
    ),
    Source(
        "systemd",
        _bins(X86, "systemd", "systemd-libs", "systemd-pam", "systemd-udev"),
        "239-82.el8",
        "239-82.el8_10.{n}",
        1,
        reboot=True,
        summary="System and Service Manager",
    ),
    Source(
        "kernel",
        _bins(X86, "kernel", "kernel-core", "kernel-modules", "kernel-tools", "kernel-tools-libs"),
        "4.18.0-553.el8_10",
        "4.18.0-553.{n}.1.el8_10",
        5,
        reboot=True,
        summary="The Linux kernel",
    ),
    Source(
        "curl",
        _bins(X86, "curl", "libcurl"),
        "7.61.1-34.el8",
        "7.61.1-34.el8_10.{n}",
        1,
        summary="A utility for getting files from remote servers",
    ),
    Source(
        "grub2",
        _mixed(
            "grub2-tools:x86_64",
            "grub2-tools-minimal:x86_64",
            "grub2-tools-extra:x86_64",
            "grub2-tools-efi:x86_64",
            "grub2-common:noarch",
            "grub2-pc:x86_64",
            "grub2-pc-modules:noarch",
        ),
        "1:2.02-156.el8",
        "1:2.02-{n}.el8_10",
        158,
        summary="Bootloader with support for Linux, Multiboot and more",
    ),
    Source(
        "python3",
        _bins(X86, "platform-python", "python3-libs"),
        "3.6.8-62.el8_10",
        "3.6.8-62.el8_10.{n}",
        1,
        summary="Internal interpreter of the Python programming language",
    ),
    Source(
        "NetworkManager",
        _bins(
            X86,
            "NetworkManager",
            "NetworkManager-libnm",
            "NetworkManager-team",
            "NetworkManager-tui",
        ),
        "1:1.40.16-15.el8",
        "1:1.40.16-{n}.el8_10",
        16,
        summary="Network connection manager and user applications",
    ),
    Source(
        "dnf-plugins-core",
        _bins(
            "noarch",
            "dnf-plugins-core",
            "python3-dnf-plugins-core",
            "yum-utils",
            "python3-dnf-plugin-post-transaction-actions",
        ),
        "4.0.21-25.el8",
        "4.0.21-{n}.el8_10",
        26,
        summary="Core Plugins for DNF",
    ),
    Source(
        "tzdata",
        _bins("noarch", "tzdata"),
        "2024a-1.el8",
        "2025a-{n}.el8",
        1,
        summary="Timezone data",
    ),
    Source(
        "microcode_ctl",
        _bins(X86, "microcode_ctl"),
        "4:20240531-1.el8_10",
        "4:20240910-{n}.el8_10",
        1,
        reboot=True,
        summary="CPU microcode updates for Intel x86 processors",
    ),
    Source(
        "httpd",
        _mixed("httpd:x86_64", "httpd-tools:x86_64", "httpd-filesystem:noarch", "mod_ssl:x86_64"),
        "2.4.37-65.module_el8.10.0+3874+ce8d0a19",
        "2.4.37-65.module_el8.10.0+3874+ce8d0a19.{n}",
        1,
        optional=True,
        repo="appstream",
        summary="Apache HTTP Server",
    ),
)

CENTOS_7: tuple[Source, ...] = (
    Source(
        "openssl",
        _bins(X86, "openssl", "openssl-libs"),
        "1:1.0.2k-25.el7_9",
        "1:1.0.2k-{n}.el7_9",
        26,
    ),
    Source(
        "openssh",
        _bins(X86, "openssh", "openssh-clients", "openssh-server"),
        "7.4p1-22.el7_9",
        "7.4p1-{n}.el7_9",
        23,
    ),
    Source(
        "glibc",
        _bins(X86, "glibc", "glibc-common"),
        "2.17-325.el7_9",
        "2.17-{n}.el7_9",
        326,
        reboot=True,
    ),
    Source(
        "systemd",
        _bins(X86, "systemd", "systemd-libs", "systemd-sysv"),
        "219-78.el7_9.7",
        "219-78.el7_9.{n}",
        8,
        reboot=True,
    ),
    Source(
        "kernel",
        _bins(X86, "kernel", "kernel-tools", "kernel-tools-libs", "python-perf"),
        "3.10.0-1160.105.1.el7",
        "3.10.0-1160.{n}.1.el7",
        108,
        reboot=True,
    ),
    Source(
        "bind",
        _mixed(
            "bind-libs:x86_64", "bind-libs-lite:x86_64", "bind-license:noarch", "bind-utils:x86_64"
        ),
        "32:9.11.4-26.P2.el7_9.14",
        "32:9.11.4-26.P2.el7_9.{n}",
        15,
    ),
    Source("curl", _bins(X86, "curl", "libcurl"), "7.29.0-59.el7_9.1", "7.29.0-59.el7_9.{n}", 2),
    Source("tzdata", _bins("noarch", "tzdata"), "2023c-1.el7", "2024a-{n}.el7", 1),
    Source("python", _bins(X86, "python", "python-libs"), "2.7.5-93.el7_9", "2.7.5-{n}.el7_9", 94),
    Source(
        "NetworkManager",
        _mixed(
            "NetworkManager:x86_64",
            "NetworkManager-libnm:x86_64",
            "NetworkManager-tui:x86_64",
            "NetworkManager-team:x86_64",
            "NetworkManager-dispatcher-routing-rules:noarch",
        ),
        "1:1.18.8-1.el7",
        "1:1.18.8-{n}.el7_9",
        2,
    ),
    Source("yum-utils", _bins("noarch", "yum-utils"), "1.1.31-54.el7_8", "1.1.31-{n}.el7_9", 54),
    Source(
        "microcode_ctl",
        _bins(X86, "microcode_ctl"),
        "2:2.1-73.19.el7_9",
        "2:2.1-73.{n}.el7_9",
        20,
        reboot=True,
    ),
)

SUSE_15: tuple[Source, ...] = (
    Source(
        "openssl-3",
        _bins(X86, "libopenssl3", "openssl-3"),
        "3.1.4-150600.5.7.1",
        "3.1.4-150600.5.{n}.1",
        10,
        summary="Secure Sockets and Transport Layer Security",
    ),
    Source(
        "openssh",
        _bins(X86, "openssh", "openssh-clients", "openssh-server", "openssh-common"),
        "9.6p1-150600.6.3.1",
        "9.6p1-150600.6.{n}.1",
        6,
        summary="Secure Shell Client and Server (Remote Login Program)",
    ),
    Source(
        "glibc",
        _bins(X86, "glibc", "glibc-locale", "glibc-locale-base"),
        "2.38-150600.14.5.1",
        "2.38-150600.14.{n}.1",
        8,
        reboot=True,
        summary="Standard Shared Libraries (from the GNU C Library)",
    ),
    Source(
        "systemd",
        _bins(X86, "systemd", "libsystemd0", "libudev1", "udev", "systemd-sysvcompat"),
        "254.13-150600.4.5.1",
        "254.15-150600.4.{n}.1",
        8,
        reboot=True,
        summary="A System and Session Manager",
    ),
    Source(
        "kernel-default",
        _bins(X86, "kernel-default"),
        "6.4.0-150600.23.7.3",
        "6.4.0-150600.23.{n}.1",
        14,
        reboot=True,
        multiversion=True,
        summary="The Standard Kernel",
    ),
    Source(
        "curl",
        _bins(X86, "curl", "libcurl4"),
        "8.6.0-150600.4.3.1",
        "8.6.0-150600.4.{n}.1",
        6,
        summary="A Tool for Transferring Data from URLs",
    ),
    Source(
        "sudo",
        _bins(X86, "sudo"),
        "1.9.15p5-150600.3.3.2",
        "1.9.15p5-150600.3.{n}.1",
        6,
        summary="Execute some commands as root",
    ),
    Source(
        "timezone",
        _bins(X86, "timezone"),
        "2024a-150000.75.28.1",
        "2024b-150000.75.{n}.1",
        31,
        summary="Timezone Descriptions",
    ),
    Source(
        "python311",
        _bins(X86, "python311", "python311-base", "libpython3_11-1_0"),
        "3.11.9-150600.3.3.1",
        "3.11.10-150600.3.{n}.1",
        6,
        summary="Python 3 Interpreter",
    ),
    Source(
        "libzypp",
        _bins(X86, "libzypp", "zypper"),
        "17.34.1-150600.3.4.1",
        "17.34.1-150600.3.{n}.1",
        7,
        update_stack=True,
        summary="Library for package, patch, pattern and product management",
    ),
    Source(
        "libxml2",
        _bins(X86, "libxml2-2", "libxml2-tools"),
        "2.10.3-150500.5.17.1",
        "2.10.3-150500.5.{n}.1",
        20,
        summary="A Library to Manipulate XML Files",
    ),
    Source(
        "postgresql16",
        _bins(X86, "postgresql16", "postgresql16-server", "libpq5"),
        "16.3-150600.16.3.1",
        "16.{n}-150600.16.6.1",
        4,
        optional=True,
        repo="applications",
        summary="Basic Clients and Utilities for PostgreSQL",
    ),
    Source(
        "nginx",
        _bins(X86, "nginx"),
        "1.21.5-150600.10.3.1",
        "1.21.5-150600.10.{n}.1",
        6,
        optional=True,
        repo="applications",
        summary="A HTTP server and IMAP/POP3 proxy server",
    ),
)

SOURCES: dict[str, tuple[Source, ...]] = {
    "debian-12": DEBIAN_12,
    "debian-11": DEBIAN_11,
    "ubuntu-22.04": UBUNTU_2204,
    "ubuntu-24.04": UBUNTU_2404,
    "rhel-9": EL_9,
    "rocky-9": EL_9,
    "almalinux-8": ALMA_8,
    "centos-7": CENTOS_7,
    "sles-15": SUSE_15,
    "opensuse-leap-15": SUSE_15,
}
