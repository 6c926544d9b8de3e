"""A deployment's schedule and notify command on the command line: the options of
``deployment create`` and ``edit``, and what ``deployment show`` says about them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from backends.engine.schedule import (
    EVERY_EXAMPLE,
    build_schedule,
    describe,
    format_offset,
    local_text,
    next_occurrences,
)
from backends.inventory.deployments import Deployment
from backends.inventory.validation import FieldError
from tui.cli.exits import CliError
from tui.cli.output import iso_z

SHOWN_OCCURRENCES = 5


def add_schedule_options(parser: argparse.ArgumentParser, editing: bool = False) -> None:
    """``--at``, ``--every``, ``--offset``, ``--tz``, ``--notify`` (and ``--no-schedule``
    when ``editing``)."""
    parser.add_argument(
        "--at",
        metavar="TIME",
        help="run once at this time: ISO 8601 with an offset (2026-03-10T22:00+01:00) or a "
        "local time in --tz (2026-03-10T22:00)",
    )
    parser.add_argument(
        "--every",
        metavar="RRULE",
        help=f"run on this RFC 5545 rule, in --tz's wall time (e.g. {EVERY_EXAMPLE}: Patch "
        "Tuesday 22:00; FREQ=WEEKLY;BYDAY=SA;BYHOUR=2); without BYHOUR it falls at 00:00",
    )
    parser.add_argument(
        "--offset",
        metavar="DURATION",
        help="move each --every occurrence by this much wall time: +3d, 1d12h, and a "
        "negative one with = (--offset=-12h)",
    )
    parser.add_argument(
        "--tz", metavar="ZONE", help="IANA time zone (default: this machine's, e.g. Europe/Berlin)"
    )
    parser.add_argument(
        "--notify",
        metavar="CMD",
        help="run on this machine with each event as JSON on stdin: a run ended, crossed its "
        "failure threshold, waits at a manual gate, a scheduled occurrence was missed "
        "(default: the settings' notify; '' removes it)",
    )
    if editing:
        parser.add_argument(
            "--no-schedule", action="store_true", help="remove the schedule: run only by hand"
        )


def schedule_given(args: argparse.Namespace) -> bool:
    names = ("at", "every", "offset", "tz", "notify", "no_schedule")
    return any(getattr(args, name, None) not in (None, False) for name in names)


def schedule_changes(
    args: argparse.Namespace, current: Deployment | None, now: datetime | None = None
) -> dict[str, Any]:
    """The schedule and notify arguments of ``create_deployment`` / ``edit_deployment`` for
    the options given (nothing for options not given); a bad value is exit 2 naming it."""
    changes: dict[str, Any] = {}
    if args.notify is not None:
        changes["notify"] = args.notify
    timing = (args.at, args.every, args.offset, args.tz)
    if getattr(args, "no_schedule", False):
        if any(value is not None for value in timing):
            raise CliError("no-schedule: cannot be combined with --at, --every, --offset or --tz")
        changes["clear_schedule"] = True
        return changes
    if all(value is None for value in timing):
        return changes
    try:
        schedule = build_schedule(
            current.schedule if current is not None else None,
            at=args.at,
            every=args.every,
            offset=args.offset,
            tz=args.tz,
            now=now or datetime.now(UTC),
        )
    except FieldError as exc:
        raise CliError(str(exc)) from None
    changes["schedule"] = schedule
    return changes


def schedule_json(deployment: Deployment, now: datetime | None = None) -> dict[str, Any]:
    """``schedule`` (``null`` or ``{kind, at, every, offset, offset_seconds, tz, since}``),
    ``notify`` and the ``next`` occurrences (UTC, ``Z``)."""
    schedule = deployment.schedule
    if schedule is None:
        return {"schedule": None, "notify": deployment.notify, "next": []}
    upcoming = next_occurrences(schedule, now or datetime.now(UTC), SHOWN_OCCURRENCES)
    return {
        "schedule": {
            "kind": "recurring" if schedule.recurring else "once",
            "at": iso_z(schedule.at),
            "every": schedule.rrule,
            "offset": format_offset(schedule.offset),
            "offset_seconds": int(schedule.offset.total_seconds()),
            "tz": schedule.tz,
            "since": iso_z(schedule.since),
        },
        "notify": deployment.notify,
        "next": [iso_z(when) for when in upcoming],
    }


def schedule_lines(deployment: Deployment, now: datetime | None = None) -> list[tuple[str, str]]:
    """``schedule:``, ``next:`` (the next five, in the schedule's zone) and ``notify:``."""
    schedule = deployment.schedule
    notify = deployment.notify or "- (the settings' notify, if any)"
    if schedule is None:
        return [("schedule:", "none (run by hand)"), ("notify:", notify)]
    lines = [("schedule:", describe(schedule))]
    upcoming = next_occurrences(schedule, now or datetime.now(UTC), SHOWN_OCCURRENCES)
    for number, when in enumerate(upcoming):
        lines.append(("next:" if number == 0 else "", local_text(when, schedule.tz)))
    if not upcoming:
        lines.append(("next:", "no occurrence after now"))
    lines.append(("notify:", notify))
    return lines
