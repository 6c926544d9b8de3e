"""A run's install and reboot on a Windows machine (docs/windows.md, "Installing").

The install goes through a one-shot scheduled task running as SYSTEM
(:mod:`backends.platforms.windows_install`): upload the worker and the UpdateIDs, register
the task, start it, poll its progress file into the same progress events as a Linux install,
and remove the task and its directory afterwards — also when anything fails and when the run
is cancelled. The reboot is ``Restart-Computer -Force``; the boot id is the last boot time.

A machine that stops answering while the task runs is waited for (at most the reboot's time
limit, and never past the install's): when it answers again with the boot time it had, the
run follows the task on; with a new one it restarted and the task died with it, and the
install fails saying so (the updates it had reported installed count as installed, the rest
failed); when it does not answer again, the install fails saying that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from backends.platforms import windows_install as wi
from backends.platforms.probe import new_nonce
from backends.platforms.records import (
    Command,
    InstallOutcome,
    InstallProgress,
    Pinned,
    PlatformError,
    Result,
)
from backends.platforms.windows_errors import describe_hresult
from backends.transports.base import Connection, TransportError

if TYPE_CHECKING:
    from backends.engine.run_machine import MachineJob

log = logging.getLogger(__name__)

POLL_EVERY = 2.0  # seconds between looks at the task's progress, at most
POLL_RETRIES = 3  # another transport failure while polling: reconnect this often, then give up
DOWN_KINDS = ("unreachable", "connection-lost", "timeout")  # the machine may have gone down
CLEANUP_TIMEOUT = 60.0
HAS_NOT_RUN = "0x00041303"  # SCHED_S_TASK_HAS_NOT_RUN: started, not running yet
WENT_DOWN = "went-down"  # the error kind of an install the machine went down in

Connect = Callable[[], Awaitable[Connection]]


async def _run(
    connection: Connection, command: Command, nonce: str, role: str
) -> dict[str, object]:
    output = await connection.run(command.script, timeout=command.timeout)
    return wi.read_answer(Result(output.exit_status, output.stdout, output.stderr), nonce, role)


class _WentDown(Exception):
    """The machine went down while the task ran; ``str()`` says how, in words."""


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


class WindowsInstall:
    """One install of ``pinned`` on one machine. ``connect`` gives the machine's connection
    (a new one after the old broke); ``on_progress`` and ``on_line`` receive what to show.
    ``down_wait``: how long a machine that stopped answering is waited for."""

    def __init__(
        self,
        connect: Connect,
        pinned: Sequence[Pinned],
        *,
        timeout: float,
        poll_every: float,
        down_wait: float,
        on_progress: Callable[[InstallProgress], None],
        on_line: Callable[[str], None],
        forget: Callable[[], Awaitable[None]],
    ) -> None:
        self.connect = connect
        self.pinned = list(pinned)
        self.timeout = timeout
        self.poll_every = min(POLL_EVERY, poll_every)
        self.down_wait = down_wait
        self.boot: str | None = None  # the boot time when the task was started
        self.current: str | None = None  # what the task said it began last: "installing KB…"
        self.restarted: tuple[float, str] | None = None  # went down and back: (s, boot time)
        self.on_progress = on_progress
        self.on_line = on_line
        self.forget = forget  # drop the broken connection
        self.job = wi.Job.new()
        self.nonce = new_nonce()
        self.progress = wi.Progress({p.platform_id.lower(): p.name for p in self.pinned})

    async def run(self) -> InstallOutcome:
        try:
            ids = [wi.check_update_id(p.platform_id) for p in self.pinned]
        except ValueError as exc:
            return self.progress.outcome(self.pinned, f"not installed: {exc}")
        went_down = False
        try:
            error = await self._install(ids)
        except PlatformError as exc:
            error = str(exc)
        except _WentDown as exc:
            error, went_down = str(exc), True
        finally:
            await self._cleanup()
        outcome = self.progress.outcome(self.pinned, error)
        if went_down:  # whether a restart is still pending is not known now
            return replace(outcome, error_kind=WENT_DOWN, reboot_required=None)
        return outcome

    async def _install(self, ids: list[str]) -> str | None:
        connection = await self.connect()
        job, nonce = self.job, self.nonce
        self.on_line(f"install task \\patchdeck\\{job.task} (as SYSTEM), {len(ids)} updates")
        counted: object = None
        for role, command in wi.prepare_commands(job, ids, nonce):
            answer = await _run(connection, command, nonce, role)
            counted = answer.get("ids", counted)
        if counted != len(ids):
            return f"the install task was given {counted!r} UpdateIDs, not {len(ids)}"
        await _run(connection, wi.register_command(job, nonce), nonce, wi.ROLE_REGISTER)
        self.boot = await boot_time(connection)
        await _run(connection, wi.start_command(job, nonce), nonce, wi.ROLE_START)
        return await self._follow()

    def _working_on(self) -> str:
        return self.current or "the install task was running"

    async def _back(self, connection: Connection, down: float) -> None:
        """The machine answers again after ``down`` seconds: with a new boot time it
        restarted (and the task died with it), noted in :attr:`restarted`; what the task
        wrote before is still read."""
        now = await boot_time(connection)
        if now is not None and self.boot is not None and now != self.boot:
            self.restarted = (down, now)
            self.on_line(f"the machine is back after {_seconds(down)}, restarted (boot {now})")
        else:
            self.on_line(f"the machine answers again after {_seconds(down)}: following on")

    async def _poll(self, deadline: float) -> wi.Poll:
        """The task's progress. A machine that stops answering is waited for, at most
        ``down_wait`` and never past ``deadline``; any other transport failure is retried
        :data:`POLL_RETRIES` times."""
        loop = asyncio.get_running_loop()
        failures = 0
        lost: float | None = None  # when the machine stopped answering
        while True:
            try:
                connection = await self.connect()
                if lost is not None:
                    await self._back(connection, loop.time() - lost)
                    lost = None
                command = wi.poll_command(self.job, self.progress.offset, self.nonce)
                output = await connection.run(command.script, timeout=command.timeout)
            except TransportError as exc:
                await self.forget()
                now = loop.time()
                if exc.kind not in DOWN_KINDS:
                    failures += 1
                    if failures > POLL_RETRIES:
                        raise
                    self.on_line(f"lost the machine while following the install ({exc}); again")
                    await asyncio.sleep(self.poll_every)
                    continue
                if lost is None:
                    lost = now
                    self.on_line(
                        f"the machine stopped answering while {self._working_on()} ({exc}); "
                        f"waiting up to {self.down_wait:g} s for it"
                    )
                limit = min(lost + self.down_wait, deadline)
                if now >= limit:
                    why = (
                        f"within {self.down_wait:g} s"
                        if limit < deadline
                        else "before the install's time limit"
                    )
                    raise _WentDown(
                        f"the machine went down while {self._working_on()} and did not answer "
                        f"again {why} ({exc})"
                    ) from None
                await asyncio.sleep(min(self.poll_every, limit - now))
                continue
            result = Result(output.exit_status, output.stdout, output.stderr)
            return wi.read_poll(result, self.nonce)

    async def _follow(self) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            poll = await self._poll(deadline)
            for line, text in self.progress.feed(poll.data):
                self._show(line, text)
            if self.progress.finished:
                return None
            if len(poll.data) == wi.POLL_BYTES:
                continue  # more is written than one poll returns: read on at once
            if self.restarted is not None:  # all the task wrote before it died is read
                down, boot = self.restarted
                raise _WentDown(
                    f"the machine went down while {self._working_on()} and came back "
                    f"{_seconds(down)} later with a new boot time ({boot}): it restarted and "
                    "the install task died with it"
                )
            if poll.state == "Missing":
                last = f" (it last said: {self.current})" if self.current else ""
                return f"the install task is gone (no longer registered) without a result{last}"
            if not poll.running and poll.last_result != HAS_NOT_RUN:
                last = describe_hresult(poll.last_result) if poll.last_result else "none"
                return (
                    f"the install task ended without a result (task {poll.state}, "
                    f"last result {last})"
                )
            if loop.time() > deadline:
                return f"the install task did not finish within {self.timeout:g} s"
            await asyncio.sleep(self.poll_every)

    def _show(self, line: wi.TaskLine | None, text: str) -> None:
        if line is None:
            self.on_line(f"unreadable progress line: {text}")
            return
        shown = self.progress.progress(line)
        if line.phase in ("download", "install", "result"):
            self.current = shown.message if line.phase != "result" and shown else None
        if shown is not None:
            self.on_progress(shown)
            self.on_line(shown.message)
        elif line.phase == "search":
            found = f"found {line.count} of the updates" if line.count is not None else "searched"
            gone = f"; not offered any more: {', '.join(line.missing)}" if line.missing else ""
            self.on_line(f"Windows Update {found}{gone}")
        elif line.phase == "error":
            self.on_line(f"the install task failed: {describe_hresult(line.hresult)}")

    async def _cleanup(self) -> None:
        """Remove the task and its directory; shielded from a cancel, bounded in time."""

        async def remove() -> None:
            connection = await self.connect()
            command = wi.remove_command(self.job, self.nonce)
            answer = await _run(connection, command, self.nonce, wi.ROLE_REMOVE)
            if answer.get("left") is True:
                self.on_line(f"could not remove {self.job.directory}: remove it by hand")
            elif answer.get("task") is False:
                self.on_line(
                    f"the install task \\patchdeck\\{self.job.task} was gone already; "
                    f"removed {self.job.directory}"
                )
            else:
                self.on_line(f"removed the install task \\patchdeck\\{self.job.task}")

        task = asyncio.ensure_future(remove())
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT):
                await asyncio.shield(task)
        except (TransportError, PlatformError, TimeoutError) as exc:
            self.on_line(
                f"could not remove the install task \\patchdeck\\{self.job.task} and "
                f"{self.job.directory} ({exc or 'no answer'}): remove them by hand"
            )
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, CLEANUP_TIMEOUT)
            raise
        except Exception as exc:  # a bug must not hide the install's own outcome
            log.exception("removing the install task failed")
            self.on_line(f"could not remove the install task: internal error: {exc!r}")


async def install(job: MachineJob, pinned: Sequence[Pinned]) -> InstallOutcome:
    """Install ``pinned`` on the job's machine through the task, streaming its progress into
    the run (percent, current update, output lines)."""
    machine, writer, target, settings = job.machine, job.writer, job.target, job.settings

    async def connect() -> Connection:
        return await job.pool.get(machine)

    async def forget() -> None:
        await job.pool.discard(machine.name)

    return await WindowsInstall(
        connect,
        pinned,
        timeout=settings.install_timeout,
        poll_every=settings.reboot_poll_every,
        down_wait=settings.reboot_timeout,
        on_progress=lambda shown: writer.progress(target, shown.percent, shown.item),
        on_line=lambda text: writer.line(target, text),
        forget=forget,
    ).run()


async def boot_time(connection: Connection) -> str | None:
    nonce = new_nonce()
    command = wi.boot_time_command(nonce)
    output = await connection.run(command.script, timeout=command.timeout)
    return wi.read_boot_time(Result(output.exit_status, output.stdout, output.stderr), nonce)


async def restart(connection: Connection) -> str | None:
    """Ask for ``Restart-Computer -Force``: ``None`` when it was accepted (or the machine
    went before it could say so), else why not, in words."""
    nonce = new_nonce()
    command = wi.reboot_command(nonce)
    try:
        output = await connection.run(command.script, timeout=command.timeout)
    except TransportError as exc:
        if exc.kind in ("connection-lost", "timeout"):
            return None
        raise
    if output.exit_status is None:
        return None
    try:
        wi.read_answer(Result(output.exit_status, output.stdout, output.stderr), nonce, "reboot")
    except PlatformError as exc:
        if f":{nonce}:reboot" in output.stdout and exc.kind == "unparseable":
            return None  # cut inside its section: the machine went down
        return f"Restart-Computer refused: {exc}"
    return None
