"""OpenSSH client configuration: every concrete ``Host`` alias is a machine."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from heapq import merge
from pathlib import Path

from backends.inventory.imports.errors import ImportFailed
from backends.inventory.imports.fields import make_spec
from backends.inventory.imports.result import Found, Parsed
from backends.inventory.imports.source import decode_text

MAX_INCLUDE_DEPTH = 8
_LINE = re.compile(r"([^\s=]+)\s*(?:=\s*)?(.*)")
#: Keyword → ``build_spec`` keyword, for the directives we import.
_FIELDS = {"hostname": "address", "port": "port", "user": "user", "identityfile": "identity_file"}
_NAMES = {"hostname": "HostName", "port": "Port", "user": "User", "identityfile": "IdentityFile"}
_KEYWORDS = frozenset({"host", "match", "include", *_FIELDS})

#: One ``Host`` line's patterns, or ``None`` for a ``Match`` line (applies to nothing here).
Condition = tuple[str, ...] | None


@dataclass(slots=True)
class _Block:
    """Directives under the same conditions (the enclosing ``Host`` lines, Includes nesting)."""

    conditions: tuple[Condition, ...]
    directives: list[tuple[str, str, str, int]] = field(default_factory=list)  # kw, value, at


@dataclass(slots=True)
class _Config:
    parsed: Parsed
    blocks: list[_Block] = field(default_factory=list)
    aliases: dict[str, tuple[str, int]] = field(default_factory=dict)  # alias → first Host line


def parse_ssh_config(text: str, path: str) -> Parsed:
    config = _Config(Parsed())
    _read(config, text, path, (), 0)
    general, by_alias = _index(config.blocks)
    for alias, (path_, line) in config.aliases.items():
        blocks = [config.blocks[at] for at in merge(general, by_alias.get(alias, ()))]
        _machine(config.parsed, blocks, alias, path_, line)
    return config.parsed


def _index(blocks: list[_Block]) -> tuple[list[int], dict[str, list[int]]]:
    """Which blocks may apply to whom: a block under a ``Host`` line of plain aliases is looked
    at only for those aliases; the others (wildcards, no ``Host``) for everyone."""
    general: list[int] = []
    by_alias: dict[str, list[int]] = {}
    for at, block in enumerate(blocks):
        if not block.directives or None in block.conditions:
            continue
        innermost = block.conditions[-1] if block.conditions else None
        if innermost is not None and all(map(_is_alias, innermost)):
            for alias in set(innermost):
                by_alias.setdefault(alias, []).append(at)
        else:
            general.append(at)
    return general, by_alias


def _read(config: _Config, text: str, path: str, outer: tuple[Condition, ...], depth: int) -> None:
    block = _Block(outer)
    config.blocks.append(block)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            continue
        written, keyword = match.group(1), match.group(1).lower()
        if keyword not in _KEYWORDS:
            continue  # a directive that says nothing about which machines exist or how to reach
        try:
            args = _split(match.group(2))
        except ValueError as exc:
            config.parsed.problem(path, number, f"{written}: {exc}")
            continue
        if keyword in ("host", "match"):
            if not args:
                config.parsed.problem(path, number, f"{written}: missing value")
            condition = tuple(args) if keyword == "host" else None
            block = _Block((*outer, condition))
            config.blocks.append(block)
            if condition is not None:
                _aliases(config, block.conditions, condition, path, number)
        elif keyword == "include":
            _include(config, args, path, number, block.conditions, depth)
            block = _Block(block.conditions)  # directives after it come after the included ones
            config.blocks.append(block)
        elif keyword in _FIELDS:
            if len(args) != 1:
                found = f"{len(args)} values" if args else "none"
                message = f"{_NAMES[keyword]}: expected one value, found {found}"
                config.parsed.problem(path, number, message)
            else:
                block.directives.append((keyword, args[0], path, number))


def _split(text: str) -> list[str]:
    """Arguments as OpenSSH splits them: blanks separate, double quotes group (also mid-word),
    ``\\"`` ``\\\\`` and ``\\ `` escape, a word starting with ``#`` ends the line."""
    args: list[str] = []
    word: list[str] | None = None  # None: between words
    quoted = False
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        if char == "\\" and at + 1 < end and text[at + 1] in ('"', "\\", " "):
            if not quoted or text[at + 1] != " ":
                char = text[at + 1]
                at += 1
        elif char == '"':
            quoted = not quoted
            word = word if word is not None else []
            at += 1
            continue
        elif not quoted and char.isspace():
            if word is not None:
                args.append("".join(word))
                word = None
            at += 1
            continue
        elif not quoted and char == "#" and word is None:
            break
        word = word if word is not None else []
        word.append(char)
        at += 1
    if quoted:
        raise ValueError("unterminated double quote")
    if word is not None:
        args.append("".join(word))
    return args


