"""Adding a running simulated fleet to an inventory, and trusting its host keys.

Machines are added or updated by name (``import_machines``) with address, port, user and the tags
``fleet=sim`` and ``kind=<kind>``; Windows machines with transport winrm (see
:func:`register_windows`); each machine's host key goes into patchdeck's own known_hosts
(``[127.0.0.1]:PORT ssh-ed25519 AAAA…``), replacing what that file said about the same host and
port, and about where the same machine names were before, and keeping everything else.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from backends.fleet.keys import known_hosts_host
from backends.fleet.server import SimulatedMachine
from backends.fleet.winrm_server import SimulatedWindows
from backends.inventory.location import own_known_hosts
from backends.inventory.machines import ImportResult, import_machines, list_machines
from backends.inventory.store import Store
from backends.inventory.validation import build_spec

FLEET_TAG = ("fleet", "sim")


def register_fleet(
    store: Store,
    url: str,
    machines: Sequence[SimulatedMachine],
    user: str | None,
    identity_file: str | None = None,
    source: str = "patchdeck fleet serve",
) -> ImportResult:
    """Add (or update) the fleet's machines in the inventory and trust their host keys."""
    names = {m.name for m in machines}
    before = [
        known_hosts_host(m.address, m.port)
        for m in list_machines(store, "=".join(FLEET_TAG))
        if m.name in names
    ]
    specs = [
        build_spec(
            name=m.name,
            address=m.host,
            port=m.port,
            transport="ssh",
            os_family="linux",
            user=user,
            identity_file=identity_file,
            tags=(FLEET_TAG, ("kind", m.kind)),
        )
        for m in machines
    ]
    result = import_machines(store, specs, source=source)
    record_host_keys(own_known_hosts(url), [m.known_hosts_line() for m in machines], before)
    return result


def windows_ca_file(url: str) -> Path:
    """Where a registered HTTPS Windows fleet's CA certificate is kept: next to patchdeck's
    own known_hosts (so next to a SQLite inventory)."""
    return own_known_hosts(url).with_name("fleet-winrm-ca.pem")


def register_windows(
    store: Store,
    url: str,
    machines: Sequence[SimulatedWindows],
    user: str,
    ca_pem: str | None = None,
    source: str = "patchdeck fleet serve",
) -> ImportResult:
    """Add (or update) simulated Windows machines: transport winrm, os windows, the fleet's
    user; over HTTPS with Basic and the fleet's CA (written to :func:`windows_ca_file`). Their
    password is never recorded: it is given as ``PATCHDECK_WINRM_PASSWORD``."""
    ca_file: Path | None = None
    if ca_pem is not None:
        ca_file = windows_ca_file(url)
        _write_atomically(ca_file, ca_pem, 0o644)
    specs = [
        build_spec(
            name=m.name,
            address=m.host,
            port=m.port,
            transport="winrm",
            os_family="windows",
            user=user,
            tags=(FLEET_TAG, ("kind", m.kind)),
            winrm_auth="basic" if m.https else None,
            winrm_https=m.https or None,
            winrm_ca_file=str(ca_file) if m.https and ca_file is not None else None,
        )
        for m in machines
    ]
    return import_machines(store, specs, source=source)


def _write_atomically(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _without(line: str, hosts: set[str]) -> str | None:
    """A known_hosts line with ``hosts`` taken out of its host list; ``None`` if none is left."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return line
    fields = stripped.split()
    at = 1 if fields[0].startswith("@") else 0
    if len(fields) <= at:
        return line
    patterns = fields[at].split(",")
    kept = [p for p in patterns if p not in hosts]
    if len(kept) == len(patterns):
        return line
    if not kept:
        return None
    fields[at] = ",".join(kept)
    return " ".join(fields)


def record_host_keys(path: Path, lines: Sequence[str], also_forget: Iterable[str] = ()) -> None:
    """Write ``lines`` into the known_hosts file at ``path``: lines about the same hosts (and
    about ``also_forget``) are replaced, every other line is kept. Written atomically, mode 0600."""
    hosts = {line.split()[0] for line in lines} | set(also_forget)
    try:
        existing = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        existing = []
    kept = [line for line in (_without(old, hosts) for old in existing) if line is not None]
    text = "".join(line + "\n" for line in [*kept, *lines])
    _write_atomically(path, text, 0o600)
