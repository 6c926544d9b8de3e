"""A run's report (``patchdeck run show RUN --format md|csv|json``, and the console's export):
Markdown fit to paste into a change ticket, CSV with one row per machine and update, or one
JSON document. The escaping and the tables are the compliance report's (``tui.cli.report``)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from backends.inventory.durations import format_minutes
from backends.inventory.run_report import MachineReport, RunReport
from tui.cli.output import iso_z
from tui.cli.report import _cell, _md_table, md
from tui.format import plural

FORMATS = ("md", "csv", "json")
SUFFIXES = {"md": ".md", "csv": ".csv", "json": ".json"}


def _when(machine: MachineReport) -> str:
    if machine.started_at is None:
        return "-"
    ended = iso_z(machine.ended_at) if machine.ended_at else "…"
    return f"{iso_z(machine.started_at)} – {ended}"


def _totals_text(report: RunReport) -> str:
    return ", ".join(f"{n} {state}" for state, n in report.totals.items() if n) or "no machines"


def _plan_text(report: RunReport) -> str:
    if report.plan_id is None:
        return "deleted (its deployment was changed since)"
    made = f", made {iso_z(report.plan_created_at)}" if report.plan_created_at else ""
    by = f" by {report.plan_created_by}" if report.plan_created_by else ""
    return f"#{report.plan_id}{made}{by}: {plural(report.planned, 'update')} pinned"


# -- Markdown ----------------------------------------------------------------------------------


def render_markdown(report: RunReport) -> str:
    of = report.deployment or "(deleted deployment)"
    filters = ", ".join(report.classifications) or "none"
    if report.include:
        filters += f"; include {', '.join(report.include)}"
    if report.exclude:
        filters += f"; exclude {', '.join(report.exclude)}"
    reboots = report.reboots
    lines = [
        f"# Run #{report.run_id} of {md(of)}",
        "",
        f"- State: {md(report.state)} ({md(_totals_text(report))})",
        f"- Started: {md(iso_z(report.started_at) or '-')} by {md(report.started_by or '?')}",
        f"- Ended: {md(iso_z(report.ended_at) or 'not yet')}",
        f"- Window: {md(format_minutes(report.window_minutes))}, until "
        f"{md(iso_z(report.window_end) or '-')} (the last 20m kept for reboots)",
        f"- Plan: {md(_plan_text(report))}",
        f"- Options: classifications {md(filters)}; reboot {md(report.reboot_option)}; "
        f"concurrency {report.concurrency}; max failures {md(report.max_failures)}; "
        f"gate {md(report.gate)}; {plural(report.stages, 'stage')}",
        f"- Updates: {report.installed} installed, {report.failed} failed, "
        f"of {report.planned} planned",
        f"- Reboots: {reboots['performed']} performed, {reboots['pending']} pending, "
        f"{reboots['not-needed']} not needed",
        f"- Generated: {md(iso_z(report.generated_at))} from {md(report.inventory)}",
    ]
    if report.error:
        lines.append(f"- Error: {md(report.error)}")
    lines += ["", "## Machines", ""]
    lines += _md_table(
        ["Machine", "Stage", "State", "Installed", "Failed", "Reboot", "Time", "Result"],
        [
            [
                m.machine, m.stage, m.state, f"{m.installed} of {m.planned}", m.failed,
                m.reboot or "-", _when(m), m.error or "",
            ]
            for m in report.machines
        ],
    )  # fmt: skip
    installed = [(m, u) for m in report.machines for u in m.updates if u.outcome == "installed"]
    lines += ["", "## Installed updates", ""]
    if installed:
        lines += _md_table(
            ["Machine", "Update", "Version", "Classification"],
            [[m.machine, u.name, u.version or "-", u.classification or "-"] for m, u in installed],
        )
    else:
        lines.append("None.")
    failures = [m for m in report.machines if m.error or m.failures]
    lines += ["", "## Failures", ""]
    if failures:
        rows: list[list[object]] = []
        for m in failures:
            if m.error:
                rows.append([m.machine, "-", m.error])
            rows += [[m.machine, u.name, u.reason or "failed"] for u in m.failures]
        lines += _md_table(["Machine", "Update", "Reason"], rows)
    else:
        lines.append("None.")
    notes = [(m.machine, n) for m in report.machines for n in m.notes]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {md(machine)}: {md(note)}" for machine, note in notes]
    return "\n".join(lines) + "\n"


# -- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = [
    "run", "deployment", "machine", "stage", "state", "started", "ended", "reboot", "error",
    "update", "name", "version", "classification", "outcome", "reason",
]  # fmt: skip


def render_csv(report: RunReport) -> str:
    """One row per machine and update it had in the plan (a machine with none: one row with
    the update's columns empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for m in report.machines:
        head = [
            report.run_id, report.deployment, m.machine, m.stage, m.state,
            iso_z(m.started_at), iso_z(m.ended_at), m.reboot, m.error,
        ]  # fmt: skip
        for u in m.updates or (None,):
            tail = (
                ["", "", "", "", "", ""]
                if u is None
                else [u.platform_id, u.name, u.version, u.classification, u.outcome, u.reason]
            )
            writer.writerow([_cell(v) for v in (*head, *tail)])
    return out.getvalue()


# -- JSON --------------------------------------------------------------------------------------


def report_json(report: RunReport) -> dict[str, Any]:
    return {
        "run": report.run_id,
        "deployment": report.deployment,
        "state": report.state,
        "by": report.started_by,
        "started": iso_z(report.started_at),
        "ended": iso_z(report.ended_at),
        "window_end": iso_z(report.window_end),
        "window_minutes": report.window_minutes,
        "options": {
            "classifications": list(report.classifications),
            "include": list(report.include),
            "exclude": list(report.exclude),
            "reboot": report.reboot_option,
            "concurrency": report.concurrency,
            "max_failures": report.max_failures,
            "gate": report.gate,
            "stages": report.stages,
        },
        "plan": None
        if report.plan_id is None
        else {
            "id": report.plan_id,
            "created": iso_z(report.plan_created_at),
            "by": report.plan_created_by,
            "updates": report.planned,
        },
        "error": report.error,
        "generated": iso_z(report.generated_at),
        "inventory": report.inventory,
        "totals": {
            "machines": report.totals,
            "planned": report.planned,
            "installed": report.installed,
            "failed": report.failed,
            "reboots": report.reboots,
        },
        "machines": [
            {
                "machine": m.machine,
                "stage": m.stage,
                "state": m.state,
                "started": iso_z(m.started_at),
                "ended": iso_z(m.ended_at),
                "planned": m.planned,
                "installed": m.installed,
                "failed": m.failed,
                "reboot": m.reboot,
                "reboot_expected": m.reboot_expected,
                "error": m.error,
                "error_kind": m.error_kind,
                "notes": list(m.notes),
                "updates": [
                    {
                        "id": u.platform_id,
                        "name": u.name,
                        "version": u.version,
                        "classification": u.classification,
                        "outcome": u.outcome,
                        "reason": u.reason,
                    }
                    for u in m.updates
                ],
            }
            for m in report.machines
        ],
    }


def render(report: RunReport, form: str) -> str:
    if form == "md":
        return render_markdown(report)
    if form == "csv":
        return render_csv(report)
    return json.dumps(report_json(report), indent=2) + "\n"
