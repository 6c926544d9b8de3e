"""The simulated fleet installs for real: the install, reboot and boot-id commands of
backends.platforms.install sent over real SSH (patchdeck's own transport) to an in-process
fleet, and the machine's answers — and its later scans — read back by the platform code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from backends.engine.commands import run_rounds
from backends.fleet import FaultSpec, FaultSpecError, Fleet, serve
from backends.fleet.profiles import Machine
from backends.fleet.timing import FAST
from backends.platforms import linux
from backends.platforms.install import (
    InstallOutcome,
    InstallProgress,
    Pinned,
    boot_id_command,
    install_command,
    install_outcome,
    progress_line,
    read_boot_id,
    reboot_command,
    reboot_error,
)
from backends.platforms.records import Assessment, FoundUpdate, Result
from backends.transports.base import Endpoint, TransportError
from backends.transports.known_hosts import HostKeys
from backends.transports.ssh import SSHConnection, connect

pytestmark = pytest.mark.timeout(90)

SEED = 5
NONCE = "00112233445566ff"
MANAGERS = ("apt", "dnf", "yum", "zypper")


def _pick(manager: str, taken: set[int]) -> int:
    """A machine of this fleet past the first ten with that manager and updates to install
    (on SUSE, none for zypper itself, which would hold the other patches back)."""
    for index in range(10, 80):
        machine = Machine(SEED, index)
        if (
            index not in taken
            and machine.kind.manager == manager
            and len(machine.outdated) >= 3
            and not machine.sudo_password
            and not any(pkg.state.source.update_stack for pkg in machine.outdated)
        ):
            taken.add(index)
            return index
    raise AssertionError(f"no {manager} machine")


def _first_binary(index: int) -> str:
    return Machine(SEED, index).outdated[0].binaries[0][0]


TAKEN: set[int] = set()
LOCKED_FOREVER = {m: _pick(m, TAKEN) for m in ("apt", "dnf", "zypper")}
LOCKED_BRIEFLY = _pick("apt", TAKEN)
FAILING = {m: _pick(m, TAKEN) for m in ("apt", "dnf", "zypper")}
HANGING = _pick("apt", TAKEN)
NO_RETURN = _pick("dnf", TAKEN)
SIZE = max(TAKEN) + 1


def _name(index: int) -> str:
    return f"sim-{index:03d}"


FAULTS = {
    "machines": {
        **{_name(i): ["dpkg-lock"] for i in LOCKED_FOREVER.values()},
        _name(LOCKED_BRIEFLY): [{"dpkg-lock": 0.6}],
        **{_name(i): [{"failing-package": _first_binary(i)}] for i in FAILING.values()},
        _name(HANGING): ["hang-install"],
        _name(NO_RETURN): ["no-return"],
    }
}


@dataclass
class Lab:
    fleet: Fleet
    keys: HostKeys
    identity: str

    async def connect(self, name: str, user: str = "root") -> SSHConnection:
        machine = self.fleet.machine(name)
        endpoint = Endpoint(name, machine.host, machine.port, user, self.identity)
        return await connect(endpoint, self.keys, timeout=5)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    fleet = await serve(SIZE, SEED, FaultSpec.from_obj(FAULTS), timing=FAST)
    try:
        (tmp_path / "known_hosts").write_text(fleet.known_hosts())
        keys = HostKeys(tmp_path / "known_hosts", user_file=tmp_path / "none")
        yield Lab(fleet, keys, str(key))
    finally:
        await fleet.close()


async def scan(lab: Lab, name: str) -> Assessment:
    """A scan over a connection of its own (state must outlive connections)."""
    conn = await lab.connect(name)
    try:
        return await run_rounds(linux.assess(), conn)
    finally:
        await conn.close()


@dataclass
class Installed:
    outcome: InstallOutcome
    lines: list[tuple[float, str]]
    exit_status: int | None

    def progress(self, manager: str) -> list[tuple[float, InstallProgress]]:
        found = [(at, progress_line(manager, line)) for at, line in self.lines]
        return [(at, p) for at, p in found if p is not None]


async def install(
    conn: SSHConnection,
    manager: str,
    items: list[Pinned],
    lock_timeout: int = 5,
    timeout: float | None = None,
) -> Installed:
    command = install_command(manager, items, nonce=NONCE, lock_timeout=lock_timeout)
    lines: list[tuple[float, str]] = []
    output = await conn.run(
        command.script,
        privileged=command.privileged,
        timeout=timeout or command.timeout,
        on_line=lambda line: lines.append((time.monotonic(), line)),
    )
    result = Result(output.exit_status, output.stdout, output.stderr)
    return Installed(install_outcome(manager, result, items, NONCE), lines, output.exit_status)


def pins(updates: list[FoundUpdate]) -> list[Pinned]:
    return [Pinned(u.platform_id, u.name, u.available) for u in updates]


def still_pending(after: Assessment, items: list[Pinned]) -> list[str]:
    """Items a later scan still offers below their pin (a pin below the candidate — apt's
    masked security versions — may stay listed, at its pinned version)."""
    offered = {u.platform_id: u for u in after.updates}
    return [
        i.platform_id
        for i in items
        if i.platform_id in offered and offered[i.platform_id].installed != i.version
    ]


# -- installing ------------------------------------------------------------------------------


async def test_every_manager_installs_its_pins_and_later_scans_see_them(lab: Lab) -> None:
    seen: set[str] = set()
    for machine in lab.fleet.machines[:10]:  # one of each kind
        before = await scan(lab, machine.name)
        manager = before.facts.package_manager
        assert manager is not None
        if not before.updates:
            continue
        seen.add(manager)
        # half the updates (whole sources for zypper patches): the rest must stay pending
        chosen = before.updates[::2]
        items = pins(chosen)
        conn = await lab.connect(machine.name)
        done = await install(conn, manager, items)
        await conn.close()
        assert done.exit_status in (0, 102), (machine.name, done.outcome)
        assert done.outcome.error is None, (machine.name, done.outcome.error)
        assert sorted(done.outcome.installed) == sorted(i.platform_id for i in items)
        assert done.outcome.failed == ()
        assert len(done.progress(manager)) >= len(items)

        after = await scan(lab, machine.name)
        assert still_pending(after, items) == [], machine.name
        # (new packages aside: a kernel metapackage pulls in its new ABI packages)
        untouched = {u.platform_id for u in before.updates[1::2] if u.installed is not None}
        if manager != "zypper":  # a SUSE patch may move packages another patch also covers
            assert untouched <= {u.platform_id for u in after.updates}, machine.name
        if any(u.reboot_likely for u in chosen):
            assert done.outcome.reboot_required is True, machine.name
            assert after.facts.reboot_required is True, machine.name
    assert seen == set(MANAGERS)


async def test_progress_streams_while_the_install_runs(lab: Lab) -> None:
    for machine in lab.fleet.machines[:10]:
        before = await scan(lab, machine.name)
        manager = before.facts.package_manager or ""
        if len(before.updates) < 4:
            continue
        conn = await lab.connect(machine.name)
        done = await install(conn, manager, pins(before.updates))
        await conn.close()
        progress = done.progress(manager)
        times = [at for at, _ in progress]
        percents = [p.percent for _, p in progress]
        assert times[-1] - times[0] >= 5 * FAST.install_step, machine.name  # not one burst
        assert max(percents) >= 90 and min(percents) <= 20, (machine.name, percents)
        assert any(p.item for _, p in progress)


async def test_apt_through_sudo_keeps_its_status_fd(lab: Lab) -> None:
    name = next(
        m.name
        for m in lab.fleet.machines
        if m.kind.startswith(("debian", "ubuntu"))
        and not lab.fleet.state(m.name).up_to_date
        and not lab.fleet.state(m.name).sudo_password
        and not m.faults.names()
    )
    before = await scan(lab, name)
    conn = await lab.connect(name, user="deploy")
    assert not conn.is_root
    done = await install(conn, "apt", pins(before.updates[:3]))
    await conn.close()
    assert done.outcome.error is None and len(done.outcome.installed) == 3
    assert any(line.startswith("pmstatus:") for _, line in done.lines)


# -- reboot ----------------------------------------------------------------------------------


async def wait_for_new_boot(
    lab: Lab, name: str, old: str | None, limit: float
) -> tuple[str | None, int]:
    """The new boot id once the machine answers with one (``None`` past ``limit`` seconds),
    and how many connection attempts were refused meanwhile."""
    refused = 0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            conn = await lab.connect(name)
        except TransportError as exc:
            assert exc.kind == "unreachable", exc
            refused += 1
            await asyncio.sleep(0.03)
            continue
        try:
            command = boot_id_command(nonce=NONCE)
            output = await conn.run(command.script, timeout=command.timeout)
            boot = read_boot_id(Result(output.exit_status, output.stdout), NONCE)
        except TransportError:
            boot = None
        finally:
            await conn.close()
        if boot is not None and boot != old:
            return boot, refused
        await asyncio.sleep(0.03)
    return None, refused


async def test_reboot_drops_refuses_then_returns_with_a_new_boot(lab: Lab) -> None:
    name = lab.fleet.machines[1].name
    before = await scan(lab, name)
    manager = before.facts.package_manager or ""
    conn = await lab.connect(name)
    done = await install(conn, manager, pins(before.updates))
    assert done.outcome.error is None
    command = reboot_command(nonce=NONCE)
    output = await conn.run(command.script, privileged=True, timeout=command.timeout)
    assert reboot_error(Result(output.exit_status, output.stdout, output.stderr), NONCE) is None
    await asyncio.sleep(FAST.reboot_drop * 3)
    assert not conn.is_open()  # the reboot dropped it
    boot, refused = await wait_for_new_boot(lab, name, before.facts.boot_id, 5)
    assert boot is not None and refused >= 1
    after = await scan(lab, name)
    assert after.facts.boot_id == boot
    assert after.facts.reboot_required is False
    assert still_pending(after, pins(before.updates)) == []  # what was installed stays


async def test_a_machine_that_never_returns(lab: Lab) -> None:
    name = _name(NO_RETURN)
    before = await scan(lab, name)
    conn = await lab.connect(name)
    command = reboot_command(nonce=NONCE)
    output = await conn.run(command.script, privileged=True, timeout=command.timeout)
    assert reboot_error(Result(output.exit_status, output.stdout), NONCE) is None
    boot, refused = await wait_for_new_boot(lab, name, before.facts.boot_id, 5 * FAST.reboot_down)
    assert boot is None and refused >= 5


async def test_reboot_needs_root(lab: Lab) -> None:
    name = lab.fleet.machines[1].name
    conn = await lab.connect(name, user="deploy")
    command = reboot_command(nonce=NONCE)
    output = await conn.run(command.script, timeout=command.timeout)  # no sudo: refused
    error = reboot_error(Result(output.exit_status, output.stdout), NONCE)
    assert error is not None and "Interactive authentication required" in error
    assert conn.is_open()
    await conn.close()


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("manager", ["apt", "dnf", "zypper"])
async def test_a_lock_held_for_ever(lab: Lab, manager: str) -> None:
    name = _name(LOCKED_FOREVER[manager])
    before = await scan(lab, name)
    items = pins(before.updates[:2])
    conn = await lab.connect(name)
    started = time.monotonic()
    done = await install(conn, manager, items, lock_timeout=1)
    took = time.monotonic() - started
    await conn.close()
    assert done.outcome.error_kind == "locked"
    assert done.outcome.installed == ()
    holder = {
        "apt": "unattended-upgr (process 4711)",
        "dnf": "process 4711 (dnf)",
        "zypper": "packagekitd (process 4711)",
    }[manager]
    assert holder in (done.outcome.error or ""), done.outcome.error
    assert (took >= 0.9) is (manager != "dnf")  # apt and zypper wait lock_timeout; dnf not
    assert still_pending(await scan(lab, name), []) == []
    assert {u.platform_id for u in (await scan(lab, name)).updates} == {
        u.platform_id for u in before.updates
    }


async def test_a_lock_released_while_apt_waits(lab: Lab) -> None:
    name = _name(LOCKED_BRIEFLY)
    before = await scan(lab, name)
    conn = await lab.connect(name)
    done = await install(conn, "apt", pins(before.updates[:2]), lock_timeout=5)
    await conn.close()
    waits = [line for _, line in done.lines if line.startswith("Waiting for cache lock")]
    assert waits and "held by process 4711 (unattended-upgr)" in waits[0]
    assert done.outcome.error is None and len(done.outcome.installed) == 2


@pytest.mark.parametrize("manager", ["apt", "dnf", "zypper"])
async def test_a_failing_package_fails_alone(lab: Lab, manager: str) -> None:
    index = FAILING[manager]
    name = _name(index)
    failing = _first_binary(index)
    before = await scan(lab, name)
    items = pins(before.updates)
    conn = await lab.connect(name)
    done = await install(conn, manager, items)
    audit = await conn.run("dpkg --audit", timeout=5) if manager == "apt" else None
    await conn.close()
    assert done.outcome.error_kind == "command-failed"
    assert failing in (done.outcome.error or "")
    if audit is not None:  # dpkg left it half-configured, as the pre-flight will see
        assert f" {failing} " in audit.stdout and "half configured" in audit.stdout
    failed = dict(done.outcome.failed)
    assert failed and all(("failed" in why or "not applied" in why) for why in failed.values())
    assert done.outcome.installed, "the others were installed"
    after = await scan(lab, name)
    assert set(still_pending(after, items)) == set(failed)


async def test_an_install_that_hangs(lab: Lab) -> None:
    name = _name(HANGING)
    before = await scan(lab, name)
    items = pins(before.updates)
    conn = await lab.connect(name)
    with pytest.raises(TransportError) as caught:
        await install(conn, "apt", items, timeout=1.0)
    assert caught.value.kind == "timeout"
    after = await scan(lab, name)
    pending = still_pending(after, items)
    assert 0 < len(pending) < len(items)  # it stopped half way


def test_install_faults_in_a_spec() -> None:
    spec = FaultSpec.from_obj(
        {"machines": {"sim-001": ["dpkg-lock", {"failing-package": "libssl3"}, "no-return"]}}
    )
    faults = spec.machines["sim-001"]
    assert faults.dpkg_lock == float("inf") and faults.failing_package == "libssl3"
    assert faults.names() == ["dpkg-lock", "failing-package", "no-return"]
    assert (
        FaultSpec.from_obj({"machines": {"x": [{"dpkg-lock": 2.5}]}}).machines["x"].dpkg_lock == 2.5
    )
    for bad, message in (
        ({"machines": {"x": [{"dpkg-lock": "long"}]}}, "dpkg-lock wants true or seconds"),
        ({"machines": {"x": [{"failing-package": True}]}}, "failing-package wants a package"),
        ({"random": {"failing-package": 0.5}}, "give it per machine"),
    ):
        with pytest.raises(FaultSpecError, match=message):
            FaultSpec.from_obj(bad)
