"""``patchdeck deployment …``: create, list, show, edit, delete, plan and run update
deployments."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from backends.engine.defaults import SCAN_CONCURRENCY, SCAN_TIMEOUT
from backends.inventory.deployment_options import (
    ALL_CLASSIFICATIONS,
    GATES,
    NO_CLASSIFICATION,
    REBOOT_OPTIONS,
    build_options,
)
from backends.inventory.deployments import (
    Deployment,
    create_deployment,
    delete_deployment,
    deployment_machines,
    edit_deployment,
    get_deployment,
    list_deployments,
)
from backends.inventory.groups import Target
from backends.inventory.plans import MachinePlan, Plan, latest_plan, plan_is_stale
from backends.inventory.validation import FieldError
from tui.cli.confirm import confirm
from tui.cli.context import Context
from tui.cli.deployment_schedule import (
    add_schedule_options,
    schedule_changes,
    schedule_given,
    schedule_json,
    schedule_lines,
)
from tui.cli.exits import NOT_ALL_SUCCEEDED, OK, CliError
from tui.cli.output import age, iso_z, json_line, table
from tui.cli.scan import scan_progress
from tui.format import plural
from tui.safe import neutralise

if TYPE_CHECKING:
    from backends.inventory.plans import PlanSummary

REBOOT_RESERVE_MINUTES = 20  # DESIGN.md: the end of every window is kept for a reboot


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deployment = commands.add_parser(
        "deployment", help="create, list, show, edit, delete, plan and run update deployments"
    )
    verbs = deployment.add_subparsers(dest="verb", metavar="VERB", required=True)

    create = verbs.add_parser("create", help="a deployment of machines and groups, in stages")
    create.add_argument("name", metavar="NAME")
    _targets(create, "the machines and groups to update, as one stage")
    _options(create)
    add_schedule_options(create)
    create.set_defaults(func=_create)

    lst = verbs.add_parser("list", help="every deployment with its targets and last plan")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=_list)

    show = verbs.add_parser("show", help="a deployment's stages, options and latest plan")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)

    edit = verbs.add_parser("edit", help="change a deployment's targets or options")
    edit.add_argument("name", metavar="NAME")
    _targets(edit, "replace the targets with these, as one stage")
    _options(edit)
    add_schedule_options(edit, editing=True)
    edit.set_defaults(func=_edit)

    delete = verbs.add_parser("delete", help="delete a deployment and its plans")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=_delete)

    plan = verbs.add_parser(
        "plan", help="scan the targets afresh and save what a run would install where"
    )
    plan.add_argument("name", metavar="NAME")
    plan.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help=f"machines scanned at once (default: the settings' concurrency, else "
        f"{SCAN_CONCURRENCY})",
    )
    plan.add_argument("--timeout", type=float, default=SCAN_TIMEOUT, metavar="SECONDS")
    plan.add_argument("--json", action="store_true", help="one JSON object per machine per line")
    plan.set_defaults(func=_plan)

    run = verbs.add_parser(
        "run",
        help="plan again if stale, confirm, and run the deployment in a runner process of its "
        "own, following it",
    )
    run.add_argument("name", metavar="NAME")
    run.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    run.add_argument("--json", action="store_true", help="one JSON object per machine as it ends")
    how = run.add_mutually_exclusive_group()
    how.add_argument(
        "--follow",
        dest="detach",
        action="store_false",
        help="follow the run until it ends (the default)",
    )
    how.add_argument(
        "--detach", dest="detach", action="store_true", help="return once the runner started"
    )
    run.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="machines scanned at once when planning (default: the settings' concurrency)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=SCAN_TIMEOUT,
        metavar="SECONDS",
        help="each machine's scan when planning",
    )
    run.set_defaults(func=_run, detach=False)


def _targets(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--target",
        action="extend",
        nargs="+",
        metavar="T",
        help=f"{what} (machine or group names; comma-separated or repeated)",
    )
    parser.add_argument(
        "--stage",
        action="append",
        metavar="T,T",
        help="one stage of targets (repeatable, in order: the first --stage goes first)",
    )


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--classification",
        action="append",
        metavar="C",
        help=f"what to install (repeatable; default security and critical): "
        f"{', '.join(ALL_CLASSIFICATIONS)}, or {NO_CLASSIFICATION} (only --include)",
    )
    parser.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="also install updates whose id, package, patch, KB or advisory matches this glob "
        "(repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="never install updates matching this glob; exclude wins (repeatable)",
    )
    parser.add_argument(
        "--reboot", metavar="R", help=f"{' | '.join(REBOOT_OPTIONS)} (default if-required)"
    )
    parser.add_argument(
        "--window", metavar="D", help="maintenance window, 30m to 6h (default 2h): 90m, 1h30m"
    )
    parser.add_argument("--concurrency", metavar="N", help="machines at once (default 10)")
    parser.add_argument(
        "--max-failures",
        metavar="N|P%",
        help="failures allowed before no new machine starts (default 0)",
    )
    parser.add_argument(
        "--gate", metavar="G", help=f"between stages: {' | '.join(GATES)} (default auto)"
    )
    parser.add_argument("--pre", metavar="CMD", help="run on each machine first; failing skips it")
    parser.add_argument("--post", metavar="CMD", help="run on each machine after installing")


def _stages(args: argparse.Namespace) -> list[list[str]] | None:
    """``--target`` values as one stage, or each ``--stage`` as one; ``None`` when neither."""
    if args.target and args.stage:
        raise CliError("--target and --stage: give the targets as one stage or as stages, not both")
    if args.target:
        return [_split(args.target)]
    if args.stage:
        return [_split([value]) for value in args.stage]
    return None


def _split(values: Sequence[str]) -> list[str]:
    return [name for value in values for name in value.split(",")]


def _option_values(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "classifications": args.classification,
        "include": args.include,
        "exclude": args.exclude,
        "reboot": args.reboot,
        "window": args.window,
        "concurrency": args.concurrency,
        "max_failures": args.max_failures,
        "gate": args.gate,
        "pre_command": args.pre,
        "post_command": args.post,
    }
    return {key: value for key, value in given.items() if value is not None}


# -- JSON and words ----------------------------------------------------------------------------


def _target_json(target: Target) -> dict[str, str]:
    return {"kind": target.kind, "name": target.name}


def deployment_json(deployment: Deployment) -> dict[str, Any]:
    options = deployment.options
    return {
        "name": deployment.name,
        "stages": [[_target_json(t) for t in stage] for stage in deployment.stages],
        "classifications": list(options.classifications),
        "include": list(options.include),
        "exclude": list(options.exclude),
        "reboot": options.reboot,
        "window": options.window,
        "window_minutes": options.window_minutes,
        "concurrency": options.concurrency,
        "max_failures": options.max_failures,
        "gate": options.gate,
        "pre": options.pre_command,
        "post": options.post_command,
        "created": iso_z(deployment.created_at),
        "updated": iso_z(deployment.updated_at),
        "last_plan": iso_z(deployment.last_plan_at),
        **schedule_json(deployment),
    }


def machine_plan_json(machine: MachinePlan) -> dict[str, Any]:
    """One machine of a plan, as ``deployment plan --json`` prints it."""
    return {
        "machine": machine.machine,
        "updates": [
            {
                "id": i.platform_id,
                "name": i.name,
                "from": i.installed,
                "to": i.version,
                "classification": i.classification,
            }
            for i in machine.items
        ],
        "reboot_expected": machine.reboot_expected,
        "excluded": [
            {"id": e.platform_id, "name": e.name, "reason": e.reason} for e in machine.excluded
        ],
        "error": machine.error,
    }


def _summary_json(summary: PlanSummary, stale: bool) -> dict[str, Any]:
    return {
        "id": summary.id,
        "created": iso_z(summary.created_at),
        "by": summary.created_by,
        "stale": stale,
        "totals": {
            "machines": summary.machines,
            "updates": summary.updates,
            "reboots": summary.reboots,
            "failed": summary.failed,
        },
    }


def _stage_text(stage: Sequence[Target]) -> str:
    return ", ".join(f"{t.kind} {t.name}" for t in stage)


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "-"


def plan_counts(summary: PlanSummary) -> str:
    text = (
        f"{plural(summary.machines, 'machine')}, {plural(summary.updates, 'update')}, "
        f"{summary.reboots} reboot{'s' if summary.reboots != 1 else ''} expected"
    )
    return text + (f", {summary.failed} could not be planned" if summary.failed else "")


def _summary_text(summary: PlanSummary, stale: bool) -> str:
    by = summary.created_by or "?"
    text = f"#{summary.id}, {age(summary.created_at)} ago by {by}: {plan_counts(summary)}"
    return text + (" (stale: plan again before a run)" if stale else "")


# -- commands ----------------------------------------------------------------------------------


def _create(args: argparse.Namespace, ctx: Context) -> int:
    stages = _stages(args)
    if stages is None:
        raise CliError("target: give the machines and groups with --target or --stage")
    try:
        options = build_options(**_option_values(args))
        timing = schedule_changes(args, None)
        deployment = create_deployment(ctx.store(), args.name, stages, options, **timing)
    except FieldError as exc:
        raise CliError(str(exc)) from None
    targets = len(deployment.targets)
    print(
        f"created deployment {deployment.name} ({plural(targets, 'target')} in "
        f"{plural(len(deployment.stages), 'stage')})"
    )
    return OK


def _list(args: argparse.Namespace, ctx: Context) -> int:
    deployments = list_deployments(ctx.store())
    if args.json:
        for deployment in deployments:
            json_line(deployment_json(deployment))
        return OK
    if not deployments:
        print("no deployments yet: create one with `patchdeck deployment create`")
        return OK
    table(
        ("NAME", "TARGETS", "CLASSIFICATIONS", "REBOOT", "WINDOW", "LAST PLAN"),
        (
            (
                d.name,
                " | ".join(_stage_text(stage) for stage in d.stages) or "(no targets left)",
                _listed(d.options.classifications) if d.options.classifications else "none",
                d.options.reboot,
                d.options.window,
                age(d.last_plan_at) + (" ago" if d.last_plan_at else ""),
            )
            for d in deployments
        ),
    )
    return OK


def _show(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    deployment = get_deployment(store, args.name)
    plan = latest_plan(store, deployment.id)
    stale = plan is not None and plan_is_stale(
        plan, max_age=ctx.settings().plan_max_age, deployment_changed_at=deployment.updated_at
    )
    if args.json:
        shown = deployment_json(deployment)
        shown["plan"] = None
        if plan is not None:
            shown["plan"] = {
                **_summary_json(plan.summary(), stale),
                "machines": [machine_plan_json(m) for m in plan.machines],
            }
        json_line(shown)
        return OK
    options = deployment.options
    lines: list[tuple[str, str]] = [("name:", deployment.name)]
    for number, stage in enumerate(deployment.stages, 1):
        lines.append((f"stage {number}:", _stage_text(stage)))
    if not deployment.stages:
        lines.append(("targets:", "(no targets left)"))
    lines += [
        ("classifications:", _listed(options.classifications) if options.classifications
         else "none (only what --include names)"),
        ("include:", _listed(options.include)),
        ("exclude:", _listed(options.exclude)),
        ("reboot:", options.reboot),
        ("window:", f"{options.window} (the last {REBOOT_RESERVE_MINUTES}m kept for a reboot)"),
        ("concurrency:", str(options.concurrency)),
        ("max failures:", options.max_failures),
        ("gate:", f"{options.gate} (between stages)"),
        ("pre:", options.pre_command or "-"),
        ("post:", options.post_command or "-"),
        *schedule_lines(deployment),
        ("latest plan:", _summary_text(plan.summary(), stale) if plan else "never planned"),
    ]  # fmt: skip
    for label, value in lines:
        print(f"{label:<18}{neutralise(value)}")
    if plan is not None and plan.machines:
        print()
        _plan_table(plan)
    return OK


def _edit(args: argparse.Namespace, ctx: Context) -> int:
    stages = _stages(args)
    changes = _option_values(args)
    if schedule_given(args):
        changes.update(schedule_changes(args, get_deployment(ctx.store(), args.name)))
    if stages is None and not changes:
        raise CliError("edit: nothing to change: give --target, --stage or an option")
    try:
        deployment = edit_deployment(ctx.store(), args.name, stages=stages, **changes)
    except FieldError as exc:
        raise CliError(str(exc)) from None
    print(f"updated deployment {deployment.name}")
    return OK


def _delete(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    deployment = get_deployment(store, args.name)  # an unknown name is named before asking
    confirm(
        f"Delete the deployment {deployment.name} "
        f"({plural(len(deployment.targets), 'target')}) and its plans? "
        "Its machines and groups stay.",
        args.yes,
    )
    delete_deployment(store, deployment.name)
    print(f"deleted deployment {deployment.name}")
    return OK


def _concurrency(args: argparse.Namespace, ctx: Context) -> int:
    concurrency = args.concurrency if args.concurrency is not None else ctx.settings().concurrency
    if concurrency < 1:
        raise CliError(f"--concurrency: {concurrency} is not a positive number")
    return int(concurrency)


def _new_plan(
    ctx: Context, deployment: Deployment, concurrency: int, timeout: float, progress: bool
) -> Plan:
    """Scan the deployment's targets afresh and save its plan (a progress line on a
    terminal)."""
    from backends.engine.connections import ConnectionPool
    from backends.engine.plan import PlanOptions, make_plan

    store = ctx.store()
    targets = deployment_machines(store, deployment)
    if not targets:
        print(f"{deployment.name}: its targets hold no machine now", file=sys.stderr)
    pool = ConnectionPool(ctx.host_keys())
    options = PlanOptions(concurrency=concurrency, timeout=timeout)

    with scan_progress(len(targets), enabled=progress) as publish:

        async def go() -> Plan:
            try:
                return await make_plan(store, deployment, pool, publish, options, targets=targets)
            finally:
                await pool.close_all()

        return asyncio.run(go())


def _plan(args: argparse.Namespace, ctx: Context) -> int:
    concurrency = _concurrency(args, ctx)
    deployment = get_deployment(ctx.store(), args.name)
    plan = _new_plan(ctx, deployment, concurrency, args.timeout, progress=not args.json)
    if args.json:
        for machine in plan.machines:
            json_line(machine_plan_json(machine))
    else:
        if plan.machines:
            _plan_table(plan)
        print(f"plan #{plan.id} of {deployment.name}: {plan_counts(plan.summary())}")
    return NOT_ALL_SUCCEEDED if plan.failed else OK


def _run(args: argparse.Namespace, ctx: Context) -> int:
    """Plan again when the plan is stale, show it, confirm, start a runner process, follow."""
    from tui.cli.follow import follow_run
    from tui.launch import start_run

    store = ctx.store()
    deployment = get_deployment(store, args.name)
    plan = latest_plan(store, deployment.id)
    if plan is None or plan_is_stale(
        plan, max_age=ctx.settings().plan_max_age, deployment_changed_at=deployment.updated_at
    ):
        why = "it was never planned" if plan is None else f"plan #{plan.id} is stale"
        print(f"{deployment.name}: {why}: planning now", file=sys.stderr)
        concurrency = _concurrency(args, ctx)
        plan = _new_plan(ctx, deployment, concurrency, args.timeout, progress=True)
    else:
        print(
            f"{deployment.name}: using plan #{plan.id}, made {age(plan.created_at)} ago",
            file=sys.stderr,
        )
    summary = plan.summary()
    out = sys.stderr if args.json else sys.stdout
    if plan.machines:
        _plan_table(plan, out)
    print(f"plan #{plan.id} of {deployment.name}: {plan_counts(summary)}", file=out)
    if not plan.machines:
        print(f"{deployment.name}: nothing to run", file=sys.stderr)
        return OK
    if summary.failed == summary.machines:
        print(f"{deployment.name}: no machine of the plan can be run", file=sys.stderr)
        return NOT_ALL_SUCCEEDED
    options = deployment.options
    ready = summary.machines - summary.failed
    skipped = f"; {summary.failed} could not be planned and are skipped" if summary.failed else ""
    confirm(
        f"Run {deployment.name} now on {plural(ready, 'machine')}: "
        f"{plural(summary.updates, 'update')}, reboot {options.reboot}, window "
        f"{options.window} (the last {REBOOT_RESERVE_MINUTES}m kept for reboots){skipped}?",
        args.yes,
    )
    started = start_run(store, plan, options, ctx.known_hosts)
    run, process = started.run, started.process
    print(f"run #{run.id} started: runner pid {process.pid}, log {started.log}", file=sys.stderr)
    if args.detach:
        print(f"follow it with `patchdeck run follow {run.id}`", file=sys.stderr)
        return OK
    return follow_run(ctx, run.id, as_json=args.json, process=process)


def plan_problem(machine: MachinePlan) -> str:
    """Why a machine of a plan cannot be run, or which pre-flight checks did not run."""
    if machine.error:
        return machine.error
    skipped = [f"{c.check} not checked" for c in machine.checks if c.ok is None]
    return "; ".join(skipped)


def _plan_table(plan: Plan, out: TextIO | None = None) -> None:
    table(
        ("MACHINE", "STAGE", "UPDATES", "SECURITY", "REBOOT", "EXCLUDED", "PROBLEM"),
        (
            (
                m.machine,
                str(m.stage + 1),
                "-" if m.error else str(len(m.items)),
                "-" if m.error else str(sum(1 for i in m.items if i.classification == "security")),
                "-" if m.error else ("yes" if m.reboot_expected else "no"),
                "-" if m.error else str(len(m.excluded)),
                _one_line(plan_problem(m)),
            )
            for m in plan.machines
        ),
        out,
    )


def _one_line(text: str, width: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
