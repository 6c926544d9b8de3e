"""A tmux server of the test's own, to run patchdeck in a real terminal and read its screen."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Mapping


class Tmux:
    """``tmux -L <unique socket>``; the server (started by the first command) and so every
    session gets ``env``: os.environ without PATCHDECK_* variables, plus what the test adds."""

    def __init__(self, tmux: str, env: Mapping[str, str] | None = None) -> None:
        self.tmux = tmux
        self.socket = f"patchdeck-test-{uuid.uuid4().hex[:8]}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
        self.env = {**base, "TERM": "xterm-256color", **(env or {})}

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
            env=self.env,
        ).stdout

    def screen(self, session: str = "console") -> str:
        return self("capture-pane", "-p", "-t", session)

    def wait_for(
        self, text: str, seconds: float = 30, gone: str | None = None, session: str = "console"
    ) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = self.screen(session)
            if text in shown and (gone is None or gone not in shown):
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen(session)}")

    def wait_for_any(self, *texts: str, seconds: float = 30, session: str = "console") -> str:
        """The first of ``texts`` to appear on the screen."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = self.screen(session)
            for text in texts:
                if text in shown:
                    return text
            time.sleep(0.2)
        raise AssertionError(f"none of {texts!r} appeared; the screen was:\n{self.screen(session)}")

    def alive(self, session: str = "console") -> bool:
        return session in self("list-sessions", "-F", "#{session_name}")
