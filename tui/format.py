"""How the console and the CLI put facts into words: ages, OS names, yes/no/unknown."""

from __future__ import annotations

from datetime import UTC, datetime


def age(when: datetime | None, now: datetime | None = None) -> str:
    """A short age: ``45s``, ``12m``, ``3h``, ``5d``; ``never`` for no time."""
    if when is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def os_name(os_family: str, distro: str | None, version: str | None) -> str:
    """``debian 12``, or the family before the first scan found out more."""
    return " ".join(filter(None, (distro, version))) or os_family


def yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
