"""``patchdeck run …``: list, show, follow, cancel, resume and approve deployment runs (and
``run execute``, the runner process itself)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backends.inventory.deployment_options import check_window
from backends.inventory.run_report import run_report as build_report
from backends.inventory.runs import (
    Run,
    RunMachine,
    approve,
    get_run,
    list_runs,
    request_cancel,
    resume_run,
)
from backends.inventory.validation import FieldError
from tui.cli import run_report, runner_process
from tui.cli.context import Context
from tui.cli.exits import OK, CliError
from tui.cli.follow import follow_run, machine_json, machines_table, summary_line
from tui.cli.output import age, iso_z, json_line, table
from tui.cli.report import _write as write_output
from tui.format import plural
from tui.safe import neutralise


def run_id(value: str) -> int:
    """A run as the CLI names it: ``12`` or ``#12``."""
    text = value.strip().removeprefix("#")
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a run number")
    return int(text)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="list, show, follow, cancel, resume and approve runs")
    verbs = run.add_subparsers(dest="verb", metavar="VERB", required=True)

    lst = verbs.add_parser("list", help="runs, newest first, with their machines by state")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=_list)

    show = verbs.add_parser("show", help="a run and every machine's result")
    show.add_argument("run", type=run_id, metavar="RUN")
    show.add_argument("--json", action="store_true")
    show.add_argument(
        "--format",
        choices=run_report.FORMATS,
        help="the run's report instead: md (for a change ticket), csv or json",
    )
    show.add_argument("--output", metavar="FILE", help="write the report to FILE (with --format)")
    show.set_defaults(func=_show)

    follow = verbs.add_parser("follow", help="follow a run until it ends (from any terminal)")
    follow.add_argument("run", type=run_id, metavar="RUN")
    follow.add_argument("--json", action="store_true", help="one object per machine as it ends")
    follow.set_defaults(func=_follow)

    cancel = verbs.add_parser(
        "cancel", help="start no new machine; installs already running finish"
    )
    cancel.add_argument("run", type=run_id, metavar="RUN")
    cancel.add_argument(
        "--now",
        action="store_true",
        help="also begin no reboot, and stop waiting for machines to come back",
    )
    cancel.set_defaults(func=_cancel)

    resume = verbs.add_parser(
        "resume", help="rescan and continue the machines a run did not finish, in a new runner"
    )
    resume.add_argument("run", type=run_id, metavar="RUN")
    resume.add_argument(
        "--window", metavar="D", help="a new maintenance window from now (default: the run's)"
    )
    resume.add_argument("--json", action="store_true", help="one object per machine as it ends")
    resume.add_argument(
        "--detach", action="store_true", help="return once the runner started; do not follow"
    )
    resume.set_defaults(func=_resume)

    ok = verbs.add_parser("approve", help="let a run waiting at its manual gate go on")
    ok.add_argument("run", type=run_id, metavar="RUN")
    ok.set_defaults(func=_approve)

    # not listed in the help: deployment run and run resume start it, in a process of its own
    execute = verbs.add_parser(
        "execute", description="be the runner of a run (deployment run and run resume start it)"
    )
    execute.add_argument("run", type=run_id, metavar="RUN")
    execute.add_argument("--log", metavar="FILE", help="the log file this runner writes to")
    execute.set_defaults(func=runner_process.execute)


# -- words and JSON ----------------------------------------------------------------------------


def _machine_detail_json(machine: RunMachine) -> dict[str, Any]:
    return {
        **machine_json(machine),
        "stage": machine.stage + 1,
        "error_kind": machine.error_kind,
        "percent": machine.percent,
        "current_item": machine.current_item,
        "installed_items": list(machine.installed_items),
        "failed_items": [{"id": i, "reason": r} for i, r in machine.failed_items],
        "notes": list(machine.notes),
        "output": list(machine.output),
    }


def run_json(run: Run, machines: bool = True) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": run.id,
        "deployment": run.deployment,
        "plan": run.plan_id,
        "state": run.state,
        "by": run.started_by,
        "started": iso_z(run.started_at),
        "ended": iso_z(run.ended_at),
        "window_end": iso_z(run.window_end),
        "stage": run.stage + 1,
        "gate_waiting": run.gate_waiting and run.live,
        "cancel_requested": run.cancel_requested,
        "owner": run.owner_id,
        "heartbeat": iso_z(run.heartbeat_at),
        "error": run.error,
        "log": run.log_path,
        "totals": run.totals(),
    }
    if machines:
        shown["machines"] = [_machine_detail_json(m) for m in run.machines]
    return shown


def _state_text(run: Run) -> str:
    text = run.state
    if run.live and run.gate_waiting:
        text += f", waiting at the gate before stage {run.stage + 1}"
    if run.live and run.cancel_requested:
        text += f", cancel ({run.cancel_requested}) requested"
    return text


