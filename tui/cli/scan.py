"""``patchdeck scan`` and ``patchdeck updates``: assess machines, show what they miss."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from backends.engine.defaults import SCAN_CONCURRENCY, SCAN_TIMEOUT
from backends.inventory.groups import resolve_targets
from backends.inventory.machines import get_machine, list_machines
from backends.inventory.query import machines_matching
from backends.inventory.records import CLASSIFICATIONS, Machine, Update
from backends.inventory.scans import machine_updates
from tui.cli.context import Context
from tui.cli.exits import NOT_ALL_SUCCEEDED, OK, CliError
from tui.cli.output import json_line, table

if TYPE_CHECKING:
    from backends.engine.events import Event, ScanSummary
    from backends.engine.scan import ScanOptions

ALL_CLASSIFICATIONS = tuple(dict.fromkeys(c for cs in CLASSIFICATIONS.values() for c in cs))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sc = commands.add_parser("scan", help="find out which updates machines are missing")
    sc.add_argument(
        "targets", nargs="*", metavar="NAME", help="machines and groups (default: all machines)"
    )
    sc.add_argument(
        "--where",
        metavar="Q",
        help="only machines this query matches (of those named, or of all), "
        "e.g. 'last_scan_age > 24h' (see docs/query-language.md)",
    )
    sc.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help=f"machines at once (default: the settings' concurrency, else {SCAN_CONCURRENCY})",
    )
    sc.add_argument("--timeout", type=float, default=SCAN_TIMEOUT, metavar="SECONDS")
    sc.add_argument("--refresh", action="store_true", help="refresh package metadata first")
    sc.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="trust and record host keys never seen before (a changed key is still refused)",
    )
    sc.add_argument("--json", action="store_true", help="one JSON object per machine per line")
    sc.set_defaults(func=_scan)

    up = commands.add_parser("updates", help="what the last scans found missing")
    up.add_argument("name", nargs="?", metavar="NAME")
    up.add_argument(
        "--classification", action="append", default=[], choices=ALL_CLASSIFICATIONS, metavar="C"
    )
    up.add_argument("--json", action="store_true")
    up.set_defaults(func=_updates)


def update_json(update: Update) -> dict[str, Any]:
    return {
        "id": update.platform_id,
        "name": update.name,
        "installed": update.installed,
        "available": update.available,
        "classification": update.classification,
        "severity": update.severity,
        "advisories": list(update.advisories),
        "source": update.source,
    }


def summary_json(name: str, summary: ScanSummary) -> dict[str, Any]:
    return {
        "machine": name,
        "status": "ok" if summary.ok else "failed",
        "error": summary.error,
        "os": summary.os_family,
        "distro": summary.distro,
        "version": summary.version,
        "reboot_required": summary.reboot_required,
        "missing": summary.missing,
        "updates": [update_json(u) for u in summary.updates],
    }


def _targets(ctx: Context, names: list[str], where: str | None) -> list[Machine]:
    """The named machines and groups' machines (all machines when none are named), narrowed
    to those ``where`` matches."""
    store = ctx.store()
    if where is not None:
        matching = machines_matching(store, where)
        if not names:
            return matching
        keep = {m.id for m in matching}
        return [m for m in resolve_targets(store, names) if m.id in keep]
    return resolve_targets(store, names) if names else list_machines(store)


def _scan(args: argparse.Namespace, ctx: Context) -> int:
    from backends.engine.scan import ScanOptions

    # --concurrency wins when given; else the settings (config file, $PATCHDECK_CONCURRENCY).
    concurrency = args.concurrency if args.concurrency is not None else ctx.settings().concurrency
    if concurrency < 1:
        raise CliError(f"--concurrency: {concurrency} is not a positive number")
    machines = _targets(ctx, args.targets, args.where)
    if not machines and (args.targets or args.where is not None):
        print("nothing to scan: no machine matches", file=sys.stderr)
        return OK
    if not machines:
        raise CliError("no machines to scan: add some with `patchdeck machine add`")

    def print_json(name: str, summary: ScanSummary) -> None:
        json_line(summary_json(name, summary))
        sys.stdout.flush()

    results = run_scan(
        ctx,
        machines,
        ScanOptions(concurrency, args.timeout, args.refresh),
        accept_new_host_keys=args.accept_new_host_keys,
        progress=not args.json,
        on_done=print_json if args.json else None,
    )
    if not args.json:
        _print_summary(machines, results)
    return OK if all(s.ok for s in results.values()) else NOT_ALL_SUCCEEDED


def run_scan(
    ctx: Context,
    machines: list[Machine],
    options: ScanOptions,
    *,
    accept_new_host_keys: bool = False,
    progress: bool = True,
    on_done: Callable[[str, ScanSummary], None] | None = None,
) -> dict[str, ScanSummary]:
    """Scan ``machines`` with a live progress line on stderr (when it is a terminal and
    ``progress``), calling ``on_done`` as each machine's result is recorded."""
    # The engine (asyncssh, the platforms) loads only when a scan runs.
    from backends.engine.connections import ConnectionPool
    from backends.engine.scan import scan

    pool = ConnectionPool(ctx.host_keys(accept_new_host_keys))

    with scan_progress(len(machines), progress, on_done) as publish:

        async def go() -> dict[str, ScanSummary]:
            try:
                return await scan(ctx.store(), machines, publish, pool, options)
            finally:
                await pool.close_all()

        return asyncio.run(go())


