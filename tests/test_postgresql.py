"""The same service code on a real PostgreSQL server (a throwaway cluster on loopback)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from backends.inventory.audit import list_audit
from backends.inventory.errors import QueryError
from backends.inventory.groups import create_group, delete_group, list_groups, resolve_targets
from backends.inventory.machines import (
    add_machine,
    get_machine,
    import_machines,
    list_machines,
    remove_machines,
)
from backends.inventory.query import machines_matching
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import record_scans
from backends.inventory.store import Store
from backends.inventory.tables import SCHEMA_VERSION
from backends.inventory.validation import build_spec
from tests.conftest import require_tool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    return Path(require_tool("initdb", "postgresql")).parent


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    bindir = _pg_bin()
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="patchdeck-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run([*as_user, bindir / "initdb", "-D", data, "-A", "trust", "-U", "pd"], **run)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-w", "-t", "60"]
    subprocess.run([*start, "-l", folder / "log", "start"], **run)
    try:
        yield f"postgresql+psycopg://pd@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "fast", "stop"], **run)
        shutil.rmtree(folder, ignore_errors=True)


def test_inventory_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    assert store.found_version == 0
    assert Store(pg_url).found_version == SCHEMA_VERSION

    add_machine(store, build_spec(name="web-01", address="10.0.0.1", tags=(("env", "prod"),)))
    specs = [
        build_spec(name=f"host-{i:03d}", address=f"10.1.0.{i}", tags=(("team", f"t{i % 3}"),))
        for i in range(200)
    ]
    assert import_machines(store, specs, "hosts.csv").added == 200
    again = [build_spec(name="web-01", address="10.9.9.9", port="2222")]
    assert import_machines(store, again, "hosts.csv").updated == 1

    web = get_machine(store, "web-01")
    assert (web.address, web.port, web.tags) == ("10.9.9.9", 2222, ())
    assert len(list_machines(store)) == 201
    assert len(list_machines(store, "TEAM=T1")) == 67  # case-insensitive, through tags
    assert get_machine(store, "host-007").tags == (("team", "t1"),)

    remove_machines(store, ["web-01", "host-000"])
    assert len(list_machines(store)) == 199
    actions = [entry.action for entry in list_audit(store)]
    assert actions == ["machine.add", "machine.import", "machine.import", "machine.remove"]
    assert all(entry.at.tzinfo is not None for entry in list_audit(store))


def test_queries_and_groups_on_postgresql(pg_url: str) -> None:
    """The query language compiles to the same answers on PostgreSQL: case, LIKE escaping,
    tags, missing counts, ages, and groups resolved through them."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE queries")
    admin.dispose()
    store = Store(pg_url.rsplit("/", 1)[0] + "/queries")
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ids = {}
    for name, tags, owner in (
        ("web-01", (("Env", "Prod"),), "Alice"),
        ("web_02", (("env", "stage"),), "50%"),
        ("webx02", (), None),
        ("db-01", (("env", "prod"), ("team", "dba")), None),
    ):
        spec = build_spec(name=name, address=f"{name}.lan", tags=tags, owner=owner)
        ids[name] = add_machine(store, spec).id
    updates = tuple(Update(f"p{i}", f"p{i}", "1", "2", "security") for i in range(2))
    record_scans(
        store,
        [
            ScanReport(ids["web-01"], now - timedelta(hours=2), True, updates=updates),
            ScanReport(ids["db-01"], now - timedelta(days=3), True, reboot_pending=True),
        ],
    )

    def names(query: str) -> list[str]:
        return sorted(m.name for m in machines_matching(store, query, now=now))

    assert names("tag.env = prod") == ["db-01", "web-01"]
    assert names("owner = alice") == ["web-01"]
    assert names("owner != alice") == ["db-01", "web_02", "webx02"]
    assert names("owner ~ '50%'") == ["web_02"]
    assert names("name ~ 'web_*'") == ["web_02"]
    assert names("name ~ 'web?02'") == ["web_02", "webx02"]
    assert names("missing.security >= 2 and missing.total = 2") == ["web-01"]
    assert names("last_scan_age > 1d") == ["db-01", "web_02", "webx02"]
    assert names("last_scan_age < 3h") == ["web-01"]
    assert names("reboot_pending = true or reachable = unknown") == ["db-01", "web_02", "webx02"]
    assert names("criticality >= medium and not tag.team in (dba)") == [
        "web-01",
        "web_02",
        "webx02",
    ]

    create_group(store, "prod", query="tag.env = prod and missing.total = 0")
    create_group(store, "pair", machines=["web_02", "web-01"])
    assert [m.name for m in resolve_targets(store, ["pair", "prod", "web-01"])] == [
        "web-01",
        "web_02",
        "db-01",
    ]
    assert {s.group.name: s.count for s in list_groups(store)} == {"pair": 2, "prod": 1}
    remove_machines(store, ["web-01"])
    assert {s.group.name: s.count for s in list_groups(store)} == {"pair": 1, "prod": 1}
    delete_group(store, "pair")
    with pytest.raises(QueryError):
        machines_matching(store, "name > x")
    store.close()


