"""SSH with asyncssh: strict host keys, keys from --identity / the agent / ~/.ssh/config,
``sudo -n`` for privileged commands, timeouts on every step, output streamed line by line."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import asyncssh

from backends.transports.base import (
    Collector,
    Endpoint,
    LineSink,
    Output,
    TransportError,
    check_sudo,
    sudo_wrap,
)
from backends.transports.known_hosts import HostKeys, fingerprint

# AES-GCM first: every Debian 12 / RHEL 8+ sshd offers it and it costs the client a quarter
# less CPU than asyncssh's default chacha20-poly1305 (see the performance notes).
CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
CONNECT_TIMEOUT = 15.0


class _Client(asyncssh.SSHClient):
    """Decides on host keys asyncssh did not find trusted, and remembers why it refused."""

    def __init__(self, endpoint: Endpoint, host_keys: HostKeys) -> None:
        self.endpoint = endpoint
        self.host_keys = host_keys
        self.refusal: TransportError | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        name = self.endpoint.name
        if self.host_keys.trusted(host, addr, port):
            self.refusal = TransportError(
                "host-key-changed",
                f"the host key of {name} ({host}:{port}) has CHANGED (now {fingerprint(key)}); "
                "refusing to connect. If the machine was reinstalled, remove its old line from "
                "the known_hosts file and trust it again",
            )
            return False
        if self.host_keys.accept_new:
            self.host_keys.record(self.endpoint.address, self.endpoint.port, key)
            return True
        self.refusal = TransportError(
            "host-key-unknown",
            f"the host key of {name} ({host}:{port}) is not known ({fingerprint(key)}); "
            f"check it and run `patchdeck machine trust {name}`, or scan with "
            "--accept-new-host-keys",
        )
        return False


def _describe_os_error(endpoint: Endpoint, exc: OSError) -> TransportError:
    where = f"{endpoint.address}:{endpoint.port}"
    if isinstance(exc, socket.gaierror):
        return TransportError("unreachable", f"cannot resolve {endpoint.address}: {exc.strerror}")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("unreachable", f"{where} refused the connection (no SSH server?)")
    return TransportError("unreachable", f"cannot reach {where}: {exc.strerror or exc}")


async def connect(
    endpoint: Endpoint, host_keys: HostKeys, timeout: float = CONNECT_TIMEOUT
) -> SSHConnection:
    client = _Client(endpoint, host_keys)
    options: dict[str, Any] = {
        "known_hosts": host_keys.known_hosts(),
        "encryption_algs": CIPHERS,
        "connect_timeout": timeout,
        "login_timeout": timeout,
        "keepalive_interval": 30,
        "keepalive_count_max": 3,
    }
    if endpoint.user:
        options["username"] = endpoint.user
    if endpoint.identity_file:
        options["client_keys"] = [endpoint.identity_file]
    try:
        async with asyncio.timeout(timeout + 1):
            conn, _ = await asyncssh.create_connection(
                lambda: client, endpoint.address, endpoint.port, **options
            )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise client.refusal or TransportError("host-key-unknown", str(exc)) from None
    except asyncssh.PermissionDenied:
        user = endpoint.user or "the default user"
        raise TransportError(
            "auth-refused",
            f"{endpoint.name} refused every key offered for {user} "
            "(check --identity, the agent, and authorized_keys)",
        ) from None
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        raise TransportError(
            "auth-refused", f"cannot use identity {endpoint.identity_file}: {exc}"
        ) from None
    except (TimeoutError, asyncssh.ConnectionLost) as exc:
        if isinstance(exc, TimeoutError):
            raise TransportError(
                "timeout", f"{endpoint.name} did not complete the SSH login within {timeout:g} s"
            ) from None
        raise TransportError("connection-lost", f"{endpoint.name} closed the connection") from None
    except asyncssh.DisconnectError as exc:
        raise TransportError("connection-lost", f"{endpoint.name}: {exc.reason}") from None
    except OSError as exc:
        raise _describe_os_error(endpoint, exc) from None
    return SSHConnection(endpoint, conn)


class SSHConnection:
    def __init__(self, endpoint: Endpoint, conn: Any) -> None:
        self.endpoint = endpoint
        self._conn = conn
        self.username = str(conn.get_extra_info("username") or "")

    @property
    def is_root(self) -> bool:
        return self.username == "root"

    def is_open(self) -> bool:
        return not self._conn.is_closed()

    async def run(
        self,
        script: str,
        *,
        privileged: bool = False,
        timeout: float | None = None,
        on_line: LineSink | None = None,
    ) -> Output:
        command = sudo_wrap(script) if privileged and not self.is_root else script
        out = Collector(self.endpoint, on_line)
        err = Collector(self.endpoint)
        process = None
        try:
            async with asyncio.timeout(timeout):
                process = await self._conn.create_process(
                    command, encoding="utf-8", errors="replace"
                )
                process.stdin.write_eof()
                await asyncio.gather(out.drain(process.stdout), err.drain(process.stderr))
                await process.wait_closed()
        except TimeoutError:
            if process is not None:
                process.close()
            raise TransportError(
                "timeout", f"{self.endpoint.name} did not finish the command within {timeout:g} s"
            ) from None
        except TransportError:
            if process is not None:
                process.close()
            raise
        except (asyncssh.DisconnectError, asyncssh.ChannelOpenError, BrokenPipeError) as exc:
            raise TransportError(
                "connection-lost",
                f"{self.endpoint.name} dropped the connection during the command ({exc})",
            ) from None
        if not self.is_open() and process.exit_status is None:
            raise TransportError(
                "connection-lost", f"{self.endpoint.name} dropped the connection mid-command"
            )
        output = Output(process.exit_status, out.text(), err.text())
        return check_sudo(output, self.endpoint) if privileged and not self.is_root else output

    async def close(self) -> None:
        self._conn.close()
        await self._conn.wait_closed()


async def fetch_host_key(endpoint: Endpoint, timeout: float = CONNECT_TIMEOUT) -> Any:
    """The key ``endpoint`` presents, without logging in (for ``machine trust``)."""
    try:
        async with asyncio.timeout(timeout):
            key = await asyncssh.get_server_host_key(endpoint.address, endpoint.port)
    except TimeoutError:
        raise TransportError(
            "timeout", f"{endpoint.name} did not answer within {timeout:g} s"
        ) from None
    except asyncssh.Error as exc:
        raise TransportError("connection-lost", f"{endpoint.name}: {exc}") from None
    except OSError as exc:
        raise _describe_os_error(endpoint, exc) from None
    if key is None:
        raise TransportError("connection-lost", f"{endpoint.name} presented no host key")
    return key
