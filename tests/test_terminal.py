"""The real console in a real terminal (tmux, 80×24): dashboard, `:machines`, a filter typed
in one burst, a mark, a machine's detail, the updates view, and `q`."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.inventory.machines import add_machine
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.conftest import patchdeck_command, require_tool


class Tmux:
    def __init__(self, tmux: str) -> None:
        self.tmux = tmux
        self.socket = f"patchdeck-test-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "console")

    def wait_for(self, text: str, seconds: float = 30, gone: str | None = None) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown and (gone is None or gone not in shown):
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def alive(self) -> bool:
        return "console" in self("list-sessions", "-F", "#{session_name}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    session = Tmux(require_tool("tmux", "tmux"))
    yield session
    session("kill-server")


def test_console_in_a_terminal(tmux: Tmux, store: Store, db_path: Path) -> None:
    for i in range(30):
        add_machine(store, build_spec(name=f"web-{i:02d}", address=f"10.1.0.{i}"))
    add_machine(store, build_spec(name="db-01", address="10.2.0.1"))
    command = shlex.join([*patchdeck_command(), "--db", str(db_path)])
    tmux(
        "new-session", "-d", "-s", "console", "-x", "80", "-y", "24",
        f"TERM=xterm-256color {command}; echo EXIT $?; sleep 30",
    )  # fmt: skip
    tmux.wait_for("31 machines")  # the dashboard comes first
    assert "not assessed" in tmux.wait_for("never scanned   31")
    tmux("send-keys", "-t", "console", "-l", ":machines")  # typed in one go as well
    tmux("send-keys", "-t", "console", "Enter")
    screen = tmux.wait_for("31 machines · by name")
    assert "db-01" in screen and "web-15" in screen and "q Quit" in screen
    tmux("send-keys", "-t", "console", "-l", "/db")  # typed in one go: no key may be lost
    screen = tmux.wait_for("1 of 31 machines match 'db'")
    assert "web-00" not in screen
    tmux("send-keys", "-t", "console", "Escape")
    tmux.wait_for("31 machines", gone="match")
    tmux("send-keys", "-t", "console", "Space")  # mark db-01
    tmux.wait_for("1 marked")
    tmux("send-keys", "-t", "console", "Up", "Enter")  # its detail
    screen = tmux.wait_for("Not assessed yet")
    assert "10.2.0.1:22 (ssh)" in screen
    tmux("send-keys", "-t", "console", "Escape")  # back to the list
    tmux.wait_for("31 machines · 1 marked")
    tmux("send-keys", "-t", "console", "3")  # the updates view
    tmux.wait_for("no missing update recorded")
    tmux("send-keys", "-t", "console", "q")
    # the console ends, gives the terminal back and exits 0
    tmux.wait_for("EXIT 0", seconds=20)
