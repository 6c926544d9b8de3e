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
"""

from __future__ import annotations

import json
import random
import re
import uuid
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

    def run(self, script: str, rng: random.Random | None = None) -> Answer:
        """What PowerShell prints for ``script`` here."""
        role = ROLE.search(script)
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
