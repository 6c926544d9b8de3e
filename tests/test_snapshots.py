"""Snapshots (pytest-textual-snapshot) of the dashboard, the machines view, a machine's detail
and the updates view, at 80×24 and 160×48, on a fixed inventory and a fixed clock, with
animations off. Update them with `uv run pytest tests/test_snapshots.py --snapshot-update`
and look at the SVGs before committing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.inventory.machines import list_machines
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import record_scans
from backends.inventory.store import Store
from tests.fleet_data import NOW, fill
from tui.actions import DASHBOARD, MACHINES, UPDATES
from tui.app import PatchdeckApp

pytestmark = pytest.mark.timeout(120)

SIZES = [(80, 24), (160, 48)]
HOSTILE = "[bold red]pwned\x1b[31m"


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(str(tmp_path / "inventory.db"))
    fill(store, machines=40, updates=8, unscanned=3)
    first = list_machines(store)[0]
    odd = Update(f"evil{HOSTILE}", f"evil{HOSTILE}", "1", "2", "security", "Critical")
    record_scans(
        store,
        [
            ScanReport(
                first.id, NOW, ok=True, distro="debian", version="12", reboot_pending=True,
                updates=(odd,),
            )
        ],
    )  # fmt: skip
    yield store
    store.close()


def _app(store: Store, view: str) -> PatchdeckApp:
    app = PatchdeckApp(store, first_view=view, clock=lambda: NOW)
    app.animation_level = "none"
    return app


def _ready(*keys: str) -> Callable[[Any], Any]:
    async def run_before(pilot: Any) -> None:
        pilot.app.sub_title = "inventory.db"  # not the test's temporary path
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        pilot.app.screen.sub_title = pilot.app.screen.sub_title or "inventory.db"

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare: Any, inventory: Store, size: tuple[int, int]) -> None:
    assert snap_compare(_app(inventory, DASHBOARD), terminal_size=size, run_before=_ready())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_machines(snap_compare: Any, inventory: Store, size: tuple[int, int]) -> None:
    app = _app(inventory, MACHINES)
    assert snap_compare(app, terminal_size=size, run_before=_ready("down", "space", "down"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_machine_detail(snap_compare: Any, inventory: Store, size: tuple[int, int]) -> None:
    app = _app(inventory, MACHINES)
    assert snap_compare(app, terminal_size=size, run_before=_ready("enter"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_updates(snap_compare: Any, inventory: Store, size: tuple[int, int]) -> None:
    assert snap_compare(_app(inventory, UPDATES), terminal_size=size, run_before=_ready())
