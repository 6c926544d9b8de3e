"""The simulated fleet's Windows machines: a WinRM endpoint per machine on loopback.

Each machine listens on its own port of 127.0.0.1 and speaks enough WS-Management
(:mod:`backends.fleet.wsman`: Create shell, Command, Receive, Signal, Send, Delete) that an
unmodified WinRM client (pywinrm's ``Session.run_ps``) runs PowerShell on it. Authentication is
what a Windows Server offers by default: over HTTP, NTLM (pyspnego's acceptor) with every
message after it sealed (``multipart/encrypted``, as ``AllowUnencrypted=false`` demands); over
HTTPS (a certificate from a CA made at start, :mod:`backends.fleet.tls`), Basic or NTLM without
sealing. One user and password serve the whole fleet (:class:`WinRMCredential`).

Why asyncio streams and not ``http.server`` in a thread: the Linux machines are asyncssh
listeners in one event loop, and the Windows machines join that loop, so a fleet is one
process with one ``close()``; a command that hangs is a sleeping coroutine, not a blocked
thread; and tests that run the fleet in-process while pywinrm blocks in worker threads need
nothing more. The HTTP is the subset WinRM clients use: HTTP/1.1 with ``Content-Length``
bodies and keep-alive (NTLM authenticates a connection, not a request).

pyspnego's NTLM acceptor reads the accounts it accepts from the file named by the environment
variable ``NTLM_USER_FILE``; the fleet writes that file (in a private temporary directory) and
sets the variable for its own process while it runs.

A machine restarts when a script asks it to (``Restart-Computer``, see
:mod:`backends.fleet.windows_machine`): once the answer is out, after ``Timing.reboot_drop``
it drops every connection and refuses new ones (its port held, as for ``down``) for
``Timing.reboot_down`` seconds, then it is back with a new boot time — or, with the
``no-return`` fault, never. With ``down-mid-install`` it goes down the same way, at once and
unasked, from within its install task (:meth:`WindowsMachine.crash`), and comes back after
``Timing.reboot_down`` seconds with a new boot time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import random
import re
import shutil
import socket
import struct
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import spnego

from backends.fleet import wsman
from backends.fleet.faults import FaultSpec, FaultSpecError, MachineFaults
from backends.fleet.timing import Timing
from backends.fleet.tls import ServerCertificate, make_certificate
from backends.fleet.windows_machine import Answer, WindowsMachine, windows_name

log = logging.getLogger(__name__)

HANG_LIMIT = 3600.0
MAX_HEADER = 64 * 1024
MAX_BODY = 8 * 1024 * 1024
RECEIVE_CHUNK = 32 * 1024  # stdout bytes per Receive answer: long output takes several
DEFAULT_USER = "Administrator"
_BOUNDARY = b"--Encrypted Boundary"
_ENCRYPTED_TYPE = "application/HTTP-SPNEGO-session-encrypted"
_OCTET_HEADER = b"\tContent-Type: application/octet-stream\r\n"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Error"}
_CLOSE_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class WinRMCredential:
    """The account every simulated Windows machine accepts."""

    user: str = DEFAULT_USER
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SimulatedWindows:
    """One Windows machine of a running fleet, as a client needs to know it."""

    name: str
    index: int
    kind: str  # windows-server-2022, … (the ``kind=`` tag)
    label: str
    host: str
    port: int
    https: bool
    faults: MachineFaults

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}/wsman"


class _NtlmUsers:
    """The ``NTLM_USER_FILE`` of this process: the accounts of every running fleet."""

    def __init__(self) -> None:
        self.users: dict[str, tuple[str, int]] = {}  # user (upper case) → (password, fleets)
        self.directory: Path | None = None
        self.previous: str | None = None

    def add(self, credential: WinRMCredential) -> None:
        key = credential.user.upper()
        known = self.users.get(key)
        if known is not None and known[0] != credential.password:
            raise ValueError(
                f"another fleet in this process accepts {credential.user} with another password"
            )
        self.users[key] = (credential.password, (known[1] if known else 0) + 1)
        self._write()

    def remove(self, credential: WinRMCredential) -> None:
        key = credential.user.upper()
        known = self.users.get(key)
        if known is None:
            return
        if known[1] > 1:
            self.users[key] = (known[0], known[1] - 1)
        else:
            del self.users[key]
        self._write()

    def _write(self) -> None:
        if not self.users:
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None
                if self.previous is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = self.previous
            return
        if self.directory is None:
            self.previous = os.environ.get("NTLM_USER_FILE")
            self.directory = Path(tempfile.mkdtemp(prefix="patchdeck-ntlm-"))
        path = self.directory / "users"
        # Heimdal's DOMAIN:USER:PASSWORD form, local accounts (no domain)
        lines = "".join(f":{user}:{password}\n" for user, (password, _) in self.users.items())
        path.touch(mode=0o600)
        path.write_text(lines, encoding="utf-8")
        os.environ["NTLM_USER_FILE"] = str(path)


_NTLM_USERS = _NtlmUsers()


@dataclass(slots=True)
class _Command:
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stdout: bytes = b""
    stderr: bytes = b""
    status: int = 0
    sent: int = 0  # stdout bytes already received by the client
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Shell:
    codepage: str
    commands: dict[str, _Command] = field(default_factory=dict)


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


class _Host:
    """One machine's WinRM service: its shells, commands and faults."""

    def __init__(
        self,
        machine: WindowsMachine,
        credential: WinRMCredential,
        https: bool,
        certificate: ServerCertificate | None,
    ) -> None:
        self.machine = machine
        self.credential = credential
        self.https = https
        self.certificate = certificate
        self.shells: dict[str, _Shell] = {}
        self.rng = random.Random(f"patchdeck-fleet:{machine.seed}:win:{machine.index}:garbage")
        self.connections: set[asyncio.StreamWriter] = set()
        self.on_reboot: Callable[[], None] | None = None  # once a restart was asked and answered

    def drop_everything(self) -> None:
        """The machine goes down: its connections are cut, its shells and commands gone."""
        for writer in list(self.connections):
            writer.transport.abort()
        for shell in self.shells.values():
            for command in shell.commands.values():
                if command.task is not None:
                    command.task.cancel()
        self.shells.clear()

    @property
    def faults(self) -> MachineFaults:
        return self.machine.faults

    def challenge(self) -> list[tuple[str, str]]:
        headers = [("WWW-Authenticate", "Negotiate")]
        if self.https:
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return headers

    async def handle(self, request: wsman.Request) -> _Response:
        action = request.action
        if action == wsman.CREATE:
            shell_id = str(uuid.uuid4()).upper()
            codepage = request.options.get("WINRS_CODEPAGE", "437")
            self.shells[shell_id] = _Shell("utf-8" if codepage == "65001" else "cp437")
            address = f"http{'s' if self.https else ''}://localhost/wsman"
            return _Response(200, wsman.created(request, shell_id, address))
        shell = self.shells.get(request.shell_id or "")
        if shell is None:
            reason = (
                f"The request for the Windows Remote Shell with ShellId {request.shell_id} failed "
                "because the shell was not found on the server. Possible causes are: the "
                "specified ShellId is incorrect or the shell no longer exists on the server."
            )
            return _Response(
                500, wsman.fault(request, "InvalidSelectors", reason, wsman.SHELL_NOT_FOUND_CODE)
            )
        if action == wsman.DELETE:
            for command in shell.commands.values():
                if command.task is not None:
                    command.task.cancel()
            del self.shells[request.shell_id or ""]
            return _Response(200, wsman.deleted(request))
        if action == wsman.COMMAND:
            return self._command(request, shell)
        if action == wsman.RECEIVE:
            return await self._receive(request, shell)
        if action == wsman.SIGNAL:
            element = request.find("rsp:Signal")
            command_id = element.get("CommandId", "") if element is not None else ""
            signalled = shell.commands.pop(command_id, None)
            if signalled is not None and signalled.task is not None:
                signalled.task.cancel()
            return _Response(200, wsman.signalled(request))
        if action == wsman.SEND:
            return _Response(200, wsman.sent(request))
        return _Response(
            500,
            wsman.fault(
                request,
                "ActionNotSupported",
                f"The action {action} is not supported by this endpoint.",
                2150858754,
            ),
        )

    def _command(self, request: wsman.Request, shell: _Shell) -> _Response:
        line = request.find("rsp:CommandLine/rsp:Command")
        arguments = request.find("rsp:CommandLine/rsp:Arguments")
        text = " ".join(
            part
            for part in (
                (line.text if line is not None else ""),
                (arguments.text if arguments is not None else ""),
            )
            if part
        )
        command_id = str(uuid.uuid4()).upper()
        command = _Command()
        shell.commands[command_id] = command
        command.task = asyncio.get_running_loop().create_task(self._run(text, shell, command))
        return _Response(200, wsman.command_started(request, command_id))

    async def _run(self, text: str, shell: _Shell, command: _Command) -> None:
        try:
            if self.faults.hang:
                await asyncio.sleep(HANG_LIMIT)
                return
            if self.faults.slow:
                await asyncio.sleep(self.faults.slow)
            answer = _execute(text, self.machine, self.rng)
            command.stdout = answer.stdout.encode(shell.codepage, errors="replace")
            command.stderr = answer.stderr.encode("utf-8", errors="replace")
            command.status = answer.status
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in the simulator: say so in the command's output
            log.exception("fleet: %s failed to run a command", self.machine.name)
            command.stderr = b"patchdeck fleet: internal error (see the fleet's log)\r\n"
            command.status = 1
        command.done.set()
        if self.machine.reboot_requested and self.on_reboot is not None:
            self.on_reboot()

    async def _receive(self, request: wsman.Request, shell: _Shell) -> _Response:
        element = request.find("rsp:Receive/rsp:DesiredStream")
        command_id = element.get("CommandId", "") if element is not None else ""
        command = shell.commands.get(command_id)
        if command is None:
            return _Response(
                500,
                wsman.fault(
                    request,
                    "InvalidSelectors",
                    f"No command {command_id} in this shell.",
                    wsman.SHELL_NOT_FOUND_CODE,
                ),
            )
        if self.faults.drop:
            return _Response(200, close=True)  # the connection goes, nothing is answered
        if not command.done.is_set():
            wait = min(request.operation_timeout or 60.0, 60.0)
            try:
                await asyncio.wait_for(command.done.wait(), wait)
            except TimeoutError:
                return _Response(500, wsman.operation_timeout(request))
        start = command.sent
        chunk = command.stdout[start : start + RECEIVE_CHUNK]
        command.sent = start + len(chunk)
        if command.sent < len(command.stdout):
            return _Response(200, wsman.received(request, command_id, chunk, b"", None))
        stderr, command.stderr = command.stderr, b""
        return _Response(200, wsman.received(request, command_id, chunk, stderr, command.status))


