"""Whether a machine waits for a reboot, and which updates are likely to ask for one."""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.platforms.probe import SectionOutput, clip, tail

# dnf-plugins-core needs_restarting.py's list of packages whose update needs a reboot
# (research/backends.md §2.5), with their Debian and SUSE counterparts.
_REBOOT_NAMES = frozenset(
    {
        # RHEL family, needs-restarting's own list
        "kernel",
        "kernel-core",
        "kernel-rt",
        "kernel-rt-core",
        "glibc",
        "linux-firmware",
        "systemd",
        "dbus",
        "dbus-broker",
        "dbus-daemon",
        "microcode_ctl",
        # Debian / Ubuntu
        "libc6",
        "intel-microcode",
        "amd64-microcode",
        "firmware-linux",
        "firmware-linux-free",
        "firmware-linux-nonfree",
        # SUSE
        "dbus-1",
        "ucode-intel",
        "ucode-amd",
        "kernel-firmware",
    }
)
_REBOOT_PREFIXES = (
    "linux-image-",  # Debian / Ubuntu kernels and their meta packages
    "kernel-default",  # SUSE kernels: kernel-default, kernel-default-base
    "kernel-azure",
    "kernel-firmware-",
    "kernel-uek",  # Oracle Linux
)


def reboot_likely(package: str) -> bool:
    """True for packages whose update takes effect only after a reboot."""
    name = package.split(":", 1)[0]
    return name in _REBOOT_NAMES or name.startswith(_REBOOT_PREFIXES)


@dataclass(slots=True)
class RebootState:
    required: bool | None = None
    packages: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def apt_reboot(flag: SectionOutput | None, pkgs: SectionOutput | None) -> RebootState:
    """``test -e /var/run/reboot-required`` (0 = required) and the ``.pkgs`` list beside it."""
    state = RebootState()
    if flag is None:
        state.notes.append("reboot state unknown: the reboot-flag section is missing")
        return state
    if flag.status not in (0, 1):
        state.notes.append(f"reboot state unknown: test -e exited {flag.status}")
        return state
    state.required = flag.status == 0
    if pkgs is not None and pkgs.status == 0:
        names = (line.strip() for line in pkgs.lines)
        state.packages = tuple(dict.fromkeys(clip(name) for name in names if name))
    return state


def needs_restarting(output: SectionOutput | None) -> RebootState:
    """``needs-restarting -r`` (dnf-plugins-core, yum-utils): exit 1 with "Reboot is required"
    means required, exit 0 with "No core libraries or services have been updated" means not.
    Exit 1 alone is also dnf's generic error, so the text must agree."""
    state = RebootState()
    if output is None:
        state.notes.append("reboot state unknown: the needs-restarting section is missing")
        return state
    if output.status == 1 and "Reboot is required" in output.body:
        state.required = True
    elif output.status == 0 and "No core libraries or services have been updated" in output.body:
        state.required = False
    elif output.status == 127:
        state.notes.append(
            "reboot state unknown: needs-restarting is not installed "
            "(dnf-plugins-core on dnf systems, yum-utils on EL7)"
        )
    else:
        state.notes.append(
            f"reboot state unknown: needs-restarting -r exited {output.status}: "
            f"{tail(output.body, 2) or 'no output'}"
        )
    return state


def zypper_needs_rebooting(output: SectionOutput | None) -> RebootState:
    """``zypper needs-rebooting``: exit 102 when a reboot is needed, 0 when not."""
    state = RebootState()
    if output is None:
        state.notes.append("reboot state unknown: the zypper-reboot section is missing")
    elif output.status == 102:
        state.required = True
    elif output.status == 0:
        state.required = False
    else:
        state.notes.append(
            f"reboot state unknown: zypper needs-rebooting exited {output.status} "
            f"(it needs zypper 1.14.15 or later): {tail(output.body, 2) or 'no output'}"
        )
    return state
