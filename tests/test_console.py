"""The console, driven by Pilot: machines listed, `/` filters through the inventory, `q` quits."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from backends.inventory.machines import add_machine
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tui.app import PatchdeckApp


def _fill(store: Store) -> None:
    add_machine(store, build_spec(name="web-01", address="10.0.0.1", tags=(("env", "prod"),)))
    add_machine(store, build_spec(name="web-02", address="10.0.0.2", tags=(("env", "stage"),)))
    add_machine(
        store, build_spec(name="db-01", address="10.0.1.1", tags=(("note", "[bold red]x\x1b[2J"),))
    )


def _names(app: PatchdeckApp) -> list[str]:
    table = app.screen.query_one("#machines", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def _settle(app: PatchdeckApp, pilot: object) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]


async def test_machines_are_listed_and_filtered(store: Store) -> None:
    _fill(store)
    app = PatchdeckApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot)
        assert _names(app) == ["db-01", "web-01", "web-02"]
        assert "3 machines" in str(app.screen.query_one("#status", Static).render())

        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#filter", Input)
        await pilot.press(*"prod")
        await _settle(app, pilot)
        assert _names(app) == ["web-01"]
        assert "1 of 3 machines match 'prod'" in str(
            app.screen.query_one("#status", Static).render()
        )

        await pilot.press("escape")
        await _settle(app, pilot)
        assert _names(app) == ["db-01", "web-01", "web-02"]
        assert isinstance(app.focused, DataTable)

        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_tag_text_is_shown_literally(store: Store) -> None:
    _fill(store)
    app = PatchdeckApp(store)
    async with app.run_test(size=(120, 24)) as pilot:
        await _settle(app, pilot)
        table = app.screen.query_one("#machines", DataTable)
        tags = table.get_row_at(0)[4]
        assert str(tags) == "note=[bold red]x\\x1b[2J"
        assert "\x1b" not in str(tags)
        assert not tags.spans  # not rendered as markup


async def test_empty_inventory_says_how_to_add_machines(store: Store) -> None:
    app = PatchdeckApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot)
        assert "no machines yet" in str(app.screen.query_one("#status", Static).render())
