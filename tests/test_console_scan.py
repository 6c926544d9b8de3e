"""Scanning from the console against the simulated fleet (real SSH servers on 127.0.0.1), trusting
a host key from a real OpenSSH server, and handing the terminal to `ssh`: driven by Pilot,
checked on the screen and in the inventory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from textual.widgets import Button

from backends.fleet.faults import FaultSpec
from backends.fleet.register import register_fleet
from backends.fleet.server import Fleet, serve
from backends.inventory.compliance import fleet_compliance
from backends.inventory.location import own_known_hosts
from backends.inventory.machine_status import machine_statuses
from backends.inventory.machines import add_machine, get_machine, list_machines
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.console_helpers import screen_text, settle
from tests.sshd import Sshd
from tui.actions import DASHBOARD, MACHINES
from tui.app import PatchdeckApp
from tui.modals.trust_keys import TrustKeys
from tui.widgets.list_table import ListTable

pytestmark = pytest.mark.timeout(120)

USER_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()
FAULTS = {"machines": {"sim-003": ["refuse-auth"], "sim-004": [{"slow": 0.5}]}}


@contextlib.asynccontextmanager
async def running_fleet(store: Store, tmp_path: Path, machines: int = 5) -> AsyncIterator[Fleet]:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    async with await serve(machines, seed=3, faults=FaultSpec.from_obj(FAULTS)) as fleet:
        register_fleet(store, store.url, fleet.machines, user="root", identity_file=str(key))
        yield fleet


async def wait_until(pilot: Any, done: Callable[[], bool], seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if done():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened; the screen was:\n{screen_text(pilot.app)}")


def _rows(app: Any) -> dict[str, list[str]]:
    table = app.screen.query_one("#machines", ListTable)
    rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    return {row[1]: row for row in rows}


async def test_a_scan_of_marked_machines_updates_rows_live(store: Store, tmp_path: Path) -> None:
    async with running_fleet(store, tmp_path):
        app = PatchdeckApp(store, first_view=MACHINES)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert {row[-1] for row in _rows(app).values()} == {"never"}
            await pilot.press("asterisk", "s")
            # the rows say what is happening while it happens (sim-004 answers slowly)
            await wait_until(pilot, lambda: _rows(app)["sim-004"][-1] == "scanning…")
            await wait_until(pilot, lambda: "never" not in {r[-1] for r in _rows(app).values()})
            await app.workers.wait_for_complete()
            await wait_until(pilot, lambda: "scanning…" not in {r[-1] for r in _rows(app).values()})
            await wait_until(pilot, lambda: _rows(app)["sim-004"][-1] == "ok")

            rows = _rows(app)
            assert rows["sim-003"][-1] == "failed"
            statuses = {s.name: s for s in machine_statuses(store)}
            for name, row in rows.items():
                status = statuses[name]
                recorded = "ok" if status.last_scan_outcome == "ok" else "failed"
                assert row[-1] == recorded, (name, row)
                if recorded == "ok":
                    assert row[2] == " ".join(filter(None, (status.distro, status.version)))
                    assert row[4] == str(status.missing.security)
                    assert row[6] == str(status.missing.other)
            assert get_machine(store, "sim-003").last_scan_error
            assert "refused every key" in (get_machine(store, "sim-003").last_scan_error or "")
            shown = [n.message for n in app._notifications]
            assert any("scan finished: 5 machines, 4 ok, 1 failed (sim-003)" in m for m in shown)

            # the failure in words, in the machine's detail
            await pilot.press("home", "down", "down", "down", "enter")
            await settle(pilot)
            assert "Last scan failed" in screen_text(app)
            assert "refused every key" in screen_text(app)
            await pilot.press("escape")
            await app.deck.scanner.close()


async def test_the_dashboard_counts_again_as_a_scan_finishes(store: Store, tmp_path: Path) -> None:
    async with running_fleet(store, tmp_path):
        app = PatchdeckApp(store, first_view=DASHBOARD)
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            text = screen_text(app)
            assert "not assessed     5" in text and "never scanned   5" in text
            await pilot.press("S")  # scan every machine
            await wait_until(pilot, lambda: "Scanning:" in screen_text(app))
            await app.workers.wait_for_complete()
            compliance = fleet_compliance(store)
            assert compliance.not_assessed == 1  # sim-003 refused us
            await wait_until(pilot, lambda: "never scanned   0" in screen_text(app))
            await wait_until(pilot, lambda: "not assessed     1" in screen_text(app))
            text = screen_text(app)
            assert "Scanning:" not in text
            assert f"non-compliant    {compliance.non_compliant}" in text
            assert f"reboot pending  {compliance.reboot_pending}" in text
            for count in compliance.by_classification:
                assert f"{count.missing} · {count.machines}" in text
            await app.deck.scanner.close()


async def test_quitting_during_a_scan_asks_and_then_stops_it(store: Store, tmp_path: Path) -> None:
    async with running_fleet(store, tmp_path):
        app = PatchdeckApp(store, first_view=MACHINES)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("down", "down", "down", "down", "s")  # sim-004, the slow one
            await wait_until(pilot, lambda: _rows(app)["sim-004"][-1] == "scanning…")
            await pilot.press("q")
            question = "A scan is running (0 of 1 machines done). Quit anyway?"
            await wait_until(pilot, lambda: question in screen_text(app))
            await pilot.press("right", "enter")
            await pilot.pause()
        assert app.return_code == 0


def test_trusting_a_host_key_shows_the_fingerprint_first(
    sshd: Sshd, store: Store, db_path: Path
) -> None:
    import asyncio

    add_machine(store, build_spec(name="box", address="127.0.0.1", port=sshd.port))
    own = own_known_hosts(store.url)

    async def drive() -> None:
        app = PatchdeckApp(store, first_view=MACHINES)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            await pilot.press("t")
            await wait_until(pilot, lambda: isinstance(app.screen, TrustKeys))
            await wait_until(pilot, lambda: "SHA256:" in screen_text(app))
            text = screen_text(app)
            assert "box" in text and "ssh-ed25519" in text and "new" in text
            assert app.focused is app.screen.query_one("#cancel", Button)
            assert not own.exists()  # nothing recorded before the operator agrees
            await pilot.press("enter")  # Cancel
            await pilot.pause()
            assert not own.exists()

            await pilot.press("t")
            await wait_until(pilot, lambda: "Trust 1 key above?" in screen_text(app))
            await pilot.press("right", "enter")  # Trust
            await wait_until(pilot, lambda: not isinstance(app.screen, TrustKeys))
            assert own.read_text() == sshd.known_hosts_line()

            await pilot.press("t")  # again: nothing left to trust
            await wait_until(pilot, lambda: "trusted already" in screen_text(app))
            assert "Every key above is trusted already." in screen_text(app)
            await pilot.press("escape")

    asyncio.run(drive())


class _Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    async def __call__(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        return 0


@contextlib.contextmanager
def _no_suspend() -> Iterator[None]:
    yield


async def test_ssh_opens_a_session_with_the_machines_settings(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    add_machine(
        store,
        build_spec(name="web-01", address="10.0.0.1", port=2222, user="ops", identity_file="/k/id"),
    )
    add_machine(store, build_spec(name="win-01", address="10.0.0.2", transport="winrm"))
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    extra = tmp_path / "extra known_hosts"
    app = PatchdeckApp(store, first_view=MACHINES, known_hosts=[tmp_path / "own", extra])
    recorder = _Recorder()
    app.deck.run_interactive = recorder
    monkeypatch.setattr(app, "suspend", _no_suspend)  # Pilot's headless terminal cannot
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        [command] = recorder.commands
        assert command == [
            "/usr/bin/ssh",
            "-p",
            "2222",
            "-o",
            f'UserKnownHostsFile={USER_KNOWN_HOSTS} {tmp_path / "own"} "{extra}"',
            "-o",
            "StrictHostKeyChecking=yes",
            "-l",
            "ops",
            "-i",
            "/k/id",
            "--",
            "10.0.0.1",
        ]
        await pilot.press("down", "c")  # a WinRM machine has no ssh
        await settle(pilot)
        assert len(recorder.commands) == 1
        assert any("reached over winrm, not ssh" in n.message for n in app._notifications)

        monkeypatch.setattr("shutil.which", lambda name: None)
        await pilot.press("up", "c")
        await settle(pilot)
        assert len(recorder.commands) == 1
        assert any("`ssh` command was not found" in n.message for n in app._notifications)
    assert sorted(m.name for m in list_machines(store)) == ["web-01", "win-01"]
