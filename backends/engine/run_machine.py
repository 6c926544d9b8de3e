"""One machine's way through a run (DESIGN.md "Run", issue 6 "Per machine"):

connect -> scan again (drift from the plan) -> pre command -> install exactly the pinned
updates -> reboot per the option and the window -> wait for a new boot id -> scan again ->
post command -> record.

Every step has a time limit; every state is committed before it is published (through the
:class:`~backends.engine.run_writer.RunWriter`). Whatever goes wrong ends this machine with
the reason in words and never touches another. An install that has begun is never stopped:
neither a cancel nor the window's end interrupts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from backends.engine import run_windows
from backends.engine.commands import run_rounds
from backends.engine.connections import ConnectionPool
from backends.engine.drift import compare
from backends.engine.notify import FAILURE_THRESHOLD
from backends.engine.run_notify import RunNotifier
from backends.engine.run_options import RunnerOptions
from backends.engine.run_writer import RunWriter, Target
from backends.engine.scan import scan_report
from backends.engine.window import Window
from backends.inventory.deployment_options import DeploymentOptions
from backends.inventory.durations import format_minutes
from backends.inventory.plans import MachinePlan
from backends.inventory.records import Machine
from backends.inventory.run_journal import LostOwnership
from backends.inventory.runs import (
    CANCELLED,
    FAILED,
    SKIPPED,
    SUCCEEDED,
    WINDOW_EXCEEDED,
)
from backends.inventory.scans import record_scans
from backends.inventory.store import Store
from backends.platforms import install, linux, windows
from backends.platforms.probe import MARKER_PREFIX, new_nonce, tail
from backends.platforms.records import Assessment, InstallOutcome, Pinned, PlatformError, Result
from backends.transports.base import Connection, TransportError

log = logging.getLogger(__name__)

MAX_RERUNS = 2  # zypper updating itself first asks for the same command again


class MachineEnded(Exception):
    """How a machine's part in the run ends: its final state, the reason in words, its kind."""

    def __init__(self, state: str, error: str | None = None, kind: str | None = None) -> None:
        super().__init__(error or state)
        self.state = state
        self.error = error
        self.kind = kind


class RunStatus:
    """What every machine of the run shares: the window, the operator's cancel, the failures
    so far and how many are allowed before no new machine starts."""

    def __init__(
        self, writer: RunWriter, window: Window, options: RunnerOptions, allowed: int, limit: str
    ) -> None:
        self.writer = writer
        self.window = window
        self.options = options
        self.allowed = allowed
        self.limit = limit
        self.failures = 0
        self.notifier: RunNotifier | None = None

    def failed(self) -> None:
        """Count a failed machine; the one that crosses the threshold is told about."""
        self.failures += 1
        if self.failures == self.allowed + 1 and self.notifier is not None:
            self.notifier.send(FAILURE_THRESHOLD, failed=self.failures, allowed=self.allowed)

    @property
    def cancel(self) -> str | None:
        control = self.writer.control
        return control.cancel_requested if control is not None else None

    @property
    def threshold_crossed(self) -> bool:
        return self.failures > self.allowed

    def before_start(self) -> MachineEnded | None:
        """Why a machine must not start now, or ``None``."""
        if self.cancel:
            return MachineEnded(CANCELLED, "cancelled before it started", "cancelled")
        if self.threshold_crossed:
            return MachineEnded(
                SKIPPED,
                f"skipped: {self.failures} machines failed, more than --max-failures "
                f"{self.limit} allows",
                "max-failures",
            )
        now = self.options.clock.now()
        if not self.window.allows(now):
            return MachineEnded(WINDOW_EXCEEDED, self.window.why_not("it", now), "window")
        return None

    def check_begin(self, what: str) -> None:
        """Raise :class:`MachineEnded` if ``what`` (the install, the reboot) may not begin."""
        if self.cancel:
            raise MachineEnded(CANCELLED, f"cancelled before {what} began", "cancelled")
        now = self.options.clock.now()
        if not self.window.allows(now):
            raise MachineEnded(WINDOW_EXCEEDED, self.window.why_not(what, now), "window")


@dataclass(slots=True)
class Tally:
    """What is known of the machine so far, recorded with its end whatever the end is."""

    installed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reboot: str | None = None
    phase: str = "connecting"


@dataclass(slots=True)
class MachineJob:
    target: Target
    machine: Machine
    plan: MachinePlan
    options: DeploymentOptions
    status: RunStatus
    writer: RunWriter
    pool: ConnectionPool
    store: Store
    tally: Tally = field(default_factory=Tally)

    @property
    def settings(self) -> RunnerOptions:
        return self.status.options


