"""Checks for operator-given machine fields, shared by ``machine add`` and every import format.

Each check returns the clean value or raises :class:`FieldError` naming the field and the value.
"""

from __future__ import annotations

import re

from backends.inventory.records import (
    CRITICALITIES,
    OS_FAMILIES,
    TRANSPORTS,
    WINRM_AUTHS,
    MachineSpec,
    Tag,
)

_NAME = re.compile(r"^[A-Za-z0-9_.@:\[\]-]+$")
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FieldError(ValueError):
    """A field's value is not acceptable; ``str()`` is a one-line message naming both."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {value!r} {reason}")


def check_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise FieldError("name", value, "is empty")
    if len(value) > 255 or not _NAME.match(value):
        raise FieldError(
            "name", value, "is not a valid machine name (letters, digits and . _ - @ : [ ] only)"
        )
    return value


def check_address(value: str) -> str:
    value = value.strip()
    if not value:
        raise FieldError("address", value, "is empty")
    if any(c.isspace() for c in value) or _CONTROL.search(value) or len(value) > 255:
        raise FieldError("address", value, "is not a host name or IP address")
    return value


def check_port(value: str | int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise FieldError("port", str(value), "is not a number") from None
    if not 1 <= port <= 65535:
        raise FieldError("port", str(value), "is not between 1 and 65535")
    return port


def _choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    clean = value.strip().lower()
    if clean not in choices:
        raise FieldError(field, value, f"is not one of {', '.join(choices)}")
    return clean


def check_transport(value: str) -> str:
    return _choice("transport", value, TRANSPORTS)


def check_os(value: str) -> str:
    return _choice("os", value, OS_FAMILIES)


def check_criticality(value: str) -> str:
    return _choice("criticality", value, CRITICALITIES)


def check_winrm_auth(value: str) -> str:
    return _choice("winrm_auth", value, WINRM_AUTHS)


def _winrm_options(
    transport: str,
    auth: str | None,
    https: bool | None,
    verify_cert: bool | None,
    ca_file: str | None,
) -> tuple[str, bool, bool, str | None]:
    """A spec's WinRM fields (auth, https, verify_cert, ca_file), checked: given only for
    WinRM machines, and Basic only over HTTPS (it sends the password as it is)."""
    clean_auth = check_winrm_auth(auth) if auth else None
    clean_ca = check_text("winrm_ca_file", ca_file)
    if transport != "winrm":
        given = (
            ("winrm_auth", clean_auth),
            ("winrm_https", "yes" if https else None),
            ("winrm_verify_cert", "no" if verify_cert is False else None),
            ("winrm_ca_file", clean_ca),
        )
        for field, value in given:
            if value is not None:
                raise FieldError(field, value, f"applies to WinRM machines only, not {transport}")
    if clean_auth == "basic" and not https:
        raise FieldError(
            "winrm_auth", "basic", "sends the password as it is: use it only with HTTPS"
        )
    return clean_auth or "ntlm", bool(https), verify_cert is not False, clean_ca


def check_text(field: str, value: str | None) -> str | None:
    """Free text (user, owner, role, …): stripped, no control characters; empty means unset."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _CONTROL.search(value) or len(value) > 1024:
        raise FieldError(field, value, "contains control characters or is too long")
    return value


def check_tag(value: str) -> Tag:
    """``key=value`` → ``(key, value)``."""
    key, sep, tag_value = value.partition("=")
    key, tag_value = key.strip(), tag_value.strip()
    if not sep or not key:
        raise FieldError("tag", value, "is not KEY=VALUE")
    if not _TAG_KEY.match(key):
        raise FieldError("tag", value, "has a key other than letters, digits and . _ -")
    if _CONTROL.search(tag_value) or len(tag_value) > 1024:
        raise FieldError("tag", value, "has control characters or is too long")
    return key, tag_value


def check_tags(value: str, separator: str = ";") -> tuple[Tag, ...]:
    """``k=v;k=v`` → tags, in order, duplicates dropped."""
    tags: list[Tag] = []
    for part in value.split(separator):
        if part.strip():
            tag = check_tag(part)
            if tag not in tags:
                tags.append(tag)
    return tuple(tags)


def build_spec(
    *,
    name: str,
    address: str | None,
    port: str | int | None = None,
    transport: str | None = None,
    os_family: str | None = None,
    user: str | None = None,
    identity_file: str | None = None,
    tags: tuple[Tag, ...] = (),
    owner: str | None = None,
    role: str | None = None,
    environment: str | None = None,
    criticality: str | None = None,
    winrm_auth: str | None = None,
    winrm_https: bool | None = None,
    winrm_verify_cert: bool | None = None,
    winrm_ca_file: str | None = None,
) -> MachineSpec:
    """Validate every field and build a :class:`MachineSpec`; raises :class:`FieldError`.

    Blank strings count as not given; ``address`` falls back to ``name`` only when ``None``.
    The ``winrm_*`` options are for WinRM machines only (``None``: the default).
    """
    clean_name = check_name(name)
    clean_transport = check_transport(transport) if transport else "ssh"
    auth, https, verify_cert, ca_file = _winrm_options(
        clean_transport, winrm_auth, winrm_https, winrm_verify_cert, winrm_ca_file
    )
    return MachineSpec(
        name=clean_name,
        address=check_address(clean_name if address is None else address),
        port=check_port(port) if port not in (None, "") else None,
        transport=clean_transport,
        os_family=check_os(os_family) if os_family else None,
        user=check_text("user", user),
        identity_file=check_text("identity", identity_file),
        tags=tags,
        owner=check_text("owner", owner),
        role=check_text("role", role),
        environment=check_text("environment", environment),
        criticality=check_criticality(criticality) if criticality else "medium",
        winrm_auth=auth,
        winrm_https=https,
        winrm_verify_cert=verify_cert,
        winrm_ca_file=ca_file,
    )
