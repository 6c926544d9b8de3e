"""Plans against the simulated fleet: every target scanned afresh, filters applied, stages
kept, pre-flight failures named per check, an unreachable machine in the plan with its reason,
and the same plan again when nothing changed."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from backends.engine.connections import ConnectionPool
from backends.engine.events import Event, ScanDone
from backends.engine.plan import PREFLIGHT, make_plan
from backends.engine.selection import REBOOT_ONLY_REASON
from backends.fleet.faults import FaultSpec
from backends.fleet.profiles import Machine, pick_kind
from backends.fleet.register import register_fleet
from backends.fleet.server import serve
from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import create_deployment, get_deployment
from backends.inventory.groups import create_group
from backends.inventory.location import own_known_hosts
from backends.inventory.machines import get_machine
from backends.inventory.plans import Plan, get_plan, latest_plan
from backends.inventory.scans import machine_updates
from backends.inventory.store import Store
from backends.transports.known_hosts import HostKeys

SEED = 7
MACHINES = 10


def _index(kind: str) -> int:
    return next(i for i in range(MACHINES) if pick_kind(SEED, i).key == kind)


def _name(kind: str) -> str:
    return f"sim-{_index(kind):03d}"


FAULTS = {
    "machines": {
        _name("debian-12"): ["broken-packages"],  # dpkg interrupted
        _name("ubuntu-24.04"): ["full-boot"],
        _name("debian-11"): ["full-var"],
        _name("rhel-9"): ["held-package"],
        _name("centos-7"): ["down"],
    }
}


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(path))
    return path


def _pool(store: Store, tmp_path: Path) -> ConnectionPool:
    return ConnectionPool(HostKeys(own_known_hosts(store.url), user_file=tmp_path / "none"))


def _shape(plan: Plan) -> list[tuple[object, ...]]:
    return [
        (m.machine, m.stage, m.items, m.reboot_expected, m.excluded, m.error, m.error_kind)
        for m in plan.machines
    ]


async def test_a_plan_of_the_fleet_names_every_failure(
    store: Store, tmp_path: Path, key: Path
) -> None:
    async with await serve(MACHINES, seed=SEED, faults=FaultSpec.from_obj(FAULTS)) as fleet:
        register_fleet(store, store.url, fleet.machines, user="deploy", identity_file=str(key))
        create_group(store, "linux", query="os = linux")
        first_stage = [_name("ubuntu-22.04"), _name("rhel-9")]
        deployment = create_deployment(
            store,
            "everything",
            [first_stage, ["linux"]],
            build_options(classifications=["security", "other"], exclude=["tzdata"]),
        )
        events: list[Event] = []
        pool = _pool(store, tmp_path)
        plan = await make_plan(store, deployment, pool, events.append)
        again = await make_plan(store, deployment, pool, lambda e: None)
        await pool.close_all()

    by_name = {m.machine: m for m in plan.machines}
    assert sorted(by_name) == sorted(m.name for m in fleet.machines)
    # stages kept; a machine reached by both stages belongs to the first
    assert [m.machine for m in plan.machines if m.stage == 0] == sorted(first_stage)
    assert {m.stage for m in plan.machines} == {0, 1}
    # every target was scanned afresh
    assert sorted(e.machine for e in events if isinstance(e, ScanDone)) == sorted(by_name)

    down = by_name[_name("centos-7")]
    assert down.error_kind == "unreachable" and down.items == ()
    assert (down.error or "").startswith("scan failed: ") and "refused" in (down.error or "")
    assert get_machine(store, down.machine).reachable is False

    def failed(kind: str) -> str:
        machine = by_name[_name(kind)]
        assert machine.error_kind == PREFLIGHT, (kind, machine.error)
        assert [c.check for c in machine.checks if c.ok is False], machine.checks
        return machine.error or ""

    assert "disk: /boot has 40 MB free on /dev/sda2" in failed("ubuntu-24.04")
    assert "below 100 MB" in failed("ubuntu-24.04")
    assert "disk: /var has 200 MB free" in failed("debian-11")
    assert "packages: dpkg --audit: half configured: " in failed("debian-12")
    held = Machine(SEED, _index("rhel-9"), fleet.machines[_index("rhel-9")].faults).held_names
    assert held and f"holds: {held[0]}-" in failed("rhel-9")
    assert f"needs {held[0]}, built from the same source and held (dnf versionlock)" in failed(
        "rhel-9"
    )

    healthy = [m for m in plan.machines if m.ok]
    assert len(healthy) == 5
    for machine in healthy:
        recorded = machine_updates(store, machine.machine_id)
        wanted = sorted(u.platform_id for _, u in recorded if u.name != "tzdata")
        assert [i.platform_id for i in machine.items] == wanted  # pinned, in a stable order
        versions = {u.platform_id: u.available for _, u in recorded}
        assert all(i.version == versions[i.platform_id] for i in machine.items)
        assert all(e.reason == "matches --exclude tzdata" for e in machine.excluded)
        if machine.items:
            assert {c.check for c in machine.checks} == {"disk", "packages", "holds"}
            assert all(c.ok is not False for c in machine.checks)
    assert any(m.items and m.reboot_expected for m in healthy)

    # nothing changed on the machines: the same plan, saved again
    assert again.id != plan.id and _shape(again) == _shape(plan)
    assert latest_plan(store, deployment.id) == again
    assert get_plan(store, plan.id) == plan
    assert get_deployment(store, "everything").last_plan_at == again.created_at


async def test_reboot_only_plans_no_update_and_a_reboot_everywhere(
    store: Store, tmp_path: Path, key: Path
) -> None:
    async with await serve(3, seed=SEED) as fleet:
        register_fleet(store, store.url, fleet.machines, user="root", identity_file=str(key))
        deployment = create_deployment(
            store,
            "reboots",
            [[m.name for m in fleet.machines]],
            build_options(reboot="reboot-only"),
        )
        pool = _pool(store, tmp_path)
        plan = await make_plan(store, deployment, pool, lambda e: None)
        await pool.close_all()
    assert [m.ok for m in plan.machines] == [True, True, True]
    for machine in plan.machines:
        assert machine.items == () and machine.reboot_expected
        assert machine.checks == ()  # nothing to install: nothing to check
        assert {e.reason for e in machine.excluded} <= {REBOOT_ONLY_REASON}
    assert sum(len(m.excluded) for m in plan.machines) > 0
