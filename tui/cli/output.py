"""How the CLI prints: JSON lines for scripts, aligned columns for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from backends.inventory.records import Machine
from tui.safe import neutralise


def iso_z(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z``, as every ``--json`` timestamp is."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_line(obj: dict[str, Any], out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    # ASCII only: no control character a machine printed (C1 ones included) reaches a terminal.
    stream.write(json.dumps(obj) + "\n")


def machine_json(machine: Machine) -> dict[str, Any]:
    return {
        "name": machine.name,
        "address": machine.address,
        "port": machine.port,
        "transport": machine.transport,
        "os": machine.os_family,
        "distro": machine.distro,
        "version": machine.version,
        "user": machine.user,
        "identity": machine.identity_file,
        "tags": [f"{k}={v}" for k, v in machine.tags],
        "owner": machine.owner,
        "role": machine.role,
        "environment": machine.environment,
        "criticality": machine.criticality,
        "last_scan": iso_z(machine.last_scan_at),
        "last_scan_outcome": machine.last_scan_outcome,
        "last_scan_error": machine.last_scan_error,
        "reboot_pending": machine.reboot_pending,
        "reachable": machine.reachable,
        "missing": dict(machine.missing),
    }


def age(when: datetime | None, now: datetime | None = None) -> str:
    """A short age: ``45s``, ``12m``, ``3h``, ``5d``; ``never`` for no time."""
    if when is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], out: TextIO | None = None) -> None:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    stream = out or sys.stdout
    body = [list(headers), *([neutralise(str(cell)) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in body) for i in range(len(headers))]
    for row in body:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        stream.write("  ".join(cells).rstrip() + "\n")
