"""The deployments view, the builder, the plan and starting a run (Pilot), asserting screen and
database: a deployment built in the form (bad values named under their field with the
service's own words), one started from the machines' and the updates' marks, a plan made
against the simulated fleet (a process of its own), and a run started from it after a
confirmation with Cancel focused, its runner in a process of its own until the run ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, Select

from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import create_deployment, get_deployment, list_deployments
from backends.inventory.groups import create_group
from backends.inventory.plans import latest_plan
from backends.inventory.runs import list_runs
from backends.inventory.schedules import Schedule
from backends.inventory.store import Store
from tests.cli_fleet import CliFleet, wait_for_run
from tests.console_helpers import keys, screen_text, settle, wait_for_text
from tests.fleet_data import NOW, fill
from tui.actions import DEPLOYMENTS, MACHINES, UPDATES
from tui.app import PatchdeckApp
from tui.modals.confirm import Confirm
from tui.screens.deployment_form import DeploymentForm
from tui.screens.deployments import DeploymentsScreen
from tui.screens.plan import PlanScreen

pytestmark = pytest.mark.timeout(120)


def _app(store: Store, view: str = DEPLOYMENTS, clock: bool = True) -> PatchdeckApp:
    app = PatchdeckApp(store, first_view=view, clock=(lambda: NOW) if clock else None)
    app.animation_level = "none"
    return app


def _set(form: DeploymentForm, field: str, value: str) -> None:
    form.query_one(f"#field-{field}", Input).value = value


def _error(form: DeploymentForm, field: str) -> str:
    shown = form.query_one(f"#error-{field}")
    return str(shown.content) if shown.has_class("-shown") else ""  # type: ignore[attr-defined]


async def test_the_builder_names_bad_values_and_saves_a_deployment(store: Store) -> None:
    fill(store, machines=6, updates=2)
    create_group(store, "prod", query="environment = prod")
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no deployments yet" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        await pilot.press(*keys("nightly"))
        _set(form, "targets", "m-00001, m-00002; prod")
        # each bad value is named under its field, in the service's words, as it is typed
        _set(form, "window", "10m")
        _set(form, "concurrency", "lots")
        _set(form, "max-failures", "150%")
        await pilot.pause()
        assert _error(form, "window") == "window: '10m' is not between 30m and 6h"
        assert _error(form, "concurrency") == "concurrency: 'lots' is not a whole number"
        assert _error(form, "max-failures") == "max-failures: '150%' is more than 100%"
        assert "window: '10m' is not between 30m and 6h" in screen_text(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentForm) and list_deployments(store) == []
        _set(form, "window", "90m")
        _set(form, "concurrency", "3")
        _set(form, "max-failures", "10%")
        await pilot.pause()
        assert not _error(form, "window") and not _error(form, "concurrency")
        # no class ticked and nothing included: the service says it selects nothing
        for box in form.query(Checkbox):
            box.value = False
        await pilot.pause()
        assert "selects nothing" in _error(form, "classifications")
        form.query_one("#class-security", Checkbox).value = True
        form.query_one("#class-other", Checkbox).value = True
        _set(form, "exclude", "tzdata, linux-*")
        form.query_one("#field-reboot", Select).value = "never"
        form.query_one("#field-gate", Select).value = "manual"
        _set(form, "pre", "systemctl stop app")
        # an unknown target is named under the targets when saving
        _set(form, "targets", "m-00001, ghost; prod")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentForm)
        assert _error(form, "targets") == "no machine or group named 'ghost'"
        _set(form, "targets", "m-00001, m-00002; prod")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentsScreen)
        shown = await wait_for_text(pilot, "nightly")
        assert "never" in shown and "1h30m" in shown
    saved = get_deployment(store, "nightly")
    assert [[t.name for t in stage] for stage in saved.stages] == [["m-00001", "m-00002"], ["prod"]]
    options = saved.options
    assert options.classifications == ("security", "other")
    assert options.exclude == ("tzdata", "linux-*") and options.include == ()
    assert (options.reboot, options.gate, options.window_minutes) == ("never", "manual", 90)
    assert (options.concurrency, options.max_failures) == (3, "10%")
    assert options.pre_command == "systemctl stop app" and options.post_command is None


async def test_editing_keeps_what_is_not_changed_and_the_list_shows_schedules(
    store: Store,
) -> None:
    fill(store, machines=3, updates=1)
    schedule = Schedule(tz="UTC", rrule="FREQ=WEEKLY;BYDAY=SA;BYHOUR=22;BYMINUTE=0;BYSECOND=0")
    create_deployment(store, "weekly", [["m-00000"]], build_options(window="3h"), schedule=schedule)
    app = _app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        shown = await wait_for_text(pilot, "never planned")  # the panel's plan line comes last
        # NOW is Saturday 2025-03-01 12:00 UTC: the next five Saturdays at 22:00
        assert "2025-03-01 22:00" in shown  # the list's next column
        for day in ("03-01", "03-08", "03-15", "03-22", "03-29"):
            assert f"Sat 2025-{day} 22:00 UTC" in shown
        assert "never run" in shown and "never planned" in shown
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        assert form.query_one("#field-name", Input).disabled
        _set(form, "targets", "m-00000, m-00001")
        await pilot.press("ctrl+s")
        await settle(pilot)
    saved = get_deployment(store, "weekly")
    assert [t.name for t in saved.targets] == ["m-00000", "m-00001"]
    assert saved.options.window_minutes == 180 and saved.schedule == schedule


async def test_marked_machines_and_marked_updates_prefill_the_builder(store: Store) -> None:
    fill(store, machines=4, updates=3)
    app = _app(store, MACHINES)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "m-00003")
        await pilot.press("space", "space", "D")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        assert form.query_one("#field-targets", Input).value == "m-00000, m-00001"
        await pilot.press(*keys("pair"), "ctrl+s")
        await settle(pilot)
        assert [t.name for t in get_deployment(store, "pair").targets] == ["m-00000", "m-00001"]
        await pilot.press("3")
        await settle(pilot)
        assert app.screen.VIEW == UPDATES  # type: ignore[attr-defined]
        await pilot.press("space", "space")
        shown = screen_text(app)
        assert "2 marked: D deploys them" in shown
        marked = [line for line in shown.splitlines() if "●" in line]
        assert len(marked) == 2
        names = [line.split("●")[1].split()[0] for line in marked]
        await pilot.press("D")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        assert form.query_one("#field-include", Input).value == " ".join(sorted(names))
        assert not any(box.value for box in form.query(Checkbox))  # exactly those updates
        await pilot.press(*keys("these"), "tab", *keys("m-00002"), "ctrl+s")
        await settle(pilot)
    saved = get_deployment(store, "these")
    assert saved.options.classifications == () and sorted(saved.options.include) == sorted(names)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[CliFleet]:
    served = CliFleet(tmp_path, machines=3, seed=3)
    yield served
    served.stop()


async def test_plan_against_the_fleet_then_run_it_after_a_confirmation(fleet: CliFleet) -> None:
    store = fleet.store()
    machines = ["sim-000", "sim-001", "sim-002"]
    create_deployment(
        store, "nightly", [machines], build_options(classifications=["security", "other"])
    )
    app = _app(store, clock=False)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for_text(pilot, "nightly")
            await pilot.press("enter")  # never planned: planning starts at once
            await pilot.pause()
            assert isinstance(app.screen, PlanScreen)
            shown = await wait_for_text(pilot, "plan #1", seconds=60)
            plan = latest_plan(store, get_deployment(store, "nightly").id)
            assert plan is not None and plan.id == 1
            summary = plan.summary()
            assert summary.machines == 3 and summary.updates > 0
            assert f"{summary.updates} updates" in shown
            for m in plan.machines:
                row = next(ln for ln in shown.splitlines() if ln.startswith(f" {m.machine} "))
                assert f" {len(m.items)} " in row
            first = plan.machines[0]
            assert f"{len(first.items)} updates pinned" in shown
            item = first.items[0]
            assert (
                f"{item.name} {item.installed + ' ' if item.installed else ''}→ {item.version}"
                in shown
            )
            # p plans afresh: a second plan
            await pilot.press("p")
            await wait_for_text(pilot, "plan #2", seconds=60)
            # R asks first, with Cancel focused, and says what will happen
            await pilot.press("R")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            assert app.screen.focused is app.screen.query_one("#cancel", Button)
            asked = screen_text(app)
            assert "Run nightly now (plan #2)?" in asked
            again = latest_plan(store, plan.deployment_id)
            assert again is not None
            said = app.screen.detail  # what the dialog says beneath the question
            assert said.startswith(f"3 machines, {again.summary().updates} updates, ")
            assert "The window ends at" in said and "no install or reboot begins" in said
            assert said.split("The window ends at ")[1].split(";")[0] in asked
            await pilot.press("enter")  # Cancel
            await settle(pilot)
            assert isinstance(app.screen, PlanScreen) and list_runs(store) == []
            await pilot.press("R")
            await settle(pilot)
            await pilot.press("right", "enter")  # Run
            await settle(pilot)
            for _ in range(100):
                if list_runs(store):
                    break
                await pilot.pause(0.05)
            runs = list_runs(store)
            assert len(runs) == 1 and runs[0].deployment == "nightly"
            assert app.screen.VIEW == "run"  # type: ignore[attr-defined]
        run = wait_for_run(fleet.db, runs[0].id, lambda r: not r.live, timeout=90)
        assert run.plan_id == 2
        assert {m.machine for m in run.machines} == set(machines)
        assert all(m.state == "succeeded" for m in run.machines), run.machines
        assert run.window_end is not None and run.started_at is not None
        assert run.window_end - run.started_at == timedelta(hours=2)
    finally:
        store.close()