def _execute(text: str, machine: WindowsMachine, rng: random.Random) -> Answer:
    """What ``cmd.exe`` does with a command line: run PowerShell's encoded command here."""
    words = text.split()
    if not words or words[0].lower() not in ("powershell", "powershell.exe"):
        word = words[0] if words else ""
        return Answer(
            "",
            f"'{word}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n",
            1,
        )
    flags = [w.lower() for w in words]
    for flag in ("-encodedcommand", "-enc", "-ec", "-e"):
        if flag in flags and flags.index(flag) + 1 < len(words):
            encoded = words[flags.index(flag) + 1]
            try:
                script = base64.b64decode(encoded, validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError):
                return Answer(
                    "",
                    "Cannot process the command because the value specified "
                    "with -EncodedCommand is not properly encoded.\r\n",
                    1,
                )
            return machine.run(script, rng)
    return Answer("", "patchdeck fleet: only -EncodedCommand scripts are simulated\r\n", 1)


def _decrypt(context: Any, body: bytes) -> bytes:
    length = re.search(rb"Length=(\d+)", body)
    start = body.find(_OCTET_HEADER)
    end = body.rfind(_BOUNDARY + b"--")
    if length is None or start < 0 or end < start:
        raise ValueError("not a multipart/encrypted WinRM message")
    payload = body[start + len(_OCTET_HEADER) : end]
    (signature_length,) = struct.unpack("<I", payload[:4])
    signature = payload[4 : 4 + signature_length]
    sealed = payload[4 + signature_length :]
    plain: bytes = context.unwrap(signature + sealed).data
    if len(plain) != int(length.group(1)):
        raise ValueError("the decrypted message does not have its stated length")
    return plain


