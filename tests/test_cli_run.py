"""``patchdeck deployment run`` and ``patchdeck run …`` as an operator runs them: a runner
process detached from the terminal owns the run; the CLI follows it through the database,
and neither killing the CLI nor Ctrl-C stops the run. A runner killed mid-install is found
out by the next command, its unfinished machines marked interrupted, and ``run resume``
completes them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.plans import get_plan
from backends.inventory.runs import Run
from backends.inventory.scans import machine_updates
from tests.cli_fleet import CliFleet, runner_pid, wait_for_run
from tests.conftest import patchdeck_command, run_cli

pytestmark = pytest.mark.timeout(180)

SEED = 3
JSON_KEYS = ["machine", "state", "installed", "failed", "reboot", "error", "started", "ended"]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[CliFleet]:
    served = CliFleet(tmp_path, machines=3, seed=SEED)
    yield served
    served.stop()


def _create(db: Path, name: str, *options: str) -> None:
    result = run_cli(
        "deployment", "create", name, "--target", "sim-000", "sim-001", "sim-002",
        "--classification", "security", "--classification", "other", *options, db=db,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _start(db: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
    return subprocess.Popen(
        [*patchdeck_command(), "--db", str(db), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_usage_errors_name_the_run(tmp_path: Path) -> None:
    db = tmp_path / "inventory.db"
    assert run_cli("run", "list", db=db).stdout.startswith("no runs yet")
    assert run_cli("run", "list", "--json", db=db).stdout == ""
    result = run_cli("run", "show", "7", db=db)
    assert result.returncode == 2 and "no run named '#7'" in result.stderr
    result = run_cli("run", "cancel", "seven", db=db)
    assert result.returncode == 2 and "'seven' is not a run number" in result.stderr
    result = run_cli("run", "resume", "1", "--window", "9h", db=db)
    assert result.returncode == 2 and "window" in result.stderr and "9h" in result.stderr
    result = run_cli("deployment", "run", "nope", "--yes", db=db)
    assert result.returncode == 2 and "no deployment named 'nope'" in result.stderr


def test_a_run_needs_confirmation(fleet: CliFleet) -> None:
    _create(fleet.db, "nightly")
    result = run_cli("deployment", "run", "nightly", db=fleet.db)
    assert result.returncode == 3
    assert "no terminal to confirm on: pass --yes" in result.stderr
    assert "plan #1 of nightly: 3 machines" in result.stdout  # the plan was shown first
    assert run_cli("run", "list", "--json", db=fleet.db).stdout == ""  # nothing started


def test_deployment_run_json_prints_each_machine_as_it_ends(fleet: CliFleet) -> None:
    _create(fleet.db, "nightly")
    told = fleet.db.parent / "told.json"  # the settings' default notify command hears the end
    result = run_cli(
        "deployment", "run", "nightly", "--yes", "--json", db=fleet.db, timeout=120,
        env={"PATCHDECK_NOTIFY": f"cat > {told}"},
    )  # fmt: skip
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["machine"] for r in rows) == ["sim-000", "sim-001", "sim-002"]
    for row in rows:
        assert list(row) == JSON_KEYS
        assert row["started"].endswith("Z") and row["ended"].endswith("Z")
        assert row["state"] == "succeeded" and row["installed"] > 0 and row["failed"] == 0
        assert row["reboot"] in ("performed", "not-needed") and row["error"] is None
    assert result.returncode == 0, result.stderr
    assert "run #1 started: runner pid" in result.stderr

    shown = json.loads(run_cli("run", "show", "1", "--json", db=fleet.db).stdout)
    assert shown["state"] == "succeeded" and shown["deployment"] == "nightly"
    assert [m["machine"] for m in shown["machines"]] == ["sim-000", "sim-001", "sim-002"]
    assert shown["log"] and Path(shown["log"]).exists()
    listed = [
        json.loads(line)
        for line in run_cli("run", "list", "--json", db=fleet.db).stdout.splitlines()
    ]
    assert [(r["id"], r["machines"]) for r in listed] == [(1, 3)]
    for _ in range(100):  # bounded: 10 s; the runner tells the command after recording the end
        if told.exists() and told.read_text().endswith("\n"):
            break
        time.sleep(0.1)
    event = json.loads(told.read_text())
    assert (event["event"], event["run_id"], event["state"]) == ("run-ended", 1, "succeeded")
    assert event["totals"] == {"succeeded": 3}
    # a fresh plan was made for the run, and the run's start and end are audited
    store = fleet.store()
    actions = [e.action for e in list_audit(store)]
    store.close()
    assert "deployment.plan" in actions and "run.start" in actions and "run.end" in actions
    # the plan is fresh now: a second run uses it
    again = run_cli("deployment", "run", "nightly", "--yes", "--detach", db=fleet.db)
    assert again.returncode == 0 and "using plan #1" in again.stderr
    wait_for_run(fleet.db, 2, lambda run: not run.live)


def test_neither_ctrl_c_nor_killing_the_cli_stops_the_run(fleet: CliFleet) -> None:
    db = fleet.db
    _create(db, "steady", "--concurrency", "1", "--reboot", "never")
    first = _start(db, "deployment", "run", "steady", "--yes")
    second: subprocess.Popen[str] | None = None
    try:
        running = wait_for_run(db, 1, lambda run: run.state == "running", timeout=90)
        first.send_signal(signal.SIGINT)  # Ctrl-C: following stops, the run goes on
        _, stderr = first.communicate(timeout=30)
        assert first.returncode == 130, stderr
        assert "stopped following run #1; it goes on" in stderr
        second = _start(db, "run", "follow", "1", "--json")  # re-attached from elsewhere
        wait_for_run(db, 1, lambda run: run.machines[0].final, timeout=90)
        second.kill()  # the terminal goes away without a word
        second.wait(timeout=10)
    finally:
        for cli in (first, second):
            if cli is not None and cli.poll() is None:
                cli.kill()
    ended = wait_for_run(db, 1, lambda run: not run.live, timeout=150)
    assert ended.owner_id == running.owner_id  # one runner from start to end
    assert ended.state == "succeeded"
    assert all(m.state == "succeeded" and m.installed > 0 for m in ended.machines)
    # following a run that has ended: its result and its exit code
    follow = run_cli("run", "follow", "1", db=db)
    assert follow.returncode == 0
    assert "run #1 of steady: succeeded: 3 succeeded" in follow.stdout


def test_a_killed_runner_is_found_out_and_resume_completes_its_machines(
    fleet: CliFleet,
) -> None:
    db = fleet.db
    _create(db, "slow", "--concurrency", "1", "--reboot", "never")
    started = run_cli("deployment", "run", "slow", "--yes", "--detach", db=db, timeout=120)
    assert started.returncode == 0, started.stderr

    def mid_install(run: Run) -> bool:
        return run.machines[0].final and run.machines[1].state == "installing"

    before = wait_for_run(db, 1, mid_install, timeout=120)
    os.kill(runner_pid(before), signal.SIGKILL)
    time.sleep(0.5)
    first = before.machines[0]

    shown = run_cli("run", "show", "1", "--json", db=db)  # any command finds it out
    after = json.loads(shown.stdout)
    assert after["state"] == "interrupted" and "is no longer running" in after["error"]
    machines = after["machines"]
    # nothing finished was lost
    assert first.state == "succeeded" and first.installed > 0
    assert (machines[0]["state"], machines[0]["installed"]) == ("succeeded", first.installed)
    assert machines[0]["installed_items"] == list(first.installed_items)
    assert machines[1]["state"] == "interrupted"
    assert machines[1]["error"].startswith("interrupted while installing: its runner")
    assert machines[2]["state"] == "interrupted"
    assert machines[2]["error"].startswith("interrupted before it started")

    resumed = run_cli("run", "resume", "1", "--json", db=db, timeout=150)
    rows = [json.loads(line) for line in resumed.stdout.splitlines()]
    by_machine = {r["machine"]: r for r in rows}
    assert by_machine["sim-000"]["state"] == "succeeded"  # reported, not redone
    assert by_machine["sim-001"]["state"] == "succeeded"
    assert by_machine["sim-002"]["state"] == "succeeded" and by_machine["sim-002"]["installed"] > 0
    assert resumed.returncode == 0, resumed.stderr
    ended = wait_for_run(db, 1, lambda run: not run.live)
    assert ended.state == "succeeded" and ended.machines[0].ended_at == first.ended_at
    # every planned update of the resumed machines is in place now: what the interrupted
    # install had done shows as drift (no longer missing), the rest was installed
    store = fleet.store()
    plan = get_plan(store, ended.plan_id or 0)
    for row in ended.machines:
        planned = {i.platform_id for m in plan.machines if m.machine_id == row.machine_id
                   for i in m.items}  # fmt: skip
        missing = {u.platform_id for _, u in machine_updates(store, row.machine_id)}
        assert planned and not planned & missing, row.machine
        gone = sum("no longer missing" in note for note in row.notes)
        assert row.installed + gone == len(planned), (row.machine, row.notes)
    store.close()


def test_a_runner_told_to_stop_interrupts_its_run_at_once_and_resume_goes_on(
    fleet: CliFleet,
) -> None:
    db = fleet.db
    _create(db, "stoppable", "--concurrency", "1", "--reboot", "never")
    started = run_cli("deployment", "run", "stoppable", "--yes", "--detach", db=db, timeout=120)
    assert started.returncode == 0, started.stderr
    before = wait_for_run(db, 1, lambda run: run.machines[0].state == "installing", timeout=120)
    os.kill(runner_pid(before), signal.SIGTERM)
    # no command needs to look for a stale heartbeat: the runner marked its run itself
    after = wait_for_run(db, 1, lambda run: not run.live, timeout=30)
    assert after.state == "interrupted"
    assert after.error == "its runner was stopped by SIGTERM"
    assert [m.state for m in after.machines] == ["interrupted"] * 3
    assert (after.machines[0].error or "").startswith(
        "interrupted while installing: its runner was stopped by SIGTERM"
    )
    assert (after.machines[1].error or "").startswith("interrupted before it started")
    log = Path(json.loads(run_cli("run", "show", "1", "--json", db=db).stdout)["log"])
    assert "its unfinished machines are interrupted" in log.read_text()

    resumed = run_cli("run", "resume", "1", "--json", db=db, timeout=150)
    assert resumed.returncode == 0, resumed.stderr
    ended = wait_for_run(db, 1, lambda run: not run.live)
    assert ended.state == "succeeded"
    assert [m.state for m in ended.machines] == ["succeeded"] * 3
