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
    check_winrm_auth,
)

_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def check_flag(field: str, value: str) -> bool:
    """``true``/``yes``/``1`` or ``false``/``no``/``0`` (any case) → the boolean."""
    clean = value.strip().lower()
    if clean in _TRUE:
        return True
    if clean in _FALSE:
        return False
    raise FieldError(field, value, f"is not one of {', '.join((*_TRUE, *_FALSE))}")


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
    "winrm_auth": check_winrm_auth,
    "winrm_https": partial(check_flag, "winrm_https"),
    "winrm_verify_cert": partial(check_flag, "winrm_verify"),
    "winrm_ca_file": partial(check_text, "winrm_ca_file"),
}
FIELDS = frozenset(_CHECKS) - {"name"}

#: Fields that ``build_spec`` checks even when empty (empty is "not given" for the others).
_CHECKED_WHEN_EMPTY = frozenset({"name", "address"})
#: ``FieldError.field`` → ``build_spec`` keyword, where they differ.
_KEYWORDS = {"os": "os_family", "identity": "identity_file", "winrm_verify": "winrm_verify_cert"}

FieldErrors = list[tuple[str, FieldError]]
#: Turns a format's own text for a field into the text :func:`make_spec` reads (``https`` →
#: ``true``, say); raises :class:`FieldError` naming the field as the format does.
Translate = Callable[[str], str]


def make_spec(
    name: str,
    fields: Mapping[str, str],
    tags: tuple[Tag, ...] = (),
    *,
    translate: Mapping[str, Translate] | None = None,
    labels: Mapping[str, str] | None = None,
) -> MachineSpec | FieldErrors:
    """``fields`` maps ``build_spec`` keywords (not ``name``) to raw text; absent = not given.

    ``winrm_https`` and ``winrm_verify_cert`` are ``true``/``false`` (``yes``/``no``, ``1``/``0``)
    unless ``translate`` reads them (or any field) from the format's own values first.
    ``labels`` names fields as the file does (``winrm_verify``, ``ansible_winrm_scheme``) in
    the problems that involve two fields (a WinRM option on an ssh machine, Basic over HTTP).

    Returns the spec, or every ``(keyword, FieldError)`` found.
    """
    common: dict[str, str] = {}
    untranslatable: dict[str, FieldError] = {}
    for key, text in fields.items():
        how = (translate or {}).get(key)
        try:
            common[key] = how(text) if how is not None and text.strip() else text
        except FieldError as exc:
            untranslatable[key] = exc
    first: FieldError | None = None
    if not untranslatable:
        try:
            return _build(name, common, tags)
        except FieldError as exc:
            first = exc
    errors: FieldErrors = []
    for key in ("name", *fields):
        value = name if key == "name" else common.get(key)
        if value is None:
            errors.append((key, untranslatable[key]))
        elif value != "" or key in _CHECKED_WHEN_EMPTY:
            try:
                _CHECKS[key](value)
            except FieldError as exc:
                errors.append((key, exc))
    if errors or first is None:
        return errors
    key = _KEYWORDS.get(first.field, first.field)
    label = (labels or {}).get(key)
    if label is not None and key in fields:  # say it with the file's own name and value
        first = FieldError(label, fields[key].strip(), first.reason)
    return [(key, first)]


def _build(name: str, fields: Mapping[str, str], tags: tuple[Tag, ...]) -> MachineSpec:
    get = fields.get
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
        winrm_auth=get("winrm_auth"),
        winrm_https=_flag(get("winrm_https"), "winrm_https"),
        winrm_verify_cert=_flag(get("winrm_verify_cert"), "winrm_verify"),
        winrm_ca_file=get("winrm_ca_file"),
    )


def _flag(value: str | None, field: str) -> bool | None:
    return check_flag(field, value) if value and value.strip() else None
