"""One simulated Windows machine: what it has pending, and what its PowerShell prints.

The machine recognises patchdeck's scripts by the role line each one starts with
(``# patchdeck-role: search``) and answers the way the script would on a real Windows Server:
the marker lines it was told to print, around one JSON document written like Windows
PowerShell 5.1's ``ConvertTo-Json -Compress`` (``'``, ``<``, ``>`` and ``&`` escaped as
``\\u0027`` …), made ASCII by the script's own escaping, lines ended CR LF. Any other script is
run only if it is made of ``Write-Output '<text>'``, ``Write-Error '<text>'`` and ``exit <n>``
lines (what the transport tests send); anything else fails the way PowerShell says an unknown
command fails.

Everything is derived from the fleet's seed and the machine's index, as for the Linux machines.
Installs go through the machine's simulated Task Scheduler (:mod:`.windows_install`): the
updates a task installs leave the pending list, those that may restart leave Windows Update's
``RebootRequired`` key behind, and ``Restart-Computer`` (role ``reboot``) takes the machine
down for a while (its WinRM service, :mod:`.winrm_server`, refuses connections) and brings it
back with a new boot time.

As on Windows, the Windows Update Agent will not download or install for a WinRM session (a
network logon): a script that calls ``Download()`` or ``Install()`` (or ``Uninstall()``) in the
session itself on what ``CreateUpdateDownloader()`` / ``CreateUpdateInstaller()`` made fails
there with ``0x80070005`` (``E_ACCESSDENIED``), the way Windows PowerShell 5.1 reports the
exception: on the error stream with exit status 1, or, in a script of patchdeck's frame (role
line and marker lines), caught by the frame's ``catch`` and printed as its error document. Text
that is not code is not read as a call: comments, single-quoted strings and here-strings (the
install task's worker is uploaded in one and runs in the simulated Task Scheduler, where the
calls are allowed).
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backends.fleet.faults import MachineFaults
from backends.fleet.timing import Timing
from backends.fleet.windows_install import Scheduler
from backends.fleet.windows_kinds import KINDS, NEVER_REBOOTS, CatalogUpdate, WindowsKind

ROLE = re.compile(r"^#\s*patchdeck-role:\s*([a-z][a-z0-9-]*)\s*$", re.MULTILINE)
MARKER = re.compile(r"^Write-Output '(@@patchdeck:[0-9a-f]{16}:[a-z0-9:-]+)'\s*$", re.MULTILINE)
_WRITE = re.compile(r"^Write-(Output|Error) '((?:[^']|'')*)'$")
_EXIT = re.compile(r"^exit (-?[0-9]+)$")
WUA_ERROR = "0x8024402C"
_WUA_ERROR_TEXT = {
    "en-US": f"Exception from HRESULT: {WUA_ERROR}",
    "de-DE": f"Ausnahme von HRESULT: {WUA_ERROR}",
}
_NAMESPACE = uuid.UUID("8f3b6a52-0c1e-4f53-9a0b-5e0d6c1f2a77")
ACCESS_DENIED = "0x80070005"
_ACCESS_DENIED_TEXT = (
    f"Access is denied. (Exception from HRESULT: {ACCESS_DENIED} (E_ACCESSDENIED))"
)
_METHOD_INVOCATION = "0x80131501"  # MethodInvocationException's HResult (COR_E_SYSTEM)
# What PowerShell does not run as code: here-strings, block and line comments, '…' strings.
_NOT_CODE = re.compile(
    r"@'\r?\n.*?^'@|@\"\r?\n.*?^\"@|<#.*?#>|'(?:[^']|'')*'|#[^\n]*", re.MULTILINE | re.DOTALL
)
_WUA_MAKER = re.compile(r"\.CreateUpdate(?:Downloader|Installer)\s*\(\s*\)", re.IGNORECASE)
_WUA_CALL = re.compile(r"\.(Download|Install|Uninstall)\s*\(\s*\)", re.IGNORECASE)


def windows_name(index: int) -> str:
    return f"win-{index:03d}"


def pick_kind(seed: int, index: int) -> WindowsKind:
    """The first machines are one of each kind, in order (so ``--windows 3`` shows them all);
    the rest are drawn from the seed."""
    if index < len(KINDS):
        return KINDS[index]
    return random.Random(f"patchdeck-fleet:{seed}:win:{index}:kind").choice(KINDS)


@dataclass(frozen=True, slots=True)
class Answer:
    stdout: str
    stderr: str = ""
    status: int = 0


def powershell_json(value: Any) -> str:
    """``ConvertTo-Json -Compress`` as Windows PowerShell 5.1 writes it, made ASCII."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    for char, escaped in (("'", "\\u0027"), ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text


