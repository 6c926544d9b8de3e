"""``patchdeck fleet serve`` run as a user runs it: a process of its own, stopped with Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import threading
from pathlib import Path

import asyncssh
import pytest

from backends.fleet.keys import host_key, public_key_text
from backends.inventory.machines import list_machines
from backends.inventory.store import Store
from tests.conftest import patchdeck_command, run_cli

pytestmark = pytest.mark.timeout(90)


class Served:
    """A running ``patchdeck fleet serve``; its stdout lines arrive through a thread."""

    def __init__(self, db: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
        self.process = subprocess.Popen(
            [*patchdeck_command(), "--db", str(db), "fleet", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until_ready(self, timeout: float = 60) -> list[str]:
        seen: list[str] = []
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"fleet serve ended early: {seen} {stderr}")
            seen.append(line)
            if line.startswith("ready: "):
                return seen

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _free_base_port(count: int) -> int:
    for base in range(47000, 60000, 97):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no free ports")


async def _uname(port: int, known_hosts: Path) -> str:
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    async with asyncssh.connect(
        "127.0.0.1",
        port,
        username="ops",
        client_keys=[client_key],
        known_hosts=str(known_hosts),
        agent_path=None,
        config=None,
        connect_timeout=10,
    ) as conn:
        result = await asyncio.wait_for(conn.run("uname -s", check=True), 10)
    return str(result.stdout)


async def test_serve_registers_machines_and_trusts_their_keys(tmp_path: Path) -> None:
    db = tmp_path / "inventory.db"
    known_hosts = tmp_path / "known_hosts"
    unrelated = "[10.0.0.9]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUMMYDUMMYDUMMYDUMMYDUMMY\n"
    known_hosts.write_text(unrelated)

    served = Served(db, "--machines", "3", "--seed", "5", "--register", "--user", "ops")
    try:
        lines = served.until_ready()
        assert lines[0] == f"registered 3 machines in sqlite:///{db}: 3 added, 0 updated"
        assert [line.split()[0] for line in lines[1:4]] == ["sim-000", "sim-001", "sim-002"]
        store = Store(f"sqlite:///{db}")
        machines = list_machines(store)
        store.close()
        assert [m.name for m in machines] == ["sim-000", "sim-001", "sim-002"]
        for index, machine in enumerate(machines):
            assert (machine.address, machine.user, machine.transport) == ("127.0.0.1", "ops", "ssh")
            tags = dict(machine.tags)
            assert tags["fleet"] == "sim" and tags["kind"] == lines[1 + index].split()[1]
        trusted = known_hosts.read_text().splitlines()
        assert trusted[0] == unrelated.strip()
        assert trusted[1:] == [
            f"[127.0.0.1]:{m.port} {public_key_text(host_key(5, i))}"
            for i, m in enumerate(machines)
        ]
        assert (known_hosts.stat().st_mode & 0o777) == 0o600
        assert await _uname(machines[0].port, known_hosts) == "Linux\n"
        assert served.interrupt() == 0
    finally:
        served.kill()

    # Again with the same seed on fixed ports: the same keys; stale lines are replaced.
    base = _free_base_port(3)
    again = Served(db, "--machines", "3", "--seed", "5", "--register", "--base-port", str(base))
    try:
        lines = again.until_ready()
        assert lines[0].endswith(": 0 added, 3 updated")
        assert lines[-1].startswith(f"ready: 3 machines (seed 5) on 127.0.0.1, ports {base}-")
        trusted = known_hosts.read_text().splitlines()
        assert trusted == [unrelated.strip()] + [
            f"[127.0.0.1]:{base + i} {public_key_text(host_key(5, i))}" for i in range(3)
        ]
        assert await _uname(base + 2, known_hosts) == "Linux\n"
        assert again.interrupt() == 0
    finally:
        again.kill()


def test_bad_fault_spec_is_a_usage_error(tmp_path: Path) -> None:
    spec = tmp_path / "faults.json"
    spec.write_text('{"machines": {"sim-009": ["refuse-auth"]}}')
    result = run_cli(
        "fleet", "serve", "--machines", "3", "--faults", str(spec), db=tmp_path / "i.db"
    )
    assert result.returncode == 2
    assert "sim-009" in result.stderr and "not in the fleet" in result.stderr
    spec.write_text('{"machines": {"sim-001": ["explode"]}}')
    result = run_cli(
        "fleet", "serve", "--machines", "3", "--faults", str(spec), db=tmp_path / "i.db"
    )
    assert result.returncode == 2 and "unknown fault 'explode'" in result.stderr


def test_exit_with_stdin_stops_when_the_parent_goes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
    process = subprocess.Popen(
        [*patchdeck_command(), "--db", str(tmp_path / "inventory.db"), "fleet", "serve",
         "--machines", "2", "--json", "--exit-with-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdin is not None
        rows: list[dict[str, object]] = []
        for line in process.stdout:
            rows.append(json.loads(line))
            if rows[-1].get("ready"):
                break
        assert rows[-1] == {"ready": True, "machines": 2, "seed": 0, "host": "127.0.0.1"}
        port = rows[0]["port"]
        process.stdin.close()  # as when the parent process ends, however it ends
        assert process.wait(timeout=20) == 0
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))  # the listeners are closed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
