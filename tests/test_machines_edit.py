"""Editing a machine (the console's form) and reading machines by id, against a real inventory."""

from __future__ import annotations

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.errors import AlreadyExists, NotFound
from backends.inventory.machines import add_machine, get_machine, get_machines, update_machine
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import record_scans
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.fleet_data import NOW


def test_an_edit_replaces_what_the_operator_said_and_keeps_what_scans_found(
    store: Store,
) -> None:
    web = add_machine(store, build_spec(name="web", address="10.0.0.1", tags=(("env", "a"),)))
    add_machine(store, build_spec(name="db", address="10.0.0.2"))
    found = (Update("vim", "vim", "1", "2", "other"),)
    record_scans(store, [ScanReport(web.id, NOW, ok=True, distro="debian", updates=found)])

    spec = build_spec(
        name="web-01", address="10.0.0.9", port=2222, tags=(("env", "b"), ("team", "x"))
    )
    edited = update_machine(store, web.id, spec)
    assert (edited.id, edited.name) == (web.id, "web-01")
    assert (edited.address, edited.port) == ("10.0.0.9", 2222)
    assert edited.tags == (("env", "b"), ("team", "x"))
    assert edited.distro == "debian" and edited.missing["other"] == 1
    with pytest.raises(NotFound):
        get_machine(store, "web")
    assert list_audit(store)[-1].action == "machine.edit"
    assert "(was web)" in list_audit(store)[-1].detail

    with pytest.raises(AlreadyExists):
        update_machine(store, web.id, build_spec(name="db", address="10.0.0.9"))
    with pytest.raises(NotFound):
        update_machine(store, 999, spec)
    assert get_machine(store, "web-01").address == "10.0.0.9"  # nothing half-written


def test_machines_by_id(store: Store) -> None:
    a = add_machine(store, build_spec(name="b-machine", address="10.0.0.1"))
    b = add_machine(store, build_spec(name="a-machine", address="10.0.0.2"))
    assert [m.name for m in get_machines(store, [a.id, b.id, a.id, 404])] == [
        "a-machine",
        "b-machine",
    ]
    assert get_machines(store, []) == []
