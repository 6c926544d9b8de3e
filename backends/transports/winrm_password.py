"""Where a WinRM password comes from: never the inventory.

In order: ``PATCHDECK_WINRM_PASSWORD_<NAME>`` (the machine's name upper-cased, every character
other than A-Z and 0-9 written ``_``), then ``PATCHDECK_WINRM_PASSWORD`` (every Windows machine),
then the system keyring when the ``keyring`` package is installed (service ``patchdeck-winrm``,
the machine's name, else its user name, as the key), then a :data:`PasswordSource` the caller
gives (the console's prompt). Nothing here logs, prints or stores a password.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

GENERIC_VARIABLE = "PATCHDECK_WINRM_PASSWORD"
KEYRING_SERVICE = "patchdeck-winrm"

PasswordSource = Callable[[str, str | None], Awaitable[str | None]]
"""Asked last, with the machine's name and user: the password, or ``None`` when there is none
(the operator cancelled a prompt, say)."""


class NoPassword(Exception):
    """No source had a password; ``str()`` says where one can be put."""


def password_variable(name: str) -> str:
    """``web-01`` → ``PATCHDECK_WINRM_PASSWORD_WEB_01``."""
    return f"{GENERIC_VARIABLE}_{re.sub(r'[^A-Z0-9]', '_', name.upper())}"


def _keyring() -> Any | None:
    try:
        return importlib.import_module("keyring")
    except ImportError:
        return None


def _from_keyring(name: str, user: str | None) -> str | None:
    keyring = _keyring()
    if keyring is None:
        return None
    for key in (name, user):
        if not key:
            continue
        try:
            found = keyring.get_password(KEYRING_SERVICE, key)
        except Exception as exc:  # no backend, a locked store, D-Bus gone: not a password
            log.debug("keyring lookup for %s failed: %s", name, type(exc).__name__)
            return None
        if isinstance(found, str) and found:
            return found
    return None


def lookup_password(
    name: str, user: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The password from the environment or the keyring, or ``None``. May block (the keyring):
    call it off the event loop."""
    env = os.environ if environ is None else environ
    for variable in (password_variable(name), GENERIC_VARIABLE):
        value = env.get(variable)
        if value:
            return value
    return _from_keyring(name, user)


def missing_message(name: str) -> str:
    return (
        f"no password for {name}: set {password_variable(name)} (or {GENERIC_VARIABLE} for "
        f"every Windows machine), or store it in the system keyring under service "
        f"{KEYRING_SERVICE!r} and key {name!r}"
    )
