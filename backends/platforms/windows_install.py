"""Installing a Windows machine's plan through a one-shot scheduled task, and reading it back.

The Windows Update Agent refuses to download or install from a remote (WinRM) session
(``E_ACCESSDENIED``, research/backends.md §4.2), so the install runs as SYSTEM in a scheduled
task that patchdeck registers, starts, polls and removes (docs/windows.md, "Installing"):

    job = Job.new()                                   # the task's name and directory
    for command in prepare_commands(job, ids, nonce):  # the worker and the UpdateIDs, uploaded
        ...; read_answer(result, nonce, role)
    register_command(job, nonce); start_command(job, nonce)
    poll_command(job, offset, nonce) → read_poll(result, nonce)  # new progress bytes + state
    remove_command(job, nonce)                        # always, also on failure or cancel

Pure, like the other platforms: scripts out, records in. Every value that reaches a script is
checked first: a job id is 16 lowercase hex digits, an UpdateID a GUID (anything else is
refused with ``ValueError``), an offset a non-negative integer; nothing else varies.

The worker writes one JSON object per line to ``progress.jsonl`` in the job's directory
(ASCII, ``\\n``-terminated; :func:`parse_line` reads one, never raising):

- ``{"phase":"search","count":N,"missing":[ids]}``: what the search by UpdateID found;
- ``{"phase":"download"|"install","id":ID,"index":I,"count":N,"percent":P}`` as each begins;
- ``{"phase":"result","id":ID,"step":"download"|"install","result":R,"hresult":H,
  "reboot":B,"percent":P}`` as each ends (``result`` an ``OperationResultCode``);
- ``{"phase":"done","result":R,"reboot":B}`` last, or ``{"phase":"error","hresult":H,
  "message":M}`` when the worker itself failed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.platforms.probe import check_nonce, clip, split_answer
from backends.platforms.records import (
    Command,
    InstallOutcome,
    InstallProgress,
    Pinned,
    PlatformError,
    Result,
)
from backends.platforms.windows_errors import describe_hresult, describe_result_code

ROOT = r"C:\ProgramData\patchdeck"
TASK_PATH = "\\patchdeck\\"
PROGRESS_FILE = "progress.jsonl"
IDS_PER_SCRIPT = 50  # keeps each upload script well inside cmd.exe's command line
POLL_BYTES = 65536  # progress bytes returned per poll at most
STEP_TIMEOUT = 120.0
REBOOT_TIMEOUT = 60.0
MAX_LINE = 8192
TASK_RUNNING = ("Running", "Queued")

ROLE_PREPARE = "task-prepare"
ROLE_IDS = "task-ids"
ROLE_REGISTER = "task-register"
ROLE_START = "task-start"
ROLE_POLL = "task-poll"
ROLE_REMOVE = "task-remove"
ROLE_REBOOT = "reboot"
ROLE_BOOT_TIME = "boot-time"

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_JOB = re.compile(r"[0-9a-f]{16}\Z")
_HRESULT = re.compile(r"0x[0-9A-Fa-f]{8}\Z")


def check_update_id(value: str) -> str:
    """A WUA UpdateID as a lower-case GUID (braces and case forgiven); anything else raises
    ``ValueError``: only a GUID may reach a script."""
    text = value.strip().removeprefix("{").removesuffix("}") if isinstance(value, str) else ""
    text = text.lower()
    if not _GUID.match(text):
        raise ValueError(f"not a Windows UpdateID (a GUID): {clip(repr(value), 80)}")
    return text


@dataclass(frozen=True, slots=True)
class Job:
    """One install task: ``\\patchdeck\\install-<id>`` and ``ProgramData\\patchdeck\\<id>``."""

    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _JOB.match(self.id):
            raise ValueError(f"a job id is 16 lowercase hex digits, not {self.id!r}")

    @classmethod
    def new(cls) -> Job:
        return cls(secrets.token_hex(8))

    @property
    def task(self) -> str:
        return f"install-{self.id}"

    @property
    def directory(self) -> str:
        return f"{ROOT}\\{self.id}"


# -- scripts ----------------------------------------------------------------------------------

_PRELUDE = r"""# patchdeck-role: ROLE
$ProgressPreference='SilentlyContinue'
$ErrorActionPreference='Stop'
function J($o){$s=ConvertTo-Json -InputObject $o -Depth 4 -Compress
[regex]::Replace($s,'[^\x00-\x7e]',{param($m)'\u{0:x4}' -f [int][char]$m.Value})}
"""
_FRAME = r"""Write-Output '@@patchdeck:NONCE:ROLE'
try{
BODY
}catch{$e=$_.Exception;$r=[ordered]@{error=[ordered]@{hresult=('0x{0:X8}' -f $e.HResult)
message="$($e.Message)"}}}
Write-Output (J $r)
Write-Output '@@patchdeck:NONCE:end:0'
"""
_JOB_LINES = "$d='DIR'\n$n='TASK'\n$p='TASKPATH'\n"

# The worker: runs as SYSTEM in the task. Searches by UpdateID, then downloads and installs
# each update in turn, appending a JSON line as each step begins and ends.
_WORKER = r"""$ErrorActionPreference='Stop'
$f="$PSScriptRoot\progress.jsonl"
function W($o){$s=ConvertTo-Json -InputObject $o -Depth 3 -Compress
$s=[regex]::Replace($s,'[^\x00-\x7e]',{param($m)'\u{0:x4}' -f [int][char]$m.Value})
[IO.File]::AppendAllText($f,$s+"`n")}
function H($v){'0x{0:X8}' -f [int]$v}
try{$ids=@(Get-Content "$PSScriptRoot\ids.txt"|?{$_})
$w=New-Object -ComObject Microsoft.Update.Session
$q=$w.CreateUpdateSearcher()
$x=$q.Search((($ids|%{"IsInstalled=0 and UpdateID='$_'"}) -join ' or '))
$c=$x.Updates.Count
$got=@($x.Updates|%{$_.Identity.UpdateID})
W ([ordered]@{phase='search';count=$c;missing=@($ids|?{$got -notcontains $_})})
$i=0;$b=$false;$bad=0
foreach($u in $x.Updates){$id=$u.Identity.UpdateID
$one=New-Object -ComObject Microsoft.Update.UpdateColl
if(-not $u.EulaAccepted){$u.AcceptEula()}
[void]$one.Add($u)
W ([ordered]@{phase='download';id=$id;index=$i;count=$c;percent=[int](100*$i/$c)})
$g=$w.CreateUpdateDownloader();$g.Updates=$one;$y=$g.Download()
if($y.ResultCode -ne 2 -and -not $u.IsDownloaded){$bad++
W ([ordered]@{phase='result';id=$id;step='download';result=[int]$y.ResultCode
hresult=(H ($y.GetUpdateResult(0).HResult));percent=[int](100*($i+1)/$c)});$i++;continue}
W ([ordered]@{phase='install';id=$id;index=$i;count=$c;percent=[int](100*($i+0.5)/$c)})
$s=$w.CreateUpdateInstaller();$s.AllowSourcePrompts=$false;$s.Updates=$one
$z=$s.Install().GetUpdateResult(0)
if($z.RebootRequired){$b=$true}
if($z.ResultCode -gt 3){$bad++}
W ([ordered]@{phase='result';id=$id;step='install';result=[int]$z.ResultCode
hresult=(H $z.HResult);reboot=$z.RebootRequired;percent=[int](100*($i+1)/$c)});$i++}
$b=$b -or (New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired
$o=2;if($bad){$o=4}
W ([ordered]@{phase='done';result=$o;reboot=$b})
}catch{W ([ordered]@{phase='error';hresult=(H $_.Exception.HResult)
message="$($_.Exception.Message)"})}
"""

_BODIES = {
    ROLE_PREPARE: r"""$b='ROOT'
if(-not(Test-Path $b)){New-Item -ItemType Directory -Path $b|Out-Null}
icacls $b /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F'|Out-Null
if($LASTEXITCODE){throw "icacls $b exited $LASTEXITCODE"}
if(Test-Path $d){Remove-Item $d -Recurse -Force}
New-Item -ItemType Directory -Path $d|Out-Null
Set-Content -Path "$d\worker.ps1" -Encoding ASCII -Value @'
WORKER'@
$r=[ordered]@{dir=$d;size=(Get-Item "$d\worker.ps1").Length}""",
    ROLE_REGISTER: r"""$w="-NoProfile -NonInteractive -ExecutionPolicy Bypass"
$w+=" -File `"$d\worker.ps1`""
$a=New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $w
$u=New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$s=New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
-ExecutionTimeLimit (New-TimeSpan -Hours 4) -MultipleInstances IgnoreNew
Register-ScheduledTask -TaskName $n -TaskPath $p -Action $a -Principal $u -Settings $s `
-Force|Out-Null
$r=[ordered]@{task=$n}""",
    ROLE_START: r"""Start-ScheduledTask -TaskName $n -TaskPath $p
$r=[ordered]@{state="$((Get-ScheduledTask -TaskName $n -TaskPath $p).State)"}""",
    ROLE_POLL: r"""$o=OFFSET
$r=[ordered]@{state='Missing';last=$null;size=0;data=''}
$t=Get-ScheduledTask -TaskName $n -TaskPath $p -ErrorAction SilentlyContinue
if($t){$r.state="$($t.State)"
$r.last='0x{0:X8}' -f [uint32]($t|Get-ScheduledTaskInfo).LastTaskResult}
$f="$d\progress.jsonl"
if(Test-Path $f){$s=[IO.File]::Open($f,'Open','Read','ReadWrite')
try{$r.size=$s.Length;[void]$s.Seek($o,'Begin');$k=New-Object byte[] LIMIT
$m=$s.Read($k,0,LIMIT);$r.data=[Convert]::ToBase64String($k,0,$m)}finally{$s.Close()}}""",
    ROLE_REMOVE: r"""$t=Get-ScheduledTask -TaskName $n -TaskPath $p -ErrorAction SilentlyContinue
if($t){Unregister-ScheduledTask -TaskName $n -TaskPath $p -Confirm:$false}
if(Test-Path $d){Remove-Item $d -Recurse -Force -ErrorAction SilentlyContinue}
$r=[ordered]@{task=[bool]$t;left=(Test-Path $d)}""",
    ROLE_REBOOT: r"""Restart-Computer -Force
$r=[ordered]@{reboot=$true}""",
    ROLE_BOOT_TIME: r"""$o=Get-CimInstance Win32_OperatingSystem
$r=[ordered]@{boot=$o.LastBootUpTime.ToUniversalTime().ToString('o')}""",
}


def _script(role: str, nonce: str, body: str, job: Job | None = None) -> str:
    check_nonce(nonce)
    if job is not None:
        lines = _JOB_LINES.replace("DIR", job.directory).replace("TASKPATH", TASK_PATH)
        body = lines.replace("TASK", job.task) + body
    frame = _FRAME.replace("BODY", body)
    return (_PRELUDE + frame).replace("ROLE", role).replace("NONCE", nonce)


def worker_script() -> str:
    """The PowerShell the task runs (written to ``worker.ps1`` by the prepare script)."""
    return _WORKER


def prepare_commands(job: Job, update_ids: Sequence[str], nonce: str) -> list[tuple[str, Command]]:
    """The scripts, each with its role, that make the job's directory (SYSTEM and
    Administrators only), write the worker, then the UpdateIDs (``ids.txt``, at most
    :data:`IDS_PER_SCRIPT` a script). Raises ``ValueError`` for no update or one that is not
    a GUID."""
    ids = [check_update_id(i) for i in update_ids]
    if not ids:
        raise ValueError("nothing to install")
    if len(set(ids)) != len(ids):
        raise ValueError("an UpdateID is given twice")
    prepare = _BODIES[ROLE_PREPARE].replace("ROOT", ROOT).replace("WORKER", _WORKER)
    commands = [
        (ROLE_PREPARE, Command(_script(ROLE_PREPARE, nonce, prepare, job), timeout=STEP_TIMEOUT))
    ]
    for start in range(0, len(ids), IDS_PER_SCRIPT):
        chunk = ids[start : start + IDS_PER_SCRIPT]
        listed = "\n".join(f"'{i}'" for i in chunk)
        body = (
            f"$i=@(\n{listed}\n)\n"
            'Add-Content -Path "$d\\ids.txt" -Encoding ASCII -Value $i\n'
            '$r=[ordered]@{ids=@(Get-Content "$d\\ids.txt"|?{$_}).Count}'
        )
        command = Command(_script(ROLE_IDS, nonce, body, job), timeout=STEP_TIMEOUT)
        commands.append((ROLE_IDS, command))
    return commands


def register_command(job: Job, nonce: str) -> Command:
    return Command(_script(ROLE_REGISTER, nonce, _BODIES[ROLE_REGISTER], job), timeout=STEP_TIMEOUT)


def start_command(job: Job, nonce: str) -> Command:
    return Command(_script(ROLE_START, nonce, _BODIES[ROLE_START], job), timeout=STEP_TIMEOUT)


def poll_command(job: Job, offset: int, nonce: str) -> Command:
    """New bytes of the progress file from ``offset`` (at most :data:`POLL_BYTES`), its size,
    and the task's state and last result."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"an offset is an integer >= 0, not {offset!r}")
    body = _BODIES[ROLE_POLL].replace("OFFSET", str(offset)).replace("LIMIT", str(POLL_BYTES))
    return Command(_script(ROLE_POLL, nonce, body, job), timeout=STEP_TIMEOUT)