def _aliases(
    config: _Config,
    conditions: tuple[Condition, ...],
    patterns: tuple[str, ...],
    path: str,
    line: int,
) -> None:
    for alias in patterns:
        if _is_alias(alias) and alias not in config.aliases and _applies(conditions, alias):
            config.aliases[alias] = (path, line)


def _is_alias(pattern: str) -> bool:
    return not (pattern.startswith("!") or "*" in pattern or "?" in pattern)


def _matches(patterns: tuple[str, ...], alias: str) -> bool:
    """OpenSSH ``Host`` matching: a negated match excludes, else any plain match includes."""
    hit = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern[1:] if negated else pattern
        # OpenSSH knows only * and ?: a [ is itself (fnmatch would read a class).
        if alias == bare or (
            ("*" in bare or "?" in bare) and fnmatchcase(alias, bare.replace("[", "[[]"))
        ):
            if negated:
                return False
            hit = True
    return hit


def _applies(conditions: tuple[Condition, ...], alias: str) -> bool:
    return all(c is not None and _matches(c, alias) for c in conditions)


def _include(
    config: _Config, args: list[str], path: str, line: int, at: tuple[Condition, ...], depth: int
) -> None:
    if not args:
        config.parsed.problem(path, line, "Include: missing value")
        return
    if depth >= MAX_INCLUDE_DEPTH:
        config.parsed.problem(path, line, f"Include: nested more than {MAX_INCLUDE_DEPTH} deep")
        return
    base = Path(path).parent
    for pattern in args:
        expanded = os.path.expanduser(pattern)
        full = expanded if os.path.isabs(expanded) else str(base / expanded)
        try:
            names = sorted(glob.glob(full))
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the pattern
            config.parsed.problem(path, line, f"Include: cannot expand {pattern!r}: {exc}")
            continue
        for name in names:
            try:
                text = decode_text(Path(name).read_bytes(), name)
            except OSError as exc:
                config.parsed.problem(path, line, f"Include: cannot read {name!r}: {exc.strerror}")
                continue
            except ImportFailed as exc:
                config.parsed.problems.extend(exc.problems)
                continue
            _read(config, text, name, at, depth + 1)


def _machine(parsed: Parsed, blocks: list[_Block], alias: str, path: str, line: int) -> None:
    """The values for ``alias``: the first one found for each keyword, in file order."""
    fields: dict[str, str] = {}
    where: dict[str, tuple[str, int]] = {}
    for block in blocks:
        if _applies(block.conditions, alias):
            for keyword, value, at_path, at_line in block.directives:
                key = _FIELDS[keyword]
                if key not in fields:
                    fields[key] = _hostname(value, alias) if key == "address" else value
                    where[key] = (at_path, at_line)
    spec = make_spec(alias, fields)
    if isinstance(spec, list):
        for key, error in spec:
            at_path, at_line = where.get(key, (path, line))
            parsed.problem(at_path, at_line, str(error))
    else:
        parsed.machines.append(Found(path, line, spec))


def _hostname(value: str, alias: str) -> str:
    """``%h`` → the alias, ``%%`` → ``%``; other tokens are left as written."""
    return "%".join(part.replace("%h", alias) for part in value.split("%%"))