def _encrypt(context: Any, plain: bytes) -> bytes:
    wrapped: bytes = context.wrap(plain, encrypt=True).data
    signature, sealed = wrapped[:16], wrapped[16:]
    return (
        _BOUNDARY + b"\r\n"
        b"\tContent-Type: " + _ENCRYPTED_TYPE.encode() + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(plain)).encode()
        + b"\r\n"
        + _BOUNDARY
        + b"\r\n"
        + _OCTET_HEADER
        + struct.pack("<I", len(signature))
        + signature
        + sealed
        + _BOUNDARY
        + b"--\r\n"
    )


class _Connection:
    """One client connection: its NTLM context (NTLM authenticates the connection)."""

    def __init__(self, host: _Host, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.host = host
        self.reader = reader
        self.writer = writer
        self.ntlm: Any = None
        self.authenticated = False

    async def serve(self) -> None:
        try:
            while True:
                request = await self._read()
                if request is None:
                    return
                method, path, headers, body = request
                response = await self._respond(method, path, headers, body)
                if response.close:
                    self.writer.transport.abort()
                    return
                self.writer.write(self._format(response))
                await self.writer.drain()
                if response.status == 400 or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _read(self) -> tuple[str, str, dict[str, str], bytes] | None:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                key = name.strip().lower()
                headers[key] = (
                    f"{headers[key]}, {value.strip()}" if key in headers else (value.strip())
                )
        length = int(headers.get("content-length", "0") or 0)
        if not 0 <= length <= MAX_BODY:
            return None
        body = await self.reader.readexactly(length) if length else b""
        return parts[0], parts[1], headers, body

    def _format(self, response: _Response) -> bytes:
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}",
            "Server: Microsoft-HTTPAPI/2.0",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Length: {len(response.body)}",
        ]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}")
        lines += [f"{name}: {value}" for name, value in response.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body

    def _unauthorized(self, token: tuple[str, bytes] | None = None) -> _Response:
        if token is not None:
            scheme, data = token
            return _Response(
                401, headers=[("WWW-Authenticate", f"{scheme} {base64.b64encode(data).decode()}")]
            )
        return _Response(401, headers=self.host.challenge())

    def _authenticate(self, headers: dict[str, str]) -> _Response | None:
        """``None`` when the request may go on; else the 401 (or challenge) to answer."""
        host = self.host
        given = headers.get("authorization")
        if not given:
            return None if self.authenticated else self._unauthorized()
        scheme, _, token = given.partition(" ")
        kind = scheme.lower()
        if kind == "basic":
            if not host.https:
                return self._unauthorized()  # Basic over HTTP is refused (AllowUnencrypted)
            try:
                user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return self._unauthorized()
            expected = host.credential
            if (
                host.faults.refuse_auth
                or user.upper() != expected.user.upper()
                or password != expected.password
            ):
                return self._unauthorized()
            return None
        if kind not in ("negotiate", "ntlm"):
            return self._unauthorized()
        if self.ntlm is None or self.ntlm.complete:
            self.ntlm = spnego.server(protocol="ntlm")
            self.authenticated = False
        try:
            out = self.ntlm.step(base64.b64decode(token))
        except Exception:  # a wrong password, an unknown user, a garbled token
            self.ntlm = None
            return self._unauthorized()
        if not self.ntlm.complete:
            return self._unauthorized((scheme, out or b""))
        if host.faults.refuse_auth:
            self.ntlm = None
            return self._unauthorized()
        self.authenticated = True
        return None

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> _Response:
        if path.split("?")[0].lower() != "/wsman":
            return _Response(404)
        if method != "POST":
            return _Response(400)
        refused = self._authenticate(headers)
        if refused is not None:
            return refused
        if not body:
            return _Response(200)
        content_type = headers.get("content-type", "")
        sealed = content_type.lower().startswith("multipart/encrypted")
        if sealed:
            if self.ntlm is None or not self.authenticated:
                return _Response(400)
            try:
                body = _decrypt(self.ntlm, body)
            except Exception:
                return _Response(400)
        elif not self.host.https:
            # AllowUnencrypted=false, the Windows default: plain SOAP over HTTP is refused
            return _Response(400)
        try:
            request = wsman.parse(body)
        except wsman.BadRequest as exc:
            return _Response(400, str(exc).encode())
        response = await self.host.handle(request)
        if sealed and response.body:
            response.body = _encrypt(self.ntlm, response.body)
            response.content_type = (
                f'multipart/encrypted;protocol="{_ENCRYPTED_TYPE}";boundary="Encrypted Boundary"'
            )
        elif response.body:
            response.content_type = "application/soap+xml;charset=UTF-8"
        return response


class WindowsFleet:
    """Running simulated Windows machines. ``async with`` it, or call :meth:`close`."""

    def __init__(
        self, seed: int, credential: WinRMCredential, timing: Timing | None = None
    ) -> None:
        self.seed = seed
        self.credential = credential
        self.timing = timing or Timing()
        self._hosts: dict[int, _Host] = {}
        self._listening: dict[int, asyncio.Server] = {}
        self._ssl: Any = None
        self._reboots: set[asyncio.Task[None]] = set()
        self._rebooting: set[int] = set()
        self.machines: tuple[SimulatedWindows, ...] = ()
        self.ca_pem: str | None = None  # the CA of the HTTPS listeners, if any
        self._servers: list[asyncio.Server] = []
        self._held: list[socket.socket] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._directory: Path | None = None
        self._registered = False

    def __iter__(self) -> Any:
        return iter(self.machines)

    def __len__(self) -> int:
        return len(self.machines)

    def machine(self, name: str) -> SimulatedWindows:
        for machine in self.machines:
            if machine.name == name:
                return machine
        raise KeyError(name)

    def state(self, name: str) -> WindowsMachine:
        """A machine's live state (pending updates, tasks, boot time …), for tests."""
        return self._hosts[self.machine(name).index].machine

    def _reboot(self, index: int, crash: bool = False) -> None:
        if index in self._rebooting:
            return
        self._rebooting.add(index)
        task = asyncio.get_running_loop().create_task(self._down_and_up(index, crash))
        self._reboots.add(task)
        task.add_done_callback(self._reboots.discard)

    async def _down_and_up(self, index: int, crash: bool = False) -> None:
        """Down (connections cut, then refused) and back with a new boot time: a restart
        asked for goes down ``reboot_drop`` after its answer, a ``crash`` at once."""
        host = self._hosts[index]
        machine = host.machine
        if not crash:
            await asyncio.sleep(self.timing.reboot_drop)
        server = self._listening.pop(index, None)
        if server is None:
            return
        server.close()
        with contextlib.suppress(ValueError):
            self._servers.remove(server)
        host.drop_everything()
        listed = self.machines[index]
        sock = _bound_socket(listed.host, listed.port)  # held: connections are refused
        self._held.append(sock)
        if machine.faults.no_return:
            machine.scheduler.forget()
            return
        await asyncio.sleep(self.timing.reboot_down)
        machine.restart()
        self._held.remove(sock)
        try:
            server = await asyncio.start_server(
                _accept(self, host), sock=sock, ssl=self._ssl, limit=MAX_HEADER
            )
        except BaseException:
            sock.close()
            raise
        self._listening[index] = server
        self._servers.append(server)
        self._rebooting.discard(index)

    async def close(self) -> None:
        for task in list(self._reboots):
            task.cancel()
        await asyncio.gather(*self._reboots, return_exceptions=True)
        for host in self._hosts.values():
            for job in host.machine.scheduler.jobs.values():
                if job.runner is not None:
                    job.runner.cancel()
        for server in self._servers:
            server.close()
        for sock in self._held:
            sock.close()
        self._held.clear()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=_CLOSE_WAIT)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), _CLOSE_WAIT)
        self._servers.clear()
        if self._registered:
            _NTLM_USERS.remove(self.credential)
            self._registered = False
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    async def __aenter__(self) -> WindowsFleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def check_windows_faults(faults: FaultSpec, count: int) -> None:
    """The spec's ``win-…`` names must be machines of the Windows fleet."""
    names = {windows_name(i) for i in range(count)}
    for name in faults.machines:
        if name.startswith("win-") and name not in names:
            last = windows_name(count - 1) if count else "none"
            raise FaultSpecError(
                f"faults: machine {name!r} is not in the Windows fleet (win-000 … {last})"
            )


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


