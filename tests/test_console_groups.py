"""The groups view (Pilot): the list with member counts, a dynamic group built by typing a
query (the preview follows, an error is shown at its token), a static group from the machines
view's marks, editing, and deleting with Cancel focused — asserting screen and database."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input, SelectionList, Static

from backends.inventory.groups import create_group, get_group, list_groups
from backends.inventory.store import Store
from tests.console_helpers import keys, screen_text, settle, wait_for_text
from tests.fleet_data import NOW, fill
from tui.actions import GROUPS, MACHINES
from tui.app import PatchdeckApp
from tui.modals.confirm import Confirm
from tui.modals.group_form import GroupForm
from tui.modals.static_group_form import StaticGroupForm
from tui.screens.groups import GroupsScreen
from tui.widgets.list_table import ListTable

pytestmark = pytest.mark.timeout(60)


def _app(store: Store, view: str = GROUPS) -> PatchdeckApp:
    app = PatchdeckApp(store, first_view=view, clock=lambda: NOW)
    app.animation_level = "none"
    return app


async def _preview(pilot: object) -> str:
    """Wait for the form's debounce timer and its preview worker, then read the screen."""
    app = pilot.app  # type: ignore[attr-defined]
    await pilot.pause(0.4)  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]
    return screen_text(app)


async def test_the_list_counts_members_and_colon_reaches_it(store: Store) -> None:
    fill(store, machines=12, updates=4)
    create_group(store, "prod", query="environment = prod")
    create_group(store, "pair", machines=["m-00001", "m-00002"])
    app = _app(store, MACHINES)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *keys("groups"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, GroupsScreen)
        shown = await wait_for_text(pilot, "environment = prod")
        rows = {line.split()[0]: line for line in shown.splitlines()[2:6] if line.strip()}
        assert "dynamic" in rows["prod"] and " 4 " in rows["prod"]  # m-0, 3, 6, 9
        assert "static" in rows["pair"] and " 2 " in rows["pair"]
        # the side panel: the machines the group under the cursor resolves to now
        assert "2 machines now" in shown and "m-00001" in shown
        await pilot.press("down")
        await pilot.pause(0.3)
        await settle(pilot)
        assert "4 machines now" in screen_text(app) and "m-00009" in screen_text(app)
        await pilot.press("5", "4")  # number keys reach the views too
        await settle(pilot)
        assert isinstance(app.screen, GroupsScreen)


async def test_typing_a_query_previews_its_machines_and_points_at_an_error(store: Store) -> None:
    fill(store, machines=12, updates=4)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, GroupForm)
        await pilot.press(*keys("staging"), "tab", *keys("environment = stage"))
        shown = await _preview(pilot)
        assert "matches 4 machines now: m-00001, m-00004, m-00007, m-00010" in shown
        # an unknown field: the caret sits under it, the parser's message below
        box = app.screen.query_one("#field-query", Input)
        box.value = ""
        await pilot.press(*keys("environment = stage and colour = red"))
        shown = await _preview(pilot)
        lines = shown.splitlines()
        query_line = next(i for i, line in enumerate(lines) if "colour = red" in line)
        caret = lines[query_line + 1]
        assert caret.index("^") == lines[query_line].index("colour")
        assert caret.count("^") == len("colour")
        assert "colour" in lines[query_line + 2]  # the message names the field
        assert "matches" not in shown
        assert "-invalid" in box.classes
        # saving is refused with the same error, nothing written
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, GroupForm)
        assert list_groups(store) == []
        # fixed: the preview follows, and the group is saved
        await pilot.press(*(["backspace"] * len(" and colour = red")))
        await pilot.press(*keys(" and tag.rack = r1"))
        shown = await _preview(pilot)
        assert "matches 1 machine now: m-00001" in shown
        assert str(app.screen.query_one("#query-caret", Static).content) == ""
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, GroupsScreen)
        group = get_group(store, "staging")
        assert group.kind == "dynamic" and group.query == "environment = stage and tag.rack = r1"
        shown = await wait_for_text(pilot, "staging")
        assert "query: environment =" in shown and "stage and tag.rack = r1" in shown
        assert "1 machine now:" in shown


