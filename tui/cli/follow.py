"""Following a run from the CLI: through the database, from any terminal, while its runner
process does the work. Ctrl-C stops following (exit 130); the run goes on."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backends.engine.events import MachineState, RunDone
from backends.engine.follow import RunFollower
from backends.inventory.run_owners import abandon_unclaimed, reap_stale_runs
from backends.inventory.runs import PENDING, Run, RunMachine
from tui.cli.context import Context
from tui.cli.exits import INTERRUPTED, NOT_ALL_SUCCEEDED, OK
from tui.cli.output import iso_z, json_line, table
from tui.safe import neutralise

if TYPE_CHECKING:
    from rich.console import Console

POLL_SECONDS = 0.5
REAP_EVERY = 5.0  # a runner killed meanwhile is noticed this often


def machine_json(machine: RunMachine) -> dict[str, Any]:
    """One machine's result, as ``--json`` prints it when the machine ends."""
    return {
        "machine": machine.machine,
        "state": machine.state,
        "installed": machine.installed,
        "failed": machine.failed,
        "reboot": machine.reboot,
        "error": machine.error,
        "started": iso_z(machine.started_at),
        "ended": iso_z(machine.ended_at),
    }


def _one_line(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def result_text(machine: RunMachine) -> str:
    """``12 installed, reboot performed`` or the error."""
    if machine.error:
        return _one_line(machine.error)
    parts = [f"{machine.installed} installed"]
    if machine.failed:
        parts.append(f"{machine.failed} failed")
    if machine.reboot:
        parts.append(f"reboot {machine.reboot}")
    return ", ".join(parts)


def summary_line(run: Run) -> str:
    totals = ", ".join(f"{n} {state}" for state, n in run.totals().items() if n)
    of = f" of {run.deployment}" if run.deployment else ""
    return f"run #{run.id}{of}: {run.state}: {totals or 'no machines'}"


def machines_table(run: Run) -> None:
    table(
        ("MACHINE", "STAGE", "STATE", "INSTALLED", "FAILED", "REBOOT", "RESULT"),
        (
            (
                m.machine,
                str(m.stage + 1),
                m.state,
                str(m.installed),
                str(m.failed),
                m.reboot or "-",
                result_text(m) if m.final else f"{m.percent}% {m.current_item or ''}".strip(),
            )
            for m in run.machines
        ),
    )


def exit_code(run: Run) -> int:
    return OK if run.all_succeeded and run.machines else NOT_ALL_SUCCEEDED


class _Printer:
    """Human output: a line per state change (on stdout), and on a terminal a live count of
    machines done on stderr."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console: Console = Console(stderr=True)
        self.display = Progress(
            TextColumn("running"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
            transient=True,
        )
        self.task = self.display.add_task("run", total=total)

    def state(self, event: MachineState, machine: RunMachine | None) -> None:
        if event.state == PENDING:
            return  # said by the table at the end; nothing has happened yet
        at = datetime.now(UTC).strftime("%H:%M:%S")
        detail = event.detail
        if machine is not None and machine.final:
            detail = result_text(machine)
            self.display.advance(self.task)
        line = f"{at}  {event.machine}  {event.state}" + (
            f"  {_one_line(detail)}" if detail else ""
        )
        self.display.console.print(neutralise(line), markup=False, highlight=False, soft_wrap=True)


def follow_run(
    ctx: Context,
    run_id: int,
    *,
    as_json: bool = False,
    process: subprocess.Popen[bytes] | None = None,
) -> int:
    """Follow run ``run_id`` until it ends; the exit code per DESIGN.md."""
    store = ctx.store()
    follower = RunFollower(store, run_id)
    first = follower.run()
    printer = None if as_json else _Printer(len(first.machines))
    emitted: set[int] = set()
    gate_told = False
    last_reap = time.monotonic()
    try:
        with printer.display if printer is not None else contextlib.nullcontext():
            while True:
                events = follower.poll()
                by_name = {m.machine: m for m in follower.machines.values()}
                for event in events:
                    if not isinstance(event, MachineState):
                        continue
                    machine = by_name.get(event.machine)
                    if printer is not None:
                        printer.state(event, machine)
                    elif (
                        machine is not None and machine.final and machine.machine_id not in emitted
                    ):
                        emitted.add(machine.machine_id)
                        json_line(machine_json(machine))
                        sys.stdout.flush()
                head = follower.head
                if head is not None and printer is not None:
                    if head.gate_waiting and head.live and not gate_told:
                        printer.console.print(
                            f"run #{run_id} waits at the gate before stage {head.stage + 1}: "
                            f"`patchdeck run approve {run_id}` to go on",
                            markup=False,
                            highlight=False,
                        )
                    gate_told = head.gate_waiting and head.live
                if any(isinstance(e, RunDone) for e in events) or follower.done:
                    break
                if time.monotonic() - last_reap >= REAP_EVERY:
                    last_reap = time.monotonic()
                    reap_stale_runs(store)
                if (
                    process is not None
                    and process.poll() is not None
                    and head is not None
                    and head.state == PENDING
                ):
                    abandon_unclaimed(
                        store,
                        run_id,
                        f"its runner process exited ({process.returncode}) before it started",
                    )
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        print(
            f"\nstopped following run #{run_id}; it goes on: `patchdeck run follow {run_id}`, "
            f"`patchdeck run cancel {run_id}`",
            file=sys.stderr,
        )
        return INTERRUPTED
    run = follower.run()
    if not as_json:
        print()
        machines_table(run)
        print(summary_line(run))
        if run.error:
            print(f"run #{run.id}: {neutralise(run.error)}", file=sys.stderr)
    return exit_code(run)