async def run_machine(job: MachineJob) -> str:
    """Take the machine through its steps; returns its final state. Raises only
    :class:`LostOwnership` (the run is no longer ours) and cancellation."""
    stop = job.status.before_start()
    if stop is not None:
        await _end(job, stop)
        return stop.state
    await job.writer.transition(
        job.target,
        "connecting",
        started_at=job.settings.clock.now(),
        ended_at=None,
        installed=0,
        failed=0,
        installed_items=[],
        failed_items=[],
        notes=[],
        reboot=None,
        percent=0,
        current_item=None,
    )
    try:
        ended = await _steps(job)
    except MachineEnded as exc:
        ended = exc
    except TransportError as exc:
        await job.pool.discard(job.machine.name)
        reason = str(exc)
        if job.tally.phase == "installing":
            reason += "; the install may have gone on there: scan the machine to see"
        ended = MachineEnded(FAILED, _in_phase(job, reason), exc.kind)
    except PlatformError as exc:
        ended = MachineEnded(FAILED, _in_phase(job, str(exc)), exc.kind)
    except (LostOwnership, asyncio.CancelledError):
        raise
    except Exception as exc:  # a bug must cost one machine, never the run
        log.exception("run: %s failed", job.machine.name)
        ended = MachineEnded(FAILED, _in_phase(job, f"internal error: {exc!r}"), "internal")
    await _end(job, ended)
    return ended.state


def _in_phase(job: MachineJob, reason: str) -> str:
    return f"{job.tally.phase}: {reason}"


async def _end(job: MachineJob, ended: MachineEnded) -> None:
    tally = job.tally
    if ended.state == FAILED:
        job.status.failed()
    await job.writer.transition(
        job.target,
        ended.state,
        ended.error or "",
        ended_at=job.settings.clock.now(),
        error=ended.error,
        error_kind=ended.kind,
        installed=len(tally.installed),
        failed=len(tally.failed),
        installed_items=list(tally.installed),
        failed_items=[{"id": i, "reason": r} for i, r in tally.failed],
        notes=list(tally.notes),
        reboot=tally.reboot,
        **({"percent": 100, "current_item": None} if ended.state == SUCCEEDED else {}),
    )


async def _phase(job: MachineJob, state: str, detail: str = "") -> None:
    job.tally.phase = state
    await job.writer.transition(job.target, state, detail)


async def _steps(job: MachineJob) -> MachineEnded:
    machine, options, status, tally = job.machine, job.options, job.status, job.tally
    if (machine.os_family == "windows") != (machine.transport == "winrm"):
        raise MachineEnded(
            SKIPPED, f"skipped: a {machine.os_family} machine over {machine.transport}",
            "unsupported",
        )  # fmt: skip
    connection = await job.pool.get(machine)
    await _phase(job, "scanning", "scanning again before the install")
    before = await _scan(job, connection)
    manager = before.facts.package_manager
    drift = compare(job.plan.items, before.updates)
    if drift.notes:
        tally.notes += drift.notes
        await job.writer.record(job.target, notes=list(tally.notes))
    pinned = [Pinned(i.platform_id, i.name, i.version) for i in drift.install]
    if pinned or options.pre_command:
        status.check_begin("the install" if pinned else "the pre command")
    if options.pre_command:
        code, text = await _command(job, connection, "pre", options.pre_command)
        if code != 0:
            raise MachineEnded(
                SKIPPED, f"skipped: the pre command exited {_status(code)}: {text}", "pre-failed"
            )
    outcome: InstallOutcome | None = None
    if pinned:
        if manager is None:
            raise PlatformError("unsupported", "the scan found no package manager to install with")
        status.check_begin("the install")
        await _phase(job, "installing", f"{len(pinned)} updates")
        if manager == "wua":
            outcome = await run_windows.install(job, pinned)
        else:
            outcome = await _install(job, connection, manager, pinned)
        wanted = {p.platform_id for p in pinned}
        tally.installed = [i for i in outcome.installed if i in wanted]
        tally.failed = [(i, r) for i, r in outcome.failed if i in wanted]
        await job.writer.record(
            job.target, installed=len(tally.installed), failed=len(tally.failed)
        )
        if outcome.error or tally.failed:
            tally.reboot = "pending" if outcome.reboot_required else None
            kind = outcome.error_kind or "install"
            raise MachineEnded(FAILED, _install_error(job, outcome), kind)
    connection = await _reboot_step(job, connection, before, outcome)
    await _phase(job, "verifying", "scanning after the install")
    after = await _scan(job, connection)
    _verify(job, pinned, after)
    if tally.failed:
        reasons = "; ".join(f"{i}: {r}" for i, r in tally.failed[:5])
        raise MachineEnded(FAILED, f"verifying: {reasons}", "not-installed")
    if options.post_command:
        code, text = await _command(job, connection, "post", options.post_command)
        if code != 0:
            raise MachineEnded(
                FAILED, f"the post command exited {_status(code)}: {text}", "post-failed"
            )
    return MachineEnded(SUCCEEDED)


