"""``patchdeck fleet serve``: run a simulated fleet on 127.0.0.1 until stopped: Linux machines as
SSH servers, Windows machines as WinRM endpoints (``--windows N``).

It runs in the foreground, in a process of its own. Ctrl-C (SIGINT) or SIGTERM stops it: the
listeners and open connections are closed and the command exits 0, since stopping is how a
fleet's run ends rather than an interruption of work (an interrupt before the fleet is up is
still 130). With ``--exit-with-stdin`` it also stops when its standard input reaches end of
file: a parent that starts it with a pipe there (``patchdeck demo``) takes the fleet with it
however the parent ends, even killed outright.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from collections import Counter
from pathlib import Path

from backends.fleet.faults import FaultSpec, FaultSpecError
from backends.fleet.register import register_fleet, register_windows
from backends.fleet.server import Fleet, SimulatedMachine, serve
from backends.fleet.winrm_server import (
    DEFAULT_USER,
    SimulatedWindows,
    WindowsFleet,
    WinRMCredential,
    serve_windows,
)
from backends.inventory.validation import FieldError, check_text
from backends.transports.winrm_password import GENERIC_VARIABLE
from tui.cli.context import Context
from tui.cli.exits import OK, CliError
from tui.cli.output import json_line

HOST = "127.0.0.1"
_LIST_UP_TO = 20


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = commands.add_parser("fleet", help="simulated machines for demos, tests and benchmarks")
    verbs = fleet.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve_cmd = verbs.add_parser(
        "serve",
        help="run simulated machines (SSH, WinRM) on 127.0.0.1 until Ctrl-C",
        description="Run simulated Linux machines (Debian, Ubuntu, RHEL family, SUSE), each an "
        "SSH server on its own port of 127.0.0.1 with its own host key, and Windows Server "
        "machines, each a WinRM endpoint, until Ctrl-C. The same seed gives the same machines "
        "and host keys.",
    )
    serve_cmd.add_argument(
        "--machines", type=int, default=0, metavar="N", help="Linux machines (SSH)"
    )
    serve_cmd.add_argument(
        "--windows",
        type=int,
        default=0,
        metavar="N",
        help="Windows Server machines (WinRM); their password is $PATCHDECK_WINRM_PASSWORD, "
        "else a new one, printed",
    )
    serve_cmd.add_argument(
        "--windows-https",
        action="store_true",
        help="Windows machines listen on HTTPS (Basic auth, a CA made at start) instead of "
        "HTTP with NTLM",
    )
    serve_cmd.add_argument(
        "--windows-user",
        default=DEFAULT_USER,
        metavar="U",
        help=f"the account Windows machines accept (default: {DEFAULT_USER})",
    )
    serve_cmd.add_argument("--seed", type=int, default=0, metavar="S", help="default: 0")
    serve_cmd.add_argument(
        "--faults", type=Path, metavar="FILE", help="JSON or YAML fault spec (see the docs)"
    )
    serve_cmd.add_argument(
        "--register",
        action="store_true",
        help="add the machines to the inventory (tags fleet=sim, kind=…) and trust their keys",
    )
    serve_cmd.add_argument(
        "--base-port",
        type=int,
        default=0,
        metavar="P",
        help="machine i listens on P+i (default: ephemeral ports)",
    )
    serve_cmd.add_argument(
        "--user", default="root", metavar="U", help="login user to register (default: root)"
    )
    serve_cmd.add_argument("--identity", metavar="FILE", help="SSH private key file to register")
    serve_cmd.add_argument(
        "--json", action="store_true", help="one JSON object per machine, then a ready object"
    )
    serve_cmd.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="also stop when standard input closes (for a parent process that starts the fleet)",
    )
    serve_cmd.set_defaults(func=_serve)


def _check(args: argparse.Namespace) -> FaultSpec | None:
    if not 0 <= args.machines <= 20000:
        raise CliError(f"--machines: {args.machines} is not between 1 and 20000")
    if not 0 <= args.windows <= 1000:
        raise CliError(f"--windows: {args.windows} is not between 1 and 1000")
    if args.machines + args.windows < 1:
        raise CliError("--machines: give the number of machines to serve (or --windows N)")
    total = args.machines + args.windows
    if args.base_port and not 1024 <= args.base_port <= 65535 - total + 1:
        raise CliError(
            f"--base-port: {args.base_port} leaves no room for {total} ports "
            f"below 65536 (and must be 1024 or more)"
        )
    try:
        check_text("user", args.user)
        check_text("identity", args.identity)
        if not check_text("windows-user", args.windows_user):
            raise CliError("--windows-user: empty")
    except FieldError as exc:
        raise CliError(str(exc)) from None
    if args.faults is None:
        return None
    try:
        return FaultSpec.load(args.faults)
    except FaultSpecError as exc:
        raise CliError(str(exc)) from None


def _serve(args: argparse.Namespace, ctx: Context) -> int:
    faults = _check(args)
    return asyncio.run(_run(args, ctx, faults))


def _split(faults: FaultSpec | None) -> tuple[FaultSpec | None, FaultSpec | None]:
    """The spec's Linux part (``sim-…`` names) and Windows part (``win-…`` names); random
    faults go to both."""
    if faults is None:
        return None, None
    linux = {n: f for n, f in faults.machines.items() if not n.startswith("win-")}
    windows = {n: f for n, f in faults.machines.items() if n.startswith("win-")}
    return FaultSpec(linux, faults.random), FaultSpec(windows, faults.random)


async def _run(args: argparse.Namespace, ctx: Context, faults: FaultSpec | None) -> int:
    linux_faults, windows_faults = _split(faults)
    if linux_faults is not None and linux_faults.machines and not args.machines:
        named = sorted(linux_faults.machines)[0]
        raise CliError(f"faults: machine {named!r} is not in the fleet (no Linux machines)")
    fleet: Fleet | None = None
    windows: WindowsFleet | None = None
    given = os.environ.get(GENERIC_VARIABLE)
    credential = WinRMCredential(args.windows_user, given or secrets.token_urlsafe(12))
    try:
        if args.machines:
            fleet = await serve(args.machines, args.seed, linux_faults, HOST, args.base_port)
        if args.windows:
            base = args.base_port + args.machines if args.base_port else 0
            windows = await serve_windows(
                args.windows, args.seed, credential, windows_faults, HOST, base, args.windows_https
            )
    except FaultSpecError as exc:
        await _close(fleet, windows)
        raise CliError(str(exc)) from None
    except OSError as exc:
        await _close(fleet, windows)
        raise CliError(f"fleet: {exc.strerror or exc}") from None
    except BaseException:
        await _close(fleet, windows)
        raise
    try:
        if args.register:
            await _register(args, ctx, fleet, windows)
        _announce(fleet, windows, args, credential, generated=not given)
        await _wait_for_stop(args.exit_with_stdin)
    finally:
        await _close(fleet, windows)
    if not args.json:
        print("fleet stopped", file=sys.stderr)
    return OK


async def _close(fleet: Fleet | None, windows: WindowsFleet | None) -> None:
    if fleet is not None:
        await fleet.close()
    if windows is not None:
        await windows.close()


async def _register(
    args: argparse.Namespace, ctx: Context, fleet: Fleet | None, windows: WindowsFleet | None
) -> None:
    source = f"patchdeck fleet serve --seed {args.seed}"
    added = updated = count = 0
    if fleet is not None:
        result = await asyncio.to_thread(
            register_fleet, ctx.store(), ctx.url, fleet.machines, args.user, args.identity, source
        )
        added, updated, count = result.added, result.updated, len(fleet)
    if windows is not None:
        result = await asyncio.to_thread(
            register_windows,
            ctx.store(),
            ctx.url,
            windows.machines,
            args.windows_user,
            windows.ca_pem,
            source,
        )
        added, updated, count = added + result.added, updated + result.updated, count + len(windows)
    if not args.json:
        print(f"registered {count} machines in {ctx.url}: {added} added, {updated} updated")


def _machine_json(m: SimulatedMachine) -> dict[str, object]:
    return {
        "name": m.name,
        "kind": m.kind,
        "label": m.label,
        "host": m.host,
        "port": m.port,
        "host_key": m.public_key,
        "faults": m.faults.names(),
    }


def _windows_json(m: SimulatedWindows) -> dict[str, object]:
    return {
        "name": m.name,
        "kind": m.kind,
        "label": m.label,
        "host": m.host,
        "port": m.port,
        "transport": "winrm",
        "https": m.https,
        "faults": m.faults.names(),
    }


def _announce(
    fleet: Fleet | None,
    windows: WindowsFleet | None,
    args: argparse.Namespace,
    credential: WinRMCredential,
    generated: bool,
) -> None:
    machines: list[SimulatedMachine | SimulatedWindows] = [*(fleet or ()), *(windows or ())]
    ports = sorted(m.port for m in machines)
    if args.json:
        for machine in machines:
            row = (
                _windows_json(machine)
                if isinstance(machine, SimulatedWindows)
                else _machine_json(machine)
            )
            json_line(row)
        ready: dict[str, object] = {
            "ready": True,
            "machines": len(machines),
            "seed": args.seed,
            "host": HOST,
        }
        if windows is not None:
            ready.update(windows=len(windows), winrm_user=credential.user)
            if generated:
                ready["winrm_password"] = credential.password
        json_line(ready)
        sys.stdout.flush()
        return
    if len(machines) <= _LIST_UP_TO:
        for m in machines:
            faults = f"  faults: {', '.join(m.faults.names())}" if m.faults.names() else ""
            print(f"{m.name:<9} {m.kind:<17} {m.host}:{m.port}{faults}")
    else:
        kinds = Counter(m.kind for m in machines)
        print("kinds: " + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()))
        faulty = [m for m in machines if m.faults.names()]
        if faulty:
            print(f"faults on {len(faulty)} machines: " + ", ".join(m.name for m in faulty[:10]))
    if windows is not None:
        how = "HTTPS, Basic" if args.windows_https else "HTTP, NTLM"
        if generated:
            print(
                f"windows machines ({how}) accept {credential.user}; scan them with "
                f"{GENERIC_VARIABLE}={credential.password} in the environment"
            )
        else:
            print(
                f"windows machines ({how}) accept {credential.user} with the password "
                f"in ${GENERIC_VARIABLE}"
            )
    contiguous = ports[-1] - ports[0] == len(ports) - 1
    where = f"ports {ports[0]}-{ports[-1]}" if contiguous else "ephemeral ports"
    print(
        f"ready: {len(machines)} machines (seed {args.seed}) on {HOST}, {where}; Ctrl-C to stop",
        flush=True,
    )


class _StdinWatch(asyncio.Protocol):
    """Sets ``stop`` when standard input ends; what arrives on it is ignored."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop

    def eof_received(self) -> bool:
        self.stop.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop.set()


async def _wait_for_stop(exit_with_stdin: bool = False) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    watch: asyncio.BaseTransport | None = None
    try:
        if exit_with_stdin:
            try:
                watch, _ = await loop.connect_read_pipe(lambda: _StdinWatch(stop), sys.stdin)
            except (OSError, ValueError) as exc:
                raise CliError(f"--exit-with-stdin: cannot watch standard input: {exc}") from None
        await stop.wait()
    finally:
        if watch is not None:
            watch.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
