"""Trusting a machine's SSH host key, as ``machine trust`` and the console's ``t`` both do:
fetch the key the machine presents and show its fingerprint first; record it in patchdeck's own
known_hosts only once the operator has seen it and agreed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.inventory.records import Machine
from backends.transports.base import TransportError
from backends.transports.known_hosts import HostKeys, fingerprint


class NoHostKey(Exception):
    """The machine is not reached over SSH: there is no host key to trust."""

    def __init__(self, machine: Machine) -> None:
        super().__init__(f"{machine.name} uses {machine.transport}, which has no SSH host key")


@dataclass(frozen=True, slots=True)
class PresentedKey:
    """The host key a machine presents, and how it compares with what is trusted."""

    machine: str
    address: str
    port: int
    key: Any  # an asyncssh public key
    algorithm: str
    fingerprint: str
    trusted: bool  # this very key is trusted already
    recorded: tuple[str, ...]  # fingerprints trusted for this host before

    @property
    def changed(self) -> bool:
        """Another key was trusted for this host: believe it only for a reinstalled machine."""
        return bool(self.recorded) and not self.trusted

    def describe(self) -> str:
        return (
            f"{self.machine} ({self.address}:{self.port}) presents "
            f"{self.algorithm} key {self.fingerprint}"
        )

    def warning(self) -> str | None:
        if not self.changed:
            return None
        return (
            "WARNING: this is NOT the key recorded for this host before "
            f"({', '.join(self.recorded)}): trust it only if the machine was reinstalled or "
            "its keys were replaced on purpose"
        )


async def fetch_presented_key(machine: Machine, keys: HostKeys) -> PresentedKey:
    """Ask ``machine`` for its host key (without logging in). Raises :class:`NoHostKey` for
    a machine not reached over SSH and ``TransportError`` when it cannot be reached."""
    from backends.engine.connections import endpoint_of
    from backends.transports.ssh import fetch_host_key

    if machine.transport != "ssh":
        raise NoHostKey(machine)
    key = await fetch_host_key(endpoint_of(machine))
    known = keys.trusted(machine.address, machine.address, machine.port)
    return PresentedKey(
        machine=machine.name,
        address=machine.address,
        port=machine.port,
        key=key,
        algorithm=str(key.get_algorithm()),
        fingerprint=fingerprint(key),
        trusted=key in known,
        recorded=tuple(fingerprint(k) for k in known),
    )


def trust_key(presented: PresentedKey, keys: HostKeys) -> Path:
    """Record ``presented`` in patchdeck's own known_hosts; returns that file."""
    keys.record(presented.address, presented.port, presented.key)
    return keys.own


__all__ = ["NoHostKey", "PresentedKey", "TransportError", "fetch_presented_key", "trust_key"]
