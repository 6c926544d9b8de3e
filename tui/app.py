"""The patchdeck console (Textual)."""

from __future__ import annotations

from textual.app import App

from backends.inventory.store import Store
from tui.screens.machines import MachinesScreen


class PatchdeckApp(App[int]):
    TITLE = "patchdeck"
    CSS_PATH = "styles/app.tcss"

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def on_mount(self) -> None:
        self.sub_title = self.store.url
        self.push_screen(MachinesScreen(self.store))


def run_console(url: str) -> int:
    store = Store(url)
    try:
        result = PatchdeckApp(store).run()
    finally:
        store.close()
    return result or 0
