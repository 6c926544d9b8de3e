"""The ``patchdeck`` command: the console when run bare, headless subcommands otherwise."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn, cast

from backends.inventory.errors import InventoryError, QueryError
from tui.cli import audit, demo, deployment, fleet, group, machine, report, run, run_due, scan
from tui.cli.console import open_console
from tui.cli.context import Context
from tui.cli.exits import INTERRUPTED, OK, USAGE, CliError
from tui.cli.queries import print_query_error
from tui.settings import SettingsError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming what is wrong, and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message} (see {self.prog} --help)", USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="patchdeck",
        description="A terminal console for interactive OS patch operations. "
        "Without a command, opens the console.",
    )
    parser.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        help="inventory file or database URL (default: $PATCHDECK_DB, "
        "else ~/.local/share/patchdeck/inventory.db)",
    )
    parser.add_argument(
        "--known-hosts",
        metavar="FILE",
        help="an extra known_hosts file to trust (also $PATCHDECK_KNOWN_HOSTS)",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="open the console without the actions that change machines or definitions "
        "(also read_only in the config)",
    )
    # every subcommand's parser is a _Parser too (argparse makes them of the parent's class)
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    demo.register(commands)
    machine.register(commands)
    scan.register(commands)
    group.register(commands)
    deployment.register(commands)
    run.register(commands)
    run_due.register(commands)
    report.register(commands)
    audit.register(commands)
    fleet.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    ctx = Context()
    try:
        args = build_parser().parse_args(argv)
        ctx.db, ctx.known_hosts = args.db, args.known_hosts
        handler = getattr(args, "func", open_console)
        return int(handler(args, ctx))
    except CliError as exc:
        print(f"patchdeck: {exc}" if not str(exc).startswith("patchdeck") else exc, file=sys.stderr)
        return exc.code
    except QueryError as exc:  # the query, carets under the bad token, the message
        print_query_error(exc)
        return USAGE
    except (InventoryError, SettingsError) as exc:
        print(f"patchdeck: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("patchdeck: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `patchdeck machine list | head`
        sys.stderr.close()
        return OK
    finally:
        ctx.close()
