"""Opening connections by a machine's transport, and keeping them open for the next step."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from backends.engine.defaults import SCAN_CONCURRENCY
from backends.inventory.records import Machine
from backends.transports import ssh
from backends.transports.base import Connection, Endpoint, TransportError
from backends.transports.known_hosts import HostKeys
from backends.transports.local import LocalConnection
from backends.transports.winrm_password import PasswordSource

if TYPE_CHECKING:
    from backends.transports.winrm import WinRMSettings


def endpoint_of(machine: Machine) -> Endpoint:
    return Endpoint(
        name=machine.name,
        address=machine.address,
        port=machine.port,
        user=machine.user,
        identity_file=machine.identity_file,
    )


def winrm_settings(machine: Machine) -> WinRMSettings:
    from backends.transports.winrm import WinRMSettings

    return WinRMSettings(
        auth=machine.winrm_auth,
        https=machine.winrm_https,
        verify_cert=machine.winrm_verify_cert,
        ca_file=machine.winrm_ca_file,
    )


def raise_open_files_limit() -> None:
    """Kept connections are file descriptors: allow as many as the hard limit lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class ConnectionPool:
    """Connections by machine name, reused while open (a re-scan, then an install, over one)."""

    def __init__(
        self,
        host_keys: HostKeys,
        connect_timeout: float = ssh.CONNECT_TIMEOUT,
        password_source: PasswordSource | None = None,
        winrm_threads: int = SCAN_CONCURRENCY,
    ) -> None:
        """``password_source`` is asked for a WinRM password that neither the environment nor
        the keyring has (the console's prompt); WinRM exchanges run in a pool of at most
        ``winrm_threads`` threads of its own."""
        raise_open_files_limit()
        self.host_keys = host_keys
        self.connect_timeout = connect_timeout
        self.password_source = password_source
        self.winrm_threads = winrm_threads
        self._open: dict[str, Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._winrm_executor: ThreadPoolExecutor | None = None

    async def get(self, machine: Machine) -> Connection:
        lock = self._locks.setdefault(machine.name, asyncio.Lock())
        async with lock:
            known = self._open.get(machine.name)
            if known is not None and known.is_open() and self._same(known, machine):
                return known
            if known is not None:
                await self.discard(machine.name)
            connection = await self._connect(machine)
            self._open[machine.name] = connection
            return connection

    def _same(self, known: Connection, machine: Machine) -> bool:
        if known.endpoint != endpoint_of(machine):
            return False
        settings = getattr(known, "settings", None)
        return settings is None or settings == winrm_settings(machine)

    async def _connect(self, machine: Machine) -> Connection:
        endpoint = endpoint_of(machine)
        if machine.transport == "ssh":
            return await ssh.connect(endpoint, self.host_keys, self.connect_timeout)
        if machine.transport == "local":
            return LocalConnection(endpoint)
        if machine.transport == "winrm":
            from backends.transports import winrm

            if self._winrm_executor is None:
                self._winrm_executor = winrm.new_executor(self.winrm_threads)
            return await winrm.connect(
                endpoint,
                winrm_settings(machine),
                self._winrm_executor,
                self.password_source,
                self.connect_timeout,
            )
        raise TransportError(
            "unsupported", f"{machine.name}: the {machine.transport} transport is not available yet"
        )

    async def discard(self, name: str) -> None:
        connection = self._open.pop(name, None)
        if connection is not None:
            # closing a broken connection must not hide the real failure
            with contextlib.suppress(Exception):
                await connection.close()

    async def close_all(self) -> None:
        names = list(self._open)
        await asyncio.gather(*(self.discard(name) for name in names))
        if self._winrm_executor is not None:
            # threads still waiting on a machine end at their next deadline check
            self._winrm_executor.shutdown(wait=False, cancel_futures=True)
            self._winrm_executor = None