def remove_command(job: Job, nonce: str) -> Command:
    """Unregister the task and delete the job's directory (a task still running keeps going
    until its install ends: an install that has begun is never stopped)."""
    return Command(_script(ROLE_REMOVE, nonce, _BODIES[ROLE_REMOVE], job), timeout=STEP_TIMEOUT)


def reboot_command(nonce: str) -> Command:
    """``Restart-Computer -Force``: it starts the restart and returns."""
    return Command(_script(ROLE_REBOOT, nonce, _BODIES[ROLE_REBOOT]), timeout=REBOOT_TIMEOUT)


def boot_time_command(nonce: str) -> Command:
    """The last boot time, UTC, ISO 8601: the machine's boot id."""
    return Command(_script(ROLE_BOOT_TIME, nonce, _BODIES[ROLE_BOOT_TIME]), timeout=STEP_TIMEOUT)


# -- answers ----------------------------------------------------------------------------------


def read_answer(result: Result, nonce: str, role: str) -> dict[str, Any]:
    """The JSON object a script printed in its section. Raises :class:`PlatformError`
    (``unparseable``, or ``command-failed`` with the HRESULT in words when the script
    threw)."""
    what = f"the {role} script"
    answer = split_answer(result, nonce, what)
    output = answer.get(role)
    if output is None:
        raise PlatformError("unparseable", f"{what} printed no {role} section")
    text = output.body.strip()
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise PlatformError(
            "unparseable", f"{what} did not print a JSON document: {clip(text, 200)!r}"
        ) from None
    if not isinstance(document, dict):
        raise PlatformError("unparseable", f"{what} printed JSON that is not an object")
    error = document.get("error")
    if error is not None:
        error = error if isinstance(error, dict) else {}
        message = _text(error.get("message"))
        said = f" (Windows said: {message})" if message else ""
        raise PlatformError(
            "command-failed", f"{what} failed: {describe_hresult(error.get('hresult'))}{said}"
        )
    return document


