"""What a query can ask about a machine: its fields, the operators each takes, and how a value
is read for each (text, a choice, a count, a yes/no, a duration).

Pure Python: the parser checks a query against this catalogue, and ``query_compile`` turns
checked comparisons into SQL expressions.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from backends.inventory.durations import EXAMPLES as DURATION_EXAMPLES
from backends.inventory.durations import MAX_DURATION, DurationError, parse_duration
from backends.inventory.errors import QueryError
from backends.inventory.query_lexer import Token
from backends.inventory.records import CLASSIFICATIONS, CRITICALITIES, OS_FAMILIES, TRANSPORTS

# Every classification any OS family has, in display order.
ALL_CLASSIFICATIONS: tuple[str, ...] = tuple(
    dict.fromkeys(c for family in CLASSIFICATIONS.values() for c in family)
)
MAX_COUNT = 1_000_000_000
MAX_AGE = MAX_DURATION
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_BOOLEANS: dict[str, bool | None] = {
    "true": True,
    "yes": True,
    "false": False,
    "no": False,
    "unknown": None,
}


class FieldType(Enum):
    TEXT = "text"  # = != ~ in, compared without regard to (ASCII) case
    CHOICE = "choice"  # one of a fixed set: = != in
    RANK = "rank"  # an ordered choice (criticality): = != < <= > >= in
    COUNT = "count"  # a whole number: = != < <= > >= in
    BOOLEAN = "boolean"  # true | false | unknown: = !=
    AGE = "age"  # a duration since a time: < <= > >=


OPERATORS_BY_TYPE: dict[FieldType, tuple[str, ...]] = {
    FieldType.TEXT: ("=", "!=", "~", "in"),
    FieldType.CHOICE: ("=", "!=", "in"),
    FieldType.RANK: ("=", "!=", "<", "<=", ">", ">=", "in"),
    FieldType.COUNT: ("=", "!=", "<", "<=", ">", ">=", "in"),
    FieldType.BOOLEAN: ("=", "!="),
    FieldType.AGE: ("<", "<=", ">", ">="),
}

Value = str | int | bool | None | timedelta


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: its name in queries, its type, and (for choices) the values it takes."""

    name: str
    type: FieldType
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS_BY_TYPE[self.type]


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field as a query names it: ``tag.env`` is the tag field with key ``env``,
    ``missing.security`` the missing field with classification ``security``."""

    spec: FieldSpec
    key: str | None = None

    @property
    def label(self) -> str:
        return f"{self.spec.name}.{self.key}" if self.key is not None else self.spec.name


# Fields that are one machine column, by query name.
PLAIN_FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("name", FieldType.TEXT, help="the machine's name"),
        FieldSpec("address", FieldType.TEXT, help="host name or IP address"),
        FieldSpec("os", FieldType.CHOICE, OS_FAMILIES, "OS family"),
        FieldSpec("distro", FieldType.TEXT, help="os-release ID (debian, rhel, …), from scans"),
        FieldSpec("version", FieldType.TEXT, help="OS version (12, 22.04, 9.3, …), from scans"),
        FieldSpec("transport", FieldType.CHOICE, TRANSPORTS, "how patchdeck reaches it"),
        FieldSpec("owner", FieldType.TEXT),
        FieldSpec("role", FieldType.TEXT),
        FieldSpec("environment", FieldType.TEXT),
        FieldSpec("criticality", FieldType.RANK, CRITICALITIES, "low < medium < high < critical"),
        FieldSpec("reboot_pending", FieldType.BOOLEAN, help="the last scan found a reboot due"),
        FieldSpec("reachable", FieldType.BOOLEAN, help="the last scan reached the machine"),
        FieldSpec("last_scan_age", FieldType.AGE, help="time since the last scan; never = ∞"),
    )
}
TAG = FieldSpec("tag", FieldType.TEXT, help="tag.<key>: a value of that tag")
MISSING = FieldSpec(
    "missing", FieldType.COUNT, ALL_CLASSIFICATIONS, "missing.<classification> or missing.total"
)
MISSING_TOTAL = "total"

FIELD_NAMES: tuple[str, ...] = (
    *PLAIN_FIELDS,
    "tag.<key>",
    *(f"missing.{c}" for c in ALL_CLASSIFICATIONS),
    "missing.total",
)
_SUGGESTIONS = (*PLAIN_FIELDS, "tag.", *(f"missing.{c}" for c in (*ALL_CLASSIFICATIONS, "total")))


def lookup_field(token: Token) -> FieldRef:
    """The field ``token`` names; :class:`QueryError` naming it and every field if none."""
    text = token.text
    lower = text.lower()
    if lower in PLAIN_FIELDS:
        return FieldRef(PLAIN_FIELDS[lower])
    head, dot, rest = text.partition(".")
    if dot and head.lower() == "tag":
        if not rest or not _TAG_KEY.match(rest):
            raise QueryError(
                f"'{text}' at column {token.column} needs a tag key after 'tag.' "
                "(letters, digits and . _ -), as in tag.env",
                token.column,
                token.length,
            )
        return FieldRef(TAG, rest)
    if dot and head.lower() == "missing":
        which = rest.lower()
        if which == MISSING_TOTAL or which in ALL_CLASSIFICATIONS:
            return FieldRef(MISSING, which)
        raise QueryError(
            f"unknown classification '{rest}' in '{text}' at column {token.column}; "
            f"use missing.total or missing.<classification>: {', '.join(ALL_CLASSIFICATIONS)}",
            token.column,
            token.length,
        )
    close = difflib.get_close_matches(lower, _SUGGESTIONS, n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise QueryError(
        f"unknown field '{text}' at column {token.column}{hint}; "
        f"fields are {', '.join(PLAIN_FIELDS)}, tag.<key>, missing.<classification>, "
        "missing.total",
        token.column,
        token.length,
    )


def read_value(field: FieldRef, operator: str, token: Token) -> Value:
    """``token``'s text as a value of ``field``; :class:`QueryError` naming both if it is not."""
    spec, text = field.spec, token.text

    def bad(what: str) -> QueryError:
        return QueryError(
            f"{field.label} {what}, not {token.describe()} at column {token.column}",
            token.column,
            token.length,
        )

    if spec.type is FieldType.TEXT:
        return text
    if spec.type in (FieldType.CHOICE, FieldType.RANK):
        if text.lower() not in spec.choices:
            raise bad(f"is one of {', '.join(spec.choices)}")
        return text.lower()
    if spec.type is FieldType.COUNT:
        if not text.isascii() or not text.isdigit():
            raise bad("is compared with a whole number")
        if len(text) > 10 or int(text) > MAX_COUNT:
            raise bad(f"is compared with a number up to {MAX_COUNT}")
        return int(text)
    if spec.type is FieldType.BOOLEAN:
        if text.lower() not in _BOOLEANS:
            raise bad("is true, false or unknown (yes and no work too)")
        return _BOOLEANS[text.lower()]
    return _duration(field, token)


def _duration(field: FieldRef, token: Token) -> timedelta:
    where = f"at column {token.column}"
    try:
        return parse_duration(token.text)
    except DurationError as exc:
        hint = "" if exc.too_long else f": {field.label} takes durations like {DURATION_EXAMPLES}"
        raise QueryError(
            f"{token.describe()} {where} {exc}{hint}", token.column, token.length
        ) from None
