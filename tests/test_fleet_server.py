"""The simulated fleet over real SSH: a fleet started in the test, a real asyncssh client."""

from __future__ import annotations

import asyncio
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncssh
import pytest

from backends.fleet import FaultSpec, Fleet, serve
from backends.fleet.kinds import KINDS_BY_KEY
from backends.fleet.profiles import Machine

SEED = 11
CLIENT_KEY = asyncssh.generate_private_key("ssh-ed25519")
FAULTS = {
    "machines": {
        "sim-010": ["refuse-auth"],
        "sim-011": ["garbage"],
        "sim-012": ["drop"],
        "sim-013": ["hang"],
        "sim-014": ["sudo-password"],
        "sim-015": [{"slow": 0.3}],
    }
}

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    running = await serve(16, SEED, FaultSpec.from_obj(FAULTS))
    try:
        yield running
    finally:
        await running.close()


async def connect(fleet: Fleet, name: str, user: str = "root") -> asyncssh.SSHClientConnection:
    machine = fleet.machine(name)
    return await asyncssh.connect(
        machine.host,
        machine.port,
        username=user,
        client_keys=[CLIENT_KEY],
        known_hosts=asyncssh.import_known_hosts(fleet.known_hosts()),
        agent_path=None,
        config=None,
        connect_timeout=10,
        encryption_algs=["aes128-gcm@openssh.com"],
    )


@dataclass(frozen=True)
class Ran:
    exit_status: int | None
    stdout: bytes
    stderr: bytes


def _bytes(value: bytes | str | None) -> bytes:
    return value if isinstance(value, bytes) else (value or "").encode()


async def run_on(conn: asyncssh.SSHClientConnection, command: str) -> Ran:
    result = await asyncio.wait_for(conn.run(command, encoding=None), 10)
    return Ran(result.exit_status, _bytes(result.stdout), _bytes(result.stderr))


async def run(fleet: Fleet, name: str, command: str, user: str = "root") -> Ran:
    conn = await connect(fleet, name, user)
    try:
        return await run_on(conn, command)
    finally:
        conn.close()
        await conn.wait_closed()


async def test_os_release_of_every_kind(fleet: Fleet) -> None:
    seen = set()
    for machine in fleet.machines[:10]:
        result = await run(fleet, machine.name, "cat /etc/os-release")
        assert result.exit_status == 0
        assert result.stdout.decode() == KINDS_BY_KEY[machine.kind].os_release
        assert result.stderr == b""
        seen.add(machine.kind)
    assert seen == set(KINDS_BY_KEY)


async def test_scan_script_sections_statuses_and_streams(fleet: Fleet) -> None:
    nonce = "5eed5eed5eed5eed"
    script = "\n".join(
        [
            "export LC_ALL=C",
            f"echo '@@patchdeck:{nonce}:os-release'",
            "cat /etc/os-release 2>&1",
            f'echo "@@patchdeck:{nonce}:end:$?"',
            "if command -v apt-get >/dev/null 2>&1; then",
            f"echo '@@patchdeck:{nonce}:apt-list'",
            "apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1",
            f'echo "@@patchdeck:{nonce}:end:$?"',
            "elif command -v dnf >/dev/null 2>&1; then",
            f"echo '@@patchdeck:{nonce}:dnf-list'",
            "dnf -q check-update 2>&1",
            f'echo "@@patchdeck:{nonce}:end:$?"',
            "elif command -v yum >/dev/null 2>&1; then",
            f"echo '@@patchdeck:{nonce}:yum-list'",
            "yum -q check-update 2>&1",
            f'echo "@@patchdeck:{nonce}:end:$?"',
            "else",
            f"echo '@@patchdeck:{nonce}:manager'",
            "apt-get >/dev/null 2>&1",
            f'echo "@@patchdeck:{nonce}:end:$?"',
            "fi",
            "",
        ]
    )
    ends = re.compile(rf"^@@patchdeck:{nonce}:(end:\d+|[a-z-]+)$", re.M)
    for machine in fleet.machines[:10]:
        result = await run(fleet, machine.name, script)
        text = result.stdout.decode()
        markers = ends.findall(text)
        state = Machine(SEED, machine.index)
        if state.kind.manager == "apt":
            assert markers == ["os-release", "end:0", "apt-list", "end:0"]
        elif state.kind.manager in ("dnf", "yum"):
            status = 100 if state.outdated else 0
            assert markers == ["os-release", "end:0", f"{state.kind.manager}-list", f"end:{status}"]
        else:  # zypper: no apt-get, so the else branch reports 127
            assert markers == ["os-release", "end:0", "manager", "end:127"]
        assert result.exit_status == 0 and result.stderr == b""


async def test_separate_stderr_and_exit_status(fleet: Fleet) -> None:
    apt = next(m for m in fleet.machines[:10] if KINDS_BY_KEY[m.kind].manager == "apt")
    result = await run(fleet, apt.name, "apt list --upgradable")
    assert result.stdout.startswith(b"Listing...\n")
    assert result.stderr == (
        b"\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n"
    )
    missing = await run(fleet, apt.name, "nosuch")
    assert (missing.exit_status, missing.stderr) == (127, b"sh: 1: nosuch: not found\n")
    assert (await run(fleet, apt.name, "exit 3")).exit_status == 3


