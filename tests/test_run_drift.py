"""Drift between a plan and the scan just before the install, and the window's reserve rule:
pure functions, no machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backends.engine.drift import compare
from backends.engine.window import Window
from backends.inventory.plans import PlanItem
from backends.platforms.records import FoundUpdate


def _item(pid: str, version: str | None) -> PlanItem:
    return PlanItem(pid, pid, "1.0", version, "security")


def _found(pid: str, installed: str, available: str) -> FoundUpdate:
    return FoundUpdate(pid, pid, installed, available, "security")


def test_drift_installs_only_what_the_plan_pinned_and_says_what_moved() -> None:
    items = [
        _item("same", "2.0"),
        _item("gone", "2.0"),
        _item("newer", "2.0"),
        _item("already", "2.0"),
        _item("patch:any", None),
    ]
    found = [
        _found("same", "1.0", "2.0"),
        _found("newer", "1.0", "2.1"),
        _found("already", "2.0", "2.1"),
        _found("patch:any", "1", "7"),
        _found("unplanned", "1.0", "9.9"),  # never installed: not in the plan
    ]
    drift = compare(items, found)
    assert [i.platform_id for i in drift.install] == ["same", "newer", "patch:any"]
    assert [i.version for i in drift.install] == ["2.0", "2.0", None]  # the pinned versions
    assert [i.platform_id for i in drift.gone] == ["gone", "already"]
    assert [i.platform_id for i in drift.newer] == ["newer"]
    assert drift.notes == (
        "drift: gone is no longer missing: nothing to install",
        "drift: newer 2.1 is offered now; installing the pinned 2.0",
        "drift: already is already at the pinned 2.0 (2.1 is offered now): nothing to install",
    )
    assert compare(items[:1], found).notes == ()


def test_the_last_20_minutes_are_kept_for_reboots() -> None:
    end = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    window = Window(end)
    assert window.allows(end - timedelta(minutes=20))
    assert not window.allows(end - timedelta(minutes=19, seconds=59))
    assert window.why_not("the install", end - timedelta(minutes=5)) == (
        "the install was not begun: 5m of the maintenance window remained, less than the 20m "
        "kept for reboots"
    )
    assert window.why_not("the reboot", end + timedelta(minutes=1)) == (
        "the reboot was not begun: the maintenance window had ended"
    )
