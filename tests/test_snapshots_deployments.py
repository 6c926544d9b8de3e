"""Snapshots (pytest-textual-snapshot) of the groups view, the deployment builder and a plan, at
80×24 and 160×48, on a fixed inventory, a fixed clock and a plan saved at a fixed time, with
animations off. Update them with
`uv run pytest tests/test_snapshots_deployments.py --snapshot-update` and look at the SVGs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import create_deployment
from backends.inventory.groups import create_group
from backends.inventory.machines import list_machines
from backends.inventory.plans import MachinePlan, PlanCheck, PlanExclusion, PlanItem, save_plan
from backends.inventory.store import Store
from tests.fleet_data import NOW, fill
from tui.actions import DEPLOYMENTS, GROUPS
from tui.app import PatchdeckApp

pytestmark = pytest.mark.timeout(120)

SIZES = [(80, 24), (160, 48)]
HOSTILE = "[bold red]pwned\x1b[31m"


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(str(tmp_path / "inventory.db"))
    fill(store, machines=12, updates=4)
    create_group(store, "prod", query="environment = prod and missing.security > 0")
    create_group(store, "canary", machines=["m-00001", "m-00002"])
    create_group(store, "web", query="tag.rack ~ r1*")
    deployment = create_deployment(
        store,
        "nightly",
        [["canary"], ["prod"]],
        build_options(classifications=["security", "critical"], exclude=["tzdata"], gate="manual"),
    )
    by_name = {m.name: m for m in list_machines(store)}

    def item(n: int, classification: str = "security") -> PlanItem:
        return PlanItem(f"pkg-{n:04d}", f"pkg-{n:04d}", f"1.{n}", f"1.{n + 1}", classification)

    machines = [
        MachinePlan(
            by_name["m-00001"].id, "m-00001", 0, items=(item(0), item(4)), reboot_expected=True,
            excluded=(PlanExclusion("tzdata", "tzdata", "excluded by tzdata"),),
            checks=(PlanCheck("disk", True, "/var 20 GB free"), PlanCheck("holds", None, "no dnf")),
        ),
        MachinePlan(by_name["m-00002"].id, "m-00002", 0, items=(item(8, "other"),)),
        MachinePlan(
            by_name["m-00003"].id, f"m-00003{HOSTILE}", 1,
            error="pre-flight failed: disk: /boot 12 MB free", error_kind="preflight",
        ),
    ]  # fmt: skip
    save_plan(store, deployment.id, machines, created_at=NOW, user="operator")
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
        await pilot.pause(0.3)  # the side panel follows the cursor on a timer
        for key in keys:
            await pilot.press(key)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.3)
        await pilot.app.workers.wait_for_complete()
        for box in pilot.app.screen.query(Input):  # the text cursor always shown
            box.cursor_blink = False
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_groups(snap_compare: Any, inventory: Store, size: tuple[int, int]) -> None:
    assert snap_compare(_app(inventory, GROUPS), terminal_size=size, run_before=_ready("down"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_deployment_builder(snap_compare: Any, inventory: Store, size: tuple[int, int]) -> None:
    app = _app(inventory, DEPLOYMENTS)
    ready = _ready("e")

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        pilot.app.screen.query_one("#field-window").value = "10m"  # named under its field
        for _ in range(100):  # bounded: 5 s; the check runs as the value changes
            await pilot.pause(0.05)
            if pilot.app.screen.query(".field-error.-shown"):
                break
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_plan(snap_compare: Any, inventory: Store, size: tuple[int, int]) -> None:
    app = _app(inventory, DEPLOYMENTS)
    assert snap_compare(app, terminal_size=size, run_before=_ready("enter"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_deployment_builder_schedule(
    snap_compare: Any, inventory: Store, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")  # the zone a new schedule starts in: this machine's
    app = _app(inventory, DEPLOYMENTS)
    ready = _ready("e")

    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        form = pilot.app.screen
        form.query_one("#field-schedule").value = "every"
        await pilot.pause()
        for field, value in [
            ("when", "FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22"),
            ("offset", "+3d"),
            ("tz", "Europe/Berlin"),
            ("notify", "logger -t patchdeck"),
        ]:
            form.query_one(f"#field-{field}").value = value
        await pilot.pause()
        form.query_one("#field-notify").focus()  # scrolls the schedule into view
        for _ in range(100):  # bounded: 5 s; the preview follows the values
            await pilot.pause(0.05)
            if "CET" in str(form.query_one("#schedule-preview").content):
                break
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
