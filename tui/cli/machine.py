"""``patchdeck machine …``: add, import, list, show, remove."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from backends.inventory.errors import NotFound
from backends.inventory.imports import FORMATS, ImportFailed, parse_file
from backends.inventory.machines import (
    add_machine,
    get_machine,
    import_machines,
    list_machines,
    remove_machines,
    unknown_names,
)
from backends.inventory.query import machines_matching
from backends.inventory.records import (
    CRITICALITIES,
    OS_FAMILIES,
    TRANSPORTS,
    WINRM_AUTHS,
    Machine,
)
from backends.inventory.validation import FieldError, build_spec, check_tag
from tui.cli.confirm import confirm
from tui.cli.context import Context
from tui.cli.exits import NOT_ALL_SUCCEEDED, OK, CliError
from tui.cli.output import age, json_line, machine_json, table, winrm_summary
from tui.safe import neutralise


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    machine = commands.add_parser("machine", help="add, import, list, show and remove machines")
    verbs = machine.add_subparsers(dest="verb", metavar="VERB", required=True)

    add = verbs.add_parser("add", help="add one machine")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--address", required=True, metavar="HOST", help="host name or IP address")
    add.add_argument("--port", metavar="N", help="default: 22 for ssh, 5985 for winrm")
    add.add_argument("--transport", choices=TRANSPORTS, default="ssh")
    add.add_argument("--os", dest="os_family", choices=OS_FAMILIES, help="default: from transport")
    add.add_argument("--user", metavar="USER")
    add.add_argument("--identity", metavar="FILE", help="SSH private key file")
    add.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    add.add_argument("--owner", metavar="O")
    add.add_argument("--role", metavar="R")
    add.add_argument("--environment", metavar="E")
    add.add_argument("--criticality", choices=CRITICALITIES, default="medium")
    winrm = add.add_argument_group("WinRM (--transport winrm)")
    winrm.add_argument(
        "--winrm-auth", choices=WINRM_AUTHS, help="how to log in (default: ntlm); basic needs HTTPS"
    )
    winrm.add_argument(
        "--winrm-https", action="store_true", help="HTTPS instead of HTTP (port default 5986)"
    )
    winrm.add_argument(
        "--winrm-ca-file", metavar="FILE", help="check the server's certificate against this CA"
    )
    winrm.add_argument(
        "--winrm-no-verify",
        action="store_true",
        help="do not check the server's certificate (anyone on the path could pose as it)",
    )
    add.set_defaults(func=_add)

    imp = verbs.add_parser("import", help="add or update machines from a file (all or nothing)")
    imp.add_argument("file", metavar="FILE", type=Path)
    imp.add_argument("--format", choices=FORMATS, help="default: guessed from the content")
    imp.set_defaults(func=_import)

    lst = verbs.add_parser("list", help="list machines")
    lst.add_argument(
        "--where",
        metavar="Q",
        help="only machines this query matches, e.g. 'os = linux and missing.security > 0' "
        "(see docs/query-language.md)",
    )
    lst.add_argument("--match", metavar="TEXT", help="plain-text match on name, address and tags")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=_list)

    show = verbs.add_parser("show", help="everything known about one machine")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)

    remove = verbs.add_parser("remove", help="remove machines and what was found on them")
    remove.add_argument("names", nargs="+", metavar="NAME")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.set_defaults(func=_remove)

    trust = verbs.add_parser("trust", help="show a machine's SSH host key and trust it")
    trust.add_argument("name", metavar="NAME")
    trust.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    trust.set_defaults(func=_trust)


def _add(args: argparse.Namespace, ctx: Context) -> int:
    try:
        tags = tuple(dict.fromkeys(check_tag(t) for t in args.tag))
        spec = build_spec(
            name=args.name,
            address=args.address,
            port=args.port,
            transport=args.transport,
            os_family=args.os_family,
            user=args.user,
            identity_file=args.identity,
            tags=tags,
            owner=args.owner,
            role=args.role,
            environment=args.environment,
            criticality=args.criticality,
            winrm_auth=args.winrm_auth,
            winrm_https=args.winrm_https or None,
            winrm_verify_cert=False if args.winrm_no_verify else None,
            winrm_ca_file=args.winrm_ca_file,
        )
    except FieldError as exc:
        raise CliError(str(exc)) from None
    machine = add_machine(ctx.store(), spec)
    print(f"added {machine.name} ({machine.transport} {machine.address}:{machine.port})")
    if machine.transport == "winrm" and not machine.winrm_verify_cert:
        print(f"warning: {machine.name}'s certificate will not be checked", file=sys.stderr)
    return OK


def _import(args: argparse.Namespace, ctx: Context) -> int:
    path: Path = args.file
    try:
        specs = parse_file(path, args.format)
    except ImportFailed as exc:
        for problem in exc.problems[:50]:
            print(problem, file=sys.stderr)
        if len(exc.problems) > 50:
            print(f"… and {len(exc.problems) - 50} more problems", file=sys.stderr)
        raise CliError(f"{path}: nothing was imported") from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    result = import_machines(ctx.store(), specs, source=str(path))
    counts = f"{result.added} added, {result.updated} updated"
    print(f"imported {len(specs)} machines from {path}: {counts}")
    return OK


def _list(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    if args.where is None:
        machines = list_machines(store, args.match)
    else:
        machines = machines_matching(store, args.where)
        if args.match:
            keep = {m.id for m in list_machines(store, args.match)}
            machines = [m for m in machines if m.id in keep]
    if args.json:
        for machine in machines:
            json_line(machine_json(machine))
        return OK
    if not machines:
        print(
            "no machines match"
            if args.where or args.match
            else "no machines yet: add one with `patchdeck machine add`"
        )
        return OK
    table(
        ("NAME", "ADDRESS", "TRANSPORT", "OS", "ENVIRONMENT", "LAST SCAN", "TAGS"),
        (
            (
                m.name,
                f"{m.address}:{m.port}" if m.port else m.address,
                m.transport,
                " ".join(filter(None, (m.distro, m.version))) or m.os_family,
                m.environment or "",
                age(m.last_scan_at),
                " ".join(f"{k}={v}" for k, v in m.tags),
            )
            for m in machines
        ),
    )
    return OK


def _show(args: argparse.Namespace, ctx: Context) -> int:
    machine = get_machine(ctx.store(), args.name)
    if args.json:
        json_line(machine_json(machine))
        return OK
    for label, value in _facts(machine):
        print(f"{label + ':':<16}{neutralise(value)}")
    return OK


def _facts(m: Machine) -> list[tuple[str, str]]:
    def text(value: object) -> str:
        return "-" if value is None or value == "" else str(value)

    def yes_no(value: bool | None) -> str:
        return "unknown" if value is None else ("yes" if value else "no")

    scan = age(m.last_scan_at)
    if m.last_scan_at is not None:
        scan = f"{scan} ago, {text(m.last_scan_outcome)}"
    return [
        ("name", m.name),
        ("address", f"{m.address}:{m.port}" if m.port else m.address),
        ("transport", m.transport),
        ("os", " ".join(filter(None, (m.os_family, m.distro, m.version)))),
        ("user", text(m.user)),
        ("identity", text(m.identity_file)),
        *([("winrm", winrm_summary(m))] if m.transport == "winrm" else []),
        ("owner", text(m.owner)),
        ("role", text(m.role)),
        ("environment", text(m.environment)),
        ("criticality", m.criticality),
        ("tags", " ".join(f"{k}={v}" for k, v in m.tags) or "-"),
        ("last scan", scan),
        ("last error", text(m.last_scan_error)),
        ("reachable", yes_no(m.reachable)),
        ("reboot pending", yes_no(m.reboot_pending)),
        ("missing", ", ".join(f"{c} {n}" for c, n in m.missing.items())),
    ]


def _remove(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    names = list(dict.fromkeys(args.names))
    unknown = unknown_names(store, names)  # name every unknown machine before asking anything
    if unknown:
        raise NotFound("machine", unknown)
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    confirm(
        f"Remove {len(names)} machine{'s' if len(names) != 1 else ''} ({listed}) "
        "and everything recorded about them?",
        args.yes,
    )
    removed = remove_machines(store, names)
    print(f"removed {len(removed)} machine{'s' if len(removed) != 1 else ''}")
    return OK


def _trust(args: argparse.Namespace, ctx: Context) -> int:
    from backends.transports.base import TransportError
    from tui.trust import NoHostKey, fetch_presented_key, trust_key

    machine = get_machine(ctx.store(), args.name)
    keys = ctx.host_keys()
    try:
        presented = asyncio.run(fetch_presented_key(machine, keys))
    except NoHostKey as exc:
        raise CliError(str(exc)) from None
    except TransportError as exc:
        raise CliError(str(exc), NOT_ALL_SUCCEEDED) from None
    print(presented.describe())
    if presented.trusted:
        print("this key is already trusted")
        return OK
    warning = presented.warning()
    if warning:
        print(warning)
    confirm(f"Trust this key for {machine.name}?", args.yes)
    print(f"trusted; recorded in {trust_key(presented, keys)}")
    return OK
