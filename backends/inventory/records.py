"""Plain, frozen records that the service layer hands out: no ORM object leaves the inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

TRANSPORTS = ("ssh", "winrm", "local")
OS_FAMILIES = ("linux", "windows")
CRITICALITIES = ("low", "medium", "high", "critical")
DEFAULT_PORTS = {"ssh": 22, "winrm": 5985, "local": 0}
WINRM_HTTPS_PORT = 5986
# How a WinRM client proves who it is; ntlm is the default. basic needs HTTPS.
WINRM_AUTHS = ("ntlm", "kerberos", "credssp", "basic")

# Classifications by OS family, in display order (DESIGN.md "Domain").
CLASSIFICATIONS: dict[str, tuple[str, ...]] = {
    "linux": ("security", "other"),
    "windows": (
        "critical",
        "security",
        "update_rollup",
        "feature_pack",
        "service_pack",
        "definition",
        "tools",
        "updates",
    ),
}

Tag = tuple[str, str]


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """What an operator says about a machine (``machine add``, ``machine import``).

    ``port`` and ``os_family`` are ``None`` when not given: the transport's default applies.
    """

    name: str
    address: str
    port: int | None = None
    transport: str = "ssh"
    os_family: str | None = None
    user: str | None = None
    identity_file: str | None = None
    tags: tuple[Tag, ...] = ()
    owner: str | None = None
    role: str | None = None
    environment: str | None = None
    criticality: str = "medium"
    # WinRM only (transport winrm): see :class:`Machine`.
    winrm_auth: str = "ntlm"
    winrm_https: bool = False
    winrm_verify_cert: bool = True
    winrm_ca_file: str | None = None

    def resolved_port(self) -> int:
        if self.port is not None:
            return self.port
        if self.transport == "winrm" and self.winrm_https:
            return WINRM_HTTPS_PORT
        return DEFAULT_PORTS[self.transport]

    def resolved_os(self) -> str:
        if self.os_family is not None:
            return self.os_family
        return "windows" if self.transport == "winrm" else "linux"


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine as the inventory knows it: what the operator said plus what scans found."""

    id: int
    name: str
    address: str
    port: int
    transport: str
    os_family: str
    distro: str | None
    version: str | None
    user: str | None
    identity_file: str | None
    owner: str | None
    role: str | None
    environment: str | None
    criticality: str
    last_scan_at: datetime | None
    last_scan_outcome: str | None
    last_scan_error: str | None
    reboot_pending: bool | None
    reachable: bool | None
    tags: tuple[Tag, ...] = field(default=())
    # Missing updates by classification from the last scan: every classification of the
    # machine's OS family is present, 0 where none.
    missing: dict[str, int] = field(default_factory=dict)
    # WinRM options (transport winrm): authentication (WINRM_AUTHS), HTTPS instead of HTTP,
    # whether the server's certificate is checked (on unless the operator turned it off for
    # this machine), and a CA file to check it against instead of the system's CA store.
    # The password is never here: it comes from the environment, the keyring or a prompt.
    winrm_auth: str = "ntlm"
    winrm_https: bool = False
    winrm_verify_cert: bool = True
    winrm_ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """One update missing on one machine, as its last scan found it."""

    platform_id: str
    name: str
    installed: str | None
    available: str | None
    classification: str
    severity: str | None = None
    advisories: tuple[str, ...] = ()
    source: str | None = None
    reboot_likely: bool = False


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one scan of one machine found: facts and updates, or the failure in words."""

    machine_id: int
    at: datetime
    ok: bool
    error: str | None = None
    error_kind: str | None = None
    reachable: bool | None = None
    distro: str | None = None
    version: str | None = None
    reboot_pending: bool | None = None
    updates: tuple[Update, ...] = ()
    # The digest of ``updates`` (see scans.updates_digest); equal to the one recorded last
    # time, the updates are left as they are.
    updates_digest: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    user: str
    action: str
    machines: tuple[str, ...]
    detail: str