async def test_editing_a_dynamic_group_changes_its_query(store: Store) -> None:
    fill(store, machines=6, updates=2)
    create_group(store, "prod", query="environment = prod")
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "environment = prod")
        await pilot.press("e")
        shown = await _preview(pilot)
        assert isinstance(app.screen, GroupForm)
        assert "matches 2 machines now: m-00000, m-00003" in shown
        await pilot.press(*keys(" or environment = dev"))
        shown = await _preview(pilot)
        assert "matches 4 machines now" in shown
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert get_group(store, "prod").query == "environment = prod or environment = dev"


async def test_a_static_group_from_the_marked_machines(store: Store) -> None:
    fill(store, machines=6, updates=2)
    app = _app(store, MACHINES)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "m-00005")
        await pilot.press("down", "space", "space")  # marks m-00001 and m-00002
        await pilot.press("g")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, StaticGroupForm)
        picker = form.query_one("#group-machines", SelectionList)
        assert sorted(picker.selected) == ["m-00001", "m-00002"]
        assert "2 machines marked" in screen_text(app)
        await pilot.press(*keys("pair"), "enter")  # to the list: mark one more
        await pilot.press("space")  # m-00000
        await pilot.press("ctrl+s")
        await settle(pilot)
    group = get_group(store, "pair")
    assert group.kind == "static" and group.machines == ("m-00000", "m-00001", "m-00002")


async def test_deleting_asks_with_cancel_focused(store: Store) -> None:
    fill(store, machines=3, updates=1)
    create_group(store, "pair", machines=["m-00001", "m-00002"])
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "pair")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        assert app.screen.focused is app.screen.query_one("#cancel", Button)
        assert "Delete the group pair (static, 2 machines now)?" in screen_text(app)
        await pilot.press("enter")  # Cancel
        await settle(pilot)
        assert [s.group.name for s in list_groups(store)] == ["pair"]
        await pilot.press("d", "right", "enter")
        await settle(pilot)
        assert list_groups(store) == []
        assert "pair" not in screen_text(app).split("Groups")[-1].split("\n", 3)[-1]


def _names(app: PatchdeckApp) -> list[str]:
    return list(app.screen.query_one("#groups", ListTable).keys)


async def test_slash_filters_the_groups_and_o_sorts_them(store: Store) -> None:
    fill(store, machines=12, updates=4)
    create_group(store, "prod", query="environment = prod")
    create_group(store, "pair", machines=["m-00001", "m-00002"])
    create_group(store, "web", query="tag.rack ~ r1*")
    create_group(store, "all-prod-web", machines=["m-00000"])
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "tag.rack")
        assert _names(app) == ["all-prod-web", "pair", "prod", "web"]
        # `/` and the text in one burst: the filter box takes every key
        await pilot.press("slash", *keys("prod"))
        await pilot.pause()
        assert app.screen.query_one("#filter", Input).value == "prod"
        assert _names(app) == ["all-prod-web", "prod"]
        shown = screen_text(app)
        assert "2 of 4 groups match 'prod'" in shown and "pair" not in shown
        # it looks in the kind and the definition too
        app.screen.query_one("#filter", Input).value = "static"
        await pilot.pause()
        assert _names(app) == ["all-prod-web", "pair"]
        app.screen.query_one("#filter", Input).value = "m-00002"
        await pilot.pause()
        assert _names(app) == ["pair"]
        await pilot.press("escape")
        await pilot.pause()
        assert _names(app) == ["all-prod-web", "pair", "prod", "web"]
        assert not app.screen.query_one("#filter", Input).has_class("-shown")
        assert isinstance(app.screen, GroupsScreen) and "4 groups" in screen_text(app)
        # o: the next column (kind: dynamic first), O reverses it
        await pilot.press("o")
        await pilot.pause()
        assert _names(app) == ["prod", "web", "all-prod-web", "pair"]
        assert "by kind ▲" in screen_text(app)
        await pilot.press("O")
        await pilot.pause()
        assert _names(app) == ["pair", "all-prod-web", "web", "prod"]
        await pilot.press("o")  # machines now: most first
        await settle(pilot)
        assert _names(app)[0] == "prod" and _names(app)[-1] == "all-prod-web"
        assert "by machines ▼" in screen_text(app)
        # the side panel follows the cursor's group
        await pilot.pause(0.3)
        await settle(pilot)
        # the cursor stayed where the filter left it
        assert app.screen.query_one("#groups", ListTable).current_key() == "pair"
        assert "pair (static)" in screen_text(app)
    assert len(list_groups(store)) == 4  # looking changes nothing
