"""The deployments view, the builder, the plan and starting a run (Pilot), asserting screen and
database: a deployment built in the form (bad values named under their field with the
service's own words), one started from the machines' and the updates' marks, a plan made
against the simulated fleet (a process of its own), and a run started from it after a
confirmation with Cancel focused, its runner in a process of its own until the run ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, Select

from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import create_deployment, get_deployment, list_deployments
from backends.inventory.groups import create_group
from backends.inventory.machines import list_machines
from backends.inventory.plans import MachinePlan, PlanItem, latest_plan, save_plan
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
from tui.widgets.list_table import ListTable

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


async def _wait_for_screen(pilot: object, kind: type, seconds: float = 60) -> None:
    app = pilot.app  # type: ignore[attr-defined]
    for _ in range(int(seconds / 0.05)):
        if isinstance(app.screen, kind):
            return
        await pilot.pause(0.05)  # type: ignore[attr-defined]
    raise AssertionError(f"no {kind.__name__}; the screen was:\n{screen_text(app)}")


async def test_run_on_a_stale_plan_plans_again_shows_it_then_asks(fleet: CliFleet) -> None:
    store = fleet.store()
    machines = ["sim-000", "sim-001", "sim-002"]
    deployment = create_deployment(store, "nightly", [machines], build_options(window="90m"))
    ids = {m.name: m.id for m in list_machines(store)}
    old = datetime.now(UTC) - timedelta(hours=3)  # older than plan_max_age (2h)
    save_plan(store, deployment.id, [MachinePlan(ids[n], n, 0) for n in machines], created_at=old)
    app = _app(store, clock=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "nightly")
            await pilot.press("enter")  # the latest plan: #1, stale
            shown = await wait_for_text(pilot, "stale: R plans it again first")
            assert "plan #1, made 3h" in shown
            await pilot.press("R")
            # planned again first, with the same progress display as `p`
            assert "plan #1 is stale: planning again before the run" in screen_text(app)
            assert app.screen.query_one("#plan-progress").has_class("-shown")
            await _wait_for_screen(pilot, Confirm)
            await wait_for_text(pilot, "Run nightly now (plan #2)?")
            plan = latest_plan(store, deployment.id)
            assert plan is not None and plan.id == 2 and plan.created_at > old
            summary = plan.summary()
            assert summary.machines == 3 and summary.updates > 0
            # the new plan is shown behind the question
            assert isinstance(app.screen_stack[-2], PlanScreen)
            assert app.screen_stack[-2].plan is not None
            assert app.screen_stack[-2].plan.id == 2
            confirm = app.screen
            assert isinstance(confirm, Confirm)
            assert confirm.focused is confirm.query_one("#cancel", Button)
            said = confirm.detail
            assert said.startswith(f"3 machines, {summary.updates} updates, ")
            assert f"{summary.reboots} reboot" in said and "The window ends at" in said
            await pilot.press("enter")  # Cancel
            await settle(pilot)
            assert isinstance(app.screen, PlanScreen)
            shown = screen_text(app)
            assert "plan #2, made" in shown and "R runs it" in shown and "stale" not in shown
            assert list_runs(store) == []
    finally:
        store.close()


def _keys_of(app: PatchdeckApp, table: str) -> list[str]:
    return list(app.screen.query_one(table, ListTable).keys)


async def test_slash_filters_the_deployments_and_o_sorts_them(store: Store) -> None:
    fill(store, machines=6, updates=2)
    create_group(store, "prod", query="environment = prod")
    weekly = Schedule(tz="UTC", rrule="FREQ=WEEKLY;BYDAY=SA;BYHOUR=22")
    create_deployment(store, "nightly", [["m-00000"]], build_options(window="3h", reboot="never"))
    create_deployment(store, "canary", [["m-00001"]], build_options(window="30m"))
    create_deployment(store, "weekly", [["prod"]], schedule=weekly)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "weekly")
        assert _keys_of(app, "#deployments") == ["canary", "nightly", "weekly"]
        await pilot.press("slash", *keys("m-00001"))
        await pilot.pause()
        assert _keys_of(app, "#deployments") == ["canary"]
        assert "1 of 3 deployments match 'm-00001'" in screen_text(app)
        app.screen.query_one("#filter", Input).value = "PROD"  # any case
        await pilot.pause()
        assert _keys_of(app, "#deployments") == ["weekly"]
        assert "nightly" not in screen_text(app).split("Name")[1].split("\n")[1]
        await pilot.press("escape")
        await pilot.pause()
        assert _keys_of(app, "#deployments") == ["canary", "nightly", "weekly"]
        assert isinstance(app.screen, DeploymentsScreen) and "3 deployments" in screen_text(app)
        # name, targets, classes, reboot, window: by the window's length
        await pilot.press("o", "o", "o", "o")
        await pilot.pause()
        assert _keys_of(app, "#deployments") == ["canary", "weekly", "nightly"]
        assert "by window ▲" in screen_text(app)
        await pilot.press("O")
        await pilot.pause()
        assert _keys_of(app, "#deployments") == ["nightly", "weekly", "canary"]
        await pilot.press("o")  # the next time: scheduled ones first
        await pilot.pause()
        assert _keys_of(app, "#deployments")[0] == "weekly"
    assert [d.name for d in list_deployments(store)] == ["canary", "nightly", "weekly"]


async def test_slash_filters_a_plans_machines_and_o_sorts_them(store: Store) -> None:
    fill(store, machines=6, updates=2)
    deployment = create_deployment(store, "nightly", [["m-00001", "m-00002"], ["m-00003"]])
    ids = {m.name: m.id for m in list_machines(store)}

    def item(n: int, classification: str = "security") -> PlanItem:
        return PlanItem(f"pkg-{n:04d}", f"pkg-{n:04d}", f"1.{n}", f"1.{n + 1}", classification)

    save_plan(
        store,
        deployment.id,
        [
            MachinePlan(ids["m-00001"], "m-00001", 0, items=(item(0), item(4))),
            MachinePlan(ids["m-00002"], "m-00002", 0, items=(item(8, "other"),)),
            MachinePlan(ids["m-00003"], "m-00003", 1, error="pre-flight failed: disk: /boot"),
        ],
        created_at=NOW,
    )
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "nightly")
        await pilot.press("enter")
        await wait_for_text(pilot, "plan #1")
        table = "#plan-machines"
        all_three = [str(ids[n]) for n in ("m-00001", "m-00002", "m-00003")]
        assert _keys_of(app, table) == all_three
        await pilot.press("slash", *keys("pkg-0008"))  # a pinned package
        await pilot.pause()
        assert _keys_of(app, table) == [str(ids["m-00002"])]
        assert "1 of 3 machines match 'pkg-0008'" in screen_text(app)
        app.screen.query_one("#filter", Input).value = "boot"  # a problem
        await pilot.pause()
        assert _keys_of(app, table) == [str(ids["m-00003"])]
        await pilot.press("escape")  # clears the filter; the plan stays
        await pilot.pause()
        assert isinstance(app.screen, PlanScreen)
        assert _keys_of(app, table) == all_three
        await pilot.press("o", "o")  # stage, then updates: most first
        await pilot.pause()
        assert "by updates ▼" in screen_text(app)
        assert _keys_of(app, table) == all_three
        await pilot.press("O")
        await pilot.pause()
        assert _keys_of(app, table) == all_three[::-1]
        await pilot.press("escape")  # no filter: back to the list
        await settle(pilot)
        assert isinstance(app.screen, DeploymentsScreen)
    plan = latest_plan(store, deployment.id)
    assert plan is not None and plan.id == 1  # looking planned nothing


async def _type_into(pilot: object, form: DeploymentForm, field: str, text: str) -> None:
    box = form.query_one(f"#field-{field}", Input)
    box.value = ""
    box.focus()
    await pilot.press(*keys(text))  # type: ignore[attr-defined]


async def test_the_builder_schedules_with_a_preview_and_saves_notify(store: Store) -> None:
    fill(store, machines=3, updates=1)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        await pilot.press(*keys("patch-tuesday"))
        _set(form, "targets", "m-00001")
        # no schedule: its fields are hidden
        assert form.query_one("#schedule-fields").has_class("-none")
        form.query_one("#field-schedule", Select).value = "every"
        await pilot.pause()
        assert not form.query_one("#schedule-fields").has_class("-none")
        await _type_into(pilot, form, "when", "FREQ=MONTHLY;BYDAY=2TU")
        await _type_into(pilot, form, "offset", "+3d")
        await _type_into(pilot, form, "tz", "Europe/Berlin")
        await _type_into(pilot, form, "notify", "mail -s patchdeck ops@example.com")
        await pilot.pause()
        # NOW is Saturday 2025-03-01: each second Tuesday, moved to the Friday after
        shown = screen_text(app)
        preview = [line for line in shown.splitlines() if " 2025-" in line]
        assert [line.split()[-4:] for line in preview] == [
            ["Fri", "2025-03-14", "00:00", "CET"],
            ["Fri", "2025-04-11", "00:00", "CEST"],
            ["Fri", "2025-05-16", "00:00", "CEST"],
            ["Fri", "2025-06-13", "00:00", "CEST"],
            ["Fri", "2025-07-11", "00:00", "CEST"],
        ]
        assert "next 5:" in shown
        assert not any(_error(form, f) for f in ("when", "offset", "tz", "notify"))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentsScreen)
    saved = get_deployment(store, "patch-tuesday")
    assert saved.schedule == Schedule(
        tz="Europe/Berlin", rrule="FREQ=MONTHLY;BYDAY=2TU", offset=timedelta(days=3), since=NOW
    )
    assert saved.notify == "mail -s patchdeck ops@example.com"


async def test_a_bad_rule_is_named_under_its_field_and_nothing_is_saved(store: Store) -> None:
    fill(store, machines=3, updates=1)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        await pilot.press(*keys("bad-rule"))
        _set(form, "targets", "m-00001")
        form.query_one("#field-schedule", Select).value = "every"
        await pilot.pause()  # its fields are shown
        await _type_into(pilot, form, "when", "FREQ=MONTHLY;BYDAY=9TU")
        await pilot.pause()
        said = _error(form, "when")
        assert said.startswith("every: 'FREQ=MONTHLY;BYDAY=9TU' BYDAY=9TU: '9TU'")
        assert "every: 'FREQ=MONTHLY;BYDAY=9TU' BYDAY=9TU" in screen_text(app)  # under it
        assert str(form.query_one("#schedule-preview").content) == ""  # type: ignore[attr-defined]
        await _type_into(pilot, form, "offset", "3 days")
        await pilot.pause()
        assert _error(form, "offset").startswith("offset: '3 days' is not a duration")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentForm)
        # a one-off time in the past: the service's words too
        form.query_one("#field-schedule", Select).value = "at"
        await _type_into(pilot, form, "when", "2025-02-01T22:00+01:00")
        await pilot.pause()
        assert form.query_one("#offset-field").has_class("-none")  # not for a one-off
        assert "is in the past (now is 2025-03-01T12:00:00+00:00)" in _error(form, "when")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentForm)
    assert list_deployments(store) == []


async def test_editing_shows_the_schedule_and_notify_and_clears_them(store: Store) -> None:
    fill(store, machines=3, updates=1)
    schedule = Schedule(
        tz="Europe/Berlin", rrule="FREQ=WEEKLY;BYDAY=SA;BYHOUR=2", offset=timedelta(hours=-12)
    )
    create_deployment(store, "weekly", [["m-00000"]], schedule=schedule, notify="logger done")
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_text(pilot, "weekly")
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        assert form.query_one("#field-schedule", Select).value == "every"
        values = {f: form.query_one(f"#field-{f}", Input).value for f in ("when", "offset", "tz")}
        assert values == {
            "when": "FREQ=WEEKLY;BYDAY=SA;BYHOUR=2",
            "offset": "-12h",
            "tz": "Europe/Berlin",
        }
        assert form.query_one("#field-notify", Input).value == "logger done"
        await _type_into(pilot, form, "notify", "")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentsScreen)
        saved = get_deployment(store, "weekly")
        assert saved.notify is None and saved.schedule == schedule  # kept as it was
        # none: the schedule is removed
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DeploymentForm)
        form.query_one("#field-schedule", Select).value = "none"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DeploymentsScreen)
    saved = get_deployment(store, "weekly")
    assert saved.schedule is None and saved.notify is None
