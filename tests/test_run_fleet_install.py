"""Runs that install, on the simulated fleet, in this process: exactly the plan's updates
(classifications, include and exclude honoured to what is installed), each reboot option,
the window's reserve, drift, the failure threshold on a failing package, pre and post
commands, cancel, a held package lock (released, and held for ever), a machine that never
comes back from its reboot, and an install that hangs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import asyncssh
import pytest

from backends.engine.commands import run_rounds
from backends.engine.connections import ConnectionPool
from backends.engine.events import Event, MachineState, Progress
from backends.fleet.faults import FaultSpec
from backends.fleet.profiles import Machine as SimMachine
from backends.fleet.server import Fleet, serve
from backends.fleet.timing import FAST as FAST_FLEET
from backends.inventory.machines import get_machine
from backends.inventory.runs import Run, RunMachine, get_run, request_cancel
from backends.inventory.scans import machine_updates
from backends.inventory.store import Store
from backends.platforms import linux
from backends.platforms.records import Assessment
from tests.run_support import FAST, ManualClock, Runner, deploy, plan_of, pool_for, register

pytestmark = pytest.mark.timeout(120)

SEED = 11


def _pick(
    taken: set[int],
    manager: str,
    want: Callable[[SimMachine], bool] = lambda m: True,
    after: int = 9,
) -> int:
    """A machine of the fleet past ``after`` with that manager, updates to install and no
    reboot pending yet, that ``want`` likes. (With concurrency 1 a stage's machines go in
    the order of their names: ``after`` puts one behind another.)"""
    for index in range(after + 1, 160):
        machine = SimMachine(SEED, index)
        if (
            index not in taken
            and machine.kind.manager == manager
            and len(machine.outdated) >= 3
            and not machine.reboot_required
            and not any(p.state.source.update_stack for p in machine.outdated)
            and want(machine)
        ):
            taken.add(index)
            return index
    raise AssertionError(f"no {manager} machine")


def _chain(
    taken: set[int], *managers: str, first: Callable[[SimMachine], bool] = lambda m: True
) -> tuple[int, ...]:
    """Machines in the order of their names: the first one ``first`` likes."""
    found: list[int] = []
    for manager in managers:
        want = first if not found else (lambda m: True)
        found.append(_pick(taken, manager, want, after=found[-1] if found else 9))
    return tuple(found)


def _has_reboot_update(machine: SimMachine) -> bool:
    return any(p.state.source.reboot for p in machine.outdated)


def _plain_binary(index: int) -> str:
    """An outdated binary of the machine whose update needs no reboot."""
    pkg = next(p for p in SimMachine(SEED, index).outdated if not p.state.source.reboot)
    return pkg.binaries[0][0]


TAKEN: set[int] = set()
FILTERS = _pick(TAKEN, "apt")
IF_REQUIRED_YES = _pick(TAKEN, "apt", _has_reboot_update)
IF_REQUIRED_NO = _pick(TAKEN, "dnf")
NEVER = _pick(TAKEN, "apt", _has_reboot_update)
ALWAYS = _pick(TAKEN, "zypper")
REBOOT_ONLY = _pick(TAKEN, "dnf")
RESERVE = _chain(TAKEN, "apt", "apt", first=_has_reboot_update)
THRESHOLD = _chain(TAKEN, "apt", "apt", "dnf")
LOCK_BRIEF_APT = _pick(TAKEN, "apt")
LOCK_BRIEF_DNF = _pick(TAKEN, "dnf")
LOCK_FOREVER = _pick(TAKEN, "apt")
NO_RETURN = _pick(TAKEN, "apt")
HANGING = _pick(TAKEN, "apt")
CANCEL = _chain(TAKEN, "apt", "apt", "dnf")
DRIFT = _pick(TAKEN, "apt")
WRAPPED = _pick(TAKEN, "apt")
SIZE = max(TAKEN) + 1


def name(index: int) -> str:
    return f"sim-{index:03d}"


FAULTS = {
    "machines": {
        name(THRESHOLD[0]): [{"failing-package": _plain_binary(THRESHOLD[0])}],
        name(LOCK_BRIEF_APT): [{"dpkg-lock": 1.5}],
        name(LOCK_BRIEF_DNF): [{"dpkg-lock": 1.5}],
        name(LOCK_FOREVER): ["dpkg-lock"],
        name(NO_RETURN): ["no-return"],
        name(HANGING): ["hang-install"],
    }
}


@dataclass
class Lab:
    store: Store
    fleet: Fleet
    pool: ConnectionPool

    def runner(self, **changes: object) -> Runner:
        return Runner(self.store, self.pool, replace(FAST, **changes))  # type: ignore[arg-type]

    async def scan(self, index: int) -> Assessment:
        machine = get_machine(self.store, name(index))
        connection = await self.pool.get(machine)
        return await run_rounds(linux.assess(), connection)


@pytest.fixture
async def lab(store: Store, tmp_path: Path) -> AsyncIterator[Lab]:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    fleet = await serve(SIZE, SEED, FaultSpec.from_obj(FAULTS), timing=FAST_FLEET)
    try:
        register(store, fleet, key)
        pool = pool_for(store, tmp_path)
        yield Lab(store, fleet, pool)
        await pool.close_all()
    finally:
        await fleet.close()


def _only(run: Run) -> RunMachine:
    assert len(run.machines) == 1
    return run.machines[0]


async def test_exactly_what_the_filters_select_is_installed(lab: Lab) -> None:
    probe = await plan_of(lab.store, deploy(lab.store, "probe", [[name(FILTERS)]]), lab.pool)
    items = probe.machines[0].items
    security = sorted(i.platform_id for i in items if i.classification == "security")
    other = sorted(i.platform_id for i in items if i.classification == "other")
    assert len(security) >= 2 and other, items
    excluded, included = security[0], other[0]

    deployment = deploy(
        lab.store, "filtered", [[name(FILTERS)]],
        classifications=["security"], include=[included], exclude=[excluded.upper()],
    )  # fmt: skip
    runner = lab.runner()
    ended = await runner.run(deployment)
    machine = _only(ended)
    wanted = sorted({*security, included} - {excluded})
    progress = [e for e in runner.events if isinstance(e, Progress)]
    assert progress and progress[-1].percent > progress[0].percent
    assert {e.item for e in progress} & set(wanted)  # the package being worked on
    assert machine.state == "succeeded", machine.error
    assert sorted(machine.installed_items) == wanted
    assert (machine.installed, machine.failed) == (len(wanted), 0)
    still = {u.platform_id for _, u in machine_updates(lab.store, machine.machine_id)}
    assert excluded in still  # excluded: left alone
    assert set(other) - {included} <= still  # not selected: left alone
    assert not set(wanted) & still  # installed: gone from the scan after the run
    after = await lab.scan(FILTERS)
    assert not set(wanted) & {u.platform_id for u in after.updates}


async def test_each_reboot_option(lab: Lab) -> None:
    boots = {i: (await lab.scan(i)).facts.boot_id for i in
             (IF_REQUIRED_YES, IF_REQUIRED_NO, NEVER, ALWAYS, REBOOT_ONLY)}  # fmt: skip
    runner = lab.runner()
    kernel_first = deploy(lab.store, "if-yes", [[name(IF_REQUIRED_YES)]], reboot="if-required")
    plain = _plain_binary(IF_REQUIRED_NO)
    no_reboot = deploy(
        lab.store, "if-no", [[name(IF_REQUIRED_NO)]],
        classifications=["none"], include=[plain], reboot="if-required",
    )  # fmt: skip
    never = deploy(lab.store, "never", [[name(NEVER)]], reboot="never")
    always = deploy(lab.store, "always", [[name(ALWAYS)]], reboot="always")
    only = deploy(lab.store, "only", [[name(REBOOT_ONLY)]], reboot="reboot-only")

    yes = _only(await runner.run(kernel_first))
    assert (yes.state, yes.reboot) == ("succeeded", "performed"), yes.error
    assert (await lab.scan(IF_REQUIRED_YES)).facts.boot_id != boots[IF_REQUIRED_YES]

    no = _only(await runner.run(no_reboot))
    assert (no.state, no.reboot, no.installed) == ("succeeded", "not-needed", 1), no.error
    assert (await lab.scan(IF_REQUIRED_NO)).facts.boot_id == boots[IF_REQUIRED_NO]

    left = _only(await runner.run(never))
    assert (left.state, left.reboot) == ("succeeded", "pending"), left.error
    after = await lab.scan(NEVER)
    assert after.facts.boot_id == boots[NEVER] and after.facts.reboot_required is True
    assert get_machine(lab.store, name(NEVER)).reboot_pending is True

    forced = _only(await runner.run(always))
    assert (forced.state, forced.reboot) == ("succeeded", "performed"), forced.error
    assert (await lab.scan(ALWAYS)).facts.boot_id != boots[ALWAYS]
    # zypper speaks XML: the operator reads its messages' text, never the elements
    assert forced.output and not any("<" in line for line in forced.output), forced.output

    rebooted = _only(await runner.run(only))
    assert (rebooted.state, rebooted.reboot, rebooted.installed) == ("succeeded", "performed", 0)
    assert (await lab.scan(REBOOT_ONLY)).facts.boot_id != boots[REBOOT_ONLY]
    states = [e.state for e in runner.events if isinstance(e, MachineState)
              and e.machine == name(REBOOT_ONLY)]  # fmt: skip
    assert states == ["connecting", "scanning", "rebooting", "verifying", "succeeded"]


async def test_an_install_that_ends_in_the_reserve_leaves_the_reboot_pending(lab: Lab) -> None:
    """The clock jumps while the first machine installs: its install finishes (never
    killed), its reboot is not begun, and the second machine never starts."""
    clock = ManualClock()
    first, second = (name(i) for i in RESERVE)

    def late(event: Event) -> None:
        if isinstance(event, MachineState) and event.state == "installing":
            clock.advance(101)  # of a 2h window: 19 minutes left

    runner = lab.runner()
    runner.on_event = late
    deployment = deploy(lab.store, "reserve", [[first, second]], concurrency=1)
    ended = await runner.run(deployment, clock)
    done, waiting = ended.machines
    assert (done.state, done.reboot) == ("succeeded", "pending"), done.error
    assert done.installed > 0 and done.error is None
    assert "the reboot was not begun: 19m of the maintenance window remained" in done.notes[-1]
    assert waiting.state == "window-exceeded" and waiting.started_at is None
    assert (await lab.scan(RESERVE[0])).facts.reboot_required is True


async def test_a_failing_package_fails_its_machine_and_stops_new_ones(lab: Lab) -> None:
    failing = _plain_binary(THRESHOLD[0])
    deployment = deploy(
        lab.store, "threshold", [[name(i) for i in THRESHOLD]], concurrency=1, max_failures=0
    )
    ended = await lab.runner().run(deployment)
    broken, *rest = ended.machines
    assert broken.state == "failed" and broken.failed >= 1
    assert failing in dict(broken.failed_items)
    assert broken.installed > 0  # the others went in
    assert (broken.error or "").startswith("installing: ")
    assert [m.state for m in rest] == ["skipped", "skipped"]
    assert all("more than --max-failures 0 allows" in (m.error or "") for m in rest)


async def test_pre_and_post_commands_run_around_the_install(lab: Lab) -> None:
    ok = deploy(
        lab.store, "wrapped", [[name(WRAPPED)]], reboot="never",
        pre_command="echo stopping app", post_command="echo starting app; exit 4",
    )  # fmt: skip
    machine = _only(await lab.runner().run(ok))
    assert machine.state == "failed" and machine.error_kind == "post-failed"
    assert machine.error == "the post command exited 4: starting app"
    assert machine.installed > 0  # the install happened between the two
    output = list(machine.output)
    assert output.index("[pre] stopping app") < output.index("[post] starting app")


async def test_drift_an_update_gone_since_the_plan_is_not_installed(lab: Lab) -> None:
    deployment = deploy(lab.store, "drift", [[name(DRIFT)]], reboot="never")
    plan = await plan_of(lab.store, deployment, lab.pool)
    gone = plan.machines[0].items[0]
    # someone installs it by hand between the plan and the run
    machine = get_machine(lab.store, name(DRIFT))
    connection = await lab.pool.get(machine)
    hand = await connection.run(f"apt-get install -y --only-upgrade {gone.platform_id}")
    assert hand.exit_status == 0, hand.stdout + hand.stderr
    ended = await lab.runner().run(deployment, plan=plan)
    result = _only(ended)
    assert result.state == "succeeded", result.error
    assert gone.platform_id not in result.installed_items
    assert result.installed == len(plan.machines[0].items) - 1
    assert f"drift: {gone.platform_id} is no longer missing: nothing to install" in result.notes


async def test_a_held_lock_is_waited_for_and_then_named(lab: Lab) -> None:
    runner = lab.runner(lock_wait=8.0, lock_retry_every=0.5)
    released = deploy(
        lab.store, "brief", [[name(LOCK_BRIEF_APT), name(LOCK_BRIEF_DNF)]], reboot="never"
    )
    ended = await runner.run(released)
    for machine in ended.machines:
        assert machine.state == "succeeded", machine.error
    dnf = ended.machines[1] if name(LOCK_BRIEF_DNF) > name(LOCK_BRIEF_APT) else ended.machines[0]
    assert any(line.startswith("waiting for the package lock") for line in dnf.output)

    held = deploy(lab.store, "held", [[name(LOCK_FOREVER)]], reboot="never")
    stuck = _only(await lab.runner(lock_wait=2.0).run(held))
    assert stuck.state == "failed" and stuck.error_kind == "locked"
    assert "unattended-upgr" in (stuck.error or "") and "4711" in (stuck.error or "")
    assert "(waited 2 s for it)" in (stuck.error or "")
    assert stuck.installed == 0


async def test_a_machine_that_never_comes_back_fails_with_that_reason(lab: Lab) -> None:
    deployment = deploy(lab.store, "gone", [[name(NO_RETURN)]], reboot="always")
    machine = _only(await lab.runner(reboot_timeout=2.0).run(deployment))
    assert machine.state == "failed" and machine.error_kind == "no-return"
    assert machine.error == (
        "rebooting: the machine did not come back within 2 s of its reboot "
        "(no answer with a new boot id)"
    )
    assert machine.installed > 0  # what was installed before is recorded


async def test_an_install_that_hangs_is_given_up_after_its_time_limit(lab: Lab) -> None:
    deployment = deploy(lab.store, "hangs", [[name(HANGING)]], reboot="never")
    machine = _only(await lab.runner(install_timeout=2.0, lock_wait=0.0).run(deployment))
    assert machine.state == "failed" and machine.error_kind == "timeout"
    assert (machine.error or "").startswith("installing: ")
    assert "did not finish the command within" in (machine.error or "")


async def test_cancel_lets_the_running_install_finish_and_starts_nothing_new(
    lab: Lab,
) -> None:
    runner = lab.runner()
    run_holder: list[Run] = []

    def cancel_on_install(event: Event) -> None:
        if isinstance(event, MachineState) and event.state == "installing" and run_holder:
            request_cancel(lab.store, run_holder[0].id)

    runner.on_event = cancel_on_install
    deployment = deploy(
        lab.store, "halt", [[name(i) for i in CANCEL]],
        concurrency=1, reboot="never",
    )  # fmt: skip
    run = await runner.start(deployment)
    run_holder.append(run)
    ended = await runner.execute(run)
    first, *rest = ended.machines
    assert first.state == "succeeded" and first.installed > 0, first.error
    assert [m.state for m in rest] == ["cancelled", "cancelled"]
    assert ended.state == "cancelled"


async def test_cancel_now_stops_waiting_for_a_reboot(lab: Lab) -> None:
    runner = lab.runner(reboot_timeout=60.0)
    holder: list[Run] = []

    def cancel_on_reboot(event: Event) -> None:
        if isinstance(event, MachineState) and event.state == "rebooting" and holder:
            request_cancel(lab.store, holder[0].id, now=True)

    runner.on_event = cancel_on_reboot
    deployment = deploy(lab.store, "stuck", [[name(NO_RETURN)]], reboot="always")
    run = await runner.start(deployment)
    holder.append(run)
    ended = await asyncio.wait_for(runner.execute(run), 30)
    machine = _only(ended)
    assert machine.state == "cancelled"
    assert machine.error == (
        "cancelled (now) while waiting for the machine to come back from its reboot"
    )
    assert get_run(lab.store, run.id).state == "cancelled"
