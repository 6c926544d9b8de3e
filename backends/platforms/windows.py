"""Assessing a Windows machine: one PowerShell script, one JSON document back.

    assessor = assess()
    command = next(assessor)              # a Command: PowerShell for WinRM
    assessor.send(Result(...))            # StopIteration carries the Assessment

docs/windows.md is the contract. The script asks the Windows Update Agent (the COM object
``Microsoft.Update.Session``) for every software update not installed and not hidden, reads the
OS facts and the three registry places that say a restart is pending, and prints ONE JSON
document, ASCII only (every other character escaped, so the console's code page cannot garble
a localised title), between two marker lines that carry a per-script nonce, as the Linux
scripts do (``backends/platforms/probe.py``). Its first line names its role for whoever reads
it (``# patchdeck-role: search``).

Classification is by the ``UpdateClassification`` category's GUID, never its name (names are
localised); an unknown GUID counts as ``updates``, with a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.platforms.probe import check_nonce, clip, new_nonce, split_answer
from backends.platforms.records import (
    Assessment,
    Assessor,
    Command,
    Facts,
    FoundUpdate,
    PlatformError,
)
from backends.platforms.windows_errors import describe_hresult, describe_result_code

SEARCH_TIMEOUT = 600.0  # a first search against Windows Update can take minutes
SECTION = "windows-scan"
ROLE_SEARCH = "search"
SEARCH_CRITERIA = "IsInstalled=0 and IsHidden=0 and Type='Software'"
MAX_PROBLEMS = 50
MAX_TITLE = 500
SEVERITY_LIMIT = 32

# WSUS / WUA classification category GUIDs (Microsoft, "WSUS Classification GUIDs": see
# docs/windows.md), lower-case as WUA returns them.
CLASSIFICATION_GUIDS: dict[str, str] = {
    "e6cf1350-c01b-414d-a61f-263d14d133b4": "critical",
    "0fa1201d-4330-4fa8-8ae9-b877473b6441": "security",
    "28bc880e-0592-4cbf-8f95-c79b17911d5f": "update_rollup",
    "b54e7d24-7add-428f-8b75-90a396fa584f": "feature_pack",
    "68c5b0a3-d1a6-4553-ae49-01d3a7827828": "service_pack",
    "e0789628-ce08-4437-be74-2495b842f43b": "definition",
    "b4832bd8-e735-4761-8daf-37f882276dab": "tools",
    "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83": "updates",
}
# Classifications that exist but are none of the eight: counted as ``updates``, named in a note.
OTHER_CLASSIFICATIONS: dict[str, str] = {
    "ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0": "Drivers",
    "3689bdc8-b205-4af4-8d4a-a63924c5e9d5": "Upgrades",
    "5c9376ab-8ce6-464a-b136-22113dd69801": "Applications",
    "434de588-ed14-48f5-8eed-a15e09a991f6": "Connectors",
    "e140075d-8433-45c3-ad87-e72345b36078": "Developer Kits",
    "9511d615-35b2-47bb-927f-f73d8e9260bb": "Guidance",
}
# Where several classifications are given, the first of these wins.
_PRECEDENCE = (
    "security",
    "critical",
    "update_rollup",
    "service_pack",
    "feature_pack",
    "definition",
    "tools",
    "updates",
)
SEVERITIES = {s.lower(): s for s in ("Critical", "Important", "Moderate", "Low")}
REBOOT_KEYS = {
    "cbs": r"Component Based Servicing\RebootPending",
    "wu": r"WindowsUpdate\Auto Update\RebootRequired",
    "rename": "PendingFileRenameOperations",
}

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_KB = re.compile(r"(?:KB)?([0-9]{4,10})\Z", re.IGNORECASE)

# The script. NONCE is replaced by each scan's own; the criteria by SEARCH_CRITERIA. Kept short:
# `powershell -EncodedCommand` of it must fit cmd.exe's 8191-character command line.
_SEARCH_TEMPLATE = r"""# patchdeck-role: search
$ProgressPreference='SilentlyContinue'
$ErrorActionPreference='Stop'
function J($o){$s=ConvertTo-Json -InputObject $o -Depth 5 -Compress
[regex]::Replace($s,'[^\x00-\x7e]',{param($m)'\u{0:x4}' -f [int][char]$m.Value})}
$d=[ordered]@{schema=1}
$os=Get-CimInstance Win32_OperatingSystem
$d.os=[ordered]@{caption=$os.Caption;version=$os.Version;build=$os.BuildNumber
boot=$os.LastBootUpTime.ToUniversalTime().ToString('o')}
$k='HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion'
$m='HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager'
$p=Get-ItemProperty $m -Name PendingFileRenameOperations -ErrorAction SilentlyContinue
$d.reboot=[ordered]@{cbs=(Test-Path "$k\Component Based Servicing\RebootPending")
wu=(Test-Path "$k\WindowsUpdate\Auto Update\RebootRequired");rename=($null -ne $p)}
$u=@()
try{$q=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()
$r=$q.Search("CRITERIA")
foreach($x in $r.Updates){$u+=[ordered]@{id=$x.Identity.UpdateID
rev=$x.Identity.RevisionNumber;title=$x.Title;kb=@($x.KBArticleIDs|%{"$_"})
classes=@($x.Categories|?{$_.Type -eq 'UpdateClassification'}|%{$_.CategoryID})
msrc=$x.MsrcSeverity;reboot=$x.RebootRequired
behavior=$x.InstallationBehavior.RebootBehavior;size=[int64]$x.MaxDownloadSize}}
$d.search=[ordered]@{result=[int]$r.ResultCode}
}catch{$d.search=[ordered]@{hresult='0x{0:X8}' -f $_.Exception.HResult
message="$($_.Exception.Message)"}}
$d.updates=$u
Write-Output '@@patchdeck:NONCE:windows-scan'
Write-Output (J $d)
Write-Output '@@patchdeck:NONCE:end:0'
"""
_TEMPLATE_NONCE = "5eed5eed5eed5eed"
_SEARCH = _SEARCH_TEMPLATE.replace("CRITERIA", SEARCH_CRITERIA).replace("NONCE", _TEMPLATE_NONCE)


def search_script(nonce: str) -> str:
    """The scan's PowerShell script, framed with ``nonce``."""
    return _SEARCH.replace(_TEMPLATE_NONCE, check_nonce(nonce))


