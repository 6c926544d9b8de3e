"""Windows machines in the console: the WinRM password prompt (asked once, masked, kept in
memory only, asked again after a failure) against the simulated fleet's WS-Management
endpoints, and the warning for a machine whose HTTPS certificate is not checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input

from backends.fleet.register import register_windows
from backends.fleet.winrm_server import WinRMCredential, serve_windows
from backends.inventory.machines import add_machine, get_machine
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.console_helpers import screen_text, settle, wait_for_text
from tui.actions import MACHINES
from tui.app import SCAN_GROUP, PatchdeckApp
from tui.modals.password import PasswordPrompt

pytestmark = pytest.mark.timeout(90)

PASSWORD = "Pw-console-9d2e7c41"


@pytest.fixture(autouse=True)
def no_password_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PATCHDECK_WINRM_PASSWORD"):
            monkeypatch.delenv(name)


async def _prompted(pilot: object, app: PatchdeckApp) -> PasswordPrompt:
    for _ in range(200):  # bounded: 10 s
        if isinstance(app.screen, PasswordPrompt):
            return app.screen
        await pilot.pause(0.05)  # type: ignore[attr-defined]
    raise AssertionError(f"no password prompt; the screen was:\n{screen_text(app)}")


async def _scan_done(pilot: object, app: PatchdeckApp) -> None:
    for _ in range(400):  # bounded: 20 s
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        if not any(w.group == SCAN_GROUP and w.is_running for w in app.workers):
            return
    raise AssertionError("the scan never ended")


async def test_the_console_asks_for_a_winrm_password_once_and_keeps_it_in_memory(
    store: Store, db_path: Path
) -> None:
    credential = WinRMCredential("Administrator", PASSWORD)
    async with await serve_windows(2, 11, credential) as fleet:
        register_windows(store, store.url, fleet.machines, "Administrator")
        app = PatchdeckApp(store, first_view=MACHINES)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "win-001")
            await pilot.press("s")  # win-000, under the cursor
            prompt = await _prompted(pilot, app)
            shown = await wait_for_text(pilot, "Administrator@win-000")
            assert "WinRM password for" in shown
            await pilot.press(*"wrong-password")
            assert PASSWORD not in screen_text(app) and "wrong-password" not in screen_text(app)
            await pilot.press("enter")
            await _scan_done(pilot, app)
            failed = get_machine(store, "win-000")
            assert failed.last_scan_outcome == "failed"

            await pilot.press("s")  # the wrong one was forgotten: asked again
            prompt = await _prompted(pilot, app)
            prompt.query_one("#password", Input).value = PASSWORD
            prompt.query_one("#every", Checkbox).value = True
            await pilot.press("enter")
            await _scan_done(pilot, app)
            assert get_machine(store, "win-000").last_scan_outcome == "ok"

            await pilot.press("down", "s")  # win-001: the shared password, no prompt
            await _scan_done(pilot, app)
            assert not isinstance(app.screen, PasswordPrompt)
            assert get_machine(store, "win-001").last_scan_outcome == "ok"
            assert PASSWORD not in repr(app.deck.passwords)
            await settle(pilot)
    # the password reached neither the inventory nor anything next to it
    for path in db_path.parent.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


async def test_a_cancelled_prompt_fails_the_scan_saying_where_a_password_goes(
    store: Store,
) -> None:
    credential = WinRMCredential("Administrator", PASSWORD)
    async with await serve_windows(1, 11, credential) as fleet:
        register_windows(store, store.url, fleet.machines, "Administrator")
        app = PatchdeckApp(store, first_view=MACHINES)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "win-000")
            await pilot.press("s")
            await _prompted(pilot, app)
            await pilot.press("escape")
            await _scan_done(pilot, app)
    machine = get_machine(store, "win-000")
    assert machine.last_scan_outcome == "failed"
    assert "PATCHDECK_WINRM_PASSWORD_WIN_000" in (machine.last_scan_error or "")


async def test_an_unchecked_certificate_is_a_warning_in_the_detail(store: Store) -> None:
    spec = build_spec(
        name="win-lab", address="10.0.0.9", transport="winrm", user="Administrator",
        winrm_https=True, winrm_verify_cert=False,
    )  # fmt: skip
    add_machine(store, spec)
    app = PatchdeckApp(store, first_view=MACHINES)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_text(pilot, "win-lab")
        await pilot.press("enter")
        text = await wait_for_text(pilot, "HTTPS certificate is NOT checked")
        assert "ntlm over https" in text
        (fact,) = app.screen.query(".fact-warning")
        assert "certificate NOT checked" in str(fact.render())  # however narrow the column
        assert app.screen.query_one("#detail-state").has_class("-warning")
