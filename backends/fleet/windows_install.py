"""A simulated Windows machine's Task Scheduler and install worker.

patchdeck installs on Windows through a one-shot scheduled task running as SYSTEM (the Windows
Update Agent refuses to install from a remote session). The machine recognises the scripts by
their role line and by what they do, read from their text: ``task-prepare`` writes a worker
script into a directory under ``C:\\ProgramData``, ``task-ids`` appends UpdateIDs to its
``ids.txt``, ``task-register`` and ``task-start`` register and start the task, ``task-poll``
reads the progress file from an offset (base64) with the task's state, ``task-remove``
unregisters the task and deletes the directory. The worker is not run as PowerShell: it is
simulated, writing the JSON lines a worker writes (``ConvertTo-Json -Compress``, one per line),
a few pauses apart, while the updates really leave the machine's pending list.

Faults: ``failing-update`` (the update with that KB fails to install with
``0x8024200B WU_E_UH_INSTALLERFAILURE``), ``hang-install`` (the worker stops after its first
download and never ends), ``down-mid-install`` (half way through its install of the middle
update the machine goes down, :meth:`WindowsMachine.crash`, and that update stays pending).

The worker's own ``Download()`` / ``Install()`` calls are allowed here: it runs as SYSTEM in
the task, not in the WinRM session (where the machine answers them with ``E_ACCESSDENIED``).
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backends.fleet.windows_machine import WindowsMachine

INSTALLER_FAILURE = "0x8024200B"
_NOT_FOUND = "0x80070002"
_DIR = re.compile(r"^\$d='(C:\\ProgramData\\patchdeck\\([0-9a-f]{16}))'\s*$", re.MULTILINE)
_TASK = re.compile(r"^\$n='(install-[0-9a-f]{16})'\s*$", re.MULTILINE)
_ID_LINE = re.compile(r"^'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'\s*$")
_IDS = re.compile(r"^\$i=@\(\s*$(.*?)^\)\s*$", re.MULTILINE | re.DOTALL)
_WORKER = re.compile(r"-Value @'\r?\n(.*?)^'@", re.MULTILINE | re.DOTALL)
_OFFSET = re.compile(r"^\$o=([0-9]{1,18})\s*$", re.MULTILINE)
_LIMIT = re.compile(r"New-Object byte\[\] ([0-9]{1,9})")
STEPS_PER_UPDATE = 10  # install_step pauses each download and each install takes


@dataclass(slots=True)
class Job:
    """A job directory (and maybe its task) on the machine."""

    directory: str
    worker: str = ""
    ids: list[str] = field(default_factory=list)
    progress: bytearray = field(default_factory=bytearray)
    task: str | None = None  # registered under \patchdeck\ with this name
    state: str = "Ready"
    last_result: int = 0x41303  # SCHED_S_TASK_HAS_NOT_RUN
    runner: asyncio.Task[None] | None = None


def _error(hresult: str, message: str) -> dict[str, Any]:
    return {"error": {"hresult": hresult, "message": message}}


class Scheduler:
    """The machine's install jobs, by job id."""

    def __init__(self, machine: WindowsMachine) -> None:
        self.machine = machine
        self.jobs: dict[str, Job] = {}

    def tasks(self) -> list[str]:
        """Registered tasks, as ``\\patchdeck\\NAME``."""
        return [f"\\patchdeck\\{j.task}" for j in self.jobs.values() if j.task is not None]

    def directories(self) -> list[str]:
        return [job.directory for job in self.jobs.values()]

    def answer(self, role: str, script: str) -> dict[str, Any] | None:
        """The document the script prints, or ``None`` when the role is not one of these."""
        handler = {
            "task-prepare": self._prepare,
            "task-ids": self._ids,
            "task-register": self._register,
            "task-start": self._start,
            "task-poll": self._poll,
            "task-remove": self._remove,
        }.get(role)
        if handler is None:
            return None
        found = _DIR.search(script)
        if found is None:
            return _error("0x80070057", "The parameter is incorrect.")
        return handler(found.group(2), found.group(1), script)

    def _prepare(self, key: str, directory: str, script: str) -> dict[str, Any]:
        worker = _WORKER.search(script)
        old = self.jobs.pop(key, None)
        if old is not None and old.runner is not None:
            old.runner.cancel()
        text = worker.group(1) if worker is not None else ""
        self.jobs[key] = Job(directory, worker=text)
        return {"dir": directory, "size": len(text.replace("\n", "\r\n")) + 2}

    def _missing(self, directory: str) -> dict[str, Any]:
        return _error("0x80070003", f"Could not find a part of the path '{directory}\\ids.txt'.")

    def _ids(self, key: str, directory: str, script: str) -> dict[str, Any]:
        job = self.jobs.get(key)
        if job is None:
            return self._missing(directory)
        block = _IDS.search(script)
        lines = block.group(1).splitlines() if block is not None else []
        for line in lines:
            match = _ID_LINE.match(line.strip())
            if match is not None:
                job.ids.append(match.group(1))
        return {"ids": len(job.ids)}

    def _register(self, key: str, directory: str, script: str) -> dict[str, Any]:
        job = self.jobs.get(key)
        task = _TASK.search(script)
        if job is None or task is None or "-UserId 'SYSTEM'" not in script:
            return _error("0x80070057", "The parameter is incorrect.")
        job.task = task.group(1)
        job.state = "Ready"
        return {"task": job.task}

    def _start(self, key: str, directory: str, script: str) -> dict[str, Any]:
        job = self.jobs.get(key)
        if job is None or job.task is None:
            return _error(_NOT_FOUND, "The system cannot find the file specified.")
        if job.runner is None:
            job.state = "Running"
            job.last_result = 0x41301  # SCHED_S_TASK_RUNNING
            job.runner = asyncio.get_running_loop().create_task(self._work(job))
        return {"state": job.state}

    def _poll(self, key: str, directory: str, script: str) -> dict[str, Any]:
        job = self.jobs.get(key)
        document: dict[str, Any] = {"state": "Missing", "last": None, "size": 0, "data": ""}
        if job is None:
            return document
        if job.task is not None:
            document["state"] = job.state
            document["last"] = f"0x{job.last_result:08X}"
        offset = _OFFSET.search(script)
        limit = _LIMIT.search(script)
        start = int(offset.group(1)) if offset is not None else 0
        size = int(limit.group(1)) if limit is not None else 0
        document["size"] = len(job.progress)
        document["data"] = base64.b64encode(bytes(job.progress[start : start + size])).decode()
        return document

    def _remove(self, key: str, directory: str, script: str) -> dict[str, Any]:
        job = self.jobs.pop(key, None)
        had_task = job is not None and job.task is not None
        if job is not None and job.runner is not None and not job.runner.done():
            # On Windows a running instance outlives its task and dies at its next write to
            # the deleted directory; the simulation simply ends it here.
            job.runner.cancel()
        return {"task": had_task, "left": False}

    def lose_tasks(self) -> None:
        """An unexpected restart: running workers die and every task is gone; the job
        directories (and what the workers wrote) stay."""
        for job in self.jobs.values():
            if job.runner is not None and not job.runner.done():
                job.runner.cancel()
            job.task = None
            job.state = "Ready"

    def forget(self) -> None:
        """A reboot: running workers die with the machine (their directories stay)."""
        for job in self.jobs.values():
            if job.runner is not None and not job.runner.done():
                job.runner.cancel()
                job.state = "Ready"
                job.last_result = 0x800710E0  # the operator or administrator refused the request

    async def _work(self, job: Job) -> None:
        from backends.fleet.windows_machine import powershell_json

        machine = self.machine
        pause = machine.timing.install_step * STEPS_PER_UPDATE
        if "CreateUpdateInstaller" not in job.worker or "progress.jsonl" not in job.worker:
            job.state, job.last_result = "Ready", 1  # powershell.exe failed on the script
            return

        def write(document: dict[str, Any]) -> None:
            job.progress += (powershell_json(document) + "\n").encode("ascii")

        by_id = {machine.update_id(u): u for u in machine.pending}
        found = [by_id[i] for i in job.ids if i in by_id]
        count = len(found)
        missing = [i for i in job.ids if i not in by_id]
        write({"phase": "search", "count": count, "missing": missing})
        failing = machine.faults.failing_update.upper().removeprefix("KB")
        crash_at = count // 2 if machine.faults.down_mid_install and not machine.crashes else -1
        bad = 0
        reboot = False
        for index, update in enumerate(found):
            uid = machine.update_id(update)
            write(
                {
                    "phase": "download",
                    "id": uid,
                    "index": index,
                    "count": count,
                    "percent": round(100 * index / count),
                }
            )
            await asyncio.sleep(pause)
            if machine.faults.hang_install:
                await asyncio.Event().wait()  # never ends; the task stays Running
            write(
                {
                    "phase": "install",
                    "id": uid,
                    "index": index,
                    "count": count,
                    "percent": round(100 * (index + 0.5) / count),
                }
            )
            if index == crash_at:
                await asyncio.sleep(pause / 2)
                machine.crash()  # this update is not installed; the task dies with the machine
                await asyncio.Event().wait()
            await asyncio.sleep(pause)
            result: dict[str, Any] = {"phase": "result", "id": uid, "step": "install"}
            if update.kb == failing:
                bad += 1
                result.update(result=4, hresult=INSTALLER_FAILURE, reboot=False)
            else:
                needs = machine.install(update)
                reboot = reboot or needs
                result.update(result=2, hresult="0x00000000", reboot=needs)
            result["percent"] = round(100 * (index + 1) / count)
            write(result)
        reboot = reboot or machine.wants_reboot
        write({"phase": "done", "result": 4 if bad else 2, "reboot": reboot})
        job.state = "Ready"
        job.last_result = 0
