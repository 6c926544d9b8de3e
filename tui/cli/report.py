"""``patchdeck report``: the compliance report, as Markdown for a change ticket, CSV for a
spreadsheet or one JSON document for a program."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from backends.inventory.compliance import URGENT
from backends.inventory.deployment_options import ALL_CLASSIFICATIONS
from backends.inventory.reports import MachineReport, Report, fleet_report
from tui.cli.context import Context
from tui.cli.exits import OK, CliError
from tui.cli.output import iso_z
from tui.format import age, os_name, plural
from tui.safe import neutralise

FORMATS = ("md", "csv", "json")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report", help="the compliance report: per machine and fleet totals (md, csv, json)"
    )
    report.add_argument("--group", metavar="G", help="only the machines this group holds now")
    report.add_argument("--format", choices=FORMATS, default="md", help="md (default), csv or json")
    report.add_argument("--output", metavar="FILE", help="write it to FILE (default: stdout)")
    report.set_defaults(func=_report)


# -- the parts every format shares -------------------------------------------------------------


def _other(machine: MachineReport) -> int:
    return sum(n for c, n in machine.missing.items() if c not in URGENT)


def _last_run_text(machine: MachineReport) -> str:
    run = machine.last_run
    if run is None:
        return "never"
    when = run.ended_at or run.started_at
    of = f" of {run.deployment}" if run.deployment else ""
    return f"#{run.run_id}{of}: {run.state}" + (f", {age(when)} ago" if when else "")


def _last_scan_text(machine: MachineReport) -> str:
    if machine.last_scan_at is None:
        return "never"
    return f"{age(machine.last_scan_at)} ago ({machine.last_scan_outcome or '?'})"


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _age_seconds(when: datetime | None, now: datetime) -> int | None:
    return None if when is None else max(0, int((now - when).total_seconds()))


# -- Markdown ----------------------------------------------------------------------------------


def md(text: object) -> str:
    """Text for a Markdown table cell: one line, control characters shown as ``\\x1b``,
    Markdown and HTML taken literally (``|`` ``*`` ``_`` ``[`` … escaped, ``<`` as ``&lt;``)."""
    flat = " ".join(str(text).split())
    flat = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", flat)
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", flat)


def _md_row(cells: list[object]) -> str:
    return "| " + " | ".join(md(c) for c in cells) + " |"


def _md_table(headers: list[str], rows: list[list[object]]) -> list[str]:
    return [_md_row(list(headers)), "|" + "---|" * len(headers), *(_md_row(r) for r in rows)]


def render_markdown(report: Report) -> str:
    percent = report.compliance_percent
    scope = f"group {report.group}" if report.group else "all machines"
    lines = [
        "# Patch compliance report",
        "",
        f"- Generated: {md(iso_z(report.generated_at))}",
        f"- Inventory: {md(report.inventory)}",
        f"- Scope: {md(scope)} ({plural(len(report.machines), 'machine')})",
        f"- Compliance: {'n/a' if percent is None else f'{percent:g}%'} "
        "(compliant: assessed, reachable, no missing security or critical update)",
        "",
        "## Fleet",
        "",
    ]
    states = report.states
    lines += _md_table(
        ["Machines", "Compliant", "Non-compliant", "Not assessed", "Unreachable", "Reboot pending"],
        [
            [
                len(report.machines),
                states.get("compliant", 0),
                states.get("non-compliant", 0),
                states.get("not-assessed", 0),
                states.get("unreachable", 0),
                report.reboot_pending,
            ]
        ],
    )
    missing = [(c, report.missing[c]) for c in ALL_CLASSIFICATIONS if report.missing.get(c)]
    if missing:
        lines += ["", "Missing updates by classification:", ""]
        lines += _md_table(["Classification", "Missing"], [[c, n] for c, n in missing])
    lines += ["", "## Machines", ""]
    now = report.generated_at
    lines += _md_table(
        [
            "Machine", "OS", "Environment", "State", "Security", "Critical", "Other",
            "Oldest security", "Reboot", "Last scan", "Last run",
        ],
        [
            [
                m.name,
                os_name(m.os_family, m.distro, m.version),
                m.environment or "",
                m.state,
                m.missing.get("security", 0),
                m.missing.get("critical", 0) if m.os_family == "windows" else "-",
                _other(m),
                age(m.oldest_security_found, now) if m.oldest_security_found else "-",
                _yes_no(m.reboot_pending),
                _last_scan_text(m),
                _last_run_text(m),
            ]
            for m in report.machines
        ],
    )  # fmt: skip
    return "\n".join(lines) + "\n"


# -- CSV ---------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A CSV cell: control characters shown, and text a spreadsheet would run as a formula
    (``=``, ``+``, ``-``, ``@`` first) kept as text with a leading ``'``."""
    text = "" if value is None else neutralise(str(value))
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@"):
        return "'" + text
    return text


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    now = report.generated_at
    writer.writerow(
        [
            "machine", "os", "distro", "version", "environment", "state",
            *(f"missing_{c}" for c in ALL_CLASSIFICATIONS),
            "oldest_security_found", "oldest_security_age_seconds", "reboot_pending",
            "last_scan", "last_scan_outcome", "last_run_id", "last_run_deployment",
            "last_run_result", "last_run_at",
        ]
    )  # fmt: skip
    for m in report.machines:
        run = m.last_run
        writer.writerow(
            [
                _cell(v)
                for v in (
                    m.name, m.os_family, m.distro, m.version, m.environment, m.state,
                    *(
                        m.missing.get(c, 0) if c in m.missing else ""
                        for c in ALL_CLASSIFICATIONS
                    ),
                    iso_z(m.oldest_security_found),
                    _age_seconds(m.oldest_security_found, now),
                    _yes_no(m.reboot_pending) if m.reboot_pending is not None else "",
                    iso_z(m.last_scan_at), m.last_scan_outcome,
                    run.run_id if run else "",
                    run.deployment if run else "",
                    run.state if run else "never",
                    iso_z(run.ended_at or run.started_at) if run else "",
                )
            ]
        )  # fmt: skip
    return out.getvalue()


# -- JSON --------------------------------------------------------------------------------------


def report_json(report: Report) -> dict[str, Any]:
    now = report.generated_at
    return {
        "generated": iso_z(report.generated_at),
        "inventory": report.inventory,
        "group": report.group,
        "totals": {
            "machines": len(report.machines),
            **{state.replace("-", "_"): count for state, count in report.states.items()},
            "reboot_pending": report.reboot_pending,
            "compliance_percent": report.compliance_percent,
            "missing": report.missing,
        },
        "machines": [
            {
                "name": m.name,
                "os": m.os_family,
                "distro": m.distro,
                "version": m.version,
                "environment": m.environment,
                "state": m.state,
                "missing": m.missing,
                "oldest_security_found": iso_z(m.oldest_security_found),
                "oldest_security_age_seconds": _age_seconds(m.oldest_security_found, now),
                "reboot_pending": m.reboot_pending,
                "last_scan": iso_z(m.last_scan_at),
                "last_scan_outcome": m.last_scan_outcome,
                "last_run": None
                if m.last_run is None
                else {
                    "id": m.last_run.run_id,
                    "deployment": m.last_run.deployment,
                    "result": m.last_run.state,
                    "started": iso_z(m.last_run.started_at),
                    "ended": iso_z(m.last_run.ended_at),
                },
            }
            for m in report.machines
        ],
    }


def render(report: Report, form: str) -> str:
    if form == "md":
        return render_markdown(report)
    if form == "csv":
        return render_csv(report)
    return json.dumps(report_json(report), indent=2) + "\n"


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    target = Path(output).expanduser()
    try:  # complete or not at all: a half-written report is never left behind
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise CliError(f"output: cannot write {output}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CliError(f"output: cannot write {output}: {exc.strerror or exc}") from None


def _report(args: argparse.Namespace, ctx: Context) -> int:
    report = fleet_report(ctx.store(), args.group)
    _write(render(report, args.format), args.output)
    if args.output:
        print(
            f"report of {len(report.machines)} machines written to {args.output}", file=sys.stderr
        )
    return OK