@contextmanager
def scan_progress(
    total: int,
    enabled: bool = True,
    on_done: Callable[[str, ScanSummary], None] | None = None,
) -> Iterator[Callable[[Event], None]]:
    """A live progress line on stderr (``scanning ━━━━  12/40  1 failed  0:00:03``), shown
    when ``enabled`` and stderr is a terminal, for as long as the block runs. Yields the
    ``publish`` callback to hand the engine; ``on_done`` is called as each scan is recorded."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from backends.engine.events import ScanDone

    console = Console(stderr=True)
    display = Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
        transient=True,
    )
    task = display.add_task("scan", total=total, failed=0)
    failed = 0

    def publish(event: Event) -> None:
        nonlocal failed
        if not isinstance(event, ScanDone):
            return
        failed += not event.summary.ok
        display.update(task, advance=1, failed=failed)
        if on_done is not None:
            on_done(event.machine, event.summary)

    with display:
        yield publish


def _print_summary(machines: list[Machine], results: dict[str, ScanSummary]) -> None:
    # Three columns where there is room: security, critical (Windows only) and other.
    windows = any(s.os_family == "windows" for s in results.values())
    headers = ["MACHINE", "STATUS", "OS", "SECURITY", *(["CRITICAL"] if windows else [])]
    rows = []
    for machine in machines:
        s = results.get(machine.name)
        if s is None:
            continue
        counts: list[str] = ["-", *(["-"] if windows else []), "-", "-"]
        if s.ok:
            other = sum(n for c, n in s.missing.items() if c not in ("security", "critical"))
            counts = [
                str(s.missing.get("security", 0)),
                *([str(s.missing.get("critical", 0))] if windows else []),
                str(other),
                {True: "yes", False: "no", None: "?"}[s.reboot_required],
            ]
        rows.append(
            (
                machine.name,
                "ok" if s.ok else "FAILED",
                " ".join(filter(None, (s.distro, s.version))) or s.os_family,
                *counts,
                _one_line(s.error or "; ".join(s.notes)),
            )
        )
    table((*headers, "OTHER", "REBOOT", "NOTE"), rows)
    bad = sum(1 for s in results.values() if not s.ok)
    print(f"{len(results)} scanned, {len(results) - bad} ok, {bad} failed")


def _one_line(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _updates(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.store()
    machines = {m.id: m for m in list_machines(store)}
    machine_id = get_machine(store, args.name).id if args.name else None
    found = machine_updates(store, machine_id, args.classification)
    if args.json:
        for mid, update in found:
            json_line({"machine": machines[mid].name, **update_json(update)})
        return OK
    if not found:
        print("no missing updates recorded" + (f" for {args.name}" if args.name else ""))
        return OK
    table(
        ("MACHINE", "UPDATE", "CLASSIFICATION", "SEVERITY", "INSTALLED", "AVAILABLE", "SOURCE"),
        (
            (
                machines[mid].name,
                u.name,
                u.classification,
                u.severity or "",
                u.installed or "(new)",
                u.available or "",
                u.source or "",
            )
            for mid, u in found
        ),
    )
    return OK