def assess(nonce: str | None = None) -> Assessor:
    """Assess the Windows machine the engine runs the yielded command on (one round trip)."""
    if nonce is not None:
        check_nonce(nonce)
    script_nonce = nonce or new_nonce()
    result = yield Command(search_script(script_nonce), timeout=SEARCH_TIMEOUT)
    answer = split_answer(result, script_nonce, "Windows Update scan")
    output = answer.get(SECTION)
    if output is None:
        raise PlatformError("unparseable", f"the Windows Update scan printed no {SECTION} section")
    return parse_scan(output.body)


@dataclass(slots=True)
class _Reading:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)  # classification GUID → updates
    other: dict[str, int] = field(default_factory=dict)  # Drivers, Upgrades, … → updates
    unclassified: int = 0


def parse_scan(body: str) -> Assessment:
    """The JSON document the search script printed, as an :class:`Assessment`.

    Raises :class:`PlatformError` when it is not a JSON object, or when the search itself
    failed (with the HRESULT in words); everything else that is odd becomes a problem or a
    note, never a crash."""
    text = body.strip()
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise PlatformError(
            "unparseable",
            f"the Windows Update scan did not print a JSON document: {clip(text, 200)!r}",
        ) from None
    if not isinstance(document, dict):
        raise PlatformError(
            "unparseable", "the Windows Update scan printed JSON that is not an object"
        )
    reading = _Reading()
    _check_search(_mapping(document.get("search")), reading)
    facts = _facts(document, reading)
    updates = _updates(document.get("updates"), reading)
    notes = reading.notes
    for guid, count in sorted(reading.unknown.items()):
        notes.append(
            f"{count} update(s) have classification {guid}, which patchdeck does not know: "
            "counted as updates"
        )
    for name, count in sorted(reading.other.items()):
        notes.append(f"{count} update(s) classified {name}: counted as updates")
    if reading.unclassified:
        notes.append(f"{reading.unclassified} update(s) have no classification: counted as updates")
    problems = reading.problems
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"… and {len(problems) - MAX_PROBLEMS} more problems"]
    return Assessment(facts=facts, updates=updates, problems=problems, notes=notes)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object, limit: int = 200) -> str | None:
    if isinstance(value, str):
        stripped = value.strip()
        return clip(stripped, limit) if stripped else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _check_search(search: Mapping[str, Any], reading: _Reading) -> None:
    hresult = search.get("hresult")
    if hresult is not None:
        message = _text(search.get("message"))
        said = f" (Windows said: {message})" if message else ""
        raise PlatformError(
            "command-failed", f"the Windows Update search failed: {describe_hresult(hresult)}{said}"
        )
    result = search.get("result")
    if result in (4, 5):
        raise PlatformError(
            "command-failed", f"the Windows Update search {describe_result_code(result)}"
        )
    if result == 3:
        reading.notes.append(
            "the Windows Update search succeeded with errors: some updates may "
            "be missing from the list"
        )
    elif result != 2:
        reading.problems.append(f"search: unexpected result code {clip(str(result), 40)!r}")


