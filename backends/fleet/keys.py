"""Host keys of simulated machines: ed25519, derived from the fleet's seed and the machine's index,
so a fleet restarted with the same seed presents the same keys (and stays trusted)."""

from __future__ import annotations

import hashlib

import asyncssh
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat


def host_key(seed: int, index: int) -> asyncssh.SSHKey:
    """The host key of machine ``index`` in a fleet of ``seed``. Not secret: anyone who knows the
    seed can derive it, which is fine for a simulator on loopback."""
    raw = hashlib.sha256(f"patchdeck-fleet-host-key:{seed}:{index}".encode()).digest()
    pem = Ed25519PrivateKey.from_private_bytes(raw).private_bytes(
        Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
    )
    return asyncssh.import_private_key(pem)


def public_key_text(key: asyncssh.SSHKey) -> str:
    """``ssh-ed25519 AAAA…``, without a comment."""
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {blob}"


def known_hosts_host(host: str, port: int) -> str:
    """How OpenSSH's known_hosts names a host: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"
