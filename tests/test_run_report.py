"""A run's report (``patchdeck run show RUN --format md|csv|json``) against a real run on the
simulated fleet: one machine whose package fails, the others installing and rebooting as the
deployment says."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from backends.fleet.faults import FaultSpec
from backends.fleet.profiles import Machine as SimMachine
from backends.fleet.server import serve
from backends.fleet.timing import FAST as FAST_FLEET
from backends.inventory.plans import get_plan
from backends.inventory.run_report import run_report
from backends.inventory.runs import Run
from backends.inventory.store import Store
from tests.conftest import run_cli
from tests.run_support import Runner, deploy, pool_for, register

pytestmark = pytest.mark.timeout(120)

SEED = 11


def _apt_machines(count: int) -> list[int]:
    found = []
    for index in range(10, 200):
        machine = SimMachine(SEED, index)
        if (
            machine.kind.manager == "apt"
            and len(machine.outdated) >= 3
            and not machine.reboot_required
            and not any(p.state.source.update_stack for p in machine.outdated)
        ):
            found.append(index)
            if len(found) == count:
                return found
    raise AssertionError("not enough apt machines")


BROKEN, GOOD = _apt_machines(2)
FAILING = next(p for p in SimMachine(SEED, BROKEN).outdated if not p.state.source.reboot).binaries[
    0
][0]


def name(index: int) -> str:
    return f"sim-{index:03d}"


@dataclass
class Done:
    store: Store
    db: Path
    run: Run


@pytest.fixture
async def done(store: Store, db_path: Path, tmp_path: Path) -> AsyncIterator[Done]:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    faults = FaultSpec.from_obj({"machines": {name(BROKEN): [{"failing-package": FAILING}]}})
    fleet = await serve(max(BROKEN, GOOD) + 1, SEED, faults, timing=FAST_FLEET)
    try:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        deployment = deploy(
            store, "patch-night", [[name(BROKEN), name(GOOD)]], reboot="always",
            max_failures="5", concurrency=2,
        )  # fmt: skip
        run = await Runner(store, pool).run(deployment)
        await pool.close_all()
        yield Done(store, db_path, run)
    finally:
        await fleet.close()


async def test_the_report_gathers_the_run(done: Done) -> None:
    report = run_report(done.store, done.run.id)
    plan = get_plan(done.store, done.run.plan_id or 0)
    by_name = {m.machine: m for m in report.machines}
    broken, good = by_name[name(BROKEN)], by_name[name(GOOD)]
    assert report.deployment == "patch-night" and report.state == "failed"
    assert report.started_by and report.started_at and report.ended_at
    assert report.plan_id == plan.id and report.reboot_option == "always"
    pinned = {m.machine: m.items for m in plan.machines}
    assert report.planned == sum(len(items) for items in pinned.values())
    # the machine that went well: every pinned update installed, at its pinned version
    assert good.state == "succeeded" and good.reboot == "performed"
    assert good.installed == good.planned == len(pinned[good.machine]) > 0
    assert {(u.platform_id, u.version, u.outcome) for u in good.updates} == {
        (i.platform_id, i.version, "installed") for i in pinned[good.machine]
    }
    # the one whose package failed: the failure with its reason, the rest installed
    assert broken.state == "failed" and broken.error
    [failure] = broken.failures
    assert failure.platform_id == FAILING and failure.reason
    assert broken.installed == len(pinned[broken.machine]) - 1
    assert report.totals["succeeded"] == 1 and report.totals["failed"] == 1
    assert report.reboots["performed"] == 1


async def test_run_show_formats(done: Done, tmp_path: Path) -> None:
    report = run_report(done.store, done.run.id)
    good = next(m for m in report.machines if m.machine == name(GOOD))
    first = next(u for u in good.updates)

    markdown = run_cli("run", "show", str(done.run.id), "--format", "md", db=done.db)
    assert markdown.returncode == 0, markdown.stderr
    text = markdown.stdout
    assert text.startswith(f"# Run #{done.run.id} of patch-night\n")
    assert f"- Started: {report.started_at:%Y-%m-%dT%H:%M:%S}" in text
    assert f"by {report.started_by}" in text
    assert f"- Plan: #{report.plan_id}" in text
    assert "- Reboots: 1 performed" in text
    assert f"| {name(GOOD)} | 1 | succeeded | {good.installed} of {good.planned} | 0 |" in text
    assert "## Installed updates" in text and first.version and first.version in text
    failures = text.split("## Failures", 1)[1]
    assert name(BROKEN) in failures and FAILING.replace("_", "\\_") in failures

    out = tmp_path / "run.csv"
    written = run_cli(
        "run", "show", str(done.run.id), "--format", "csv", "--output", str(out), db=done.db
    )
    assert written.returncode == 0 and "written to" in written.stderr and written.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == report.planned  # one row per machine and update
    failed = [r for r in rows if r["outcome"] == "failed"]
    assert [(r["machine"], r["update"]) for r in failed] == [(name(BROKEN), FAILING)]
    assert failed[0]["reason"]
    assert {r["update"] for r in rows if r["machine"] == name(GOOD)} == {
        u.platform_id for u in good.updates
    }

    shown = json.loads(
        run_cli("run", "show", str(done.run.id), "--format", "json", db=done.db).stdout
    )
    assert shown["run"] == done.run.id and shown["state"] == "failed"
    assert shown["by"] == report.started_by and shown["started"].endswith("Z")
    assert shown["plan"]["id"] == report.plan_id and shown["plan"]["updates"] == report.planned
    assert shown["totals"]["installed"] == report.installed
    assert shown["totals"]["reboots"] == report.reboots
    machines = {m["machine"]: m for m in shown["machines"]}
    assert machines[name(GOOD)]["reboot"] == "performed"
    assert [u["id"] for u in machines[name(BROKEN)]["updates"] if u["outcome"] == "failed"] == [
        FAILING
    ]

    # the plain `run show` and `--json` are what they were
    plain = run_cli("run", "show", str(done.run.id), db=done.db)
    assert plain.stdout.startswith(f"run:          #{done.run.id}")
    assert "totals" in json.loads(run_cli("run", "show", "1", "--json", db=done.db).stdout)
    bad = run_cli("run", "show", "1", "--output", str(tmp_path / "x"), db=done.db)
    assert bad.returncode == 2 and "--format" in bad.stderr
