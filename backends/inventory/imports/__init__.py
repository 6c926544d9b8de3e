"""``machine import``: inventory files in, :class:`MachineSpec` list out (no I/O but reading).

Formats: CSV with a header row, Ansible inventories (INI or YAML) and OpenSSH client config.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from backends.inventory.imports.ansible_ini import parse_ini
from backends.inventory.imports.ansible_yaml import parse_yaml
from backends.inventory.imports.csv_format import parse_csv
from backends.inventory.imports.detect import ansible_is_yaml, guess_format
from backends.inventory.imports.errors import ImportFailed, ImportProblem
from backends.inventory.imports.result import Found, Parsed
from backends.inventory.imports.source import decode_text
from backends.inventory.imports.ssh_config import parse_ssh_config
from backends.inventory.records import MachineSpec

__all__ = ["FORMATS", "ImportFailed", "ImportProblem", "guess_format", "parse_file", "parse_text"]

FORMATS = ("csv", "ansible", "ssh-config")


def _parse_ansible(text: str, path: str) -> Parsed:
    return parse_yaml(text, path) if ansible_is_yaml(text) else parse_ini(text, path)


_PARSERS: dict[str, Callable[[str, str], Parsed]] = {
    "csv": parse_csv,
    "ansible": _parse_ansible,
    "ssh-config": parse_ssh_config,
}


def parse_file(path: Path, fmt: str | None = None) -> list[MachineSpec]:
    """The machines ``path`` describes, in file order; ``fmt`` is guessed when ``None``.

    Raises :class:`ImportFailed` with every problem found (file and line each).
    """
    label = str(path)
    try:
        data = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ImportFailed([ImportProblem(label, 0, f"cannot read: {reason}")]) from None
    return parse_text(decode_text(data, label), label, fmt)


def parse_text(text: str, path: str, fmt: str | None = None) -> list[MachineSpec]:
    """Like :func:`parse_file` for text already read; ``path`` names it in problems."""
    if fmt is not None and fmt not in _PARSERS:
        raise ValueError(f"unknown import format {fmt!r} (known: {', '.join(FORMATS)})")
    parsed = _PARSERS[fmt or guess_format(text, path)](text, path)
    problems = parsed.problems + _duplicates(parsed.machines)
    if not parsed.machines and not problems:
        problems.append(ImportProblem(path, 1, "no machines found"))
    if problems:
        problems.sort(key=lambda p: (p.path != path, p.path, p.line))
        raise ImportFailed(problems)
    return [found.spec for found in parsed.machines]


def _duplicates(machines: list[Found]) -> list[ImportProblem]:
    first: dict[str, Found] = {}
    problems: list[ImportProblem] = []
    for found in machines:
        name = found.spec.name
        earlier = first.setdefault(name, found)
        if earlier is not found:
            where = "" if earlier.path == found.path else f"{earlier.path} "
            message = f"duplicate machine {name!r} (first on {where}line {earlier.line})"
            problems.append(ImportProblem(found.path, found.line, message))
    return problems
