"""Scans against the simulated fleet: every kind assessed, every failure named in words, and
one machine's failure never touching another's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncssh

from backends.engine.connections import ConnectionPool
from backends.engine.events import Event, MachineState, ScanDone
from backends.engine.scan import ScanOptions, scan
from backends.fleet.faults import FaultSpec
from backends.fleet.register import register_fleet
from backends.fleet.server import serve
from backends.inventory.location import own_known_hosts
from backends.inventory.machines import get_machine, list_machines
from backends.inventory.store import Store
from backends.platforms.linux import Recall
from backends.transports.known_hosts import HostKeys

FAULTS = {
    "machines": {
        "sim-010": ["refuse-auth"],
        "sim-011": ["hang"],
        "sim-012": ["garbage"],
        "sim-013": ["drop"],
        "sim-014": [{"slow": 0.5}],
    }
}


async def test_fleet_scan_names_every_failure(store: Store, tmp_path: Path) -> None:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    async with await serve(16, seed=7, faults=FaultSpec.from_obj(FAULTS)) as fleet:
        register_fleet(store, store.url, fleet.machines, user="root", identity_file=str(key))
        machines = list_machines(store)
        events: list[Event] = []
        pool = ConnectionPool(HostKeys(own_known_hosts(store.url), user_file=tmp_path / "none"))
        results = await scan(store, machines, events.append, pool, ScanOptions(timeout=4))
        await pool.close_all()

    kinds = {m.name: dict(m.tags)["kind"] for m in machines}
    healthy = [n for n in results if n not in FAULTS["machines"]]
    assert len(healthy) == 11
    for name in healthy:
        summary = results[name]
        assert summary.ok, (name, summary.error)
        assert sum(summary.missing.values()) == len(summary.updates)
        assert set(summary.missing) == {"security", "other"}
        assert summary.distro is not None
        assert get_machine(store, name).last_scan_outcome == "ok"
    # the ten kinds are the first ten machines: each was assessed
    assert {kinds[n] for n in healthy if int(n[-3:]) < 10} == set(kinds.values())
    assert sum(1 for n in healthy if results[n].updates) >= 8  # most machines miss something
    assert any(results[n].missing["security"] for n in healthy)
    assert any(results[n].reboot_required for n in healthy)

    refused = results["sim-010"]
    assert (refused.ok, refused.error_kind) == (False, "auth-refused")
    assert "refused every key offered for root" in (refused.error or "")
    hung = results["sim-011"]
    assert hung.error_kind == "timeout" and "within 4 s" in (hung.error or "")
    garbage = results["sim-012"]
    assert garbage.error_kind in ("unparseable", "command-failed"), garbage
    assert "\x1b" not in (garbage.error or "")
    dropped = results["sim-013"]
    assert dropped.error_kind in ("connection-lost", "unparseable"), dropped
    assert results["sim-014"].ok  # slow, but within the time limit

    for name in ("sim-010", "sim-011", "sim-012", "sim-013"):
        recorded = get_machine(store, name)
        assert recorded.last_scan_outcome == "failed"
        assert recorded.last_scan_error == results[name].error
    assert get_machine(store, "sim-010").reachable is True  # it answered, it refused

    done = [e.machine for e in events if isinstance(e, ScanDone)]
    assert sorted(done) == sorted(m.name for m in machines)
    first_state = {e.machine: e.state for e in reversed(events) if isinstance(e, MachineState)}
    assert set(first_state.values()) == {"connecting"}


def _found_at(store: Store) -> list[tuple[str, object]]:
    from backends.inventory.machines import UPDATE

    with store.read() as session:
        rows = session.connection().execute(
            UPDATE.select().with_only_columns(UPDATE.c.platform_id, UPDATE.c.found_at)
        )
        return sorted((str(a), b) for a, b in rows)


async def test_rescan_reuses_connections(store: Store, tmp_path: Path) -> None:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    async with await serve(6, seed=1) as fleet:
        register_fleet(store, store.url, fleet.machines, user="root", identity_file=str(key))
        machines = list_machines(store)
        pool = ConnectionPool(HostKeys(own_known_hosts(store.url), user_file=tmp_path / "none"))
        memory: dict[str, Recall] = {}
        first = await scan(store, machines, lambda e: None, pool, memory=memory)
        found_at = _found_at(store)
        opened = dict(pool._open)
        runs: list[str] = []
        scripts: list[str] = []
        for name, connection in opened.items():
            original = connection.run

            async def counted(
                *args: Any, _run: Any = original, _name: str = name, **kw: Any
            ) -> Any:
                runs.append(_name)
                scripts.append(args[0])
                return await _run(*args, **kw)

            connection.run = counted  # type: ignore[method-assign]
        # as the console does: the machines as the first scan left them (distro known)
        second = await scan(store, list_machines(store), lambda e: None, pool, memory=memory)
        assert all(pool._open[n] is opened[n] for n in opened)
        await pool.close_all()
    # the re-scan asked apt-cache policy up front: one round trip per machine
    assert sorted(runs) == sorted(m.name for m in machines)
    # and each machine got only its own manager's sections
    for script in scripts:
        assert sum(name in script for name in ("apt-list", "dnf-list", "yum-list", "zypper-")) == 1
    # what was recalled rather than parsed again reads exactly as the first scan did
    assert first == second
    # nothing changed on the machines, so their update rows were left as they were
    assert _found_at(store) == found_at and len(found_at) > 10
    assert {n: s.missing for n, s in first.items()} == {n: s.missing for n, s in second.items()}


async def test_refresh_failures_in_words(store: Store, tmp_path: Path) -> None:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    faults = {"machines": {"sim-000": ["sudo-password"], "sim-001": ["lock"], "sim-002": []}}
    async with await serve(3, seed=3, faults=FaultSpec.from_obj(faults)) as fleet:
        register_fleet(store, store.url, fleet.machines, user="deploy", identity_file=str(key))
        machines = list_machines(store)
        pool = ConnectionPool(HostKeys(own_known_hosts(store.url), user_file=tmp_path / "none"))
        options = ScanOptions(timeout=10, refresh=True)
        results = await scan(store, machines, lambda e: None, pool, options)
        await pool.close_all()
    assert results["sim-000"].error_kind == "sudo-password"
    assert "sudo needs a password on sim-000" in (results["sim-000"].error or "")
    assert results["sim-001"].error_kind == "locked", results["sim-001"]
    assert "4242" in (results["sim-001"].error or "")  # the holder is named
    assert results["sim-002"].ok, results["sim-002"].error
