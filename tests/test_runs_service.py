"""The runs service: creating a run from a plan, one active run per machine, ownership and
heartbeat, stale runners reaped (and live ones never), cancel, approve, resume, output tails,
and the follower's events."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from backends.engine.events import MachineState, OutputLine, Progress, RunDone
from backends.engine.follow import RunFollower
from backends.inventory.audit import list_audit
from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import create_deployment
from backends.inventory.errors import NotFound
from backends.inventory.machines import add_machine, list_machines
from backends.inventory.plans import MachinePlan, Plan, PlanItem, save_plan
from backends.inventory.run_journal import (
    LostOwnership,
    OutputBatch,
    append_output,
    beat,
    claim_run,
    finish_run,
    set_stage,
    update_machine,
)
from backends.inventory.run_owners import (
    abandon_unclaimed,
    host_tag,
    new_owner_id,
    owner_alive,
    reap_stale_runs,
)
from backends.inventory.runs import (
    OUTPUT_TAIL_LINES,
    RunError,
    approve,
    create_run,
    get_run,
    list_runs,
    request_cancel,
    resume_run,
    run_changes,
    run_machine,
)
from backends.inventory.store import Store
from backends.inventory.tables import utcnow
from backends.inventory.validation import build_spec

pytestmark = pytest.mark.timeout(60)

OPTIONS = build_options(window="1h")


def _plan(store: Store, names: list[str], failed: tuple[str, ...] = (), stages: int = 1) -> Plan:
    for name in names:
        add_machine(store, build_spec(name=name, address=f"192.0.2.{len(name)}"))
    groups = [names[i::stages] for i in range(stages)]
    deployment = create_deployment(store, f"d-{names[0]}", groups, OPTIONS)
    ids = {m.name: m.id for m in list_machines(store)}
    machines = [
        MachinePlan(
            machine_id=ids[name],
            machine=name,
            stage=stage,
            items=(PlanItem("openssl", "openssl", "3.0.1", "3.0.2", "security"),),
            error="scan failed: unreachable" if name in failed else None,
            error_kind="unreachable" if name in failed else None,
        )
        for stage, group in enumerate(groups)
        for name in group
    ]
    return save_plan(store, deployment.id, machines)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_has_a_row_per_planned_machine_and_skips_what_could_not_be_planned(
    store: Store,
) -> None:
    now = utcnow()
    plan = _plan(store, ["a-1", "a-2", "a-3"], failed=("a-2",))
    run = create_run(store, plan, OPTIONS, now=now, user="alice")
    assert run.state == "pending" and run.window_end == now + timedelta(hours=1)
    states = {m.machine: (m.state, m.error) for m in run.machines}
    assert states["a-1"] == ("pending", None)
    assert states["a-2"] == (
        "skipped",
        "skipped: it could not be planned: scan failed: unreachable",
    )
    assert run.options.window_minutes == 60
    entry = [e for e in list_audit(store) if e.action == "run.start"][-1]
    assert entry.user == "alice" and sorted(entry.machines) == ["a-1", "a-2", "a-3"]
    assert f"run {run.id} of plan {plan.id}" in entry.detail


def test_a_machine_in_another_live_run_is_skipped_naming_that_run(store: Store) -> None:
    plan = _plan(store, ["b-1", "b-2"])
    first = create_run(store, plan, OPTIONS)
    second = create_run(store, plan, OPTIONS)
    for machine in second.machines:
        assert machine.state == "skipped" and machine.error_kind == "busy"
        assert f"run #{first.id} of d-b-1" in (machine.error or "")
    # once the first run is done with a machine, a new run may take it
    owner = new_owner_id()
    claim_run(store, first.id, owner)
    b1 = first.machines[0].machine_id
    update_machine(store, first.id, owner, b1, state="succeeded")
    third = create_run(store, plan, OPTIONS)
    assert [m.state for m in third.machines] == ["pending", "skipped"]


def test_only_the_owner_writes_and_a_claimed_run_cannot_be_claimed_again(store: Store) -> None:
    run = create_run(store, _plan(store, ["c-1"]), OPTIONS)
    owner = new_owner_id()
    claimed = claim_run(store, run.id, owner, log_path="/tmp/x.log")
    assert claimed.state == "running" and claimed.owner_id == owner and claimed.log_path
    with pytest.raises(RunError, match="already owned"):
        claim_run(store, run.id, new_owner_id())
    machine = run.machines[0].machine_id
    with pytest.raises(LostOwnership):
        update_machine(store, run.id, "someone:1:else", machine, state="connecting")
    with pytest.raises(ValueError, match="not a run machine field"):
        update_machine(store, run.id, owner, machine, owner_id="x")
    update_machine(store, run.id, owner, machine, state="connecting")
    beat(store, run.id, owner)
    assert get_run(store, run.id).machines[0].state == "connecting"


def test_output_keeps_the_last_lines_and_counts_them_all(store: Store) -> None:
    run = create_run(store, _plan(store, ["d-1"]), OPTIONS)
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    machine = run.machines[0].machine_id
    lines = tuple(f"line {i}\r" for i in range(OUTPUT_TAIL_LINES + 50))
    append_output(store, run.id, owner, {machine: OutputBatch(lines[:100], 40, "openssl")})
    append_output(store, run.id, owner, {machine: OutputBatch(lines[100:], 90, None)})
    row = get_run(store, run.id).machines[0]
    assert row.output_count == OUTPUT_TAIL_LINES + 50
    assert len(row.output) == OUTPUT_TAIL_LINES
    assert row.output[0] == "line 50" and row.output[-1] == f"line {OUTPUT_TAIL_LINES + 49}"
    assert (row.percent, row.current_item) == (90, "openssl")


def test_a_view_reads_only_the_output_it_shows(store: Store) -> None:
    run = create_run(store, _plan(store, ["d-1", "d-2"]), OPTIONS)
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    first, second = (m.machine_id for m in run.machines)
    batch = OutputBatch(("Unpacking openssl ...", "Setting up openssl ..."), 50, "openssl")
    append_output(store, run.id, owner, {first: batch, second: batch})
    _, changed = run_changes(store, run.id, -1, output_of={second})
    got = {m.machine_id: m for m in changed}
    assert got[first].output == () and got[first].output_count == 2  # counted, not read
    assert got[second].output == ("Unpacking openssl ...", "Setting up openssl ...")
    assert [m.output for m in run_changes(store, run.id, -1, output_of=set())[1]] == [(), ()]
    assert run_machine(store, run.id, first).output == got[second].output  # read on its own
    with pytest.raises(NotFound):
        run_machine(store, run.id, 999)


def test_owner_liveness_on_this_host(store: Store) -> None:
    assert owner_alive(new_owner_id()) is True
    assert owner_alive(f"{host_tag()}:{_dead_pid()}:abcd") is False
    assert owner_alive("another-host:1:abcd") is None
    assert owner_alive(None) is None


def test_a_dead_runner_is_reaped_and_a_live_one_never(store: Store) -> None:
    plan = _plan(store, ["e-1", "e-2", "e-3"])
    dead, live, quiet = (create_run(store, plan, OPTIONS) for _ in range(3))
    dead_owner = f"{host_tag()}:{_dead_pid()}:dead"
    claim_run(store, dead.id, dead_owner)
    update_machine(store, dead.id, dead_owner, dead.machines[0].machine_id, state="succeeded")
    update_machine(store, dead.id, dead_owner, dead.machines[1].machine_id, state="installing")
    claim_run(store, live.id, new_owner_id())  # this process: alive, heartbeat fresh
    claim_run(store, quiet.id, "elsewhere:4242:beef")  # another host: only the heartbeat tells

    assert reap_stale_runs(store) == [dead.id]
    reaped = get_run(store, dead.id)
    assert reaped.state == "interrupted" and "no longer running" in (reaped.error or "")
    states = [(m.state, m.error or "") for m in reaped.machines]
    assert states[0] == ("succeeded", "")  # nothing finished is lost
    assert states[1][0] == "interrupted" and "while installing" in states[1][1]
    assert states[2][0] == "interrupted" and "before it started" in states[2][1]
    assert get_run(store, live.id).state == "running"
    assert get_run(store, quiet.id).state == "running"
    with pytest.raises(LostOwnership):
        update_machine(store, dead.id, dead_owner, dead.machines[2].machine_id, state="failed")

    # a heartbeat older than the limit: stale, whoever the owner is
    later = utcnow() + timedelta(minutes=5)
    assert sorted(reap_stale_runs(store, now=later)) == sorted([live.id, quiet.id])
    assert "no heartbeat for" in (get_run(store, quiet.id).error or "")
    assert [e.action for e in list_audit(store)].count("run.interrupted") == 3


def test_a_run_no_runner_took_is_abandoned_only_while_unclaimed(store: Store) -> None:
    plan = _plan(store, ["f-1"])
    run = create_run(store, plan, OPTIONS)
    assert reap_stale_runs(store) == []  # just made: its runner is starting
    assert abandon_unclaimed(store, run.id, "its runner process exited (2) before it started")
    assert get_run(store, run.id).machines[0].state == "interrupted"
    other = create_run(store, plan, OPTIONS)
    claim_run(store, other.id, new_owner_id())
    assert not abandon_unclaimed(store, other.id, "no")


def test_cancel_and_approve_are_recorded_and_refused_when_they_do_not_apply(
    store: Store,
) -> None:
    run = create_run(store, _plan(store, ["g-1", "g-2"], stages=2), OPTIONS)
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    with pytest.raises(RunError, match="not waiting at a gate"):
        approve(store, run.id)
    set_stage(store, run.id, owner, 1, gate_waiting=True)
    assert approve(store, run.id, user="bob").gate_waiting is False
    assert request_cancel(store, run.id).cancel_requested == "soft"
    assert request_cancel(store, run.id, now=True).cancel_requested == "now"
    assert request_cancel(store, run.id).cancel_requested == "now"  # now is not softened
    actions = [(e.action, e.user) for e in list_audit(store)]
    assert ("run.approve", "bob") in actions
    assert [action for action, _ in actions].count("run.cancel") == 3
    finish_run(store, run.id, owner, utcnow())
    ended = get_run(store, run.id)
    assert ended.state == "cancelled"
    assert all(m.state == "interrupted" for m in ended.machines)  # never finished: said so
    with pytest.raises(RunError, match="already ended"):
        request_cancel(store, run.id)
    with pytest.raises(RunError, match="already ended"):
        approve(store, run.id)


def test_resume_takes_up_what_the_run_stopped_short_of(store: Store) -> None:
    start = utcnow()
    run = create_run(store, _plan(store, ["h-1", "h-2", "h-3", "h-4"]), OPTIONS, now=start)
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    ids = [m.machine_id for m in run.machines]
    with pytest.raises(RunError, match="still running"):
        resume_run(store, run.id)
    update_machine(store, run.id, owner, ids[0], state="succeeded", installed=1)
    update_machine(store, run.id, owner, ids[1], state="failed", error="no")
    update_machine(store, run.id, owner, ids[2], state="window-exceeded", error="late")
    finish_run(store, run.id, owner, utcnow())  # h-4 never finished: interrupted
    resumed = resume_run(store, run.id, user="carol")
    assert resumed.state == "pending" and resumed.owner_id is None
    assert resumed.window_end == run.window_end  # the original window
    assert [m.state for m in resumed.machines] == ["succeeded", "failed", "pending", "pending"]
    assert resumed.machines[0].installed == 1 and resumed.machines[2].error is None
    assert any(e.action == "run.resume" and e.user == "carol" for e in list_audit(store))

    # the window is over: resume asks for a new one
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    finish_run(store, run.id, owner, utcnow())
    with pytest.raises(RunError, match="window is over"):
        resume_run(store, run.id, now=start + timedelta(minutes=45))
    again = resume_run(store, run.id, 90, now=start + timedelta(minutes=45))
    assert again.window_end == start + timedelta(minutes=135)
    assert again.window_minutes == 90


def test_the_follower_turns_changes_into_events_once(store: Store) -> None:
    run = create_run(store, _plan(store, ["i-1", "i-2"]), OPTIONS)
    follower = RunFollower(store, run.id)
    first = follower.poll()
    assert [(e.machine, e.state) for e in first if isinstance(e, MachineState)] == [
        ("i-1", "pending"),
        ("i-2", "pending"),
    ]
    assert follower.poll() == []
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    machine = run.machines[0].machine_id
    update_machine(store, run.id, owner, machine, state="installing")
    append_output(store, run.id, owner, {machine: OutputBatch(("one", "two"), 50, "openssl")})
    events = follower.poll()
    assert MachineState(run.id, "i-1", "installing", "") in events
    assert [e.text for e in events if isinstance(e, OutputLine)] == ["one", "two"]
    assert Progress(run.id, "i-1", 50.0, "openssl") in events
    append_output(store, run.id, owner, {machine: OutputBatch(("three",))})
    assert [e.text for e in follower.poll() if isinstance(e, OutputLine)] == ["three"]
    update_machine(store, run.id, owner, machine, state="succeeded")
    finish_run(store, run.id, owner, utcnow())
    done = [e for e in follower.poll() if isinstance(e, RunDone)]
    assert done == [RunDone(run.id, {"succeeded": 1, "interrupted": 1})]
    assert follower.poll() == [] and follower.done
    assert [r.id for r in list_runs(store)] == [run.id]


def test_a_deployment_with_a_run_going_cannot_be_deleted(store: Store) -> None:
    from backends.inventory.deployments import delete_deployment
    from backends.inventory.errors import InventoryError

    run = create_run(store, _plan(store, ["j-1"]), OPTIONS)
    with pytest.raises(InventoryError, match=rf"has a run going \(#{run.id}\)"):
        delete_deployment(store, "d-j-1")
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    finish_run(store, run.id, owner, utcnow())
    delete_deployment(store, "d-j-1")  # ended runs go with their deployment
    assert list_runs(store) == []
