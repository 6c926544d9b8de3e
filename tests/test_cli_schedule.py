"""Schedules, periodic group scans and the audit trail on the command line: `deployment create
/ edit --at --every --offset --tz --notify --no-schedule`, `deployment show` with the next five
occurrences, `group edit --scan-every`, `patchdeck audit --since --machine --json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.deployments import get_deployment
from backends.inventory.groups import create_group
from backends.inventory.machines import add_machine
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tui.cli import main
from tui.cli.audit import parse_since

ZONE = ZoneInfo("Europe/Berlin")


@pytest.fixture
def inventory(db_path: Path) -> Path:
    store = Store.open(str(db_path))
    for name in ("web-01", "web-02", "db-01"):
        add_machine(store, build_spec(name=name, address=f"{name}.lan"))
    create_group(store, "web", machines=["web-01", "web-02"])
    store.close()
    return db_path


def _cli(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--db", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_recurring_schedule_created_shown_edited_and_cleared(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(
        inventory, capsys, "deployment", "create", "pt", "--target", "web",
        "--every", "FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22", "--offset", "+3d",
        "--tz", "Europe/Berlin", "--notify", "mail -s patchdeck ops@example.com",
    )  # fmt: skip
    assert (code, err) == (0, "")
    code, out, _ = _cli(inventory, capsys, "deployment", "show", "pt", "--json")
    shown = json.loads(out)
    assert shown["schedule"]["every"] == "FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22"
    assert (shown["schedule"]["offset"], shown["schedule"]["tz"]) == ("+3d", "Europe/Berlin")
    assert shown["notify"] == "mail -s patchdeck ops@example.com"
    assert len(shown["next"]) == 5
    for text in shown["next"]:  # Fridays, 22:00 in Berlin
        when = datetime.fromisoformat(text).astimezone(ZONE)
        assert (when.strftime("%a %H:%M"), 11 <= when.day <= 17) == ("Fri 22:00", True)
    code, out, _ = _cli(inventory, capsys, "deployment", "show", "pt")
    assert "schedule:         every FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22 +3d (Europe/Berlin)" in out
    upcoming = out.split("schedule:", 1)[1].splitlines()[1:6]
    assert upcoming[0].startswith("next:             Fri ")
    assert all(" Fri 20" in line and "22:00 CE" in line for line in upcoming)

    code, _, _ = _cli(inventory, capsys, "deployment", "edit", "pt", "--offset=-1d")
    assert code == 0
    edited = get_deployment(Store.open(str(inventory)), "pt")
    assert edited.schedule is not None and edited.schedule.offset == timedelta(days=-1)
    assert edited.schedule.rrule == "FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22"
    audit = [e for e in list_audit(Store.open(str(inventory))) if e.action == "deployment.edit"]
    assert "schedule every FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22 offset -86400s" in audit[-1].detail

    code, _, _ = _cli(
        inventory, capsys, "deployment", "edit", "pt", "--no-schedule", "--notify", ""
    )
    assert code == 0
    code, out, _ = _cli(inventory, capsys, "deployment", "show", "pt", "--json")
    assert (json.loads(out)["schedule"], json.loads(out)["notify"], json.loads(out)["next"]) == (
        None,
        None,
        [],
    )


def test_a_one_off_schedule_and_the_machine_zone(
    inventory: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    at = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    code, _, err = _cli(
        inventory, capsys, "deployment", "create", "once", "--target", "db-01", "--at", at
    )
    assert (code, err) == (0, "")
    code, out, _ = _cli(inventory, capsys, "deployment", "show", "once", "--json")
    shown = json.loads(out)
    assert shown["schedule"]["kind"] == "once" and shown["schedule"]["tz"] == "America/New_York"
    local = datetime.fromisoformat(shown["schedule"]["at"]).astimezone(ZoneInfo("America/New_York"))
    assert local.strftime("%Y-%m-%dT%H:%M") == at  # read as local time in the machine's zone
    assert shown["next"] == [shown["schedule"]["at"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--every", "FREQ=MONTHLY;BYDAY=2XX"),
            "patchdeck: every: 'FREQ=MONTHLY;BYDAY=2XX' BYDAY=2XX",
        ),
        (
            ("--every", "FREQ=DAILY", "--tz", "Mars/Base"),
            "patchdeck: tz: 'Mars/Base' is not a time zone",
        ),
        (("--every", "FREQ=DAILY", "--offset", "3"), "patchdeck: offset: '3' needs a unit"),
        (("--at", "2001-01-01T00:00Z"), "patchdeck: at: '2001-01-01T00:00Z' is in the past"),
        (("--at", "soon"), "patchdeck: at: 'soon' is not a time"),
        (("--offset", "+1d"), "patchdeck: offset: '+1d' needs a schedule"),
        (("--notify", "a\nb"), "patchdeck: notify: 'a\\nb' contains control characters"),
    ],
)
def test_bad_schedule_options_are_one_line_and_exit_2(
    inventory: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = _cli(
        inventory, capsys, "deployment", "create", "bad", "--target", "web", *args
    )
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1
    assert get_deployment_or_none(inventory, "bad") is None


def get_deployment_or_none(db: Path, name: str) -> object:
    from backends.inventory.deployments import list_deployments

    return next((d for d in list_deployments(Store.open(str(db))) if d.name == name), None)


def test_no_schedule_cannot_be_combined(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cli(inventory, capsys, "deployment", "create", "d", "--target", "web")
    code, _, err = _cli(
        inventory, capsys, "deployment", "edit", "d", "--no-schedule", "--every", "FREQ=DAILY"
    )
    assert code == 2 and "no-schedule: cannot be combined" in err


def test_group_edit_scan_every(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(inventory, capsys, "group", "edit", "web", "--scan-every", "6h")
    assert (code, out) == (0, "group web: scanned every 6h by `patchdeck run-due`\n")
    code, out, _ = _cli(inventory, capsys, "group", "show", "web")
    assert "scan every:   6h" in out
    code, out, _ = _cli(inventory, capsys, "group", "show", "web", "--json")
    assert json.loads(out)["scan_every"] == "6h"
    code, _, err = _cli(inventory, capsys, "group", "edit", "web", "--scan-every", "2m")
    assert (code, err) == (2, "patchdeck: scan-every: '2m' is shorter than 5m\n")
    code, _, err = _cli(inventory, capsys, "group", "edit", "nope", "--scan-every", "1h")
    assert code == 2 and "no group named 'nope'" in err
    code, out, _ = _cli(inventory, capsys, "group", "edit", "web", "--scan-every", "off")
    assert out == "group web: no periodic scan\n"
    actions = [e.action for e in list_audit(Store.open(str(inventory)))]
    assert actions.count("group.edit") == 2


def test_audit_lists_who_did_what_filtered(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cli(inventory, capsys, "deployment", "create", "d", "--target", "db-01")
    code, out, _ = _cli(inventory, capsys, "audit", "--json")
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["action"] for e in entries] == [
        "machine.add", "machine.add", "machine.add", "group.create", "deployment.create",
    ]  # fmt: skip
    assert all(e["at"].endswith("Z") and e["user"] for e in entries)
    code, out, _ = _cli(inventory, capsys, "audit", "--machine", "db-01", "--json")
    assert [json.loads(line)["action"] for line in out.splitlines()] == [
        "machine.add",
        "deployment.create",
    ]
    code, out, _ = _cli(inventory, capsys, "audit", "--machine", "web-02")
    assert [line.split()[3] for line in out.splitlines()[1:]] == ["machine.add", "group.create"]
    code, out, _ = _cli(inventory, capsys, "audit", "--since", "1h", "--json")
    assert len(out.splitlines()) == 5
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    code, out, _ = _cli(inventory, capsys, "audit", "--since", future)
    assert (code, out) == (0, "nothing in the audit trail that matches\n")
    code, _, err = _cli(inventory, capsys, "audit", "--since", "yesterday")
    assert code == 2 and err.startswith("patchdeck: since: 'yesterday' is neither a duration")


def test_since_as_duration_or_time() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-03-10T08:00+01:00", now) == datetime(2026, 3, 10, 7, tzinfo=UTC)
