"""The queries behind the console's views, against a real SQLite inventory: compliance counts,
missing updates by classification, freshness, per-machine counts and the updates pivot."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from backends.inventory.compliance import (
    COMPLIANT,
    NON_COMPLIANT,
    NOT_ASSESSED,
    UNREACHABLE,
    compliance_state,
    fleet_compliance,
)
from backends.inventory.fleet_updates import fleet_updates, machines_missing
from backends.inventory.machine_status import (
    MissingCounts,
    machine_statuses,
    match_text,
    matches,
)
from backends.inventory.machines import add_machine, get_machine, list_machines
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import machine_updates, record_scans
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.fleet_data import NOW, fill
from tests.test_postgresql import pg_url  # noqa: F401  (the throwaway cluster)


def test_an_empty_inventory_counts_nothing(store: Store) -> None:
    compliance = fleet_compliance(store)
    assert (compliance.machines, compliance.compliant, compliance.scanned) == (0, 0, 0)
    assert compliance.oldest_scan is None and compliance.median_scan is None
    assert compliance.by_classification == ()
    assert fleet_updates(store) == [] and machine_statuses(store) == []


def test_compliance_agrees_with_every_machine(store: Store) -> None:
    fill(store, machines=60, updates=8, unscanned=5)
    compliance = fleet_compliance(store)
    statuses = machine_statuses(store)
    states = Counter(s.compliance for s in statuses)
    assert compliance.machines == 60 == len(statuses)
    assert compliance.compliant == states[COMPLIANT]
    assert compliance.non_compliant == states[NON_COMPLIANT]
    assert compliance.not_assessed == states[NOT_ASSESSED] == 5
    assert compliance.unreachable == states[UNREACHABLE] == 4  # 12, 25, 38, 51
    assert sum(compliance.count(s) for s in states) == 60
    assert compliance.reboot_pending == sum(1 for s in statuses if s.reboot_pending)

    pairs = machine_updates(store)
    by_class = Counter(u.classification for _, u in pairs)
    machines_by_class = {c: len({m for m, u in pairs if u.classification == c}) for c in by_class}
    assert {c.classification: c.missing for c in compliance.by_classification} == by_class
    assert {c.classification: c.machines for c in compliance.by_classification} == machines_by_class
    counts = [c.missing for c in compliance.by_classification]
    assert counts == sorted(counts, reverse=True)

    # machine i was scanned i minutes before NOW; 55 were scanned (0…54)
    assert compliance.scanned == 55
    assert compliance.oldest_scan == NOW - timedelta(minutes=54)
    assert compliance.median_scan == NOW - timedelta(minutes=27)


def test_the_precedence_of_compliance_states(store: Store) -> None:
    assert compliance_state(True, False, 3) == UNREACHABLE
    assert compliance_state(False, None, 0) == NOT_ASSESSED
    assert compliance_state(True, True, 1) == NON_COMPLIANT
    assert compliance_state(True, True, 0) == COMPLIANT
    # a machine once assessed whose last scan failed (but reached it) keeps its state
    machine = add_machine(store, build_spec(name="a", address="10.0.0.1"))
    urgent = Update("openssl", "openssl", "1", "2", "security")
    record_scans(store, [ScanReport(machine.id, NOW, ok=True, distro="debian", updates=(urgent,))])
    record_scans(
        store, [ScanReport(machine.id, NOW, ok=False, error="auth refused", reachable=True)]
    )
    [status] = machine_statuses(store)
    assert status.compliance == NON_COMPLIANT and status.last_scan_outcome == "failed"
    assert fleet_compliance(store).non_compliant == 1


def test_per_machine_counts_by_text_and_by_id(store: Store) -> None:
    fill(store, machines=30, updates=8, unscanned=2)
    statuses = {s.name: s for s in machine_statuses(store)}
    for machine in list_machines(store):
        status = statuses[machine.name]
        missing = dict(machine.missing)
        security, critical = missing.pop("security", 0), missing.pop("critical", 0)
        assert status.missing == MissingCounts(security, critical, sum(missing.values()))
        assert status.tags == machine.tags
    windows = statuses["m-00009"]
    assert windows.os_family == "windows" and windows.missing.critical > 0
    assert statuses["m-00029"].missing == MissingCounts() and not statuses["m-00029"].assessed

    assert [s.name for s in machine_statuses(store, "rack=r3")] == ["m-00003", "m-00023"]
    ids = [statuses["m-00005"].id, statuses["m-00001"].id]
    assert [s.name for s in machine_statuses(store, ids=ids)] == ["m-00001", "m-00005"]
    # the first screenful, as the console shows it while it reads the rest
    assert machine_statuses(store, first=7) == list(statuses.values())[:7]
    assert [s.name for s in machine_statuses(store, "rack=r3", first=1)] == ["m-00003"]
    assert machine_statuses(store, "nothing-like-it", first=5) == []
    assert machine_statuses(store, ids=[]) == []


def test_the_updates_pivot_counts_machines_per_update(store: Store) -> None:
    fill(store, machines=40, updates=6, unscanned=1, catalogue=20)
    pivot = fleet_updates(store)
    pairs = machine_updates(store)
    expected = Counter((u.platform_id, u.classification) for _, u in pairs)
    assert {(u.platform_id, u.classification): u.machines for u in pivot} == expected
    assert [u.machines for u in pivot] == sorted((u.machines for u in pivot), reverse=True)
    assert len({u.key for u in pivot}) == len(pivot)

    first = pivot[0]
    on = machines_missing(store, first.platform_id, first.classification)
    assert len(on) == first.machines
    assert [m.machine for m in on] == sorted(m.machine for m in on)
    assert all(m.installed and m.available for m in on)

    assert {u.name for u in fleet_updates(store, "KB")} == {
        u.platform_id for _, u in pairs if u.name.startswith("KB")
    }
    assert all(u.classification == "security" for u in fleet_updates(store, "securi"))
    by_advisory = fleet_updates(store, "DSA-4-")
    assert [u.name for u in by_advisory] == ["pkg-0004"]
    assert fleet_updates(store, "100%") == []  # LIKE wildcards are text


def test_the_most_severe_report_names_an_update(store: Store) -> None:
    a = add_machine(store, build_spec(name="a", address="10.0.0.1"))
    b = add_machine(store, build_spec(name="b", address="10.0.0.2"))
    c = add_machine(store, build_spec(name="c", address="10.0.0.3"))

    def update(severity: str | None) -> tuple[Update, ...]:
        return (Update("kernel", "kernel", "1", "2", "security", severity=severity),)

    record_scans(
        store,
        [
            ScanReport(a.id, NOW, ok=True, updates=update("Moderate")),
            ScanReport(b.id, NOW, ok=True, updates=update("Important")),
            ScanReport(c.id, NOW, ok=True, updates=update(None)),
        ],
    )
    [kernel] = fleet_updates(store)
    assert (kernel.severity, kernel.machines) == ("Important", 3)
    assert get_machine(store, "c").missing["security"] == 1


def test_the_same_queries_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    try:
        with store.write() as session:  # a clean slate: the cluster is shared by the module
            session.connection().exec_driver_sql("TRUNCATE machine CASCADE")
        fill(store, machines=30, updates=6, unscanned=2, catalogue=20)
        compliance = fleet_compliance(store)
        statuses = machine_statuses(store)
        states = Counter(s.compliance for s in statuses)
        assert compliance.machines == 30
        assert (compliance.not_assessed, compliance.unreachable) == (2, 2)
        assert compliance.non_compliant == states[NON_COMPLIANT]
        assert compliance.median_scan == NOW - timedelta(minutes=14)  # 28 scans: 27…0 min ago
        pivot = fleet_updates(store)
        expected = Counter((u.platform_id, u.classification) for _, u in machine_updates(store))
        assert {(u.platform_id, u.classification): u.machines for u in pivot} == expected
        assert {u.severity for u in pivot} <= {None, "Critical", "Important", "Moderate", "Low"}
        assert [u.name for u in fleet_updates(store, "DSA-4-")] == ["pkg-0004"]
        assert len(machines_missing(store, pivot[0].platform_id)) >= pivot[0].machines
    finally:
        store.close()


def test_the_text_match_on_rows_agrees_with_the_query(store: Store) -> None:
    fill(store, machines=30, updates=2, unscanned=2)
    add_machine(
        store, build_spec(name="Odd-One", address="db.example.org", tags=(("Team", "Blue Sky"),))
    )
    every = machine_statuses(store)
    # "onedb", "orgteam": nothing matches across a machine's name, address and tags
    for text in ("m-0001", "10.0.0.2", "rack", "r1", "env=prod", "=stage", "team=blue", "SKY",
                 "odd", "example", "nothing-like-it", "%", "_", "onedb", "orgteam"):  # fmt: skip
        by_query = [m.name for m in machine_statuses(store, text)]
        assert [m.name for m in every if matches(m, text)] == by_query, text
        # what the console's filter does with each keystroke: one search per machine
        assert [m.name for m in every if text.lower() in match_text(m)] == by_query, text
