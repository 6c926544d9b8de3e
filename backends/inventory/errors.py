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


class QueryError(InventoryError):
    """A query (``machine list --where``, a dynamic group) that cannot be read or applied.

    ``column`` is 1-based and points at the offending token (one past the end when the query
    stopped too early); ``length`` is how many characters that token covers (at least 1), so a
    caller can underline it. ``str()`` is the message, which names the column too. ``query`` is
    the query's text (set by the parser), for showing the column.
    """

    def __init__(self, message: str, column: int, length: int = 1, query: str = "") -> None:
        # One line whatever the query held: a control character quoted from it is shown by code.
        message = "".join(c if c.isprintable() else f"U+{ord(c):04X}" for c in message)
        self.message = message
        self.column = column
        self.length = max(1, length)
        self.query = query
        super().__init__(message)


class AmbiguousName(InventoryError):
    """A target name that is both a machine and a group."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = ", ".join(repr(n) for n in names)
        first = names[0]
        super().__init__(
            f"{listed} {'is' if len(names) == 1 else 'are'} both a machine and a group: "
            f"write machine:{first} or group:{first}"
        )


class InUse(InventoryError):
    """Something cannot be deleted while other things refer to it."""

    def __init__(self, kind: str, name: str, users: str, user_names: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.user_names = user_names
        listed = ", ".join(repr(n) for n in user_names)
        super().__init__(
            f"the {kind} {name!r} is a target of {users} {listed}: remove it from there first"
        )
