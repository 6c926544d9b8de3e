"""Building a :class:`MachineSpec` from raw text fields, reporting every bad field at once.

All checking is :mod:`backends.inventory.validation`'s; this only decides which field is at
fault so that a parser can point at the line that gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from backends.inventory.records import MachineSpec, Tag
from backends.inventory.validation import (
    FieldError,
    build_spec,
    check_address,
    check_criticality,
    check_name,
    check_os,
    check_port,
    check_text,
    check_transport,
)

#: ``build_spec`` keyword → its check, to find every faulty field once ``build_spec`` failed.
_CHECKS: dict[str, Callable[[str], object]] = {
    "name": check_name,
    "address": check_address,
    "port": check_port,
    "transport": check_transport,
    "os_family": check_os,
    "user": partial(check_text, "user"),
    "identity_file": partial(check_text, "identity"),
    "owner": partial(check_text, "owner"),
    "role": partial(check_text, "role"),
    "environment": partial(check_text, "environment"),
    "criticality": check_criticality,
}
FIELDS = frozenset(_CHECKS) - {"name"}

#: Fields that ``build_spec`` checks even when empty (empty is "not given" for the others).
_CHECKED_WHEN_EMPTY = frozenset({"name", "address"})
#: ``FieldError.field`` → ``build_spec`` keyword, where they differ.
_KEYWORDS = {"os": "os_family", "identity": "identity_file"}

FieldErrors = list[tuple[str, FieldError]]


def make_spec(
    name: str, fields: Mapping[str, str], tags: tuple[Tag, ...] = ()
) -> MachineSpec | FieldErrors:
    """``fields`` maps ``build_spec`` keywords (not ``name``) to raw text; absent = not given.

    Returns the spec, or every ``(keyword, FieldError)`` found.
    """
    get = fields.get
    try:
        return build_spec(
            name=name,
            address=get("address"),
            port=get("port"),
            transport=get("transport"),
            os_family=get("os_family"),
            user=get("user"),
            identity_file=get("identity_file"),
            tags=tags,
            owner=get("owner"),
            role=get("role"),
            environment=get("environment"),
            criticality=get("criticality"),
        )
    except FieldError as first:
        errors: FieldErrors = []
        for key, value in (("name", name), *fields.items()):
            if value != "" or key in _CHECKED_WHEN_EMPTY:
                try:
                    _CHECKS[key](value)
                except FieldError as exc:
                    errors.append((key, exc))
        return errors or [(_KEYWORDS.get(first.field, first.field), first)]
