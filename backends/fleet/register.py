"""Adding a running simulated fleet to an inventory, and trusting its host keys.

Machines are added or updated by name (``import_machines``) with address, port, user and the tags
``fleet=sim`` and ``kind=<kind>``; each machine's host key goes into patchdeck's own known_hosts
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
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".known_hosts.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