# -- commands ----------------------------------------------------------------------------------


def _list(args: argparse.Namespace, ctx: Context) -> int:
    runs = list_runs(ctx.store())
    if args.json:
        for r in runs:
            json_line(
                {
                    "id": r.id,
                    "deployment": r.deployment,
                    "state": r.state,
                    "by": r.started_by,
                    "started": iso_z(r.started_at),
                    "ended": iso_z(r.ended_at),
                    "gate_waiting": r.gate_waiting and r.state in ("pending", "running"),
                    "machines": r.machines,
                    "totals": r.totals,
                }
            )
        return OK
    if not runs:
        print("no runs yet: start one with `patchdeck deployment run NAME`")
        return OK
    table(
        ("RUN", "DEPLOYMENT", "STATE", "STARTED", "BY", "MACHINES", "RESULTS"),
        (
            (
                f"#{r.id}",
                r.deployment or "(deleted)",
                r.state + (" (gate)" if r.gate_waiting and r.state == "running" else ""),
                age(r.started_at) + " ago" if r.started_at else "-",
                r.started_by or "?",
                str(r.machines),
                ", ".join(f"{n} {s}" for s, n in r.totals.items() if n) or "-",
            )
            for r in runs
        ),
    )
    return OK


def _show(args: argparse.Namespace, ctx: Context) -> int:
    if args.format is not None:
        return _show_report(args, ctx)
    if args.output is not None:
        raise CliError("--output: give the report's --format (md, csv or json)")
    run = get_run(ctx.store(), args.run)
    if args.json:
        json_line(run_json(run))
        return OK
    lines = [
        ("run:", f"#{run.id}"),
        ("deployment:", run.deployment or "(deleted)"),
        ("plan:", f"#{run.plan_id}" if run.plan_id else "-"),
        ("state:", _state_text(run)),
        ("started:", f"{iso_z(run.started_at) or '-'} by {run.started_by or '?'}"),
        ("ended:", iso_z(run.ended_at) or "-"),
        ("window ends:", f"{iso_z(run.window_end) or '-'} (the last 20m kept for reboots)"),
        ("options:", f"reboot {run.options.reboot}, concurrency {run.options.concurrency}, "
         f"max-failures {run.options.max_failures}, gate {run.options.gate}"),
        ("runner:", f"{run.owner_id or '-'}" + (f", log {run.log_path}" if run.log_path else "")),
    ]  # fmt: skip
    if run.error:
        lines.append(("error:", run.error))
    for label, value in lines:
        print(f"{label:<14}{neutralise(value)}")
    if run.machines:
        print()
        machines_table(run)
        for machine in run.machines:
            for note in machine.notes:
                print(f"{machine.machine}: {neutralise(note)}")
    print(summary_line(run))
    return OK


def _show_report(args: argparse.Namespace, ctx: Context) -> int:
    if args.json:
        raise CliError("--json: not with --format (use --format json)")
    report = build_report(ctx.store(), args.run)
    write_output(run_report.render(report, args.format), args.output)
    if args.output:
        print(
            f"report of run #{report.run_id} ({plural(len(report.machines), 'machine')}) "
            f"written to {args.output}",
            file=sys.stderr,
        )
    return OK


def _follow(args: argparse.Namespace, ctx: Context) -> int:
    get_run(ctx.store(), args.run)  # an unknown run is named first
    return follow_run(ctx, args.run, as_json=args.json)


def _cancel(args: argparse.Namespace, ctx: Context) -> int:
    run = request_cancel(ctx.store(), args.run, now=args.now)
    working = sum(1 for m in run.machines if not m.final)
    how = "now: no reboot begins" if args.now else "no new machine starts"
    print(
        f"run #{run.id}: cancel requested ({how}; installs already running finish); "
        f"{plural(working, 'machine')} not finished yet"
    )
    return OK


def _approve(args: argparse.Namespace, ctx: Context) -> int:
    run = approve(ctx.store(), args.run)
    print(f"run #{run.id}: stage {run.stage + 1} approved")
    return OK


def _resume(args: argparse.Namespace, ctx: Context) -> int:
    window = None
    if args.window is not None:
        try:
            window = check_window(args.window)
        except FieldError as exc:
            raise CliError(str(exc)) from None
    store = ctx.store()
    run = resume_run(store, args.run, window)
    again = sum(1 for m in run.machines if m.state == "pending")
    process = runner_process.spawn_runner(ctx, run.id)
    print(
        f"run #{run.id}: resuming {plural(again, 'machine')} (runner pid {process.pid}, "
        f"window until {iso_z(run.window_end)})",
        file=sys.stderr,
    )
    if args.detach:
        print(f"follow it with `patchdeck run follow {run.id}`", file=sys.stderr)
        return OK
    return follow_run(ctx, run.id, as_json=args.json, process=process)
