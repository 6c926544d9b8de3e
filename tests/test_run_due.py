"""`run-due` with fixed clocks: which occurrences are due, missed (never run late) or
superseded; each claimed once, also by two processes at once on one SQLite file; groups'
periodic scans claimed by compare-and-set; the missed ones told to the notify command."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backends.engine.due import due_occurrences
from backends.inventory.audit import list_audit
from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import create_deployment, get_deployment
from backends.inventory.group_scans import (
    check_scan_every,
    claim_group_scan,
    scan_schedules,
    set_scan_every,
)
from backends.inventory.groups import create_group
from backends.inventory.machines import add_machine
from backends.inventory.schedules import (
    MISSED,
    STARTING,
    Schedule,
    claim_occurrence,
    latest_claims,
    list_claims,
)
from backends.inventory.store import Store
from backends.inventory.validation import FieldError, build_spec
from tests.conftest import patchdeck_command

NOW = datetime(2026, 3, 10, 12, 10, tzinfo=UTC)


def _hourly(
    store: Store, name: str = "hourly", since: timedelta = timedelta(hours=5, minutes=30)
) -> int:
    schedule = Schedule(tz="UTC", rrule="FREQ=HOURLY", since=NOW - since)
    return create_deployment(store, name, [["nobody"]], schedule=schedule).id


@pytest.fixture
def fleet(store: Store) -> Store:
    add_machine(store, build_spec(name="web-01", address="192.0.2.1"))
    create_group(store, "nobody", query="name = 'no-such-machine'")
    return store


def test_occurrences_due_missed_and_superseded(fleet: Store) -> None:
    _hourly(fleet)  # occurrences 07:00 … 12:00, each with a 2h window
    due = due_occurrences(fleet, NOW)
    got = [(o.occurrence.hour, o.missed) for o in due.occurrences]
    assert got == [(7, True), (8, True), (9, True), (10, True), (11, True), (12, False)]
    reasons = {o.occurrence.hour: o.reason for o in due.occurrences}
    assert reasons[10] == "its window ended at 2026-03-10T12:00:00Z"
    assert reasons[11] == "superseded by the occurrence at 2026-03-10T12:00:00Z"
    assert due.occurrences[-1].window_end == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)

    # a 30 minute window: at 12:12 only the 20 minute reboot reserve is left, so it is missed
    short = Schedule(tz="UTC", rrule="FREQ=DAILY;BYHOUR=12", since=NOW - timedelta(days=1))
    create_deployment(fleet, "short", [["nobody"]], build_options(window="30m"), short)
    (late,) = [o for o in due_occurrences(fleet, NOW + timedelta(minutes=2)).occurrences
               if o.deployment.name == "short"]  # fmt: skip
    assert late.missed
    assert late.reason.startswith("only the 20m reboot reserve of its window")


def test_each_occurrence_is_claimed_once_and_not_seen_again(fleet: Store) -> None:
    deployment_id = _hourly(fleet)
    due = due_occurrences(fleet, NOW)
    for item in due.occurrences:
        state = MISSED if item.missed else STARTING
        assert claim_occurrence(fleet, deployment_id, item.occurrence, state, now=NOW)
        assert not claim_occurrence(fleet, deployment_id, item.occurrence, state, now=NOW)
    assert due_occurrences(fleet, NOW).occurrences == ()
    assert latest_claims(fleet) == {deployment_id: datetime(2026, 3, 10, 12, 0, tzinfo=UTC)}
    # the next hour is due in its turn, and only it
    later = due_occurrences(fleet, NOW + timedelta(hours=1))
    assert [(o.occurrence.hour, o.missed) for o in later.occurrences] == [(13, False)]
    claims = list_claims(fleet, deployment_id)
    assert [c.state for c in claims] == [MISSED] * 5 + [STARTING]
    actions = [e.action for e in list_audit(fleet) if e.action.startswith("schedule.")]
    assert actions == ["schedule.missed"] * 5 + ["schedule.due"]


def test_one_off_schedules_and_none_before_their_time(fleet: Store) -> None:
    once = Schedule(tz="Europe/Berlin", at=NOW + timedelta(minutes=5))
    create_deployment(fleet, "once", [["nobody"]], schedule=once)
    assert due_occurrences(fleet, NOW).occurrences == ()
    (item,) = due_occurrences(fleet, NOW + timedelta(minutes=6)).occurrences
    assert (item.occurrence, item.missed) == (once.at, False)
    (item,) = due_occurrences(fleet, NOW + timedelta(hours=3)).occurrences
    assert item.missed  # run-due did not run in its window: never run late
    create_deployment(fleet, "by-hand", [["nobody"]])
    assert {
        o.deployment.name for o in due_occurrences(fleet, NOW + timedelta(hours=3)).occurrences
    } == {"once"}


def _claim_all(db: str, occurrences: list[str], result: Any) -> None:
    store = Store.open(db)
    deployment = get_deployment(store, "hourly")
    won = [
        text
        for text in occurrences
        if claim_occurrence(store, deployment.id, datetime.fromisoformat(text), STARTING)
    ]
    result.put(won)


def test_two_processes_claim_each_occurrence_once(fleet: Store, db_path: Path) -> None:
    _hourly(fleet, since=timedelta(days=30))
    occurrences = [(NOW - timedelta(hours=h)).replace(minute=0).isoformat() for h in range(300)]
    ctx = mp.get_context("spawn")
    result: Any = ctx.Queue()
    workers = [
        ctx.Process(target=_claim_all, args=(str(db_path), occurrences, result)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    won = [result.get(timeout=90) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    first, second = (set(w) for w in won)
    assert not first & second, "an occurrence was claimed twice"
    assert first | second == set(occurrences)
    assert len(list_claims(fleet)) == 300


def test_group_scans_are_claimed_by_compare_and_set(fleet: Store) -> None:
    with pytest.raises(FieldError, match=r"^scan-every: '1m' is shorter than 5m"):
        check_scan_every("1m")
    assert check_scan_every("off") is None
    group = set_scan_every(fleet, "nobody", check_scan_every("6h"))
    assert group.scan_every == timedelta(hours=6)
    (schedule,) = scan_schedules(fleet)
    assert schedule.due(NOW)
    assert claim_group_scan(fleet, schedule, NOW)
    assert not claim_group_scan(fleet, schedule, NOW)  # another process read the same
    (again,) = scan_schedules(fleet)
    assert again.last == NOW and not again.due(NOW + timedelta(hours=5))
    assert again.due(NOW + timedelta(hours=6))
    assert due_occurrences(fleet, NOW + timedelta(hours=6)).scans == (again,)
    set_scan_every(fleet, "nobody", None)
    assert scan_schedules(fleet) == []


def _run_due(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*patchdeck_command(), "--db", str(db), "run-due", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(db.parent)},
    )


def test_run_due_twice_at_once_starts_and_records_each_occurrence_once(
    fleet: Store, db_path: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    now = datetime.now(UTC)
    if now.minute == 59 and now.second > 30:  # the next hour would come during the test
        time.sleep(31)
        now = datetime.now(UTC)
    since = timedelta(hours=4)
    schedule = Schedule(tz="UTC", rrule="FREQ=HOURLY", since=now - since)
    create_deployment(fleet, "hourly", [["nobody"]], schedule=schedule, notify=f"cat >> {events}")
    expected = [(o.occurrence, o.missed) for o in due_occurrences(fleet, now).occurrences]
    assert len(expected) >= 4 and sum(not missed for _, missed in expected) == 1

    processes = [_run_due(db_path), _run_due(db_path)]
    outputs = [p.communicate(timeout=90) for p in processes]
    lines = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    assert all(err == "" for _, err in outputs), outputs
    occurrences = [line["occurrence"] for line in lines]
    assert sorted(occurrences) == sorted(set(occurrences)), "an occurrence was taken twice"
    assert len(occurrences) == len(expected)
    missed = [line for line in lines if line["state"] == "missed"]
    assert len(missed) == len(expected) - 1
    # the due one could not start: its targets hold no machine (a real reason, not a success)
    (tried,) = [line for line in lines if line["state"] != "missed"]
    assert (tried["state"], tried["detail"]) == ("not-started", "its targets hold no machine now")
    assert sorted(p.returncode for p in processes)[-1] == 1

    told = [json.loads(line) for line in events.read_text().splitlines()]
    assert sorted(e["occurrence"] for e in told) == sorted(e["occurrence"] for e in missed)
    assert {e["event"] for e in told} == {"occurrence-missed"}
    assert all(e["deployment"] == "hourly" and e["reason"] for e in told)

    again = _run_due(db_path)
    out, err = again.communicate(timeout=60)
    assert (again.returncode, out, err) == (0, "", "")  # nothing due any more: quiet


def test_an_old_inventory_gains_the_claims_table(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import DATA

    copy = tmp_path / "old.db"
    shutil.copy(DATA / "inventory-v1.db", copy)
    store = Store.open(str(copy))
    assert store.found_version == 1
    create_group(store, "none", query="name = 'nothing'")
    deployment_id = create_deployment(
        store, "old", [["none"]], schedule=Schedule(tz="UTC", rrule="FREQ=DAILY", since=NOW)
    ).id
    assert claim_occurrence(store, deployment_id, NOW, MISSED)
    assert not claim_occurrence(store, deployment_id, NOW, MISSED)
    store.close()
