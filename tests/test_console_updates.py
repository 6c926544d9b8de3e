"""The updates view, driven by Pilot: the fleet-wide pivot, sorting, `/` filtering through the
inventory, drilling down to the machines that miss an update, and hostile package text shown
literally."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from textual.widgets import Static

from backends.inventory.machines import list_machines
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import machine_updates, record_scans
from backends.inventory.store import Store
from tests.console_helpers import screen_text, settle, wait_for_text
from tests.fleet_data import NOW, fill
from tui.actions import UPDATES
from tui.app import PatchdeckApp
from tui.screens.machine_detail import MachineDetailScreen
from tui.screens.update_machines import UpdateMachinesScreen
from tui.widgets.list_table import ListTable

pytestmark = pytest.mark.timeout(60)

HOSTILE = "[bold red]pwned\x1b[31m"


def _table(app: Any, table_id: str) -> list[list[str]]:
    """The rows' cells as text; the updates' mark column left out."""
    table = app.screen.query_one(table_id, ListTable)
    skip = 1 if table_id == "#updates" else 0
    return [[str(c) for c in table.get_row_at(i)[skip:]] for i in range(table.row_count)]


def _status(app: Any) -> str:
    return str(app.screen.query_one("#status", Static).render())


def _with_hostile_update(store: Store) -> None:
    machines = list_machines(store)[:2]
    hostile = Update(
        platform_id=f"evil{HOSTILE}",
        name=f"evil{HOSTILE}",
        installed="1",
        available=f"2{HOSTILE}",
        classification="security",
        severity="Critical",
        advisories=(f"DSA-1{HOSTILE}",),
        source=f"sid{HOSTILE}",
    )
    record_scans(
        store,
        [
            ScanReport(m.id, NOW, ok=True, distro="debian", version="12", updates=(hostile,))
            for m in machines
        ],
    )


async def test_the_pivot_counts_machines_and_sorts(store: Store) -> None:
    fill(store, machines=30, updates=6, unscanned=2, catalogue=20)
    app = PatchdeckApp(store, first_view=UPDATES, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = _table(app, "#updates")
        expected = Counter((u.name, u.classification) for _, u in machine_updates(store))
        assert {(r[0], r[1]): int(r[3]) for r in rows} == expected
        counts = [int(r[3]) for r in rows]
        assert counts == sorted(counts, reverse=True)  # most machines first
        assert f"{len(expected)} updates missing in the fleet" in _status(app)
        assert "by machines ▼" in _status(app)

        await pilot.press("o")  # by name
        names = [r[0] for r in _table(app, "#updates")]
        assert names == sorted(names)
        assert "by name ▲" in _status(app)
        await pilot.press("O")
        assert [r[0] for r in _table(app, "#updates")] == sorted(names, reverse=True)
        await pilot.press("o", "o")  # by severity, most severe first
        severities = [r[2] for r in _table(app, "#updates")]
        assert severities[0] == "Critical"
        assert "by severity ▼" in _status(app)


async def test_filtering_and_drilling_down_to_the_machines(store: Store) -> None:
    fill(store, machines=30, updates=6, unscanned=2, catalogue=20)
    _with_hostile_update(store)
    app = PatchdeckApp(store, first_view=UPDATES, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"KB500001")
        await wait_for_text(pilot, "match 'KB500001'")
        await settle(pilot)
        rows = _table(app, "#updates")
        assert rows and all(r[0].startswith("KB500001") for r in rows)

        await pilot.press("escape")  # clears the filter
        await wait_for_text(pilot, "missing in the fleet")
        await settle(pilot)
        await pilot.press("slash", *"DSA-1[")  # an advisory, with a character LIKE would mind
        await wait_for_text(pilot, "match 'DSA-1['")
        await settle(pilot)
        [row] = _table(app, "#updates")
        assert row[:4] == ["evil[bold red]pwned\\x1b[31m", "security", "Critical", "2"]
        table = app.screen.query_one("#updates", ListTable)
        assert not any(cell.spans for cell in table.get_row_at(0)[1:2])
        text = screen_text(app)
        assert "\x1b" not in text and "evil[bold red]pwned\\x1b[31m" in text

        await pilot.press("enter", "enter")  # back to the list, then open the update
        await settle(pilot)
        assert isinstance(app.screen, UpdateMachinesScreen)
        machines = _table(app, "#missing-on")
        assert [m[1] for m in machines] == ["m-00000", "m-00001"]
        assert machines[0][3:] == [
            "1",
            "2[bold red]pwned\\x1b[31m",
            "Critical",
            "DSA-1[bold red]pwned\\x1b[31m",
            "sid[bold red]pwned\\x1b[31m",
        ]
        assert "2 machines miss evil" in _status(app)

        started: list[tuple[list[int] | None, str]] = []
        app.start_scan = lambda ids, what: started.append((ids, what))  # type: ignore[method-assign]
        await pilot.press("space", "space", "s")
        ids = sorted(m.id for m in list_machines(store) if m.name in ("m-00000", "m-00001"))
        assert started == [(ids, "2 machines")]

        await pilot.press("up", "enter")  # a machine's detail, from the list
        await settle(pilot)
        assert isinstance(app.screen, MachineDetailScreen)
        assert "Machine — m-00000" in screen_text(app)
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert app.current_mode == UPDATES and not isinstance(app.screen, UpdateMachinesScreen)


async def test_no_update_yet_says_what_to_do(store: Store) -> None:
    app = PatchdeckApp(store, first_view=UPDATES)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no missing update recorded: scan machines first" in _status(app)
