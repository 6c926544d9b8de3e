"""What the console's Pilot tests share: the screen as text, and waiting for workers."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot


def screen_text(app: Any) -> str:
    """Everything the current screen shows, as plain text, one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker finish and the screen catch up (no sleeping)."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def keys(text: str) -> list[str]:
    """``text`` as Pilot key presses (a space is ``space``)."""
    return ["space" if c == " " else c for c in text]


async def wait_for_text(pilot: Pilot[Any], text: str, seconds: float = 10) -> str:
    """Wait until the screen shows ``text`` (the palette searches in the background)."""
    for _ in range(int(seconds / 0.05)):
        shown = screen_text(pilot.app)
        if text in shown:
            return shown
        await pilot.pause(0.05)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen_text(pilot.app)}")