def _text(value: object, limit: int = 200) -> str | None:
    if isinstance(value, str) and value.strip():
        return clip(value.strip(), limit)
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Poll:
    state: str  # the task's: Ready, Running, Queued, Disabled, Unknown, or Missing
    last_result: str | None  # LastTaskResult as 0xXXXXXXXX
    size: int  # of the progress file
    data: bytes  # from the offset asked for

    @property
    def running(self) -> bool:
        return self.state in TASK_RUNNING


def read_poll(result: Result, nonce: str) -> Poll:
    document = read_answer(result, nonce, ROLE_POLL)
    state = _text(document.get("state"), 20) or "Unknown"
    last = document.get("last")
    last_result = last if isinstance(last, str) and _HRESULT.match(last) else None
    size = _int(document.get("size"))
    data = document.get("data")
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
    except (binascii.Error, ValueError):
        raise PlatformError(
            "unparseable", "the task-poll script returned data that is not base64"
        ) from None
    if len(raw) > POLL_BYTES:
        raise PlatformError("unparseable", "the task-poll script returned more than it was asked")
    return Poll(state, last_result, size if size is not None and size >= 0 else 0, raw)


def read_boot_time(result: Result, nonce: str) -> str | None:
    """The boot time the answer carries, or ``None``."""
    try:
        document = read_answer(result, nonce, ROLE_BOOT_TIME)
    except PlatformError:
        return None
    boot = _text(document.get("boot"), 64)
    return boot if boot is not None and re.fullmatch(r"[0-9T:.+Z-]{10,40}", boot) else None


