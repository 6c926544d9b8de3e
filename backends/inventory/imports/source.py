"""Turning a file's bytes into text, with undecodable bytes reported by line."""

from __future__ import annotations

from backends.inventory.imports.errors import ImportFailed, ImportProblem


def decode_text(data: bytes, path: str) -> str:
    """UTF-8 (a leading BOM is dropped); raises :class:`ImportFailed` naming each bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportFailed(_bad_lines(data, path)) from None
    return text[1:] if text.startswith("\ufeff") else text


def _bad_lines(data: bytes, path: str) -> list[ImportProblem]:
    problems: list[ImportProblem] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start]
            problems.append(
                ImportProblem(
                    path,
                    number,
                    f"not valid UTF-8: byte 0x{byte:02x} at column {exc.start + 1}",
                )
            )
    return problems
