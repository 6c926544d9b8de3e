"""How the CLI prints: JSON lines for scripts, aligned columns for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from backends.inventory.records import Machine
from tui.format import age as age
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
        "winrm": winrm_json(machine),
    }


def winrm_json(machine: Machine) -> dict[str, Any] | None:
    """A WinRM machine's connection options (``None`` for other transports)."""
    if machine.transport != "winrm":
        return None
    return {
        "auth": machine.winrm_auth,
        "https": machine.winrm_https,
        "verify_cert": machine.winrm_verify_cert,
        "ca_file": machine.winrm_ca_file,
    }


def winrm_summary(machine: Machine) -> str:
    """``ntlm over http``, ``basic over https, CA /etc/…``, ``… certificate NOT checked``."""
    scheme = "https" if machine.winrm_https else "http"
    text = f"{machine.winrm_auth} over {scheme}"
    if machine.winrm_https and not machine.winrm_verify_cert:
        text += ", certificate NOT checked"
    elif machine.winrm_https and machine.winrm_ca_file:
        text += f", certificate checked against {machine.winrm_ca_file}"
    return text


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], out: TextIO | None = None) -> None:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    stream = out or sys.stdout
    body = [list(headers), *([neutralise(str(cell)) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in body) for i in range(len(headers))]
    for row in body:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        stream.write("  ".join(cells).rstrip() + "\n")
