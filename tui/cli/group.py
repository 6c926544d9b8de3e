"""``patchdeck group …``: create, list, show and delete computer groups."""

from __future__ import annotations

import argparse
from typing import Any

from backends.inventory.groups import (
    STATIC,
    Group,
    GroupSummary,
    create_group,
    delete_group,
    get_group,
    group_machines,
    list_groups,
)
from backends.inventory.records import Machine
from backends.inventory.validation import FieldError
from tui.cli.confirm import confirm
from tui.cli.context import Context
from tui.cli.exits import OK, CliError
from tui.cli.output import age, iso_z, json_line, machine_json, table
from tui.safe import neutralise


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("group", help="create, list, show and delete computer groups")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    create = verbs.add_parser(
        "create", help="a static group of named machines, or a dynamic group of a query"
    )
    create.add_argument("name", metavar="NAME")
    how = create.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--query",
        metavar="Q",
        help="a dynamic group: the machines this query matches whenever the group is used "
        "(see docs/query-language.md)",
    )
    how.add_argument(
        "--machines",
        action="append",
        metavar="A,B,C",
        help="a static group of these machines (comma-separated; repeatable)",
    )
    create.set_defaults(func=_create)

    lst = verbs.add_parser("list", help="every group with how many machines it holds now")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=_list)

    show = verbs.add_parser("show", help="a group and the machines it resolves to now")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)

    edit = verbs.add_parser("edit", help="change a group's periodic scan")
    edit.add_argument("name", metavar="NAME")
    edit.add_argument(
        "--scan-every",
        metavar="DURATION",
        required=True,
        help="scan its machines this often, begun by `patchdeck run-due` (6h, 1d; at least "
        "5m); off stops it",
    )
    edit.set_defaults(func=_edit)

    delete = verbs.add_parser("delete", help="delete a group (its machines stay)")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=_delete)


def group_json(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "kind": group.kind,
        "query": group.query,
        "members": list(group.machines) if group.kind == STATIC else None,
        "created": iso_z(group.created_at),
    }


def _definition(group: Group, shown: int = 5) -> str:
    """A dynamic group's query; a static group's first machines (the rest counted)."""
    if group.kind != STATIC:
        return group.query or ""
    names = group.machines
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more if names else "(no machines left)"


def _create(args: argparse.Namespace, ctx: Context) -> int:
    machines = None
    if args.machines is not None:
        machines = [name for value in args.machines for name in value.split(",")]
    try:
        group = create_group(ctx.store(), args.name, machines=machines, query=args.query)
    except FieldError as exc:
        raise CliError(str(exc)) from None
    if group.kind == STATIC:
        count = len(group.machines)
        print(f"created static group {group.name} ({count} machine{'s' if count != 1 else ''})")
    else:
        print(f"created dynamic group {group.name}: {neutralise(group.query or '')}")
    return OK


def _summary_json(summary: GroupSummary) -> dict[str, Any]:
    return {**group_json(summary.group), "count": summary.count, "error": summary.error}


def _list(args: argparse.Namespace, ctx: Context) -> int:
    summaries = list_groups(ctx.store())
    if args.json:
        for summary in summaries:
            json_line(_summary_json(summary))
        return OK
    if not summaries:
        print("no groups yet: create one with `patchdeck group create`")
        return OK
    table(
        ("NAME", "KIND", "MACHINES", "DEFINITION"),
        (
            (
                s.group.name,
                s.group.kind,
                "?" if s.count is None else str(s.count),
                _definition(s.group) + (f"  [error: {s.error}]" if s.error else ""),
            )
            for s in summaries
        ),
    )
    return OK


def _show(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    group = get_group(store, args.name)
    machines = group_machines(store, group)
    if args.json:
        json_line(
            {
                **group_json(group),
                "scan_every": _every_text(group) if group.scan_every else None,
                "count": len(machines),
                "machines": [machine_json(m) for m in machines],
            }
        )
        return OK
    label = "machines:" if group.kind == STATIC else "query:"
    now = f"{len(machines)} machine{'s' if len(machines) != 1 else ''} now"
    for name, value in (
        ("name:", group.name),
        ("kind:", group.kind),
        (label, _definition(group)),
        ("resolves to:", now),
        *([("scan every:", _every_text(group))] if group.scan_every else []),
    ):
        print(f"{name:<14}{neutralise(value)}")
    if machines:
        print()
        _machine_table(machines)
    return OK


def _machine_table(machines: list[Machine]) -> None:
    # Three count columns where there is room: security, critical (Windows only) and other.
    windows = any(m.os_family == "windows" for m in machines)

    def counts(m: Machine) -> list[str]:
        other = sum(n for c, n in m.missing.items() if c not in ("security", "critical"))
        critical = [str(m.missing.get("critical", 0))] if windows else []
        return [str(m.missing.get("security", 0)), *critical, str(other)]

    table(
        (
            "NAME",
            "ADDRESS",
            "OS",
            "ENVIRONMENT",
            "LAST SCAN",
            "SECURITY",
            *(["CRITICAL"] if windows else []),
            "OTHER",
        ),
        (
            (
                m.name,
                m.address,
                " ".join(filter(None, (m.distro, m.version))) or m.os_family,
                m.environment or "",
                age(m.last_scan_at),
                *counts(m),
            )
            for m in machines
        ),
    )


def _delete(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    group = get_group(store, args.name)  # an unknown group is named before anything is asked
    what = f"{len(group.machines)} machines" if group.kind == STATIC else f"query {group.query}"
    confirm(
        f"Delete the {group.kind} group {group.name} ({neutralise(what)})? "
        "Its machines stay in the inventory.",
        args.yes,
    )
    delete_group(store, group.name)
    print(f"deleted group {group.name}")
    return OK


def _every_text(group: Group) -> str:
    seconds = int(group.scan_every.total_seconds()) if group.scan_every else 0
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _edit(args: argparse.Namespace, ctx: Context) -> int:
    from backends.inventory.group_scans import check_scan_every, set_scan_every

    try:
        group = set_scan_every(ctx.store(), args.name, check_scan_every(args.scan_every))
    except FieldError as exc:
        raise CliError(str(exc)) from None
    if group.scan_every is None:
        print(f"group {group.name}: no periodic scan")
    else:
        print(f"group {group.name}: scanned every {_every_text(group)} by `patchdeck run-due`")
    return OK
