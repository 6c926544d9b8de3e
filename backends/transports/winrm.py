"""WinRM with pywinrm: PowerShell on Windows machines, with the interface of ``ssh.py``.

pywinrm is synchronous (requests), so every exchange runs in a dedicated, bounded
:class:`~concurrent.futures.ThreadPoolExecutor` that the caller owns (never the event loop's
default executor, never Textual's workers). A "connection" is a logged-in session with one
remote shell kept open: :func:`connect` authenticates and opens the shell (so a wrong password
or a closed port shows at once), :meth:`WinRMConnection.run` runs one PowerShell script in it as
``powershell -EncodedCommand`` (what pywinrm's ``Session.run_ps`` sends), and
:meth:`WinRMConnection.close` deletes the shell.

Time limits: TCP connect :data:`CONNECT_TIMEOUT`; every HTTP answer within
:data:`READ_TIMEOUT` (a Receive waits at most :data:`OPERATION_TIMEOUT` on the server for
output, then the server answers "no output yet" and we ask again, checking our own deadline
first: pywinrm's own loop would ask forever); and ``run(timeout=…)`` for the whole command,
after which the caller gets a ``timeout`` error at once while the worker thread stops the
command (Signal terminate) and gives its thread back within one Receive.

Authentication (per machine, :class:`WinRMSettings`): ntlm (default; messages encrypted over
HTTP as Windows requires), kerberos (a ticket from ``kinit``; needs pywinrm's kerberos extra),
credssp (needs pywinrm's credssp extra), basic (HTTPS only). HTTPS certificates are checked
unless the machine opts out, against its CA file or else the system's CAs
(:func:`default_ca_bundle`).
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import os
import re
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import certifi
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

from backends.transports.base import MAX_OUTPUT, Collector, Endpoint, LineSink, Output
from backends.transports.base import TransportError as TransportError
from backends.transports.winrm_errors import Where, describe
from backends.transports.winrm_password import (
    NoPassword,
    PasswordSource,
    lookup_password,
    missing_message,
)

CONNECT_TIMEOUT = 15.0
OPERATION_TIMEOUT = 5  # seconds the server may hold a Receive before answering "no output yet"
READ_TIMEOUT = 25  # seconds for any HTTP answer; more than OPERATION_TIMEOUT (pywinrm checks)
CLOSE_TIMEOUT = 10.0
DEFAULT_THREADS = 100
# cmd.exe's limit on a command line; `powershell -EncodedCommand <base64 of UTF-16>` must fit.
MAX_COMMAND_LINE = 8191
POWERSHELL = "powershell -NoProfile -NonInteractive -EncodedCommand"

# patchdeck's name → pywinrm's transport name (Basic over HTTPS is pywinrm's "ssl").
_PyWinRMAuth = Literal["ntlm", "kerberos", "credssp", "ssl"]
_PYWINRM_AUTH: dict[str, _PyWinRMAuth] = {
    "ntlm": "ntlm",
    "kerberos": "kerberos",
    "credssp": "credssp",
    "basic": "ssl",
}


@dataclass(frozen=True, slots=True)
class WinRMSettings:
    """How to reach one machine's WinRM service (the inventory's ``winrm_*`` fields)."""

    auth: str = "ntlm"  # ntlm | kerberos | credssp | basic
    https: bool = False
    verify_cert: bool = True
    ca_file: str | None = None

    def url(self, endpoint: Endpoint) -> str:
        host = endpoint.address
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{'https' if self.https else 'http'}://{host}:{endpoint.port}/wsman"


def new_executor(threads: int = DEFAULT_THREADS) -> ThreadPoolExecutor:
    """The bounded pool WinRM exchanges run in; its owner shuts it down."""
    return ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="patchdeck-winrm")


def encoded_command(script: str) -> str:
    """The command line that runs ``script`` in Windows PowerShell, as ``run_ps`` builds it."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    command = f"{POWERSHELL} {encoded}"
    if len(command) > MAX_COMMAND_LINE:
        raise ValueError(
            f"a PowerShell script of {len(script)} characters is too long for a command line "
            f"({len(command)} > {MAX_COMMAND_LINE} once encoded)"
        )
    return command


_CLIXML_STRING = re.compile(r'<S S="([^"]*)">(.*?)</S>', re.DOTALL)
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clean_stderr(text: str) -> str:
    """PowerShell's ``#< CLIXML`` error stream as the lines it holds (errors and warnings);
    anything else as it is."""
    if not text.startswith("#< CLIXML"):
        return text
    lines = []
    for _kind, body in _CLIXML_STRING.findall(text):
        body = _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), body)
        body = body.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        lines.append(body.replace("&apos;", "'").replace("&amp;", "&"))
    return "".join(lines).replace("\r\n", "\n").strip("\n") if lines else text


