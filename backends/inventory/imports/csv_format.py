"""CSV with a header row: one machine per row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from backends.inventory.imports.fields import make_spec
from backends.inventory.imports.result import Found, Parsed
from backends.inventory.records import Tag
from backends.inventory.validation import FieldError, check_tags

#: Column name → ``build_spec`` keyword (``name`` and ``tags`` are handled apart).
_COLUMNS = {
    "name": "name",
    "address": "address",
    "port": "port",
    "transport": "transport",
    "os": "os_family",
    "user": "user",
    "identity": "identity_file",
    "tags": "tags",
    "owner": "owner",
    "role": "role",
    "environment": "environment",
    "criticality": "criticality",
    "winrm_auth": "winrm_auth",
    "winrm_https": "winrm_https",
    "winrm_ca_file": "winrm_ca_file",
    "winrm_verify": "winrm_verify_cert",
}
#: ``build_spec`` keyword → its column, to name it so in problems.
_LABELS = {key: column for column, key in _COLUMNS.items()}
_REQUIRED = ("name", "address")


def parse_csv(text: str, path: str) -> Parsed:
    parsed = Parsed()
    rows = _rows(text, path, parsed)
    header_line, header = next(rows, (0, []))
    if not header:
        return parsed
    columns = _columns(header, header_line, path, parsed)
    if columns is None:
        return parsed
    name_at = columns.pop("name")
    tags_at = columns.pop("tags", None)
    field_at = list(columns.items())
    width = len(header)
    first_line: dict[str, int] = {}
    for line, row in rows:
        if len(row) != width:
            parsed.problem(path, line, f"row has {len(row)} fields, the header has {width}")
            continue
        name = row[name_at].strip()
        first = first_line.setdefault(name, line)
        if first != line:
            parsed.problem(path, line, f"duplicate machine {name!r} (first on line {first})")
            continue
        tags: tuple[Tag, ...] = ()
        if tags_at is not None:
            try:
                tags = check_tags(row[tags_at])
            except FieldError as exc:
                parsed.problem(path, line, str(exc))
                continue
        fields = {key: row[at].strip() for key, at in field_at}
        spec = make_spec(name, fields, tags, labels=_LABELS)
        if isinstance(spec, list):
            for _key, error in spec:
                parsed.problem(path, line, str(error))
        else:
            parsed.machines.append(Found(path, line, spec))
    return parsed


def _rows(text: str, path: str, parsed: Parsed) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the physical line each starts on; CSV syntax errors are reported."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            parsed.problem(path, start, f"CSV syntax error: {exc}")
            row = []
        end = reader.line_num
        if row:
            yield start, row


def _columns(header: list[str], line: int, path: str, parsed: Parsed) -> dict[str, int] | None:
    """Header cell positions by ``build_spec`` keyword, or ``None`` (reported) if unusable."""
    columns: dict[str, int] = {}
    ok = True
    for at, cell in enumerate(header):
        column = cell.strip().lower()
        key = _COLUMNS.get(column)
        if key is None:
            known = ", ".join(_COLUMNS)
            parsed.problem(path, line, f"unknown column {cell.strip()!r} (known: {known})")
            ok = False
        elif key in columns:
            parsed.problem(path, line, f"column {column!r} appears twice")
            ok = False
        else:
            columns[key] = at
    for column in _REQUIRED:
        if column not in columns:
            parsed.problem(path, line, f"missing required column {column!r}")
            ok = False
    return columns if ok else None
