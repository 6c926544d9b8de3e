"""The simulated fleet's SSH servers: one asyncssh listener per machine, on loopback.

Each machine listens on its own port with its own ed25519 host key (derived from the seed).
Public-key authentication is accepted for any key the client proves it holds; passwords and
keyboard-interactive are off. The user name decides who runs commands: ``root`` is root, any
other name is an unprivileged user that needs ``sudo -n``. An ``exec`` request runs its command
through :mod:`backends.fleet.shell`; a shell request runs what arrives on stdin once it ends.

Per connection the server does the SSH handshake and nothing else; a command's output is
computed in the event loop from cached text (no subprocesses). AES-GCM is offered first and
compression is off, to keep the CPU cost on both ends low.

Machines keep their state (what is installed, whether a reboot is pending, the boot id) for the
life of the fleet, across connections. An install's output streams with the pauses its tool
asked for (:class:`~backends.fleet.timing.Timing`). After ``shutdown -r`` has answered, the
machine drops every connection, refuses new ones for ``Timing.reboot_down`` seconds (its port
held, as for ``down``) and comes back with a new boot id — or, with ``no-return``, never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any

import asyncssh

from backends.fleet import shell, tools
from backends.fleet.faults import FaultSpec, FaultSpecError, MachineFaults
from backends.fleet.keys import host_key, known_hosts_host, public_key_text
from backends.fleet.profiles import Machine, machine_name
from backends.fleet.streams import PAUSE, Chunk
from backends.fleet.timing import Timing

log = logging.getLogger(__name__)

ENCRYPTION = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)
HANG_LIMIT = 3600.0  # a hanging command gives up after an hour even if its client never does
_DROP_FLUSH = 0.05
_START_BATCH = 50
_CLOSE_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class SimulatedMachine:
    """One machine of a running fleet, as a client needs to know it."""

    name: str
    index: int
    kind: str  # debian-12, rhel-9, … (the ``kind=`` tag)
    label: str  # Debian 12, RHEL 9, …
    host: str
    port: int
    public_key: str  # ssh-ed25519 AAAA…
    faults: MachineFaults

    def known_hosts_line(self) -> str:
        return f"{known_hosts_host(self.host, self.port)} {self.public_key}"


class _Server(asyncssh.SSHServer):
    def __init__(self, fleet: Fleet, machine: Machine, faults: MachineFaults) -> None:
        self._fleet = fleet
        self.machine = machine
        self.faults = faults
        self.user = ""
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self._fleet._connections.add(conn)
        self._fleet._of_machine.setdefault(self.machine.index, set()).add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self._fleet._connections.discard(self.conn)
            self._fleet._of_machine.get(self.machine.index, set()).discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        self.user = username
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return not self.faults.refuse_auth

    def session_requested(self) -> _Session:
        return _Session(self)


class _Session(asyncssh.SSHServerSession[bytes]):
    def __init__(self, server: _Server) -> None:
        self._server = server
        self._chan: Any = None
        self._command: str | None = None
        self._stdin: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._pty = False

    def connection_made(self, chan: Any) -> None:
        self._chan = chan

    def pty_requested(self, term_type: str, term_size: Any, term_modes: Any) -> bool:
        self._pty = True  # like a terminal: stderr joins stdout, lines end in CR LF
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        if self._command is not None:
            self._start(self._command)

    def data_received(self, data: bytes, datatype: Any) -> None:
        if self._command is None:
            self._stdin.append(data)

    def eof_received(self) -> bool:
        if self._command is None and self._task is None:
            self._start(b"".join(self._stdin).decode(errors="replace"))
        return True  # keep the channel open to answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None:
            self._task.cancel()

    def _start(self, script: str) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(script))

    async def _run(self, script: str) -> None:
        server = self._server
        faults = server.faults
        chan = self._chan
        try:
            if faults.hang:
                await asyncio.sleep(HANG_LIMIT)
                chan.close()
                return
            if faults.slow:
                await asyncio.sleep(faults.slow)
            root = server.user == "root"
            env = dict(chan.get_environment())
            ctx = tools.Context(server.machine, server.user, root, faults, env)
            output = shell.run_script(script, ctx)
            chunks = output.chunks
            if self._pty:
                chunks = _as_terminal(chunks)
            if faults.drop:
                await self._drop(tuple(c for c in chunks if c[0] != PAUSE))
                return
            for fd, data in chunks:
                if fd == PAUSE:
                    await asyncio.sleep(float(data))
                elif fd == 1:
                    chan.write(data)
                else:
                    chan.write_stderr(data)
            if output.hang:
                await asyncio.sleep(HANG_LIMIT)
                chan.close()
                return
            chan.exit(output.status)
            if server.machine.reboot_requested:
                server._fleet._reboot(server.machine)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in the simulator: say so on the channel, keep serving
            log.exception("fleet: %s failed to run %r", server.machine.name, script[:200])
            with contextlib.suppress(Exception):
                chan.write_stderr(b"patchdeck fleet: internal error (see the fleet's log)\n")
                chan.exit(1)

    async def _drop(self, chunks: tuple[tuple[int, bytes], ...]) -> None:
        """Send the first half of the output, then cut the connection without a word."""
        total = sum(len(data) for _, data in chunks)
        budget = max(1, total // 2)
        for fd, data in chunks:
            part = data[:budget]
            budget -= len(part)
            if fd == 1:
                self._chan.write(part)
            else:
                self._chan.write_stderr(part)
            if budget <= 0:
                break
        await asyncio.sleep(_DROP_FLUSH)
        if self._server.conn is not None:
            self._server.conn.abort()


def _as_terminal(chunks: tuple[Chunk, ...]) -> tuple[Chunk, ...]:
    """What a terminal shows: stderr joined to stdout, lines ending CR LF; pauses kept."""
    out: list[Chunk] = []
    for fd, data in chunks:
        if fd == PAUSE:
            out.append((fd, data))
        elif out and out[-1][0] == 1:
            out[-1] = (1, out[-1][1] + data.replace(b"\n", b"\r\n"))
        else:
            out.append((1, data.replace(b"\n", b"\r\n")))
    return tuple(out)


class Fleet:
    """A running simulated fleet. ``async with`` it, or call :meth:`close`."""

    def __init__(self, seed: int, timing: Timing | None = None) -> None:
        self.seed = seed
        self.timing = timing or Timing()
        self.machines: tuple[SimulatedMachine, ...] = ()
        self._acceptors: list[asyncssh.SSHAcceptor] = []
        self._held: list[socket.socket] = []  # ports of machines that are down
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._of_machine: dict[int, set[asyncssh.SSHServerConnection]] = {}
        self._states: dict[int, Machine] = {}
        self._listening: dict[int, asyncssh.SSHAcceptor] = {}
        self._listen: dict[int, Any] = {}  # index -> how to listen again on a bound socket
        self._reboots: set[asyncio.Task[None]] = set()
        self._rebooting: set[int] = set()

    def state(self, name: str) -> Machine:
        """A machine's live state (what it has installed, its boot id …), for tests."""
        return self._states[self.machine(name).index]

    def _reboot(self, machine: Machine) -> None:
        """Take ``machine`` down after its ``shutdown -r`` answered, and bring it back."""
        if machine.index in self._rebooting:
            return
        self._rebooting.add(machine.index)
        task = asyncio.get_running_loop().create_task(self._go_down(machine))
        self._reboots.add(task)
        task.add_done_callback(self._reboots.discard)

    async def _go_down(self, machine: Machine) -> None:
        try:
            await self._down_and_up(machine)
        finally:
            if not machine.faults.no_return:
                self._rebooting.discard(machine.index)

    async def _down_and_up(self, machine: Machine) -> None:
        await asyncio.sleep(self.timing.reboot_drop)
        index = machine.index
        for conn in list(self._of_machine.get(index, ())):
            conn.abort()
        acceptor = self._listening.pop(index, None)
        if acceptor is None:
            return
        port = acceptor.get_port()
        host = self.machines[index].host
        acceptor.close()
        with contextlib.suppress(ValueError):
            self._acceptors.remove(acceptor)
        sock = _bound_socket(host, port)  # held: connections are refused while it is down
        self._held.append(sock)
        if machine.faults.no_return:
            return
        await asyncio.sleep(self.timing.reboot_down)
        machine.reboot()
        self._held.remove(sock)
        try:
            acceptor = await asyncssh.listen(sock=sock, **self._listen[index])
        except BaseException:
            sock.close()
            raise
        self._listening[index] = acceptor
        self._acceptors.append(acceptor)

    def __iter__(self) -> Iterator[SimulatedMachine]:
        return iter(self.machines)

    def __len__(self) -> int:
        return len(self.machines)

    def machine(self, name: str) -> SimulatedMachine:
        for machine in self.machines:
            if machine.name == name:
                return machine
        raise KeyError(name)

    def known_hosts(self) -> str:
        """Every machine's host key, as OpenSSH known_hosts lines."""
        return "".join(m.known_hosts_line() + "\n" for m in self.machines)

    async def close(self) -> None:
        """Stop listening and close every open connection."""
        for task in list(self._reboots):
            task.cancel()
        await asyncio.gather(*self._reboots, return_exceptions=True)
        for acceptor in self._acceptors:
            acceptor.close()
        for sock in self._held:
            sock.close()
        self._held.clear()
        for conn in list(self._connections):
            conn.close()
        await asyncio.gather(*(a.wait_closed() for a in self._acceptors), return_exceptions=True)
        closing = [asyncio.ensure_future(conn.wait_closed()) for conn in self._connections]
        if closing:
            _, late = await asyncio.wait(closing, timeout=_CLOSE_WAIT)
            for task in late:
                task.cancel()
        self._acceptors.clear()

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _raise_open_files_limit(wanted: int) -> None:
    """A listener and a connection per machine: lift the soft limit on open files if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(wanted, soft))
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def check_faults(faults: FaultSpec, machines: int) -> None:
    """Every machine a spec names must be in the fleet."""
    names = {machine_name(i) for i in range(machines)}
    for name in faults.machines:
        if name not in names:
            last = machine_name(machines - 1)
            raise FaultSpecError(f"faults: machine {name!r} is not in the fleet (sim-000 … {last})")


async def serve(
    machines: int,
    seed: int,
    faults: FaultSpec | None = None,
    host: str = "127.0.0.1",
    base_port: int = 0,
    timing: Timing | None = None,
) -> Fleet:
    """Start ``machines`` simulated machines, each listening on its own port of ``host``:
    ``base_port + index``, or ephemeral ports when ``base_port`` is 0. ``timing`` says how
    long installs and reboots take (:data:`backends.fleet.timing.FAST` in tests)."""
    if machines < 1:
        raise ValueError("a fleet needs at least one machine")
    if base_port and base_port + machines - 1 > 65535:
        raise ValueError(f"ports {base_port}-{base_port + machines - 1} do not all exist")
    spec = faults or FaultSpec()
    check_faults(spec, machines)
    _raise_open_files_limit(3 * machines + 256)
    fleet = Fleet(seed, timing)
    keys = [host_key(seed, index) for index in range(machines)]
    options = asyncssh.SSHServerConnectionOptions(
        server_host_keys=[keys[0]],
        encryption_algs=list(ENCRYPTION),
        compression_algs=["none"],
        encoding=None,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        login_timeout=60,
    )

    async def start(index: int) -> SimulatedMachine:
        machine_faults = spec.for_machine(machine_name(index), seed)
        machine = Machine(seed, index, machine_faults)
        machine.timing = fleet.timing
        fleet._states[index] = machine
        sock = _bound_socket(host, base_port + index if base_port else 0)
        listen = {
            "options": options,
            "server_host_keys": [keys[index]],
            "server_factory": partial(_Server, fleet, machine, machine_faults),
        }
        if machine_faults.down:
            fleet._held.append(sock)  # bound, never listened on: connections are refused
        else:
            try:
                acceptor = await asyncssh.listen(sock=sock, **listen)
            except BaseException:
                sock.close()
                raise
            fleet._acceptors.append(acceptor)
            fleet._listening[index] = acceptor
            fleet._listen[index] = listen
        return SimulatedMachine(
            name=machine.name,
            index=index,
            kind=machine.kind.key,
            label=machine.kind.label,
            host=host,
            port=sock.getsockname()[1],
            public_key=public_key_text(keys[index]),
            faults=machine_faults,
        )

    listed: list[SimulatedMachine] = []
    try:
        # asyncssh builds each listener's options in a worker thread: start them in batches.
        for first in range(0, machines, _START_BATCH):
            batch = range(first, min(first + _START_BATCH, machines))
            started = await asyncio.gather(*(start(i) for i in batch), return_exceptions=True)
            for result in started:
                if isinstance(result, BaseException):
                    raise result
                listed.append(result)
    except BaseException:
        await fleet.close()
        raise
    fleet.machines = tuple(listed)
    return fleet