async def test_dnf_check_update_exit_100_with_a_wrapped_row(fleet: Fleet) -> None:
    wrapped = re.compile(rb"^\S+\.(noarch|x86_64)\n {20,}\S+ +\S+ *$", re.M)
    # find, in the seeded fleet, a dnf/yum machine whose listing wraps a long name
    index = next(
        i
        for i in range(300)
        if (m := Machine(SEED, i)).kind.manager in ("dnf", "yum")
        and any(len(name) > 40 for p in m.outdated for name, _ in p.state.source.binaries)
    )
    running = await serve(index + 1, SEED)
    try:
        name = f"sim-{index:03d}"
        program = Machine(SEED, index).kind.manager
        result = await run(running, name, f"{program} -q check-update")
    finally:
        await running.close()
    assert result.exit_status == 100
    assert wrapped.search(result.stdout), result.stdout.decode()


async def test_zypper_xml_parses(fleet: Fleet) -> None:
    suse = [m for m in fleet.machines[:10] if KINDS_BY_KEY[m.kind].manager == "zypper"]
    for machine in suse:
        for command in ("zypper -n -x list-updates", "zypper -n -x list-patches"):
            result = await run(fleet, machine.name, command)
            assert result.exit_status == 0
            root = ET.fromstring(result.stdout)
            assert root.tag == "stream"
            assert root.find("update-status") is not None


async def test_sudo_password_fault(fleet: Fleet) -> None:
    result = await run(fleet, "sim-014", "sudo -n sh -c 'id -u'", user="ops")
    assert (result.exit_status, result.stdout, result.stderr) == (
        1,
        b"",
        b"sudo: a password is required\n",
    )
    as_root = await run(fleet, "sim-014", "sudo -n sh -c 'id -u'", user="root")
    assert as_root.stdout == b"0\n"


async def test_refused_authentication(fleet: Fleet) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(fleet, "sim-010")


async def test_garbage_is_not_utf8(fleet: Fleet) -> None:
    result = await run(fleet, "sim-011", "cat /etc/os-release")
    assert result.exit_status == 0
    with pytest.raises(UnicodeDecodeError):
        result.stdout.decode("utf-8")


async def test_drop_closes_the_connection_mid_output(fleet: Fleet) -> None:
    full = KINDS_BY_KEY[fleet.machine("sim-012").kind].os_release.encode()
    conn = await connect(fleet, "sim-012")
    result = await run_on(conn, "cat /etc/os-release")
    assert result.exit_status is None  # no status: the connection went away
    assert 0 < len(result.stdout) < len(full) and full.startswith(result.stdout)
    await asyncio.wait_for(conn.wait_closed(), 5)
    with pytest.raises((asyncssh.Error, OSError)):
        await conn.run("true")


async def test_hang_is_seen_as_a_timeout(fleet: Fleet) -> None:
    async with await connect(fleet, "sim-013") as conn:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(conn.run("cat /etc/os-release"), 1.0)
        assert asyncio.get_running_loop().time() - started < 3


async def test_slow_answers_late(fleet: Fleet) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await run(fleet, "sim-015", "true")
    assert result.exit_status == 0 and loop.time() - started >= 0.3


async def test_shell_session_runs_its_stdin(fleet: Fleet) -> None:
    async with await connect(fleet, "sim-000") as conn:
        process = await conn.create_process(encoding=None)
        process.stdin.write(b"echo hello\nexit 4\n")
        process.stdin.write_eof()
        result = await asyncio.wait_for(process.wait(), 10)
    assert (result.exit_status, _bytes(result.stdout)) == (4, b"hello\n")


async def test_down_refuses_connections_and_holds_its_port() -> None:
    running = await serve(2, SEED, FaultSpec.from_obj({"machines": {"sim-001": ["down"]}}))
    try:
        down = running.machine("sim-001")
        assert down.faults.names() == ["down"] and down.port > 0
        with pytest.raises(ConnectionRefusedError):
            await connect(running, "sim-001")
        taken = socket.socket()
        with pytest.raises(OSError):
            taken.bind((down.host, down.port))  # held: no other program gets the port
        taken.close()
        result = await run(running, "sim-000", "true")  # the others answer
        assert result.exit_status == 0
    finally:
        await running.close()
    free = socket.socket()
    free.bind((down.host, down.port))  # given back when the fleet stops
    free.close()


async def test_host_keys_are_stable_per_seed() -> None:
    first = await serve(3, SEED)
    keys = [m.public_key for m in first]
    await first.close()
    second = await serve(3, SEED)
    again = [m.public_key for m in second]
    await second.close()
    other = await serve(3, SEED + 1)
    different = [m.public_key for m in other]
    await other.close()
    assert keys == again
    assert len(set(keys)) == 3
    assert not set(keys) & set(different)
    assert all(k.startswith("ssh-ed25519 AAAA") for k in keys)
