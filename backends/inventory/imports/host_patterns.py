"""Ansible host patterns: ``web[01:03].example.com``, ``db-[a:c]``, ``host:2222``."""

from __future__ import annotations

import re
import string
from itertools import product

#: ``[beg:end]`` or ``[beg:end:step]``; ``end`` must be given (``[::1]`` is not a range).
_RANGE = re.compile(r"\[([A-Za-z0-9]*):([A-Za-z0-9]+)(?::([0-9]+))?\]")
_BRACKETED = re.compile(r"\[[^\]]*\]")
MAX_HOSTS = 100_000


class PatternError(ValueError):
    """A host pattern that cannot be expanded; ``str()`` says why."""


def split_port(pattern: str) -> tuple[str, str | None]:
    """``host:2222`` → ``("host", "2222")``; colons inside ``[...]`` and IPv6 are left alone."""
    outside = _BRACKETED.sub("", pattern)
    if outside.count(":") == 1:
        head, _, port = pattern.rpartition(":")
        if port.isdigit() and head:
            return head, port
    return pattern, None


def expand(pattern: str) -> list[str]:
    """Every host name a pattern stands for, in order; raises :class:`PatternError`."""
    pieces: list[list[str]] = []
    count, at = 1, 0
    for match in _RANGE.finditer(pattern):
        span = _span(match)
        count *= len(span)
        if count > MAX_HOSTS:
            raise PatternError(f"host pattern {pattern!r} stands for more than {MAX_HOSTS} hosts")
        pieces += [[pattern[at : match.start()]], span]
        at = match.end()
    if not pieces:
        return [pattern]
    pieces.append([pattern[at:]])
    return ["".join(parts) for parts in product(*pieces)]


def _span(match: re.Match[str]) -> list[str]:
    beg, end, step_text = match.group(1) or "0", match.group(2), match.group(3) or "1"
    step = int(step_text)
    where = f"host range {match.group(0)!r}"
    if step < 1:
        raise PatternError(f"{where} has a step below 1")
    letters = string.ascii_letters
    if len(beg) == 1 and len(end) == 1 and beg in letters and end in letters:
        first, last = letters.index(beg), letters.index(end)
        if first > last:
            raise PatternError(f"{where} runs backwards")
        return list(letters[first : last + 1 : step])
    if not (beg.isdigit() and end.isdigit()):
        raise PatternError(f"{where} is neither numeric nor single letters")
    first, last = int(beg), int(end)
    if first > last:
        raise PatternError(f"{where} runs backwards")
    if (last - first) // step >= MAX_HOSTS:
        raise PatternError(f"{where} stands for more than {MAX_HOSTS} hosts")
    width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
    if width and len(end) != width:
        raise PatternError(f"{where} must have begin and end of the same length")
    return [str(n).zfill(width) for n in range(first, last + 1, step)]
