"""``patchdeck fleet serve``: run a simulated fleet of SSH machines on 127.0.0.1 until stopped.

It runs in the foreground, in a process of its own. Ctrl-C (SIGINT) or SIGTERM stops it: the
listeners and open connections are closed and the command exits 0, since stopping is how a
fleet's run ends rather than an interruption of work (an interrupt before the fleet is up is
still 130).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

from backends.fleet.faults import FaultSpec, FaultSpecError
from backends.fleet.register import register_fleet
from backends.fleet.server import Fleet, SimulatedMachine, serve
from backends.inventory.validation import FieldError, check_text
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
        help="run simulated Linux machines as SSH servers on 127.0.0.1 until Ctrl-C",
        description="Run simulated Linux machines (Debian, Ubuntu, RHEL family, SUSE), each an "
        "SSH server on its own port of 127.0.0.1 with its own host key, until Ctrl-C. The same "
        "seed gives the same machines and host keys.",
    )
    serve_cmd.add_argument("--machines", type=int, required=True, metavar="N")
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
    serve_cmd.set_defaults(func=_serve)


def _check(args: argparse.Namespace) -> FaultSpec | None:
    if not 1 <= args.machines <= 20000:
        raise CliError(f"--machines: {args.machines} is not between 1 and 20000")
    if args.base_port and not 1024 <= args.base_port <= 65535 - args.machines + 1:
        raise CliError(
            f"--base-port: {args.base_port} leaves no room for {args.machines} ports "
            f"below 65536 (and must be 1024 or more)"
        )
    try:
        check_text("user", args.user)
        check_text("identity", args.identity)
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


async def _run(args: argparse.Namespace, ctx: Context, faults: FaultSpec | None) -> int:
    try:
        fleet = await serve(args.machines, args.seed, faults, HOST, args.base_port)
    except FaultSpecError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"fleet: {exc.strerror or exc}") from None
    try:
        if args.register:
            result = await asyncio.to_thread(
                register_fleet,
                ctx.store(),
                ctx.url,
                fleet.machines,
                args.user,
                args.identity,
                f"patchdeck fleet serve --seed {args.seed}",
            )
            if not args.json:
                print(
                    f"registered {len(fleet)} machines in {ctx.url}: "
                    f"{result.added} added, {result.updated} updated"
                )
        _announce(fleet, args)
        await _wait_for_stop()
    finally:
        await fleet.close()
    if not args.json:
        print("fleet stopped", file=sys.stderr)
    return OK


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


def _announce(fleet: Fleet, args: argparse.Namespace) -> None:
    ports = sorted(m.port for m in fleet)
    if args.json:
        for machine in fleet:
            json_line(_machine_json(machine))
        json_line({"ready": True, "machines": len(fleet), "seed": args.seed, "host": HOST})
        sys.stdout.flush()
        return
    if len(fleet) <= _LIST_UP_TO:
        for m in fleet:
            faults = f"  faults: {', '.join(m.faults.names())}" if m.faults.names() else ""
            print(f"{m.name:<9} {m.kind:<17} {m.host}:{m.port}{faults}")
    else:
        kinds = Counter(m.kind for m in fleet)
        print("kinds: " + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()))
        faulty = [m for m in fleet if m.faults.names()]
        if faulty:
            print(f"faults on {len(faulty)} machines: " + ", ".join(m.name for m in faulty[:10]))
    contiguous = ports[-1] - ports[0] == len(ports) - 1
    where = f"ports {ports[0]}-{ports[-1]}" if contiguous else "ephemeral ports"
    print(
        f"ready: {len(fleet)} machines (seed {args.seed}) on {HOST}, {where}; Ctrl-C to stop",
        flush=True,
    )


async def _wait_for_stop() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