class _Stream:
    """One output stream decoded as it arrives, bounded by :data:`MAX_OUTPUT` in total."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.parts: list[str] = []

    def feed(self, data: bytes, final: bool = False) -> str:
        text = self.decoder.decode(data, final)
        if text:
            self.parts.append(text)
        return text


class _Cancelled(Exception):
    """The caller stopped waiting: the worker stops the command and returns."""


class WinRMConnection:
    """A logged-in WinRM session with one shell kept open for the next command."""

    def __init__(
        self,
        endpoint: Endpoint,
        settings: WinRMSettings,
        protocol: Any,
        executor: ThreadPoolExecutor,
        where: Where,
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self._protocol = protocol
        self._executor = executor
        self._where = where
        self._lock = threading.Lock()  # one exchange at a time: a requests session is one
        self._shell: str | None = None
        self._broken = False
        self._closed = False

    @property
    def is_root(self) -> bool:
        """Windows has no root: a command runs with the rights of the account logged in, which
        must be an administrator for Windows Update; ``privileged`` changes nothing here."""
        return False

    def is_open(self) -> bool:
        return not (self._closed or self._broken)

    async def _call(self, work: Callable[[], Any], timeout: float | None) -> Any:
        """``work()`` in the executor. A :class:`TimeoutError` comes only from ``timeout``;
        what ``work`` raised is raised as it is."""

        def captured() -> tuple[bool, Any]:
            try:
                return True, work()
            except Exception as exc:
                return False, exc

        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, captured)
        try:
            async with asyncio.timeout(timeout):
                ok, value = await asyncio.shield(future)
        except BaseException:
            # the thread cannot be interrupted: it stops at its next check of ``cancel``
            self._broken = True
            raise
        if not ok:
            self._broken = True
            raise value
        return value

    async def open(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Log in and open the shell."""
        try:
            await self._call(self._open_shell, timeout + READ_TIMEOUT)
        except TimeoutError:
            raise TransportError(
                "timeout", f"{self.endpoint.name} did not open a WinRM shell in time"
            ) from None
        except Exception as exc:
            raise describe(exc, self._where, timeout) from None

    def _open_shell(self) -> str:
        with self._lock:
            if self._shell is None:
                self._shell = self._protocol.open_shell(codepage=65001, noprofile=True)
            return self._shell

    async def run(
        self,
        script: str,
        *,
        privileged: bool = False,
        timeout: float | None = None,
        on_line: LineSink | None = None,
    ) -> Output:
        """Run PowerShell ``script``; stdout streams to ``on_line`` line by line."""
        command = encoded_command(script)
        loop = asyncio.get_running_loop()
        lines = Collector(self.endpoint, on_line) if on_line is not None else None
        cancel = threading.Event()

        def shown(text: str) -> None:
            if lines is not None and text:
                loop.call_soon_threadsafe(lines.feed, text)

        try:
            out, err, status = await self._call(
                lambda: self._run_blocking(command, cancel, shown), timeout
            )
        except TimeoutError:
            cancel.set()
            raise TransportError(
                "timeout", f"{self.endpoint.name} did not finish the command within {timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            cancel.set()
            raise
        except Exception as exc:
            cancel.set()
            self._broken = True
            raise describe(exc, self._where) from None
        if lines is not None:
            lines.text()  # the last line, if it had no newline
        return Output(status, out, clean_stderr(err))

    def _run_blocking(
        self, command: str, cancel: threading.Event, shown: Callable[[str], None]
    ) -> tuple[str, str, int]:
        protocol = self._protocol
        with self._lock:
            reused = self._shell is not None
            shell = self._shell or protocol.open_shell(codepage=65001, noprofile=True)
            self._shell = shell
            try:
                command_id = protocol.run_command(shell, command)
            except WSManFaultError:
                if not reused:
                    raise
                # the server forgot the kept shell (idle timeout, service restart): a new one
                self._shell = shell = protocol.open_shell(codepage=65001, noprofile=True)
                command_id = protocol.run_command(shell, command)
            stdout, stderr = _Stream(), _Stream()
            size = 0
            try:
                while True:
                    if cancel.is_set():
                        raise _Cancelled
                    try:
                        out, err, status, done = protocol.get_command_output_raw(shell, command_id)
                    except WinRMOperationTimeoutError:
                        continue  # no output yet; ask again unless the caller gave up
                    size += len(out) + len(err)
                    if size > MAX_OUTPUT:
                        raise TransportError(
                            "output-too-large",
                            f"{self.endpoint.name} printed more than "
                            f"{MAX_OUTPUT // (1024 * 1024)} MiB; the command was stopped",
                        )
                    shown(stdout.feed(out, final=done))
                    stderr.feed(err, final=done)
                    if done:
                        return "".join(stdout.parts), "".join(stderr.parts), status
            finally:
                with contextlib.suppress(Exception):
                    protocol.cleanup_command(shell, command_id)

    async def close(self) -> None:
        """Delete the shell and end the session. A command still running (one the caller gave
        up on) stops first; then its thread deletes the shell without anyone waiting."""
        if self._closed:
            return
        self._closed = True

        def delete() -> None:
            with self._lock:
                shell, self._shell = self._shell, None
                with contextlib.suppress(Exception):
                    if shell is not None:
                        self._protocol.close_shell(shell, close_session=True)
                    else:
                        self._protocol.transport.close_session()

        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, delete)
        except RuntimeError:  # the executor was shut down: nothing more can be sent
            return
        if self._broken:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(future), CLOSE_TIMEOUT)


