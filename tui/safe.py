"""Text from machines and files is hostile: show it, never interpret it.

``plain`` makes any string safe to put on screen: control characters (ESC, CR, BEL, the C1
range, …) become visible ``\\xNN`` escapes, so no terminal sequence reaches the terminal, and
``Text`` (never markup) carries it, so ``[bold]`` stays literal.
"""

from __future__ import annotations

import re

from rich.text import Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def neutralise(value: str) -> str:
    """Replace control characters with visible escapes (tabs and newlines kept)."""
    if value.isprintable():  # nothing to replace: the common case, without a regex
        return value
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def plain(value: object, style: str = "", *, wrap: bool = False) -> Text:
    """A ``Text`` showing ``value`` literally: no markup, no control sequences. A table cell
    does not wrap; prose (``wrap=True``) does."""
    return Text(neutralise("" if value is None else str(value)), style=style, no_wrap=not wrap)