def _status(code: int | None) -> str:
    return "without a status (killed?)" if code is None else str(code)


async def _scan(job: MachineJob, connection: Connection) -> Assessment:
    machine = job.machine
    expect = linux.likely_manager(machine.distro, machine.version)
    timeout = job.settings.scan_timeout
    try:
        async with asyncio.timeout(timeout):
            assessor = windows.assess() if _windows(machine) else linux.assess(expect=expect)
            assessment = await run_rounds(assessor, connection)
    except TimeoutError:
        await job.pool.discard(machine.name)
        raise MachineEnded(
            FAILED, _in_phase(job, f"the scan did not finish within {timeout:g} s"), "timeout"
        ) from None
    await job.writer.call(record_scans, job.store, [scan_report(machine.id, assessment)])
    return assessment


async def _command(
    job: MachineJob, connection: Connection, label: str, command: str
) -> tuple[int | None, str]:
    """Run the deployment's pre or post command as root (``sudo -n`` for another user),
    its output streamed; returns its status and the end of its output."""
    target, writer = job.target, job.writer
    writer.line(target, f"[{label}] $ {command}")
    output = await connection.run(
        command,
        privileged=True,
        timeout=job.settings.command_timeout,
        on_line=lambda line: writer.line(target, f"[{label}] {line.removesuffix(chr(13))}"),
    )
    for line in output.stderr.splitlines():
        writer.line(target, f"[{label}] {line}")
    return output.exit_status, tail(output.stdout + "\n" + output.stderr, 3) or "no output"


async def _install(
    job: MachineJob, connection: Connection, manager: str, pinned: Sequence[Pinned]
) -> InstallOutcome:
    """Install ``pinned``; a held package lock is waited for at most ``lock_wait``."""
    settings, target, writer = job.settings, job.target, job.writer
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.lock_wait
    reruns = 0
    while True:
        nonce = new_nonce()
        marker = f"{MARKER_PREFIX}:{nonce}:"
        lock_timeout = max(0, int(deadline - loop.time()))
        command = install.install_command(
            manager,
            pinned,
            nonce=nonce,
            lock_timeout=lock_timeout,
            timeout=settings.install_timeout,
        )

        def on_line(line: str, marker: str = marker) -> None:
            if line.startswith(marker):
                return
            progress = install.progress_line(manager, line)
            if progress is not None:
                writer.progress(target, progress.percent, progress.item)
                return
            shown = install.display_line(manager, line)  # zypper's XML: the message's text
            if shown is not None:
                writer.line(target, shown)

        output = await connection.run(
            command.script,
            privileged=command.privileged,
            timeout=command.timeout,
            on_line=on_line,
        )
        result = Result(output.exit_status, output.stdout, output.stderr)
        outcome = install.install_outcome(manager, result, pinned, nonce)
        if outcome.rerun and reruns < MAX_RERUNS:
            reruns += 1
            writer.line(target, f"{manager} updated itself first: installing again")
            continue
        if (
            outcome.error_kind == "locked"
            and not install.waits_for_lock(manager)
            and loop.time() + settings.lock_retry_every < deadline
        ):
            writer.line(target, f"waiting for the package lock: {outcome.error}")
            await asyncio.sleep(settings.lock_retry_every)
            continue
        return outcome


def _install_error(job: MachineJob, outcome: InstallOutcome) -> str:
    if outcome.error_kind == "locked":
        return f"installing: {outcome.error} (waited {_seconds(job.settings.lock_wait)} for it)"
    if outcome.error:
        return f"installing: {outcome.error}"
    failed = job.tally.failed
    listed = "; ".join(f"{i}: {r}" for i, r in failed[:5])
    more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
    return f"installing: {len(failed)} of the updates failed: {listed}{more}"