class WindowsMachine:
    """A simulated Windows Server. Not thread-safe; the fleet runs in one event loop."""

    def __init__(
        self, seed: int, index: int, faults: MachineFaults, timing: Timing | None = None
    ) -> None:
        self.seed = seed
        self.timing = timing or Timing()
        self.scheduler = Scheduler(self)
        self.reboot_requested = False
        self.boots = 0
        self.crashes = 0  # times it went down unexpectedly (down-mid-install)
        self.on_crash: Callable[[], None] | None = None  # the fleet takes it down and back
        self.index = index
        self.name = windows_name(index)
        self.kind = pick_kind(seed, index)
        self.faults = faults
        rng = random.Random(f"patchdeck-fleet:{seed}:win:{index}")
        self.reboot = {"cbs": False, "wu": False, "rename": False}
        if rng.random() < 0.3:
            self.reboot[rng.choice(("cbs", "wu", "rename"))] = True
        up_to_date = rng.random() < 0.1
        self.pending: tuple[CatalogUpdate, ...] = tuple(
            update
            for update in self.kind.catalog
            if not up_to_date and rng.random() < update.weight
        )
        self.boot = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(
            days=rng.randrange(0, 30), seconds=rng.randrange(0, 86400)
        )

    def __repr__(self) -> str:
        return f"WindowsMachine({self.name}, {self.kind.key})"

    def update_id(self, update: CatalogUpdate) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.kind.key}:{update.key}"))

    def install(self, update: CatalogUpdate) -> bool:
        """``update`` is installed now; whether it wants a restart to complete."""
        self.pending = tuple(u for u in self.pending if u.key != update.key)
        needs = update.behavior != NEVER_REBOOTS
        if needs:
            self.reboot["wu"] = True
        return needs

    @property
    def wants_reboot(self) -> bool:
        return any(self.reboot.values())

    def restart(self) -> None:
        """The machine is back from a restart: a new boot time, nothing pending a restart,
        running tasks gone."""
        self.reboot_requested = False
        self.boots += 1
        self.reboot = {"cbs": False, "wu": False, "rename": False}
        self.boot = max(datetime.now(UTC), self.boot + timedelta(seconds=1))
        self.scheduler.forget()

    def crash(self) -> None:
        """The machine goes down unexpectedly: its install tasks are gone (their directories
        stay). The fleet cuts its connections and brings it back later with a new boot time;
        without a fleet it is back at once."""
        self.crashes += 1
        self.scheduler.lose_tasks()
        if self.on_crash is not None:
            self.on_crash()
        else:
            self.restart()

    def run(self, script: str, rng: random.Random | None = None) -> Answer:
        """What PowerShell prints for ``script`` here."""
        role = ROLE.search(script)
        call = _direct_wua_call(script)
        denied = self._access_denied(script, role, call) if call is not None else None
        if denied is not None:
            return denied
        if role is None:
            return _literal(script)
        name = role.group(1)
        if name == "search":
            return self._search(script, rng or random.Random())
        if name == "reboot":
            self.reboot_requested = True
            return self._framed(script, name, {"reboot": True})
        if name == "boot-time":
            return self._framed(script, name, {"boot": self._boot_text()})
        document = self.scheduler.answer(name, script)
        if document is not None:
            return self._framed(script, name, document)
        return Answer("", f"patchdeck fleet: no simulated answer for role {name!r}\r\n", 1)

    def _access_denied(
        self, script: str, role: re.Match[str] | None, call: _WuaCall
    ) -> Answer | None:
        """WUA's answer to a download or install asked for in a remote session: the
        exception, caught by patchdeck's frame or not caught at all (``None`` for a script
        that catches it itself: what its ``catch`` does is not simulated)."""
        method, line, column = call.method, call.line, call.column
        message = f'Exception calling "{method}" with "0" argument(s): "{_ACCESS_DENIED_TEXT}"'
        if call.caught:
            if role is None or len(MARKER.findall(script)) != 2:
                return None
            document = {"error": {"hresult": _METHOD_INVOCATION, "message": message}}
            return self._framed(script, role.group(1), document)
        text = script.splitlines()[line - 1] if script.splitlines() else ""
        before = text[:column]
        begin = before.rfind(";") + 1  # the statement's extent: from its start to the call
        begin += len(before[begin:]) - len(before[begin:].lstrip())
        end = column + len(method) + 3  # ".Install()"
        lines = [
            message,
            f"At line:{line} char:{begin + 1}",
            f"+ {text}",
            "+ " + " " * begin + "~" * max(1, end - begin),
            "    + CategoryInfo          : NotSpecified: (:) [], MethodInvocationException",
            "    + FullyQualifiedErrorId : UnauthorizedAccessException",
        ]
        return Answer("", clixml([f"{item}\r\n" for item in lines]), 1)

    def _boot_text(self) -> str:
        return self.boot.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.boot.microsecond * 10:07d}Z"

    def _framed(self, script: str, role: str, document: dict[str, Any]) -> Answer:
        markers = MARKER.findall(script)
        if len(markers) != 2 or not markers[0].endswith(f":{role}"):
            return Answer("", f"patchdeck fleet: the {role} script has no marker lines\r\n", 1)
        return Answer(f"{markers[0]}\r\n{powershell_json(document)}\r\n{markers[1]}\r\n")

    def _search_document(self) -> dict[str, Any]:
        locale = self.kind.locale
        document: dict[str, Any] = {
            "schema": 1,
            "os": {
                "caption": self.kind.caption,
                "version": self.kind.version,
                "build": self.kind.build,
                "boot": self._boot_text(),
            },
            "reboot": dict(self.reboot),
        }
        if self.faults.wua_error:
            document["search"] = {"hresult": WUA_ERROR, "message": _WUA_ERROR_TEXT[locale]}
            document["updates"] = []
            return document
        document["search"] = {"result": 2}
        document["updates"] = [
            {
                "id": self.update_id(update),
                "rev": update.revision,
                "title": update.title(locale),
                "kb": [update.kb],
                "classes": [update.classification],
                "msrc": update.msrc,
                "reboot": False,
                "behavior": update.behavior,
                "size": update.size,
            }
            for update in self.pending
        ]
        return document

    def _search(self, script: str, rng: random.Random) -> Answer:
        markers = MARKER.findall(script)
        if len(markers) != 2:
            return Answer("", "patchdeck fleet: the search script has no marker lines\r\n", 1)
        body = powershell_json(self._search_document())
        if self.faults.garbage:
            junk = bytes(rng.randrange(256) for _ in range(400))
            body = junk.decode("latin-1")
        return Answer(f"{markers[0]}\r\n{body}\r\n{markers[1]}\r\n")


