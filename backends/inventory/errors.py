"""Errors the service layer raises; each ``str()`` is one line an operator can act on."""

from __future__ import annotations


class InventoryError(Exception):
    """The inventory cannot do what was asked (cannot open, newer schema, …)."""


class NotFound(InventoryError):
    def __init__(self, kind: str, names: list[str]) -> None:
        self.kind = kind
        self.names = names
        listed = ", ".join(repr(n) for n in names)
        super().__init__(f"no {kind} named {listed}")


class AlreadyExists(InventoryError):
    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"a {kind} named {name!r} already exists")