def test_deployments_and_plans_on_postgresql(pg_url: str) -> None:
    """Deployments, their stages and plans (JSON columns, the latest plan's time, cascades)
    read back the same on PostgreSQL."""
    from backends.inventory.deployment_options import build_options
    from backends.inventory.deployments import (
        create_deployment,
        delete_deployment,
        deployment_machines,
        get_deployment,
    )
    from backends.inventory.errors import InUse
    from backends.inventory.plans import (
        MachinePlan,
        PlanCheck,
        PlanExclusion,
        PlanItem,
        get_plan,
        latest_plan,
        save_plan,
    )

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE deployments")
    admin.dispose()
    store = Store(pg_url.rsplit("/", 1)[0] + "/deployments")
    for name in ("web-01", "web-02", "db-01"):
        add_machine(store, build_spec(name=name, address=f"{name}.lan"))
    create_group(store, "web", machines=["web-01", "web-02"])
    options = build_options(exclude=["kernel*"], max_failures="10%", window="1h30m")
    deployment = create_deployment(store, "nightly", [["db-01"], ["web"]], options)
    assert get_deployment(store, "nightly") == deployment
    placed = [(s.stage, s.machine.name) for s in deployment_machines(store, deployment)]
    assert placed == [(0, "db-01"), (1, "web-01"), (1, "web-02")]
    with pytest.raises(InUse):
        delete_group(store, "web")

    db = get_machine(store, "db-01")
    machine = MachinePlan(
        db.id,
        "db-01",
        0,
        items=(PlanItem("openssl", "openssl", "3.0.1", "3.0.2", "security", True),),
        reboot_expected=True,
        excluded=(PlanExclusion("kernel", "kernel", "matches --exclude kernel*"),),
        checks=(PlanCheck("disk", True, "/var 2.0 GB free"), PlanCheck("holds", None, "x")),
        notes=("a note",),
    )
    web = get_machine(store, "web-01")
    broken = MachinePlan(web.id, "web-01", 1, error="scan failed: down", error_kind="unreachable")
    plan = save_plan(store, deployment.id, [broken, machine])
    assert plan.machines == (machine, broken)  # by stage, then name
    assert latest_plan(store, deployment.id) == plan == get_plan(store, plan.id)
    assert get_deployment(store, "nightly").last_plan_at == plan.created_at
    delete_deployment(store, "nightly")
    assert latest_plan(store, deployment.id) is None
    delete_group(store, "web")
    store.close()


