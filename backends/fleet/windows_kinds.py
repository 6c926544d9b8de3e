"""The kinds of Windows machine the simulated fleet has, and the updates they can miss.

Titles follow the patterns Windows Update shows (``2024-05 Cumulative Update for …
(KB5037422)``, ``Windows Malicious Software Removal Tool x64 - v5.124 (KB890830)``), with the
classification each kind of update gets in the Microsoft Update Catalog. The KB numbers and
versions are illustrative, not a claim about a particular month's release. Classification
GUIDs are the published WSUS ones, written here independently of ``backends.platforms`` (the
fleet must not share the parser's tables: a test against it would then prove nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

# WSUS classification GUIDs, as WUA returns them (lower case).
CRITICAL = "e6cf1350-c01b-414d-a61f-263d14d133b4"
SECURITY = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
UPDATE_ROLLUP = "28bc880e-0592-4cbf-8f95-c79b17911d5f"
DEFINITION = "e0789628-ce08-4437-be74-2495b842f43b"
UPDATES = "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83"

# InstallationBehavior.RebootBehavior
NEVER_REBOOTS, ALWAYS_REQUIRES_REBOOT, CAN_REQUEST_REBOOT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class CatalogUpdate:
    """One update as Windows Update describes it. ``titles`` by locale (en-US always)."""

    key: str  # stable id within the catalogue, feeds the UpdateID
    kb: str  # digits, as KBArticleIDs holds them
    titles: dict[str, str]
    classification: str  # a GUID
    msrc: str | None  # Critical | Important | Moderate | Low, or None
    behavior: int
    size: int  # MaxDownloadSize, bytes
    revision: int
    weight: float  # how likely a machine is to miss it

    def title(self, locale: str) -> str:
        return self.titles.get(locale, self.titles["en-US"])


@dataclass(frozen=True, slots=True)
class WindowsKind:
    key: str  # windows-server-2022, … (the ``kind=`` tag)
    label: str
    caption: str  # Win32_OperatingSystem.Caption
    version: str  # Win32_OperatingSystem.Version
    build: str
    locale: str
    catalog: tuple[CatalogUpdate, ...]


def _u(
    key: str,
    kb: str,
    en: str,
    classification: str,
    msrc: str | None = None,
    behavior: int = NEVER_REBOOTS,
    size: int = 1_000_000,
    revision: int = 1,
    weight: float = 0.5,
    de: str | None = None,
) -> CatalogUpdate:
    titles = {"en-US": en}
    if de is not None:
        titles["de-DE"] = de
    return CatalogUpdate(key, kb, titles, classification, msrc, behavior, size, revision, weight)


_DEFENDER = _u(
    "defender-definitions",
    "2267602",
    "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 "
    "(Version 1.411.112.0)",
    DEFINITION,
    size=88_214_528,
    revision=200,
    weight=0.9,
    de="Security Intelligence-Update für Microsoft Defender Antivirus - KB2267602 "
    "(Version 1.411.112.0)",
)
_MSRT = _u(
    "msrt",
    "890830",
    "Windows Malicious Software Removal Tool x64 - v5.124 (KB890830)",
    UPDATE_ROLLUP,
    size=77_594_624,
    revision=200,
    weight=0.6,
    de="Windows-Tool zum Entfernen bösartiger Software x64 - v5.124 (KB890830)",
)
_DEFENDER_PLATFORM = _u(
    "defender-platform",
    "4052623",
    "Update for Microsoft Defender Antivirus antimalware platform - KB4052623 "
    "(Version 4.18.24040.4)",
    CRITICAL,
    size=13_631_488,
    weight=0.4,
    de="Update für die Antischadsoftwareplattform von Microsoft Defender Antivirus - "
    "KB4052623 (Version 4.18.24040.4)",
)

SERVER_2022_CATALOG = (
    _u(
        "2022-cu",
        "5037422",
        "2024-05 Cumulative Update for Microsoft server operating system version 21H2 for "
        "x64-based Systems (KB5037422)",
        SECURITY,
        "Critical",
        CAN_REQUEST_REBOOT,
        size=401_604_608,
        weight=0.8,
        de="2024-05 Kumulatives Update für Microsoft Server Betriebssystem, Version 21H2 für "
        "x64-basierte Systeme (KB5037422)",
    ),
    _u(
        "2022-dotnet",
        "5037930",
        "2024-05 Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for Microsoft server "
        "operating system version 21H2 for x64 (KB5037930)",
        SECURITY,
        "Important",
        CAN_REQUEST_REBOOT,
        size=72_351_744,
        weight=0.6,
        de="2024-05 Kumulatives Update für .NET Framework 3.5, 4.8 und 4.8.1 für Microsoft "
        "Server Betriebssystem, Version 21H2 für x64 (KB5037930)",
    ),
    _u(
        "2022-preview",
        "5037782",
        "2024-04 Cumulative Update Preview for Microsoft server operating system version 21H2 "
        "for x64-based Systems (KB5037782)",
        UPDATES,
        behavior=CAN_REQUEST_REBOOT,
        size=398_458_880,
        weight=0.3,
        de="2024-04 Kumulatives Vorschauupdate für Microsoft Server Betriebssystem, Version "
        "21H2 für x64-basierte Systeme (KB5037782)",
    ),
    _DEFENDER,
    _MSRT,
    _DEFENDER_PLATFORM,
)

SERVER_2019_CATALOG = (
    _u(
        "2019-cu",
        "5037765",
        "2024-05 Cumulative Update for Windows Server 2019 for x64-based Systems (KB5037765)",
        SECURITY,
        "Critical",
        CAN_REQUEST_REBOOT,
        size=612_368_384,
        weight=0.8,
    ),
    _u(
        "2019-ssu",
        "5037016",
        "2024-04 Servicing Stack Update for Windows Server 2019 for x64-based Systems (KB5037016)",
        SECURITY,
        "Critical",
        NEVER_REBOOTS,
        size=13_107_200,
        weight=0.5,
    ),
    _u(
        "2019-dotnet",
        "5038074",
        "2024-05 Cumulative Update for .NET Framework 3.5, 4.7.2 and 4.8 for Windows Server "
        "2019 for x64 (KB5038074)",
        SECURITY,
        "Important",
        CAN_REQUEST_REBOOT,
        size=69_206_016,
        weight=0.6,
    ),
    _DEFENDER,
    _MSRT,
    _DEFENDER_PLATFORM,
)

KINDS: tuple[WindowsKind, ...] = (
    WindowsKind(
        "windows-server-2022",
        "Windows Server 2022",
        "Microsoft Windows Server 2022 Standard",
        "10.0.20348",
        "20348",
        "en-US",
        SERVER_2022_CATALOG,
    ),
    WindowsKind(
        "windows-server-2019",
        "Windows Server 2019",
        "Microsoft Windows Server 2019 Datacenter",
        "10.0.17763",
        "17763",
        "en-US",
        SERVER_2019_CATALOG,
    ),
    WindowsKind(
        "windows-server-2022-de",
        "Windows Server 2022 (German)",
        "Microsoft Windows Server 2022 Standard",
        "10.0.20348",
        "20348",
        "de-DE",
        SERVER_2022_CATALOG,
    ),
)