def default_ca_bundle() -> str:
    """The CAs an HTTPS certificate is checked against when the machine names no CA file:
    ``$REQUESTS_CA_BUNDLE`` or ``$SSL_CERT_FILE`` if set, else the system's (OpenSSL's default
    CA file), else the bundle requests ships (certifi)."""
    candidates = (
        os.environ.get("REQUESTS_CA_BUNDLE"),
        os.environ.get("SSL_CERT_FILE"),
        ssl.get_default_verify_paths().cafile,
    )
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return candidate
    return str(certifi.where())


def _protocol(
    endpoint: Endpoint, settings: WinRMSettings, password: str | None, connect_timeout: float
) -> Any:
    protocol = Protocol(
        endpoint=settings.url(endpoint),
        transport=_PYWINRM_AUTH[settings.auth],
        username=endpoint.user,
        password=password,
        server_cert_validation="validate" if settings.verify_cert else "ignore",
        ca_trust_path=settings.ca_file or default_ca_bundle(),
        read_timeout_sec=READ_TIMEOUT,
        operation_timeout_sec=OPERATION_TIMEOUT,
        message_encryption="auto",
    )
    # requests takes (connect, read): a machine that does not answer the TCP handshake fails
    # within the connect timeout, not the longer read timeout pywinrm passes alone.
    protocol.transport.read_timeout_sec = (connect_timeout, READ_TIMEOUT)  # type: ignore[assignment]
    return protocol


def _check_extras(endpoint: Endpoint, settings: WinRMSettings) -> None:
    from winrm import transport as pywinrm_transport

    if settings.auth == "kerberos" and not pywinrm_transport.HAVE_KERBEROS:
        raise TransportError(
            "unsupported",
            f"{endpoint.name} uses Kerberos, which needs pywinrm's kerberos extra "
            "(pip install 'pywinrm[kerberos]' next to patchdeck)",
        )
    if settings.auth == "credssp" and not pywinrm_transport.HAVE_CREDSSP:
        raise TransportError(
            "unsupported",
            f"{endpoint.name} uses CredSSP, which needs pywinrm's credssp extra "
            "(pip install 'pywinrm[credssp]' next to patchdeck)",
        )


async def find_password(
    endpoint: Endpoint,
    executor: ThreadPoolExecutor,
    prompt: PasswordSource | None = None,
) -> str:
    """The password for ``endpoint`` (see :mod:`backends.transports.winrm_password`)."""
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(executor, lookup_password, endpoint.name, endpoint.user)
    if found is None and prompt is not None:
        found = await prompt(endpoint.name, endpoint.user)
    if not found:
        raise NoPassword(missing_message(endpoint.name))
    return found


async def connect(
    endpoint: Endpoint,
    settings: WinRMSettings,
    executor: ThreadPoolExecutor,
    prompt: PasswordSource | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> WinRMConnection:
    """Log in to ``endpoint`` and open a shell there."""
    if settings.auth not in _PYWINRM_AUTH:
        raise TransportError("unsupported", f"{endpoint.name}: unknown WinRM auth {settings.auth}")
    _check_extras(endpoint, settings)
    password: str | None = None
    if settings.auth != "kerberos":
        if not endpoint.user:
            raise TransportError(
                "no-credentials",
                f"no user to log in to {endpoint.name} as: set one with `--user` "
                r"(Administrator, or DOMAIN\user)",
            )
        try:
            password = await find_password(endpoint, executor, prompt)
        except NoPassword as exc:
            raise TransportError("no-credentials", str(exc)) from None
    where = Where(endpoint, settings.url(endpoint), settings.auth, password)
    try:
        protocol = _protocol(endpoint, settings, password, timeout)
    except Exception as exc:  # pywinrm checks its arguments here
        raise describe(exc, where, timeout) from None
    connection = WinRMConnection(endpoint, settings, protocol, executor, where)
    await connection.open(timeout)
    return connection
