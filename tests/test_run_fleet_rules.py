"""Runs on the simulated fleet, in this process: the rules that decide whether a machine
starts at all (the window and its reserve, cancel, the failure threshold, the manual gate,
the pre command, one active run per machine), and a runner that loses its run."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from backends.engine.events import MachineState, RunDone
from backends.fleet.server import serve
from backends.inventory.machines import get_machine, update_machine
from backends.inventory.run_journal import LostOwnership
from backends.inventory.run_owners import reap_stale_runs
from backends.inventory.runs import approve, create_run, get_run, request_cancel
from backends.inventory.store import Store
from backends.inventory.tables import utcnow
from backends.inventory.validation import build_spec
from tests.run_support import (
    SEED,
    ManualClock,
    Runner,
    by_name,
    deploy,
    name_of,
    plan_of,
    pool_for,
    register,
)

pytestmark = pytest.mark.timeout(90)

DEBIAN = name_of("debian-12")
UBUNTU = name_of("ubuntu-22.04")
RHEL = name_of("rhel-9")


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(path))
    return path


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 held but not listened on: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield int(sock.getsockname()[1])
    sock.close()


def _unplug(store: Store, name: str, port: int, key: Path) -> None:
    """The machine stops answering after it was planned."""
    machine = get_machine(store, name)
    spec = build_spec(
        name=name, address="127.0.0.1", port=port, user="root", identity_file=str(key)
    )
    update_machine(store, machine.id, spec)


async def test_no_machine_starts_when_less_than_the_reserve_remains(
    store: Store, tmp_path: Path, key: Path
) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        deployment = deploy(store, "late", [[DEBIAN, UBUNTU]], window="30m")
        clock = ManualClock()
        runner = Runner(store, pool)
        run = await runner.start(deployment, now=clock.now())
        scanned = get_machine(store, DEBIAN).last_scan_at
        clock.advance(11)  # 19 minutes of the window left: less than the 20 kept for reboots
        ended = await runner.execute(run, clock)
        await pool.close_all()
    assert ended.state == "failed"
    for machine in ended.machines:
        assert machine.state == "window-exceeded"
        assert machine.error == (
            "it was not begun: 19m of the maintenance window remained, less than the 20m kept "
            "for reboots"
        )
        assert machine.started_at is None and machine.installed == 0
    assert get_machine(store, DEBIAN).last_scan_at == scanned  # never contacted
    assert RunDone(ended.id, {"window-exceeded": 2}) in runner.events


async def test_a_cancelled_run_starts_nothing(store: Store, tmp_path: Path, key: Path) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        run = await runner.start(deploy(store, "stop", [[DEBIAN, RHEL]]))
        request_cancel(store, run.id)
        ended = await runner.execute(run)
        await pool.close_all()
    assert ended.state == "cancelled"
    assert [(m.state, m.error) for m in ended.machines] == [
        ("cancelled", "cancelled before it started")
    ] * 2


async def test_past_the_failure_threshold_no_new_machine_starts(
    store: Store, tmp_path: Path, key: Path, closed_port: int
) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        names = sorted(m.name for m in fleet.machines[:4])
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        told = tmp_path / "events.jsonl"
        deployment = deploy(
            store, "careful", [names], notify=f"cat >> {told}", concurrency=1, max_failures=0
        )
        run = await runner.start(deployment)
        _unplug(store, names[0], closed_port, key)  # the first machine fails to connect
        ended = await runner.execute(run)
        await pool.close_all()
    machines = by_name(ended)
    first = machines[names[0]]
    assert first.state == "failed" and first.error_kind == "unreachable"
    assert (first.error or "").startswith("connecting: ") and "refused" in (first.error or "")
    for name in names[1:]:
        assert machines[name].state == "skipped"
        assert machines[name].error == (
            "skipped: 1 machines failed, more than --max-failures 0 allows"
        )
        assert machines[name].started_at is None
    # the notify command heard the threshold crossed, then the end (every line one event)
    events = [json.loads(line) for line in told.read_text().splitlines()]
    assert [(e["event"], e["deployment"], e["run_id"]) for e in events] == [
        ("failure-threshold", "careful", run.id),
        ("run-ended", "careful", run.id),
    ]
    assert (events[0]["failed"], events[0]["allowed"]) == (1, 0)
    assert events[1]["state"] == ended.state
    assert events[1]["totals"] == {"failed": 1, "skipped": 3}


async def test_a_failing_pre_command_skips_the_machine_with_its_output(
    store: Store, tmp_path: Path, key: Path
) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        deployment = deploy(store, "guarded", [[DEBIAN]], pre_command="echo draining web; exit 3")
        ended = await runner.run(deployment)
        await pool.close_all()
    machine = ended.machines[0]
    assert machine.state == "skipped" and machine.error_kind == "pre-failed"
    assert machine.error == "skipped: the pre command exited 3: draining web"
    assert "[pre] $ echo draining web; exit 3" in machine.output
    assert "[pre] draining web" in machine.output
    assert machine.installed == 0
    states = [e.state for e in runner.events if isinstance(e, MachineState)]
    assert states == ["connecting", "scanning", "skipped"]  # never installing


async def test_a_manual_gate_waits_for_approval_between_stages(
    store: Store, tmp_path: Path, key: Path
) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        told = tmp_path / "events.jsonl"
        deployment = deploy(
            store, "staged", [[DEBIAN], [UBUNTU]], gate="manual", max_failures="100%",
            pre_command="true", notify=f"cat >> {told}",
        )  # fmt: skip
        run = await runner.start(deployment)
        task = asyncio.create_task(runner.execute(run))
        for _ in range(400):  # bounded: 20 s
            waiting = await asyncio.to_thread(get_run, store, run.id)
            if waiting.gate_waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting.gate_waiting and waiting.stage == 1
        first, second = waiting.machines
        assert first.final and second.state == "pending"
        for _ in range(200):  # bounded: 10 s; the notify command runs beside the run
            if told.exists() and told.read_text():
                break
            await asyncio.sleep(0.05)
        gate = json.loads(told.read_text())
        assert (gate["event"], gate["deployment"], gate["stage"]) == ("manual-gate", "staged", 2)
        await asyncio.sleep(0.3)
        assert (await asyncio.to_thread(get_run, store, run.id)).machines[1].state == "pending"
        await asyncio.to_thread(approve, store, run.id)
        ended = await asyncio.wait_for(task, 60)
        await pool.close_all()
    assert not ended.gate_waiting
    assert ended.machines[1].state != "pending" and ended.machines[1].started_at is not None
    assert ended.machines[1].started_at > (first.ended_at or utcnow())
    told_events = [json.loads(line)["event"] for line in told.read_text().splitlines()]
    assert told_events == ["manual-gate", "run-ended"]


async def test_a_gate_does_not_wait_when_the_threshold_is_crossed(
    store: Store, tmp_path: Path, key: Path, closed_port: int
) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        deployment = deploy(store, "canary", [[DEBIAN], [UBUNTU, RHEL]], gate="manual")
        run = await runner.start(deployment)
        _unplug(store, DEBIAN, closed_port, key)
        ended = await asyncio.wait_for(runner.execute(run), 30)
        await pool.close_all()
    assert [m.state for m in ended.machines] == ["failed", "skipped", "skipped"]
    assert not ended.gate_waiting


async def test_a_machine_another_run_holds_is_skipped_with_the_reason(
    store: Store, tmp_path: Path, key: Path
) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        first = deploy(store, "first", [[DEBIAN, UBUNTU]], pre_command="true")
        second = deploy(store, "second", [[UBUNTU, RHEL]], pre_command="true")
        holding = await runner.start(first)
        plan = await plan_of(store, second, pool)
        other = create_run(store, plan, second.options)
        ended = await runner.execute(other)
        await pool.close_all()
    machines = by_name(ended)
    assert machines[UBUNTU].state == "skipped"
    assert machines[UBUNTU].error == (
        f"skipped: the machine is in run #{holding.id} of first, which has not finished with it"
    )
    assert machines[RHEL].state != "skipped"


async def test_a_runner_whose_run_was_declared_interrupted_stops_writing(
    store: Store, tmp_path: Path, key: Path
) -> None:
    from backends.fleet.faults import FaultSpec

    faults = FaultSpec.from_obj({"machines": {UBUNTU: [{"slow": 1.0}]}})
    async with await serve(10, seed=SEED, faults=faults) as fleet:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        run = await runner.start(deploy(store, "slow", [[UBUNTU]]))
        task = asyncio.create_task(runner.execute(run))
        for _ in range(200):
            if (await asyncio.to_thread(get_run, store, run.id)).machines[0].state == "scanning":
                break
            await asyncio.sleep(0.05)
        # another command finds the heartbeat too old (as after a long stall)
        from datetime import timedelta

        reaped = await asyncio.to_thread(reap_stale_runs, store, utcnow() + timedelta(minutes=10))
        assert reaped == [run.id]
        with pytest.raises(LostOwnership):
            await asyncio.wait_for(task, 30)
        await pool.close_all()
    ended = get_run(store, run.id)
    assert ended.state == "interrupted"
    assert ended.machines[0].state == "interrupted"
    assert "while scanning" in (ended.machines[0].error or "")


async def test_an_auto_gate_goes_on_within_the_threshold_and_concurrency_holds(
    store: Store, tmp_path: Path, key: Path, closed_port: int
) -> None:
    async with await serve(10, seed=SEED) as fleet:
        register(store, fleet, key)
        names = sorted(m.name for m in fleet.machines[:6])
        canary, rest = names[0], names[1:]
        pool = pool_for(store, tmp_path)
        runner = Runner(store, pool)
        deployment = deploy(
            store, "rollout", [[canary], rest], gate="auto", max_failures=1, concurrency=2,
            reboot="never",
        )  # fmt: skip
        run = await runner.start(deployment)
        _unplug(store, canary, closed_port, key)  # the canary fails: 1 failure is allowed
        ended = await runner.execute(run)
        await pool.close_all()
    machines = by_name(ended)
    assert machines[canary].state == "failed"
    assert all(machines[n].started_at is not None for n in rest)  # the next stage went on
    assert not any(machines[n].state == "skipped" for n in rest)
    working: set[str] = set()
    most = 0
    for event in runner.events:
        if not isinstance(event, MachineState):
            continue
        if event.state in ("connecting", "scanning", "installing", "rebooting", "verifying"):
            working.add(event.machine)
        else:
            working.discard(event.machine)
        most = max(most, len(working))
        assert not (working & {canary} and working - {canary})  # stages never overlap
    assert most == 2  # the deployment's concurrency, reached and never passed