def _seconds(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return format_minutes(int(seconds // 60))
    return f"{seconds:g} s"


def _reboot_wanted(
    reboot: str, before: Assessment, outcome: InstallOutcome | None, pinned_reboot: bool
) -> tuple[bool, bool | None]:
    """(whether to reboot, whether the machine needs one)."""
    required: bool | None = before.facts.reboot_required
    if outcome is not None:
        if outcome.reboot_required is not None:
            required = outcome.reboot_required
        elif pinned_reboot:
            required = True
    if reboot in ("always", "reboot-only"):
        return True, required
    if reboot == "never":
        return False, required
    return bool(required), required


async def _reboot_step(
    job: MachineJob,
    connection: Connection,
    before: Assessment,
    outcome: InstallOutcome | None,
) -> Connection:
    """Reboot if the option asks for it and the window allows; returns the connection to
    go on with (a new one after a reboot)."""
    tally, status = job.tally, job.status
    installed = set(tally.installed)
    likely = any(i.reboot_likely for i in job.plan.items if i.platform_id in installed)
    wanted, required = _reboot_wanted(job.options.reboot, before, outcome, likely)
    if not wanted:
        tally.reboot = {True: "pending", False: "not-needed", None: None}[required]
        return connection
    if status.cancel == "now":
        tally.reboot = "pending"
        raise MachineEnded(CANCELLED, "cancelled (now) before the reboot began", "cancelled")
    now = job.settings.clock.now()
    if not status.window.allows(now):
        tally.reboot = "pending"
        tally.notes.append(status.window.why_not("the reboot", now))
        return connection
    await _phase(job, "rebooting")
    connection = await _reboot(job, connection, before.facts.boot_id)
    tally.reboot = "performed"
    return connection


def _windows(machine: Machine) -> bool:
    return machine.os_family == "windows"


async def _boot_id(job: MachineJob, connection: Connection) -> str | None:
    if _windows(job.machine):
        return await run_windows.boot_time(connection)
    nonce = new_nonce()
    command = install.boot_id_command(nonce=nonce)
    output = await connection.run(command.script, timeout=command.timeout)
    return install.read_boot_id(Result(output.exit_status, output.stdout, output.stderr), nonce)


async def _ask_reboot(job: MachineJob, connection: Connection) -> str | None:
    """Start the reboot: ``None`` when it was accepted (or may have been), else why not."""
    if _windows(job.machine):
        return await run_windows.restart(connection)
    nonce = new_nonce()
    command = install.reboot_command(nonce=nonce)
    try:
        output = await connection.run(
            command.script, privileged=command.privileged, timeout=command.timeout
        )
    except TransportError as exc:
        if exc.kind not in ("connection-lost", "timeout"):
            raise
        return None
    return install.reboot_error(Result(output.exit_status, output.stdout, output.stderr), nonce)


async def _reboot(job: MachineJob, connection: Connection, known: str | None) -> Connection:
    """Reboot the machine and wait until it answers with a new boot id."""
    machine, settings, writer, target = job.machine, job.settings, job.writer, job.target
    old = await _boot_id(job, connection) or known
    writer.line(target, "rebooting")
    refused = await _ask_reboot(job, connection)
    if refused is not None:
        job.tally.reboot = "pending"
        raise MachineEnded(FAILED, f"rebooting: {refused}", "reboot-refused")
    await job.pool.discard(machine.name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.reboot_timeout
    while True:
        if job.status.cancel == "now":
            raise MachineEnded(
                CANCELLED,
                "cancelled (now) while waiting for the machine to come back from its reboot",
                "cancelled",
            )
        left = deadline - loop.time()
        if left <= 0:
            raise MachineEnded(
                FAILED,
                f"rebooting: the machine did not come back within "
                f"{_seconds(settings.reboot_timeout)} of its reboot (no answer with a new "
                "boot id)",
                "no-return",
            )
        await asyncio.sleep(min(settings.reboot_poll_every, left))
        try:
            async with asyncio.timeout(max(1.0, deadline - loop.time())):
                fresh = await job.pool.get(machine)
                now_id = await _boot_id(job, fresh)
        except (TransportError, TimeoutError):
            await job.pool.discard(machine.name)
            continue
        if now_id is not None and now_id != old:
            writer.line(target, f"back after the reboot (boot id {now_id})")
            return fresh
        await job.pool.discard(machine.name)  # not gone down yet, or no boot id: look again


def _verify(job: MachineJob, pinned: Sequence[Pinned], after: Assessment) -> None:
    """An update the install reported installed that the scan after it still finds missing
    at the pinned version counts as failed."""
    missing = {u.platform_id: u for u in after.updates}
    versions = {p.platform_id: p.version for p in pinned}
    still = [
        i
        for i in job.tally.installed
        if i in missing
        and missing[i].installed != versions.get(i)
        and (versions.get(i) is None or missing[i].available == versions.get(i))
    ]
    if still:
        job.tally.installed = [i for i in job.tally.installed if i not in still]
        job.tally.failed += [(i, "still missing after the install") for i in still]
