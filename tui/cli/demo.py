"""``patchdeck demo``: the console on a simulated fleet and a throwaway inventory.

A temporary directory holds the inventory, its known_hosts, the demo's client key and the
fleet's log; the fleet (:mod:`tui.cli.demo_fleet`) registers its machines there; a first scan
runs with the scan command's progress line; then the console opens on that inventory like on
any other. When the console exits (normally, by an exception, Ctrl-C, a hangup or SIGTERM) the
fleet is stopped and waited for, and the directory is removed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from tui.cli.console import console_settings
from tui.cli.context import Context
from tui.cli.exits import CliError

DEFAULT_MACHINES = 40
DEFAULT_WINDOWS = 3
MAX_WINDOWS = 200
MAX_MACHINES = 20000


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="open the console on a simulated fleet and a throwaway inventory",
        description="Start simulated Linux machines on 127.0.0.1 (a few down, one refusing "
        "authentication, some needing a reboot) and Windows machines (WinRM), scan them into a "
        "throwaway inventory and open the console on it. Everything is removed when the "
        "console exits.",
    )
    demo.add_argument(
        "--machines",
        type=int,
        default=DEFAULT_MACHINES,
        metavar="N",
        help=f"how many Linux machines (default: {DEFAULT_MACHINES})",
    )
    demo.add_argument(
        "--windows",
        type=int,
        default=DEFAULT_WINDOWS,
        metavar="N",
        help=f"how many Windows machines besides (default: {DEFAULT_WINDOWS}; 0: none)",
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace, ctx: Context) -> int:
    from backends.engine.scan import ScanOptions
    from backends.inventory.machines import list_machines
    from tui.app import run_console
    from tui.cli.demo_fleet import demo_password, fleet_timeout, running_fleet
    from tui.cli.scan import run_scan

    if not 1 <= args.machines <= MAX_MACHINES:
        raise CliError(f"--machines: {args.machines} is not between 1 and {MAX_MACHINES}")
    if not 0 <= args.windows <= MAX_WINDOWS:
        raise CliError(f"--windows: {args.windows} is not between 0 and {MAX_WINDOWS}")
    settings = console_settings(ctx)  # before anything starts: a bad setting is a usage error
    timeout = fleet_timeout()
    with (
        _ended_by_signals(),
        demo_password(),
        tempfile.TemporaryDirectory(prefix="patchdeck-demo-") as name,
    ):
        folder = Path(name)
        demo = Context(db=str(folder / "inventory.db"))
        try:
            windows = f" and {args.windows} Windows" if args.windows else ""
            print(
                f"patchdeck demo: starting {args.machines} simulated machines{windows} "
                "on 127.0.0.1 …",
                file=sys.stderr,
                flush=True,
            )
            db = folder / "inventory.db"
            with running_fleet(folder, db, args.machines, timeout, args.windows):
                machines = list_machines(demo.store())
                run_scan(demo, machines, ScanOptions(concurrency=settings.concurrency))
                return run_console(
                    demo.url, known_hosts=demo.known_hosts_files(), settings=settings
                )
        finally:
            demo.close()


@contextmanager
def _ended_by_signals() -> Iterator[None]:
    """A hangup (the terminal or SSH session went away) or SIGTERM unwinds like Ctrl-C does,
    so the fleet is stopped and the temporary files removed; exit status 128 + the signal."""

    def end(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signals = (signal.SIGHUP, signal.SIGTERM)
    previous = {signum: signal.signal(signum, end) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
