"""The machines service on a real SQLite file: what goes in comes out, and the audit says so."""

from __future__ import annotations

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.errors import AlreadyExists, NotFound
from backends.inventory.machines import (
    add_machine,
    get_machine,
    import_machines,
    list_machines,
    remove_machines,
    unknown_names,
)
from backends.inventory.store import Store
from backends.inventory.validation import build_spec

FULL = dict(
    name="db-01",
    address="192.0.2.7",
    port="2200",
    transport="ssh",
    os_family="linux",
    user="deploy",
    identity_file="~/.ssh/id_db",
    tags=(("env", "prod"), ("group", "db"), ("group", "backup")),
    owner="dba",
    role="database",
    environment="prod",
    criticality="critical",
)


@pytest.mark.parametrize("how", ["add", "import"])
def test_every_field_round_trips(store: Store, how: str) -> None:
    spec = build_spec(**FULL)  # type: ignore[arg-type]
    if how == "add":
        add_machine(store, spec)
    else:
        import_machines(store, [spec], "x.csv")
    m = get_machine(store, "db-01")
    assert (m.name, m.address, m.port, m.transport, m.os_family) == (
        "db-01", "192.0.2.7", 2200, "ssh", "linux",
    )  # fmt: skip
    assert (m.user, m.identity_file, m.owner, m.role, m.environment, m.criticality) == (
        "deploy", "~/.ssh/id_db", "dba", "database", "prod", "critical",
    )  # fmt: skip
    assert m.tags == (("env", "prod"), ("group", "db"), ("group", "backup"))
    assert m.missing == {"security": 0, "other": 0}
    assert m.last_scan_at is None and m.reachable is None


def test_add_refuses_a_taken_name_and_writes_nothing(store: Store) -> None:
    add_machine(store, build_spec(name="a", address="h"))
    with pytest.raises(AlreadyExists, match="a machine named 'a' already exists"):
        add_machine(store, build_spec(name="a", address="other"))
    assert get_machine(store, "a").address == "h"
    assert [e.action for e in list_audit(store)] == ["machine.add"]


def test_remove_is_all_or_nothing(store: Store) -> None:
    add_machine(store, build_spec(name="a", address="h"))
    add_machine(store, build_spec(name="b", address="h"))
    assert unknown_names(store, ["a", "x", "y"]) == ["x", "y"]
    with pytest.raises(NotFound, match="no machine named 'x'"):
        remove_machines(store, ["a", "x"])
    assert [m.name for m in list_machines(store)] == ["a", "b"]
    remove_machines(store, ["a"])
    entry = list_audit(store)[-1]
    assert (entry.action, entry.machines, entry.user) == ("machine.remove", ("a",), entry.user)
    assert entry.user  # the local user


def test_text_filter_is_literal(store: Store) -> None:
    add_machine(store, build_spec(name="web_1", address="h", tags=(("pct", "100%"),)))
    add_machine(store, build_spec(name="webx1", address="h"))
    assert [m.name for m in list_machines(store, "web_")] == ["web_1"]  # `_` is no wildcard
    assert [m.name for m in list_machines(store, "0%")] == ["web_1"]
    assert [m.name for m in list_machines(store, "pct=1")] == ["web_1"]