@dataclass(frozen=True, slots=True)
class _WuaCall:
    method: str  # Download, Install or Uninstall
    line: int  # from 1
    column: int  # from 0, of the ``.``
    caught: bool  # the script has a try/catch


def _direct_wua_call(script: str) -> _WuaCall | None:
    """The first ``Download()`` / ``Install()`` / ``Uninstall()`` call in the code of a
    script that also makes a WUA downloader or installer; ``None`` when it does not."""
    code = _NOT_CODE.sub(lambda m: "''" + "\n" * m.group().count("\n"), script)
    if _WUA_MAKER.search(code) is None:
        return None
    call = _WUA_CALL.search(code)
    if call is None:
        return None
    line = code.count("\n", 0, call.start()) + 1
    original = script.splitlines()[line - 1] if line <= len(script.splitlines()) else ""
    found = re.search(rf"\.{call.group(1)}\s*\(\s*\)", original, re.IGNORECASE)
    column = found.start() if found is not None else 0
    method = {"download": "Download", "install": "Install", "uninstall": "Uninstall"}
    caught = re.search(r"\bcatch\s*\{", code, re.IGNORECASE) is not None
    return _WuaCall(method[call.group(1).lower()], line, column, caught)


def clixml(lines: list[str]) -> str:
    """The error stream as powershell.exe writes it when stderr is not a console: CLIXML."""
    if not lines:
        return ""
    parts = []
    for line in lines:
        text = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts.append(f'<S S="Error">{text.replace(chr(13) + chr(10), "_x000D__x000A_")}</S>')
    objects = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    return "#< CLIXML\r\n" + objects + "".join(parts) + "</Objs>"


def _literal(script: str) -> Answer:
    """A script of ``Write-Output '…'`` / ``Write-Error '…'`` / ``exit N`` lines."""
    out: list[str] = []
    err: list[str] = []
    for raw in script.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        written = _WRITE.match(line)
        if written is not None:
            text = written.group(2).replace("''", "'")
            (out if written.group(1) == "Output" else err).append(text + "\r\n")
            continue
        done = _EXIT.match(line)
        if done is not None:
            return Answer("".join(out), clixml(err), int(done.group(1)))
        word = line.split()[0]
        err.append(
            f"{word} : The term '{word}' is not recognized as the name of a cmdlet, function, "
            "script file, or operable program.\r\n"
        )
        return Answer("".join(out), clixml(err), 1)
    return Answer("".join(out), clixml(err), 1 if err else 0)
