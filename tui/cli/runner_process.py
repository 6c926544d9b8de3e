"""The runner process: started detached from the terminal for one run, it owns the run until
its end (DESIGN.md "Runs outlive the console").

``spawn_runner`` starts ``python -m tui run execute RUN`` detached (see :mod:`tui.launch`, which
the console uses too); ``execute`` is that command.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tui import launch
from tui.cli.context import Context
from tui.cli.exits import NOT_ALL_SUCCEEDED, OK, CliError
from tui.settings import SettingsError

if TYPE_CHECKING:
    from backends.engine.events import Event

log = logging.getLogger("patchdeck.runner")

# A runner told to stop (a shutdown, `systemctl stop`, `kill`) stops its work at once and marks
# what it had not finished interrupted, so `run resume` can go on without waiting for the
# heartbeat to go stale.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOPPED = 128 + signal.SIGTERM


def log_path(ctx: Context, run_id: int) -> Path:
    return launch.log_path(ctx.url, run_id)


def spawn_runner(ctx: Context, run_id: int) -> subprocess.Popen[bytes]:
    """Start the runner of ``run_id``; returns its process (the caller may forget it)."""
    return launch.spawn_runner(ctx.url, run_id, ctx.known_hosts)


def _log_event(event: Event) -> None:
    from backends.engine.events import MachineState, OutputLine, Progress, RunDone

    if isinstance(event, MachineState):
        detail = f": {event.detail}" if event.detail else ""
        log.info("%s: %s%s", event.machine, event.state, detail)
    elif isinstance(event, OutputLine):
        log.info("%s| %s", event.machine, event.text)
    elif isinstance(event, RunDone):
        log.info("run %s ended: %s", event.run_id, event.totals)
    elif isinstance(event, Progress):
        log.debug("%s: %d%% %s", event.machine, event.percent, event.item)


def _default_notify(ctx: Context) -> str | None:
    """The settings' notify command; settings that cannot be read cost the run nothing but
    that default (said in the run's log)."""
    try:
        return ctx.settings().notify
    except SettingsError as exc:
        log.warning("no default notify command: %s", exc)
        return None


def execute(args: argparse.Namespace, ctx: Context) -> int:
    """``run execute RUN``: be the runner of a pending run, until it ends."""
    from backends.engine.connections import ConnectionPool
    from backends.engine.run_options import RunnerOptions
    from backends.engine.runner import execute_run
    from backends.inventory.run_journal import LostOwnership
    from backends.inventory.run_owners import interrupt_own_run, new_owner_id
    from backends.inventory.runs import Run, RunError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    store = ctx.store()
    pool = ConnectionPool(ctx.host_keys())
    options = RunnerOptions(notify_default=_default_notify(ctx))

    owner = new_owner_id()
    stopped_by: list[str] = []

    async def go() -> Run:
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()
        for number in STOP_SIGNALS:

            def stop(name: str = signal.Signals(number).name) -> None:
                stopped_by.append(name)
                main.cancel()

            loop.add_signal_handler(number, stop)
        try:
            return await execute_run(
                store, args.run, pool, _log_event, options, owner, log_path=args.log
            )
        finally:
            await pool.close_all()

    log.info("runner of run %s starting (pid %s)", args.run, os.getpid())
    try:
        run = asyncio.run(go())
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        why = f"its runner was stopped by {stopped_by[0]}"
        if interrupt_own_run(store, args.run, owner, why):
            log.error("run %s: %s; its unfinished machines are interrupted", args.run, why)
        raise CliError(why, STOPPED) from None
    except RunError as exc:
        raise CliError(str(exc)) from None
    except LostOwnership as exc:
        log.error("%s: stopping", exc)
        raise CliError(str(exc), NOT_ALL_SUCCEEDED) from None
    log.info("run %s: %s", run.id, run.state)
    return OK if run.all_succeeded else NOT_ALL_SUCCEEDED