async def serve_windows(
    count: int,
    seed: int,
    credential: WinRMCredential,
    faults: FaultSpec | None = None,
    host: str = "127.0.0.1",
    base_port: int = 0,
    https: bool = False,
    timing: Timing | None = None,
) -> WindowsFleet:
    """Start ``count`` simulated Windows machines, each a WinRM endpoint on its own port of
    ``host`` (``base_port + index``, or ephemeral ports): HTTP with NTLM, or with ``https``
    HTTPS with Basic and NTLM (the CA is :attr:`WindowsFleet.ca_pem`). ``timing`` says how
    long installs and restarts take (:data:`backends.fleet.timing.FAST` in tests)."""
    if count < 1:
        raise ValueError("a Windows fleet needs at least one machine")
    if not credential.password:
        raise ValueError("the simulated Windows machines need a password")
    spec = faults or FaultSpec()
    check_windows_faults(spec, count)
    fleet = WindowsFleet(seed, credential, timing)
    try:
        _NTLM_USERS.add(credential)
        fleet._registered = True
        certificate = None
        if https:
            fleet._directory = Path(tempfile.mkdtemp(prefix="patchdeck-winrm-tls-"))
            certificate = make_certificate(fleet._directory, host)
            fleet.ca_pem = certificate.ca_pem
        listed = []
        for index in range(count):
            name = windows_name(index)
            machine = WindowsMachine(seed, index, spec.for_machine(name, seed), fleet.timing)
            sock = _bound_socket(host, base_port + index if base_port else 0)
            if machine.faults.down:
                fleet._held.append(sock)  # bound, never listened on: connections are refused
            else:
                service = _Host(machine, credential, https, certificate)
                service.on_reboot = lambda index=index: fleet._reboot(index)
                machine.on_crash = lambda index=index: fleet._reboot(index, crash=True)
                fleet._hosts[index] = service
                if certificate is not None and fleet._ssl is None:
                    fleet._ssl = certificate.context()
                server = await asyncio.start_server(
                    _accept(fleet, service), sock=sock, ssl=fleet._ssl, limit=MAX_HEADER
                )
                fleet._servers.append(server)
                fleet._listening[index] = server
            listed.append(
                SimulatedWindows(
                    name=name,
                    index=index,
                    kind=machine.kind.key,
                    label=machine.kind.label,
                    host=host,
                    port=sock.getsockname()[1],
                    https=https,
                    faults=machine.faults,
                )
            )
        fleet.machines = tuple(listed)
    except BaseException:
        await fleet.close()
        raise
    return fleet


def _accept(fleet: WindowsFleet, service: _Host) -> Any:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            fleet._connections.add(task)
        service.connections.add(writer)
        try:
            await _Connection(service, reader, writer).serve()
        except asyncio.CancelledError:
            pass  # the fleet is closing; end quietly (the handler's task is ours alone)
        finally:
            service.connections.discard(writer)
            if task is not None:
                fleet._connections.discard(task)

    return accept