def test_schedules_claims_and_reports_on_postgresql(pg_url: str) -> None:
    """Two processes claim one PostgreSQL inventory's occurrences: each exactly once. Group
    scans are claimed by compare-and-set; schedules and the report read back the same."""
    import multiprocessing as mp

    from backends.engine.due import due_occurrences
    from backends.inventory.deployments import create_deployment, get_deployment
    from backends.inventory.group_scans import claim_group_scan, scan_schedules, set_scan_every
    from backends.inventory.reports import fleet_report
    from backends.inventory.schedules import Schedule, list_claims
    from tests.test_run_due import _claim_all

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE schedules")
    admin.dispose()
    url = pg_url.rsplit("/", 1)[0] + "/schedules"
    store = Store(url)
    now = datetime(2026, 3, 10, 12, 10, tzinfo=UTC)
    machine = add_machine(store, build_spec(name="web-01", address="web-01.lan"))
    create_group(store, "web", machines=["web-01"])
    schedule = Schedule(
        tz="Europe/Berlin", rrule="FREQ=HOURLY", offset=timedelta(minutes=5),
        since=now - timedelta(days=20),
    )  # fmt: skip
    deployment = create_deployment(store, "hourly", [["web"]], schedule=schedule)
    assert get_deployment(store, "hourly").schedule == schedule
    due = due_occurrences(store, now)
    assert [o.missed for o in due.occurrences][-2:] == [True, False]

    occurrences = [o.occurrence.isoformat() for o in due.occurrences][-200:]
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(url, occurrences, result)) for _ in range(2)]
    for worker in workers:
        worker.start()
    won = [set(result.get(timeout=90)) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert not won[0] & won[1] and won[0] | won[1] == set(occurrences)
    assert len(list_claims(store, deployment.id)) == 200

    set_scan_every(store, "web", timedelta(hours=6))
    (group_scan,) = scan_schedules(store)
    assert claim_group_scan(store, group_scan, now)
    assert not claim_group_scan(store, group_scan, now)

    record_scans(
        store,
        [ScanReport(machine.id, now, True, updates=(Update("o", "o", "1", "2", "security"),))],
    )
    report = fleet_report(store, "web", now=now)
    (row,) = report.machines
    assert (row.state, row.missing, row.oldest_security_found) == (
        "non-compliant",
        {"security": 1, "other": 0},
        now,
    )
    store.close()


def test_runs_on_postgresql(pg_url: str) -> None:
    """Runs on PostgreSQL: schema 6's columns added to an older inventory, one active run per
    machine (rows locked while a run is made), ownership, output tails, reaping, resume."""
    from sqlalchemy import text

    from backends.inventory.deployment_options import build_options
    from backends.inventory.deployments import create_deployment
    from backends.inventory.plans import MachinePlan, PlanItem, save_plan
    from backends.inventory.run_journal import (
        LostOwnership,
        OutputBatch,
        append_output,
        claim_run,
        update_machine,
    )
    from backends.inventory.run_owners import reap_stale_runs
    from backends.inventory.runs import create_run, get_run, resume_run

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE runs")
    admin.dispose()
    url = pg_url.rsplit("/", 1)[0] + "/runs"
    Store(url).close()
    old = create_engine(url)
    with old.begin() as conn:  # as schema 5 left it
        for table, column in (
            ("run", "window_minutes"), ("run", "options"), ("run", "error"), ("run", "seq"),
            ("run", "log_path"), ("run_machine", "error_kind"), ("run_machine", "notes"),
            ("run_machine", "installed_items"), ("run_machine", "failed_items"),
            ("run_machine", "output_count"), ("run_machine", "seq"),
        ):  # fmt: skip
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("UPDATE schema_info SET version = 5"))
    old.dispose()
    store = Store(url)
    assert store.found_version == 5

    machines = [add_machine(store, build_spec(name=n, address=f"{n}.lan")) for n in ("a", "b")]
    deployment = create_deployment(store, "d", [["a", "b"]], build_options(window="1h"))
    item = PlanItem("openssl", "openssl", "1", "2", "security")
    plan = save_plan(
        store, deployment.id, [MachinePlan(m.id, m.name, 0, items=(item,)) for m in machines]
    )
    run = create_run(store, plan, deployment.options)
    busy = create_run(store, plan, deployment.options)
    assert [m.state for m in busy.machines] == ["skipped", "skipped"]
    owner = "elsewhere:1:cafe"
    claim_run(store, run.id, owner)
    update_machine(store, run.id, owner, machines[0].id, state="succeeded", installed=1,
                   installed_items=["openssl"], notes=["a note"])  # fmt: skip
    append_output(store, run.id, owner, {machines[1].id: OutputBatch(("x",) * 250, 50, "pkg")})
    row = get_run(store, run.id).machines[1]
    assert (len(row.output), row.output_count, row.percent) == (200, 250, 50)
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert reap_stale_runs(store, now=later) == [run.id, busy.id]  # the pending one too
    with pytest.raises(LostOwnership):
        update_machine(store, run.id, owner, machines[1].id, state="failed")
    reaped = get_run(store, run.id)
    assert [m.state for m in reaped.machines] == ["succeeded", "interrupted"]
    assert reaped.machines[0].installed_items == ("openssl",)
    resumed = resume_run(store, run.id)
    assert [m.state for m in resumed.machines] == ["succeeded", "pending"]
    store.close()