def _facts(document: Mapping[str, Any], reading: _Reading) -> Facts:
    os_info = _mapping(document.get("os"))
    caption = _text(os_info.get("caption"))
    version = _text(os_info.get("version"), 64)
    boot = _text(os_info.get("boot"), 64)
    if caption is None or version is None:
        reading.problems.append("os: the caption or version of Windows is missing")
    distro = None
    if caption is not None:
        distro = clip(caption.removeprefix("Microsoft ").strip(), 64)
    reboot = document.get("reboot")
    required: bool | None = None
    if isinstance(reboot, dict):
        flags = {key: reboot.get(key) for key in REBOOT_KEYS}
        pending = [REBOOT_KEYS[key] for key, value in flags.items() if value is True]
        if all(isinstance(value, bool) for value in flags.values()):
            required = bool(pending)
        elif pending:
            required = True
        else:
            reading.problems.append("reboot: the pending-restart flags are not all readable")
        if pending:
            reading.notes.append(f"a restart is pending ({', '.join(pending)})")
    else:
        reading.problems.append("reboot: the pending-restart flags are missing")
    return Facts(
        family="windows",
        distro=distro,
        version=version,
        pretty_name=caption,
        package_manager="wua",
        boot_id=boot,
        reboot_required=required,
    )


def _updates(items: object, reading: _Reading) -> list[FoundUpdate]:
    if items is None:
        items = []
    if isinstance(items, dict):  # one update, serialised without its array by some hosts
        items = [items]
    if not isinstance(items, list):
        reading.problems.append("updates: not a list")
        return []
    found: list[FoundUpdate] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        update = _update(item, index, reading)
        if update is None:
            continue
        if update.platform_id in seen:
            reading.problems.append(f"update {update.platform_id} listed twice; kept the first")
            continue
        seen.add(update.platform_id)
        found.append(update)
    return found


def _update(item: object, index: int, reading: _Reading) -> FoundUpdate | None:
    if not isinstance(item, dict):
        reading.problems.append(f"update {index}: not an object: {clip(repr(item), 80)}")
        return None
    update_id = item.get("id")
    guid = update_id.strip().strip("{}").lower() if isinstance(update_id, str) else ""
    if not _GUID.match(guid):
        reading.problems.append(f"update {index}: no UpdateID: {clip(repr(update_id), 80)}")
        return None
    kbs = _kbs(item.get("kb"))
    title = _text(item.get("title"), MAX_TITLE) or (kbs[0] if kbs else guid)
    revision = item.get("rev")
    available = (
        str(revision) if isinstance(revision, int) and not isinstance(revision, bool) else None
    )
    severity = _text(item.get("msrc"), SEVERITY_LIMIT)
    if severity is not None:
        severity = SEVERITIES.get(severity.lower(), severity)
    behavior = item.get("behavior")
    reboot_likely = item.get("reboot") is True or (
        isinstance(behavior, int) and not isinstance(behavior, bool) and behavior in (1, 2)
    )
    return FoundUpdate(
        platform_id=guid,
        name=title,
        installed=None,
        available=available,
        classification=_classification(item.get("classes"), reading),
        severity=severity,
        advisories=kbs,
        source=None,
        reboot_likely=reboot_likely,
    )


def _kbs(value: object) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    kbs: list[str] = []
    for entry in values:
        text = str(entry).strip() if isinstance(entry, str | int) else ""
        match = _KB.match(text)
        if match and f"KB{match.group(1)}" not in kbs:
            kbs.append(f"KB{match.group(1)}")
    return tuple(kbs)


def _classification(value: object, reading: _Reading) -> str:
    values = value if isinstance(value, list) else [value]
    guids = [v.strip().strip("{}").lower() for v in values if isinstance(v, str) and v.strip()]
    known = {CLASSIFICATION_GUIDS[g] for g in guids if g in CLASSIFICATION_GUIDS}
    for name in _PRECEDENCE:
        if name in known:
            return name
    others = [g for g in guids if g in OTHER_CLASSIFICATIONS]
    if others:
        name = OTHER_CLASSIFICATIONS[others[0]]
        reading.other[name] = reading.other.get(name, 0) + 1
    elif guids:
        guid = clip(guids[0], 40)
        reading.unknown[guid] = reading.unknown.get(guid, 0) + 1
    else:
        reading.unclassified += 1
    return "updates"
