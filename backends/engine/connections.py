"""Opening connections by a machine's transport, and keeping them open for the next step."""

from __future__ import annotations

import asyncio
import contextlib
import resource

from backends.inventory.records import Machine
from backends.transports import ssh
from backends.transports.base import Connection, Endpoint, TransportError
from backends.transports.known_hosts import HostKeys
from backends.transports.local import LocalConnection


def endpoint_of(machine: Machine) -> Endpoint:
    return Endpoint(
        name=machine.name,
        address=machine.address,
        port=machine.port,
        user=machine.user,
        identity_file=machine.identity_file,
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

    def __init__(self, host_keys: HostKeys, connect_timeout: float = ssh.CONNECT_TIMEOUT) -> None:
        raise_open_files_limit()
        self.host_keys = host_keys
        self.connect_timeout = connect_timeout
        self._open: dict[str, Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, machine: Machine) -> Connection:
        lock = self._locks.setdefault(machine.name, asyncio.Lock())
        async with lock:
            known = self._open.get(machine.name)
            if known is not None and known.is_open() and known.endpoint == endpoint_of(machine):
                return known
            connection = await self._connect(machine)
            self._open[machine.name] = connection
            return connection

    async def _connect(self, machine: Machine) -> Connection:
        endpoint = endpoint_of(machine)
        if machine.transport == "ssh":
            return await ssh.connect(endpoint, self.host_keys, self.connect_timeout)
        if machine.transport == "local":
            return LocalConnection(endpoint)
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
