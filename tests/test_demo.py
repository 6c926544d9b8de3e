"""``patchdeck demo`` as a new user runs it: in a real terminal (tmux), on a simulated fleet it
starts itself, and gone without a trace when the console exits or fails to start.

Each test gives the demo a TMPDIR of its own, so the demo's temporary directory is found there
and the fleet process is found by that path in its command line: nothing in patchdeck has to
report either for the tests' sake.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.inventory.machines import list_machines
from backends.inventory.records import Machine
from backends.inventory.store import Store
from tests.conftest import patchdeck_command, require_tool, run_cli
from tests.tmux import Tmux

pytestmark = pytest.mark.timeout(180)


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains ``text``: pid -> command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # ended while we looked
        command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if text in command and state != "Z":
            found[int(entry.name)] = command
    return found


def wait_until_gone(text: str, seconds: float = 20) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_mentioning(text)
    return left


@pytest.fixture
def demo_tmp(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.fixture
def tmux(tmp_path: Path, demo_tmp: Path) -> Iterator[Tmux]:
    env = {"TMPDIR": str(demo_tmp), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    session = Tmux(require_tool("tmux", "tmux"), env)
    yield session
    session("kill-server")
    for pid in wait_until_gone(str(demo_tmp), seconds=5):  # a failed test leaves nothing either
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def start_demo(tmux: Tmux, log: Path, machines: int = 12, windows: int = 0) -> None:
    """Run the demo in an 80×24 terminal, its output also copied to ``log`` from the start."""
    command = shlex.join(
        [*patchdeck_command(), "demo", "--machines", str(machines), "--windows", str(windows)]
    )
    tmux(
        "new-session", "-d", "-s", "console", "-x", "80", "-y", "24",
        f"read go; {command}; echo EXIT $?; sleep 60",
    )  # fmt: skip
    tmux("pipe-pane", "-t", "console", "-o", f"cat >> {shlex.quote(str(log))}")
    tmux("send-keys", "-t", "console", "Enter")


def demo_inventory(demo_tmp: Path) -> Path:
    folders = list(demo_tmp.glob("patchdeck-demo-*"))
    assert len(folders) == 1, folders
    return folders[0] / "inventory.db"


def recorded(db: Path) -> list[Machine]:
    store = Store(f"sqlite:///{db}")
    try:
        return list_machines(store)
    finally:
        store.close()


def test_demo_scans_a_fleet_opens_the_console_and_cleans_up(
    tmux: Tmux, demo_tmp: Path, tmp_path: Path
) -> None:
    log = tmp_path / "terminal.log"
    start_demo(tmux, log, windows=2)
    tmux.wait_for("14 machines", seconds=90)  # the console's first screen
    # the machines view lists every machine with what the scan found out
    tmux("send-keys", "-t", "console", ":")
    tmux.wait_for("enter goes")
    tmux("send-keys", "-t", "console", "-l", "machines")
    tmux("send-keys", "-t", "console", "Enter")
    screen = tmux.wait_for("win-001", gone="enter goes")
    names = [f"sim-{i:03d}" for i in range(12)] + ["win-000", "win-001"]
    assert all(name in screen for name in names), screen
    for scanned in ("ubuntu 22.04", "debian 11", "rhel 9.4", "sles 15.6", "Windows Server"):
        assert scanned in screen  # the OS as the scan detected it (registered: "linux")
    # the first scan ran before the console opened, with the scan command's progress line
    shown = log.read_bytes().decode(errors="replace")
    assert "starting 12 simulated machines and 2 Windows on 127.0.0.1" in shown
    assert "scanning" in shown and "/14" in shown

    # the fleet runs in a process of its own; the inventory is a throwaway one in TMPDIR
    fleet = processes_mentioning(str(demo_tmp))
    assert len(fleet) == 1 and " fleet serve " in next(iter(fleet.values())), fleet
    machines = {m.name: m for m in recorded(demo_inventory(demo_tmp))}
    assert sorted(machines) == names
    ok = [m for m in machines.values() if m.last_scan_outcome == "ok"]
    assert len(ok) >= 10
    # the Windows machines were scanned over WinRM with the password the demo made for them
    windows = [machines["win-000"], machines["win-001"]]
    assert all(m.transport == "winrm" and m.last_scan_outcome == "ok" for m in windows)
    assert sum(1 for m in ok if sum(m.missing.values()) > 0) >= 6  # most miss updates
    assert any(m.reboot_pending for m in ok)
    failed = [m for m in machines.values() if m.last_scan_outcome == "failed"]
    unreachable = [m for m in failed if m.reachable is False]
    assert unreachable and all(
        "refused the connection" in (m.last_scan_error or "") for m in unreachable
    )
    refused = [m for m in failed if "refused every key" in (m.last_scan_error or "")]
    assert len(refused) == 1 and refused[0].reachable is True
    assert all(m.last_scan_at is not None for m in machines.values())

    # the operator's walk: filter, mark, scan the marked machine, its detail, the updates
    before = machines["sim-003"].last_scan_at
    keys = lambda *k: tmux("send-keys", "-t", "console", *k)  # noqa: E731
    keys("/")
    keys("-l", "sim-003")
    screen = tmux.wait_for("sim-003", gone="sim-011")
    assert "sim-002" not in screen and "sim-004" not in screen  # filtered to one row
    keys("Enter")  # back to the table, on that row
    time.sleep(0.5)  # a space sent with the Enter would still be typed into the filter
    keys("Space")
    tmux.wait_for("●")
    keys("s")
    tmux.wait_for("scan finished: 1 machines", seconds=60)
    after = {m.name: m for m in recorded(demo_inventory(demo_tmp))}["sim-003"]
    assert after.last_scan_at is not None and before is not None and after.last_scan_at > before
    keys("Enter")
    screen = tmux.wait_for("reboot pending", seconds=20)  # the machine's facts
    assert "last scan" in screen and "Installed" in screen and "127.0.0.1" in screen
    keys("Escape")
    tmux.wait_for("machines match", gone="reboot pending")  # the filtered list again
    keys(":")
    tmux.wait_for("enter goes")
    keys("-l", "updates")
    keys("Enter")
    screen = tmux.wait_for("Severity", gone="enter goes", seconds=20)
    assert "Update" in screen and "Class" in screen
    assert "security" in screen or "other" in screen  # a fleet-wide list of what is missing

    tmux("send-keys", "-t", "console", "q")
    if tmux.wait_for_any("EXIT ", "Quit anyway?") == "Quit anyway?":
        tmux("send-keys", "-t", "console", "Right")  # Cancel has the focus: move to Quit
        tmux("send-keys", "-t", "console", "Enter")
    screen = tmux.wait_for("EXIT ", seconds=30)
    assert "EXIT 0" in screen, screen
    assert wait_until_gone(str(demo_tmp)) == {}  # the fleet was stopped (and waited for)
    assert list(demo_tmp.iterdir()) == []  # the temporary files are gone


def test_a_hangup_also_stops_the_fleet_and_removes_the_files(
    tmux: Tmux, demo_tmp: Path, tmp_path: Path
) -> None:
    start_demo(tmux, tmp_path / "terminal.log", machines=4)
    tmux.wait_for("4 machines", seconds=90)  # the console is up
    assert len(processes_mentioning(str(demo_tmp))) == 1
    tmux("kill-session", "-t", "console")  # the terminal goes away: SIGHUP
    assert wait_until_gone(str(demo_tmp)) == {}
    deadline = time.monotonic() + 20
    while list(demo_tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(demo_tmp.iterdir()) == []


def test_a_fleet_that_does_not_start_in_time_fails_cleanly(demo_tmp: Path) -> None:
    result = run_cli(
        "demo",
        "--machines",
        "3",
        env={"TMPDIR": str(demo_tmp), "PATCHDECK_DEMO_FLEET_TIMEOUT": "0"},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        "patchdeck: the simulated fleet did not start within 0 s"
    )
    assert processes_mentioning(str(demo_tmp)) == {}  # started, then stopped and waited for
    assert list(demo_tmp.iterdir()) == []


def test_bad_demo_options_are_usage_errors(demo_tmp: Path) -> None:
    result = run_cli("demo", "--machines", "0", env={"TMPDIR": str(demo_tmp)})
    assert (result.returncode, result.stderr) == (
        2,
        "patchdeck: --machines: 0 is not between 1 and 20000\n",
    )
    result = run_cli("demo", env={"TMPDIR": str(demo_tmp), "PATCHDECK_DEMO_FLEET_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert "PATCHDECK_DEMO_FLEET_TIMEOUT: expected seconds" in result.stderr
    assert list(demo_tmp.iterdir()) == []
