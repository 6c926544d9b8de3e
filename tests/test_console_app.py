"""The console's frame, driven by Pilot: views as modes, `:` jumps, `?` help, the palette,
key overrides from the settings, `esc` back, and `q` asking first while a scan runs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from textual import events
from textual.widgets import Button, DataTable, Input

from backends.inventory.store import Store
from tests.console_helpers import keys, screen_text, settle, wait_for_text
from tui.actions import ACTIONS, DASHBOARD, MACHINES, UPDATES, Registry, UnknownAction
from tui.app import SCAN_GROUP, PatchdeckApp
from tui.modals.confirm import Confirm
from tui.modals.jump import JumpPrompt, resolve_view
from tui.screens.help import HelpScreen

pytestmark = pytest.mark.timeout(60)


@dataclass
class FakeSettings:
    keys: Mapping[str, str] = field(default_factory=dict)
    theme: str | None = None
    reduced_motion: bool = False
    concurrency: int = 10
    read_only: bool = False


async def test_views_keep_their_state_and_colon_jumps(store: Store) -> None:
    app = PatchdeckApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.current_mode == DASHBOARD
        assert "Dashboard" in screen_text(app)

        await pilot.press("colon")
        assert isinstance(app.screen, JumpPrompt)
        await pilot.press(*"mac", "tab")  # completes
        assert app.screen.query_one("#jump", Input).value == "machines"
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == MACHINES
        machines_screen = app.screen

        await pilot.press("colon", *"nowhere", "enter")
        assert isinstance(app.screen, JumpPrompt)
        assert "no view named 'nowhere'" in screen_text(app)
        await pilot.press("escape")
        assert app.current_mode == MACHINES

        await pilot.press("colon", *"updates", "enter")
        await settle(pilot)
        assert app.current_mode == UPDATES
        await pilot.press("escape")  # back to the view before
        await settle(pilot)
        assert app.current_mode == MACHINES
        assert app.screen is machines_screen  # the same screen, state kept

        await pilot.press("1")
        assert app.current_mode == DASHBOARD


async def test_keys_typed_in_one_burst_after_colon_are_not_lost(store: Store) -> None:
    app = PatchdeckApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # as a terminal over SSH delivers them: all queued before the first is handled
        for key, char in [("colon", ":"), *((c, c) for c in "updates"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await settle(pilot)
        assert app.current_mode == UPDATES


def test_a_view_name_is_resolved_from_a_unique_start() -> None:
    views = (DASHBOARD, MACHINES, UPDATES)
    assert resolve_view(":machines", views) == MACHINES
    assert resolve_view("up", views) == UPDATES
    assert resolve_view(" D ", views) == DASHBOARD
    assert resolve_view("x", views) is None
    assert resolve_view("", views) is None


def _help_rows(app: Any) -> list[tuple[str, str]]:
    table = app.screen.query_one("#help-keys", DataTable)
    rows = (table.get_row_at(i) for i in range(table.row_count))
    return [(str(key), str(text)) for key, text in rows if str(key)]


async def test_help_lists_the_keys_of_the_current_view(store: Store) -> None:
    app = PatchdeckApp(store, first_view=MACHINES)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "Keys: Machines" in screen_text(app)
        keys = _help_rows(app)
        assert ("/", "Filter") in keys and ("space", "Mark") in keys and ("q", "Quit") in keys
        assert keys.index(("/", "Filter")) < keys.index(("q", "Quit"))  # the view's own first
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("1", "question_mark")
        assert "Keys: Dashboard" in screen_text(app)
        keys = _help_rows(app)
        assert ("S", "Scan all machines") in keys
        assert ("/", "Filter") not in keys  # not a key of the dashboard


async def test_the_palette_runs_any_action_in_its_view(store: Store) -> None:
    app = PatchdeckApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *keys("go machines"))
        await wait_for_text(pilot, "Go to machines")
        await pilot.press("escape")
        await pilot.press("ctrl+p", *keys("machines: filter"))
        await wait_for_text(pilot, "Machines: Filter")
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == MACHINES
        assert app.focused is app.screen.query_one("#filter", Input)


async def test_keys_can_be_remapped_by_action_id(store: Store) -> None:
    app = PatchdeckApp(store, settings=FakeSettings(keys={"help": "h", "jump": "g"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "h Help" in footer and "g Go to view" in footer
        await pilot.press("h")
        assert isinstance(app.screen, HelpScreen)
        assert "h    Help" in screen_text(app)
        await pilot.press("escape", "question_mark")
        assert not isinstance(app.screen, HelpScreen)  # the old key no longer opens it
        await pilot.press("g")
        assert isinstance(app.screen, JumpPrompt)
        await pilot.press("escape")


async def test_a_remapped_filter_key_opens_the_filter_and_q_is_text_there(store: Store) -> None:
    app = PatchdeckApp(store, first_view=MACHINES, settings=FakeSettings(keys={"filter": "f"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "f Filter" in screen_text(app).splitlines()[-1]
        await pilot.press("f", *"q:?")
        box = app.screen.query_one("#filter", Input)
        assert app.focused is box and box.value == "q:?"  # typed, not quit / jump / help
        assert app.is_running


def test_unknown_action_ids_are_refused_by_name() -> None:
    with pytest.raises(UnknownAction, match="no action named 'nope'"):
        Registry({"nope": "x"})
    assert Registry({"scan": "ctrl+s"}).key("scan") == "ctrl+s"
    assert len({a.id for a in ACTIONS}) == len(ACTIONS)


async def test_quit_asks_while_a_scan_runs_with_cancel_focused(store: Store) -> None:
    app = PatchdeckApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.run_worker(asyncio.Event().wait(), group=SCAN_GROUP, name="scan")
        await pilot.pause()
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        assert "A scan is running" in screen_text(app)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press("enter")  # Cancel
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, Confirm)
        await pilot.press("q", "tab", "enter")  # Quit
        await pilot.pause()
    assert app.return_code == 0


async def test_quit_without_work_does_not_ask(store: Store) -> None:
    app = PatchdeckApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


def test_the_readme_lists_every_action_with_its_key() -> None:
    from pathlib import Path

    from textual.app import App
    from textual.binding import Binding

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    keys = readme[readme.index("## Keys") :]
    rows = [line for line in keys.splitlines() if line.startswith("| `")]
    app = App[None]()
    for action in ACTIONS:
        row = next((r for r in rows if f"`{action.id}`" in r.split("|")[-2]), None)
        assert row is not None, f"README's key table has no row for {action.id!r}"
        shown = action.key_display or app.get_key_display(Binding(action.key, ""))
        shown = {"⏎": "enter", "^p": "ctrl+p"}.get(shown, shown)
        assert f"`{shown}`" in row.split("|")[1], (action.id, row)


async def test_the_settings_apply_theme_motion_concurrency_and_keys(store: Store) -> None:
    from tui.settings import Settings

    settings = Settings(theme="nord", reduced_motion=True, concurrency=7, keys={"scan": "ctrl+s"})
    app = PatchdeckApp(store, settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "nord"
        assert app.animation_level == "none"
        assert app.deck.concurrency == 7
        assert app.deck.registry.key("scan") == "ctrl+s"


async def test_read_only_hides_and_refuses_what_changes_machines_or_definitions(
    store: Store,
) -> None:
    from backends.inventory.machines import add_machine, list_machines
    from backends.inventory.validation import build_spec

    add_machine(store, build_spec(name="web", address="10.0.0.1"))
    app = PatchdeckApp(store, settings=FakeSettings(read_only=True), first_view=MACHINES)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "web")
        assert "(read-only)" in app.sub_title
        await pilot.press("question_mark")
        shown = [text for _, text in _help_rows(app)]
        assert "Filter" in shown and "Scan" in shown
        assert not {"Add machine", "Edit machine", "Remove", "Trust host key"} & set(shown)
        await pilot.press("escape", "d", "a", "e")
        await settle(pilot)
        assert app.screen.VIEW == MACHINES  # no form, no confirmation opened
        assert [m.name for m in list_machines(store)] == ["web"]
        await pilot.press("ctrl+p", *keys("remove"))
        await settle(pilot)
        assert "Machines: Remove" not in screen_text(app)
        # every action that changes something, in every view (run, cancel, approve, create…)
        changing = [a for a in ACTIONS if a.changes]
        assert {"run_plan", "cancel_run", "approve", "remove"} <= {a.id for a in changing}
        assert not any(app.can_run(a, app.screen) for a in changing)
