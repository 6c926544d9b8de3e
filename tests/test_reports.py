"""`patchdeck report` on an inventory built with the services: per machine counts, the oldest
missing security update's age, reboot, last scan and last run; fleet totals and compliance as
the dashboard counts them; Markdown safe to paste, CSV properly quoted, JSON one document;
10,000 machines in well under the time an operator waits."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backends.inventory.compliance import fleet_compliance
from backends.inventory.deployments import create_deployment
from backends.inventory.groups import create_group
from backends.inventory.machines import add_machine
from backends.inventory.plans import MachinePlan, PlanItem, save_plan
from backends.inventory.records import ScanReport, Update
from backends.inventory.reports import fleet_report, inventory_name
from backends.inventory.runs import create_run
from backends.inventory.scans import record_scans, updates_digest
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.fleet_data import fill
from tui.cli import main
from tui.cli.report import md

NOW = datetime.now(UTC).replace(microsecond=0)


def _update(name: str, classification: str) -> Update:
    return Update(name, name, "1.0", "1.1", classification)


def _scan(store: Store, machine_id: int, at: datetime, *updates: Update, **facts: Any) -> None:
    report = ScanReport(
        machine_id,
        at,
        ok=True,
        reachable=True,
        updates=updates,
        updates_digest=updates_digest(updates),
        **{"distro": "debian", "version": "12", **facts},
    )
    record_scans(store, [report])


@pytest.fixture
def inventory(store: Store) -> Store:
    ids = {}
    for name, transport in (
        ("web-01", "ssh"),
        ("web-02", "ssh"),
        ("win-01", "winrm"),
        ("db-01", "ssh"),
        ("new-01", "ssh"),
    ):
        ids[name] = add_machine(
            store, build_spec(name=name, address=f"{name}.lan", transport=transport)
        ).id
    _scan(
        store,
        ids["web-01"],
        NOW - timedelta(days=12),
        _update("openssl", "security"),
        _update("curl", "security"),
        _update("tzdata", "other"),
        reboot_pending=True,
        distro="deb|ian *bold* <b>",
    )
    _scan(store, ids["web-02"], NOW - timedelta(hours=3), _update("vim", "other"))
    _scan(
        store,
        ids["win-01"],
        NOW - timedelta(days=2),
        _update("KB5034441", "critical"),
        _update("KB890830", "definition"),
        distro="windows",
        version="2022",
    )
    record_scans(
        store,
        [
            ScanReport(
                ids["db-01"], NOW - timedelta(hours=1), ok=False, error="down", reachable=False
            )
        ],
    )
    create_group(store, "web", machines=["web-01", "web-02"])
    deployment = create_deployment(store, "nightly", [["web"]])
    item = PlanItem("openssl", "openssl", "1.1", "1.0", "security", False)
    plan = save_plan(
        store,
        deployment.id,
        [
            MachinePlan(ids["web-01"], "web-01", 0, items=(item,)),
            MachinePlan(ids["web-02"], "web-02", 0),
        ],
    )
    create_run(store, plan, deployment.options)
    return store


def _cli(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--db", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_report_per_machine_and_for_the_fleet(inventory: Store) -> None:
    report = fleet_report(inventory, now=NOW)
    by_name = {m.name: m for m in report.machines}
    assert [m.name for m in report.machines] == ["db-01", "new-01", "web-01", "web-02", "win-01"]
    web = by_name["web-01"]
    assert (web.state, web.missing, web.reboot_pending) == (
        "non-compliant",
        {"security": 2, "other": 1},
        True,
    )
    assert web.oldest_security_found == NOW - timedelta(days=12)
    assert web.last_run is not None and (web.last_run.deployment, web.last_run.state) == (
        "nightly",
        "pending",
    )
    assert (
        by_name["web-02"].state == "compliant" and by_name["web-02"].oldest_security_found is None
    )
    win = by_name["win-01"]
    assert win.state == "non-compliant" and win.missing["critical"] == 1
    assert win.missing["update_rollup"] == 0  # every classification of its family
    assert win.oldest_security_found == NOW - timedelta(days=2)  # critical counts as urgent
    assert by_name["db-01"].state == "unreachable" and by_name["new-01"].state == "not-assessed"
    assert by_name["new-01"].last_run is None and by_name["new-01"].last_scan_at is None

    dashboard = fleet_compliance(inventory)  # the same definition as the dashboard's
    assert report.states == {
        "compliant": dashboard.compliant,
        "non-compliant": dashboard.non_compliant,
        "not-assessed": dashboard.not_assessed,
        "unreachable": dashboard.unreachable,
    }
    assert report.compliance_percent == 20.0
    assert report.missing["security"] == 2 and report.missing["other"] == 2
    assert report.reboot_pending == dashboard.reboot_pending == 1

    web_only = fleet_report(inventory, "web", now=NOW)
    assert [m.name for m in web_only.machines] == ["web-01", "web-02"]
    assert (web_only.group, web_only.compliance_percent) == ("web", 50.0)


def test_markdown_for_a_change_ticket(
    inventory: Store, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(db_path, capsys, "report")
    assert code == 0
    assert out.startswith("# Patch compliance report\n")
    assert f"- Inventory: {md(str(db_path))}" in out
    assert "- Compliance: 20% " in out
    assert "| 5 | 1 | 2 | 1 | 1 | 1 |" in out  # machines, compliant, non, not assessed, …
    (web,) = [line for line in out.splitlines() if line.startswith("| web-01 |")]
    cells = [c.strip() for c in web.strip().strip("|").split(" | ")]
    assert cells[:10] == [
        "web-01",
        "deb\\|ian \\*bold\\* &lt;b&gt; 12",  # remote text cannot break the table or style it
        "",
        "non-compliant",
        "2",
        "-",
        "1",
        "12d",
        "yes",
        "12d ago (ok)",
    ]
    assert cells[10].startswith("#1 of nightly: pending")
    (new,) = [line for line in out.splitlines() if line.startswith("| new-01 |")]
    assert new.endswith("| never | never |")
    # every table row has the header's number of cells: nothing broke a row
    for table in ("| Machine |",):
        header = next(line for line in out.splitlines() if line.startswith(table))
        width = header.count(" | ")
        rows = out.split(header, 1)[1].strip().splitlines()[1:]
        assert rows and all(row.replace("\\|", "").count(" | ") == width for row in rows)
    # rendered, the escapes show the text as it was: a|b\x1b[31m`x` [y](z)
    assert md("a|b\x1b[31m`x`\n[y](z)") == "a\\|b\\\\x1b\\[31m\\`x\\` \\[y\\](z)"


def test_csv_and_json(
    inventory: Store, db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.csv"
    code, out, err = _cli(db_path, capsys, "report", "--format", "csv", "--output", str(target))
    assert (code, out) == (0, "") and "5 machines written" in err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    web = next(r for r in rows if r["machine"] == "web-01")
    assert web["distro"] == "deb|ian *bold* <b>"  # CSV keeps text as it is, quoted as needed
    assert (web["missing_security"], web["missing_other"], web["missing_critical"]) == (
        "2",
        "1",
        "",
    )
    assert int(web["oldest_security_age_seconds"]) >= 12 * 86400
    assert (web["last_run_deployment"], web["last_run_result"]) == ("nightly", "pending")
    assert next(r for r in rows if r["machine"] == "new-01")["last_run_result"] == "never"
    assert next(r for r in rows if r["machine"] == "win-01")["missing_critical"] == "1"

    code, out, _ = _cli(db_path, capsys, "report", "--format", "json", "--group", "web")
    document = json.loads(out)  # one document
    assert document["group"] == "web" and document["generated"].endswith("Z")
    assert document["totals"] == {
        "machines": 2,
        "compliant": 1,
        "non_compliant": 1,
        "not_assessed": 0,
        "unreachable": 0,
        "reboot_pending": 1,
        "compliance_percent": 50.0,
        "missing": {"security": 2, "other": 2},
    }
    web_json = document["machines"][0]
    assert web_json["last_run"]["deployment"] == "nightly"
    assert web_json["missing"] == {"security": 2, "other": 1}

    code, _, err = _cli(db_path, capsys, "report", "--group", "nope")
    assert code == 2 and "no group named 'nope'" in err
    code, _, err = _cli(db_path, capsys, "report", "--output", str(tmp_path / "no" / "dir.md"))
    assert code == 2 and err.startswith("patchdeck: output: cannot write")


def test_csv_cells_a_spreadsheet_would_run_are_kept_as_text(store: Store) -> None:
    from tui.cli.report import render_csv

    machine = add_machine(store, build_spec(name="x-01", address="x.lan")).id
    _scan(store, machine, NOW, distro="=cmd|' /C calc'!A0")
    (row,) = list(csv.DictReader(io.StringIO(render_csv(fleet_report(store)))))
    assert row["distro"] == "'=cmd|' /C calc'!A0"


def test_ten_thousand_machines_are_quick(store: Store) -> None:
    fill(store, 10_000, 4, unscanned=100)
    started = time.monotonic()
    report = fleet_report(store)
    elapsed = time.monotonic() - started
    assert len(report.machines) == 10_000
    assert sum(report.states.values()) == 10_000
    assert elapsed < 5, f"the report of 10,000 machines took {elapsed:.1f} s"


def test_the_inventory_is_named_without_its_password() -> None:
    assert inventory_name("postgresql+psycopg://pd:secret@db/patchdeck") == (
        "postgresql+psycopg://pd:***@db/patchdeck"
    )
    assert inventory_name("sqlite:////var/lib/patchdeck/inventory.db") == (
        "/var/lib/patchdeck/inventory.db"
    )