# -- the worker's progress lines ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskLine:
    """One progress line of the worker, as read (``None`` where a field was absent or odd)."""

    phase: str
    update_id: str | None = None
    step: str | None = None
    percent: float | None = None
    count: int | None = None
    result: int | None = None
    hresult: str | None = None
    reboot: bool | None = None
    message: str | None = None
    missing: tuple[str, ...] = ()


_PHASES = ("search", "download", "install", "result", "done", "error")


def parse_line(line: str | bytes) -> TaskLine | None:
    """One line of ``progress.jsonl``; ``None`` for anything that is not a progress line
    the worker writes (garbage, a cut line, JSON of another shape). Never raises."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    if len(line) > MAX_LINE:
        return None
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or value.get("phase") not in _PHASES:
        return None
    update_id: str | None = None
    raw_id = value.get("id")
    if isinstance(raw_id, str):
        try:
            update_id = check_update_id(raw_id)
        except ValueError:
            return None
    if value["phase"] in ("download", "install", "result") and update_id is None:
        return None
    percent = value.get("percent")
    pct = (
        float(min(100, max(0, percent)))
        if isinstance(percent, int | float) and not isinstance(percent, bool) and percent == percent
        else None
    )
    hresult = value.get("hresult")
    missing: list[str] = []
    if isinstance(value.get("missing"), list):
        for item in value["missing"][:1000]:
            try:
                missing.append(check_update_id(item))
            except ValueError:
                continue
    reboot = value.get("reboot")
    step = value.get("step")
    return TaskLine(
        phase=value["phase"],
        update_id=update_id,
        step=step if step in ("download", "install") else None,
        percent=pct,
        count=_int(value.get("count")),
        result=_int(value.get("result")),
        hresult=hresult if isinstance(hresult, str) and _HRESULT.match(hresult) else None,
        reboot=reboot if isinstance(reboot, bool) else None,
        message=_text(value.get("message")),
        missing=tuple(missing),
    )


@dataclass(slots=True)
class Progress:
    """What the progress file has said so far: fed its bytes as they arrive (lines may be cut
    between two polls), it yields what to show and builds the outcome."""

    names: Mapping[str, str]  # UpdateID → the name to show (KB / title)
    offset: int = 0  # bytes consumed: the next poll asks from here
    pending: bytes = b""
    results: dict[str, tuple[int | None, str | None, str | None]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    done: TaskLine | None = None
    error: TaskLine | None = None
    problems: int = 0
    reboot: bool = False

    @property
    def finished(self) -> bool:
        return self.done is not None or self.error is not None

    def feed(self, data: bytes) -> list[tuple[TaskLine | None, str]]:
        """The complete lines in ``data`` (after what was pending), each with its text;
        ``None`` for a line that is not a progress line."""
        buffer = self.pending + data
        cut = buffer.rfind(b"\n")
        if cut < 0:
            self.offset += len(data)
            if len(buffer) > MAX_LINE:  # no newline in sight: drop it, count it
                self.pending = b""
                self.problems += 1
                return [(None, clip(buffer.decode("utf-8", errors="replace"), 200))]
            self.pending = buffer
            return []
        complete, self.pending = buffer[: cut + 1], buffer[cut + 1 :]
        self.offset += len(data)
        out: list[tuple[TaskLine | None, str]] = []
        for raw in complete.split(b"\n")[:-1]:
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if not text.strip():
                continue
            parsed = parse_line(text)
            if parsed is None:
                self.problems += 1
            else:
                self._note(parsed)
            out.append((parsed, clip(text, 300)))
        return out

    def _note(self, line: TaskLine) -> None:
        if line.phase == "search":
            self.missing = line.missing
        elif line.phase == "result" and line.update_id is not None:
            self.results[line.update_id] = (line.result, line.hresult, line.step)
            if line.reboot:
                self.reboot = True
        elif line.phase == "done":
            self.done = line
            if line.reboot:
                self.reboot = True
        elif line.phase == "error":
            self.error = line

    def progress(self, line: TaskLine) -> InstallProgress | None:
        """The progress a line reports, with the update's name, or ``None``."""
        if line.phase in ("download", "install") and line.update_id is not None:
            name = self.names.get(line.update_id, line.update_id)
            verb = "downloading" if line.phase == "download" else "installing"
            return InstallProgress(line.percent or 0.0, name, f"{verb} {name}")
        if line.phase == "result" and line.update_id is not None:
            name = self.names.get(line.update_id, line.update_id)
            return InstallProgress(line.percent or 0.0, None, f"{name}: {_result_words(line)}")
        if line.phase == "done":
            return InstallProgress(100.0, None, "done")
        return None

    def outcome(self, items: Sequence[Pinned], error: str | None = None) -> InstallOutcome:
        """Every item installed or failed with a reason, from what the worker wrote.
        ``error`` is why the install as a whole went wrong, if the caller knows (the task
        died, the time ran out)."""
        installed: list[str] = []
        failed: list[tuple[str, str]] = []
        if error is None and self.error is not None:
            said = f" (Windows said: {self.error.message})" if self.error.message else ""
            error = f"the install task failed: {describe_hresult(self.error.hresult)}{said}"
        if error is None and not self.finished:
            error = "the install task ended without a result"
        missing = set(self.missing)
        for item in items:
            key = item.platform_id.lower()
            known = self.results.get(key)
            if known is not None:
                code, hresult, step = known
                if code in (2, 3):
                    installed.append(item.platform_id)
                else:
                    failed.append((item.platform_id, _failure(code, hresult, step)))
            elif key in missing:
                failed.append(
                    (item.platform_id, "Windows Update did not find it by its UpdateID any more")
                )
            else:
                failed.append((item.platform_id, error or "the install task reported nothing"))
        reboot: bool | None = self.reboot if self.finished else (True if self.reboot else None)
        return InstallOutcome(
            installed=tuple(installed),
            failed=tuple(failed),
            error=error,
            error_kind="command-failed" if error else None,
            reboot_required=reboot,
        )


def _result_words(line: TaskLine) -> str:
    if line.result in (2, 3):
        return describe_result_code(line.result)
    return _failure(line.result, line.hresult, line.step)


def _failure(code: int | None, hresult: str | None, step: str | None) -> str:
    what = "download" if step == "download" else "install"
    words = f"{what} {describe_result_code(code)}"
    if hresult is not None and hresult != "0x00000000":
        words += f": {describe_hresult(hresult)}"
    return words
