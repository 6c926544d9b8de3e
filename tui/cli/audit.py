"""``patchdeck audit``: who did what to which machines, from the inventory's audit trail."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from backends.engine.schedule import machine_zone, parse_at
from backends.inventory.audit import list_audit
from backends.inventory.durations import DurationError, parse_duration
from backends.inventory.records import AuditEntry
from backends.inventory.validation import FieldError
from tui.cli.context import Context
from tui.cli.exits import OK, CliError
from tui.cli.output import iso_z, json_line, table

SHOWN_MACHINES = 3


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="who did what to which machines, oldest first")
    audit.add_argument(
        "--since",
        metavar="DURATION|TIME",
        help="only what happened since: a duration back from now (24h, 7d) or a time "
        "(2026-03-10T08:00+01:00, or local: 2026-03-10 08:00)",
    )
    audit.add_argument("--machine", metavar="NAME", help="only what concerned this machine")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.set_defaults(func=_audit)


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a duration back from ``now``, or a time (ISO 8601; local without an
    offset)."""
    try:
        return now - parse_duration(text)
    except DurationError as exc:
        if exc.too_long:
            raise CliError(f"since: {text!r} {exc}") from None
    try:
        return parse_at(text, machine_zone())
    except FieldError:
        raise CliError(
            f"since: {text!r} is neither a duration (24h, 7d) nor a time (2026-03-10T08:00+01:00)"
        ) from None


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": iso_z(entry.at),
        "user": entry.user,
        "action": entry.action,
        "machines": list(entry.machines),
        "detail": entry.detail,
    }


def _machines_text(machines: tuple[str, ...]) -> str:
    shown = ", ".join(machines[:SHOWN_MACHINES])
    more = len(machines) - SHOWN_MACHINES
    return shown + (f" and {more} more" if more > 0 else "") if machines else "-"


def _one_line(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _audit(args: argparse.Namespace, ctx: Context) -> int:
    since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    entries = list_audit(ctx.store(), since=since, machine=args.machine)
    if args.json:
        for entry in entries:
            json_line(audit_json(entry))
        return OK
    if not entries:
        print("nothing in the audit trail" + (" that matches" if since or args.machine else ""))
        return OK
    table(
        ("AT (UTC)", "USER", "ACTION", "MACHINES", "DETAIL"),
        (
            (
                e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                e.user,
                e.action,
                _machines_text(e.machines),
                _one_line(e.detail),
            )
            for e in entries
        ),
    )
    return OK
