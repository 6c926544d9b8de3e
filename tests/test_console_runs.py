"""The run view and the run history, driven by keys (Pilot), against runs of the simulated
fleet executed by real runner processes: a run started by the CLI is re-attached to and
watched to its end, a manual gate approved, a run cancelled, a report exported, and `q`
says that a run goes on without the console. Screen and database are checked at each step."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from backends.inventory.audit import list_audit
from backends.inventory.runs import get_run
from backends.inventory.store import Store
from tests.cli_fleet import CliFleet, wait_for_run
from tests.conftest import run_cli
from tests.console_helpers import screen_text, settle, wait_for_text
from tui.actions import RUNS
from tui.app import PatchdeckApp
from tui.cli.run_report import CSV_HEADER
from tui.screens.run import RunScreen

pytestmark = pytest.mark.timeout(180)

SEED = 7  # sim-000 ubuntu, sim-001 debian, sim-002 rocky
SIZE = (80, 24)
WORKING = ("connecting", "scanning", "installing", "rebooting", "verifying")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[CliFleet]:
    # apt waits for a held lock, printing that it waits: sim-000 stays installing a while
    faults = {"machines": {"sim-000": [{"dpkg-lock": 4}]}}
    served = CliFleet(tmp_path, machines=3, seed=SEED, faults=faults)
    yield served
    served.stop()


@pytest.fixture
def store(fleet: CliFleet) -> Iterator[Store]:
    opened = fleet.store()
    yield opened
    opened.close()


def _deploy(fleet: CliFleet, name: str, *options: str, detach: bool = True) -> None:
    created = run_cli(
        "deployment", "create", name, *options,
        "--classification", "security", "--classification", "other", db=fleet.db,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    if detach:
        started = run_cli("deployment", "run", name, "--yes", "--detach", db=fleet.db)
        assert started.returncode == 0, started.stderr


def _row(app: Any, machine: str) -> str:
    return next(line for line in screen_text(app).splitlines() if f" {machine} " in line)


def _run_screen(app: Any) -> RunScreen:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return screen


async def _notified(pilot: Any, text: str, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if any(text in n.message for n in pilot.app._notifications):
            return
        await pilot.pause(0.05)
    raise AssertionError(f"no notification {text!r}")


async def _until_ended(pilot: Any, run_id: int, seconds: float = 90) -> set[str]:
    """Watch the run view until the run ends; the machine states it showed meanwhile."""
    seen: set[str] = set()
    for _ in range(int(seconds / 0.1)):
        text = screen_text(pilot.app)
        seen.update(s for s in (*WORKING, "pending", "succeeded", "failed") if f" {s} " in text)
        head = _run_screen(pilot.app).head
        if head is not None and not head.live and f"Run #{run_id} " in text:
            return seen
        await pilot.pause(0.1)
    raise AssertionError(f"run #{run_id} never ended; the screen:\n{screen_text(pilot.app)}")


async def test_reattach_to_a_cli_run_watch_it_end_and_export_its_report(
    fleet: CliFleet, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _deploy(fleet, "nightly", "--target", "sim-000", "sim-001", "sim-002", "--reboot", "never")
    app = PatchdeckApp(store, first_view=RUNS)
    async with app.run_test(size=SIZE) as pilot:
        # the history lists the run the CLI started, live
        shown = await wait_for_text(pilot, "#1")
        assert "nightly" in shown and ("running" in shown or "pending" in shown)
        await pilot.press("enter")
        shown = await wait_for_text(pilot, "Run #1 of nightly")
        assert "window:" in shown and "reboot reserve from" in shown
        # sim-000 waits for the package lock: its output says so, live
        shown = await wait_for_text(pilot, "Waiting for cache lock", seconds=60)
        assert "sim-000 · installing" in shown
        seen = await _until_ended(pilot, 1)
        assert "installing" in seen  # states changed on screen as the runner went
        await settle(pilot)
        run = get_run(store, 1)
        assert run.state == "succeeded"
        for m in run.machines:
            assert m.state == "succeeded" and m.installed > 0
            row = _row(app, m.machine)
            assert "succeeded" in row and f" {m.installed} " in row and "100%" in row
        text = screen_text(app)
        assert "Run #1 of nightly · succeeded" in text
        assert "3 machines: 3 succeeded" in text
        total = sum(m.installed for m in run.machines)
        assert f"updates {total} installed, 0 failed" in text

        # back to the history, which shows the end; export the report as CSV
        await pilot.press("escape")
        await wait_for_text(pilot, "3 succeeded")
        await pilot.press("e")
        await wait_for_text(pilot, "Export the report of run #1")
        path = app.screen.query_one("#export-path", Input)
        assert path.value == str(tmp_path / "run-1.md")  # in the current directory
        await pilot.press("down", "enter")  # CSV; the file's suffix follows
        await pilot.pause()
        assert path.value == str(tmp_path / "run-1.csv")
        await pilot.press("tab", "enter")
        await settle(pilot)
        written = tmp_path / "run-1.csv"
        assert f"report of run #1 written to {written}" in [n.message for n in app._notifications]
        assert "Export the report" not in screen_text(app)
        assert written.exists()
        rows = list(csv.DictReader(io.StringIO(written.read_text())))
        assert list(rows[0]) == CSV_HEADER
        assert {r["machine"] for r in rows} == {"sim-000", "sim-001", "sim-002"}
        assert sum(1 for r in rows if r["outcome"] == "installed") == total
        assert all(r["state"] == "succeeded" for r in rows)


async def test_approve_a_manual_gate_and_quit_while_the_run_goes_on(
    fleet: CliFleet, store: Store
) -> None:
    _deploy(fleet, "staged", "--stage", "sim-001", "--stage", "sim-002", "--gate", "manual",
            "--reboot", "never")  # fmt: skip
    wait_for_run(fleet.db, 1, lambda run: run.gate_waiting)
    app = PatchdeckApp(store)
    async with app.run_test(size=(100, 40)) as pilot:
        # the dashboard shows the active run with its progress
        shown = await wait_for_text(pilot, "#1 staged: running at the gate, 1 of 2 done")
        assert "Runs" in shown
        app.show_run(1)  # what the deployments view does after starting a run
        shown = await wait_for_text(pilot, "waiting at the gate before stage 2 (a approves)")
        assert "Run #1 of staged · running · stage 2 of 2 · started" in shown
        assert "pending" in _row(app, "sim-002") and "succeeded" in _row(app, "sim-001")

        # `q` says the run goes on; Cancel has the focus: enter stays
        await pilot.press("q")
        shown = await wait_for_text(pilot, "Run #1 of staged is running. Quit the console?")
        assert "does not stop a run" in shown
        await pilot.press("enter")
        await wait_for_text(pilot, "waiting at the gate")
        assert app.is_running

        # approve asks first; declining changes nothing
        await pilot.press("a")
        await wait_for_text(pilot, "Approve stage 2 of run #1?")
        await pilot.press("enter")
        await settle(pilot)
        assert get_run(store, 1).gate_waiting
        await pilot.press("a")
        await wait_for_text(pilot, "Approve stage 2 of run #1?")
        await pilot.press("right", "enter")
        await _notified(pilot, "run #1: stage 2 approved")
        assert not get_run(store, 1).gate_waiting
        assert any(e.action == "run.approve" for e in list_audit(store))
        await _until_ended(pilot, 1)
        assert "succeeded" in _row(app, "sim-002")
        assert "waiting at the gate" not in screen_text(app)
    ended = get_run(store, 1)
    assert ended.state == "succeeded" and [m.state for m in ended.machines] == ["succeeded"] * 2


async def test_cancel_a_run(fleet: CliFleet, store: Store) -> None:
    _deploy(fleet, "slow", "--target", "sim-000", "sim-001", "sim-002", "--concurrency", "1",
            "--reboot", "never")  # fmt: skip
    wait_for_run(fleet.db, 1, lambda run: any(m.state == "installing" for m in run.machines))
    app = PatchdeckApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.show_run(1)
        await wait_for_text(pilot, "Waiting for cache lock", seconds=30)
        await pilot.press("x")
        shown = await wait_for_text(pilot, "Cancel run #1?")
        assert "1 machine at work finish" in shown
        await pilot.press("right", "enter")
        await wait_for_text(pilot, "cancel requested")
        assert get_run(store, 1).cancel_requested == "soft"
        await _until_ended(pilot, 1)
        await settle(pilot)
        assert "Run #1 of slow · cancelled" in screen_text(app)
        assert "succeeded" in _row(app, "sim-000")  # its install was let finish
        assert "cancelled" in _row(app, "sim-001") and "cancelled" in _row(app, "sim-002")
        await pilot.press("1")  # the dashboard's recent results
        await wait_for_text(pilot, "#1 slow: cancelled, 1 of 3 succeeded")
    ended = get_run(store, 1)
    assert ended.state == "cancelled"
    assert [m.state for m in ended.machines] == ["succeeded", "cancelled", "cancelled"]
