"""Snapshots (pytest-textual-snapshot) of the run view mid-run and the run history, at 80×24
and 160×48: a run written into the inventory at fixed times (``tests.run_data``), a fixed
clock, animations off. Update them with
`uv run pytest tests/test_snapshots_runs.py --snapshot-update` and look at the SVGs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.inventory.store import Store
from tests.fleet_data import NOW
from tests.run_data import FakeRun, fake_run
from tui.actions import RUNS
from tui.app import PatchdeckApp

pytestmark = pytest.mark.timeout(120)

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[tuple[Store, FakeRun]]:
    store = Store.open(str(tmp_path / "inventory.db"))
    run = fake_run(store, 12, NOW, stages=2)
    yield store, run
    store.close()


def _app(store: Store) -> PatchdeckApp:
    app = PatchdeckApp(store, first_view=RUNS, clock=lambda: NOW)
    app.animation_level = "none"
    return app


def _ready(*keys: str) -> Callable[[Any], Any]:
    async def run_before(pilot: Any) -> None:
        pilot.app.sub_title = "inventory.db"  # not the test's temporary path
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            for _ in range(3):  # the first look at the run, then the output of the row
                await pilot.app.workers.wait_for_complete()
                await pilot.pause(0.15)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_view_mid_run(
    snap_compare: Any, inventory: tuple[Store, FakeRun], size: tuple[int, int]
) -> None:
    store, _ = inventory
    # the installing machine's output, with text from the machine that must stay literal
    assert snap_compare(_app(store), terminal_size=size, run_before=_ready("enter", "down"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_history(
    snap_compare: Any, inventory: tuple[Store, FakeRun], size: tuple[int, int]
) -> None:
    store, _ = inventory
    assert snap_compare(_app(store), terminal_size=size, run_before=_ready())
