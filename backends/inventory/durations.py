"""Durations as operators write them: ``90s``, ``30m``, ``2h``, ``7d``, ``2w``, ``1h30m``.

One reading for the query language (``last_scan_age > 24h``) and for deployments
(``--window 1h30m``), so the same text means the same time everywhere.
"""

from __future__ import annotations

import re
from datetime import timedelta

MAX_DURATION = timedelta(days=36_500)
_DURATION = re.compile(r"^(?:\d+[smhdw])+$")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EXAMPLES = "90s, 30m, 24h, 7d, 2w or 1h30m"


class DurationError(ValueError):
    """Not a duration (``str()`` says why, as a predicate: ``needs a unit``), or one too long
    (``too_long``)."""

    def __init__(self, message: str, too_long: bool = False) -> None:
        super().__init__(message)
        self.too_long = too_long


def parse_duration(text: str) -> timedelta:
    """``text`` (numbers each followed by s, m, h, d or w; case-insensitive) as a duration.

    Raises :class:`DurationError` for anything else, and for more than :data:`MAX_DURATION`.
    """
    clean = text.strip().lower()
    if not clean.isascii() or not _DURATION.match(clean):
        bare = clean.isascii() and clean.isdigit()
        raise DurationError("needs a unit" if bare else "is not a duration")
    seconds = 0
    for number, unit in _DURATION_PART.findall(clean):
        if len(number) > 12:
            seconds = int(MAX_DURATION.total_seconds()) + 1
            break
        seconds += int(number) * _UNIT_SECONDS[unit]
    if seconds > MAX_DURATION.total_seconds():
        raise DurationError(f"is longer than {MAX_DURATION.days} days", too_long=True)
    return timedelta(seconds=seconds)


def format_minutes(minutes: int) -> str:
    """``120`` -> ``2h``, ``90`` -> ``1h30m``, ``45`` -> ``45m``: what :func:`parse_duration`
    reads back as the same time."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h{rest}m" if rest else f"{hours}h"
