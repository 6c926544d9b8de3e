"""Computer groups on a real SQLite file: static and dynamic membership as the inventory
changes, the target resolver, deletion, and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.errors import AlreadyExists, AmbiguousName, InUse, NotFound, QueryError
from backends.inventory.groups import (
    GROUP,
    Target,
    create_group,
    delete_group,
    get_group,
    group_machines,
    list_groups,
    resolve_group,
    resolve_names,
    resolve_targets,
)
from backends.inventory.machines import add_machine, get_machine, remove_machines
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import record_scans
from backends.inventory.store import Store
from backends.inventory.tables import DeploymentRow, DeploymentTargetRow, utcnow
from backends.inventory.validation import FieldError, build_spec


def _add(store: Store, name: str, *tags: tuple[str, str], transport: str = "ssh") -> int:
    spec = build_spec(name=name, address=f"{name}.example.com", tags=tags, transport=transport)
    return add_machine(store, spec).id


def _scan(store: Store, name: str, security: int = 0, other: int = 0) -> None:
    updates = tuple(
        Update(f"{c}-{i}", f"{c}-{i}", "1", "2", c)
        for c, n in (("security", security), ("other", other))
        for i in range(n)
    )
    machine_id = get_machine(store, name).id
    record_scans(store, [ScanReport(machine_id, utcnow(), True, updates=updates)])


def _names(machines: list) -> list[str]:  # type: ignore[type-arg]
    return [m.name for m in machines]


@pytest.fixture
def fleet(store: Store) -> Store:
    _add(store, "web-01", ("env", "prod"), ("role", "web"))
    _add(store, "web-02", ("env", "stage"), ("role", "web"))
    _add(store, "db-01", ("env", "prod"))
    _add(store, "win-01", ("env", "prod"), transport="winrm")
    return store


def test_static_group_holds_its_named_machines(fleet: Store) -> None:
    group = create_group(fleet, "front", machines=["web-02", "web-01", "web-01", " "])
    assert (group.name, group.kind, group.query) == ("front", "static", None)
    assert group.machines == ("web-01", "web-02")  # by name, each once
    assert group.created_at is not None and group.created_at.tzinfo is not None
    assert _names(resolve_group(fleet, "front")) == ["web-01", "web-02"]
    assert get_group(fleet, "front") == group


def test_static_group_names_every_unknown_machine_and_writes_nothing(fleet: Store) -> None:
    with pytest.raises(NotFound) as caught:
        create_group(fleet, "front", machines=["web-01", "ghost", "web-9"])
    assert str(caught.value) == "no machine named 'ghost', 'web-9'"
    assert list_groups(fleet) == []
    assert [e.action for e in list_audit(fleet)].count("group.create") == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="", machines=["web-01"]), "name: '' is empty"),
        (dict(name="a b", machines=["web-01"]), "name: 'a b' is not a valid group name"),
        (dict(name="grp:x", machines=["web-01"]), "is not a valid group name"),
        (dict(name="g", machines=[]), "machines: '' names no machine"),
        (dict(name="g", machines=[" ", ""]), "names no machine"),
        (dict(name="g"), "needs either machines or a query"),
        (dict(name="g", machines=["web-01"], query="os = linux"), "not both"),
        (dict(name="web-01", query="os = linux"), "name: 'web-01' is a machine's name"),
    ],
)
def test_bad_definitions_are_refused(fleet: Store, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(FieldError, match=message.replace("(", r"\(")):
        create_group(fleet, **kwargs)
    assert list_groups(fleet) == []


def test_group_names_are_unique(fleet: Store) -> None:
    create_group(fleet, "g", machines=["web-01"])
    with pytest.raises(AlreadyExists, match="a group named 'g' already exists"):
        create_group(fleet, "g", query="os = linux")


def test_dynamic_group_query_is_checked_when_created(fleet: Store) -> None:
    with pytest.raises(QueryError) as caught:
        create_group(fleet, "bad", query="os = linux and nmae = x")
    assert caught.value.column == 16 and caught.value.query == "os = linux and nmae = x"
    assert list_groups(fleet) == []


def test_static_membership_follows_the_inventory(fleet: Store) -> None:
    create_group(fleet, "front", machines=["web-01", "web-02"])
    remove_machines(fleet, ["web-02"])
    assert get_group(fleet, "front").machines == ("web-01",)
    assert _names(resolve_group(fleet, "front")) == ["web-01"]
    _add(fleet, "web-02", ("role", "web"))  # a new machine of the same name is not a member
    assert _names(resolve_group(fleet, "front")) == ["web-01"]
    remove_machines(fleet, ["web-01"])
    assert get_group(fleet, "front").machines == ()
    assert [(s.group.name, s.count) for s in list_groups(fleet)] == [("front", 0)]


def test_dynamic_membership_is_evaluated_each_time(fleet: Store) -> None:
    create_group(fleet, "prod-linux", query="os = linux and tag.env = prod")
    create_group(fleet, "exposed", query="missing.security > 0")
    assert _names(resolve_group(fleet, "prod-linux")) == ["db-01", "web-01"]
    assert resolve_group(fleet, "exposed") == []

    _add(fleet, "app-01", ("env", "prod"))
    assert _names(resolve_group(fleet, "prod-linux")) == ["app-01", "db-01", "web-01"]
    remove_machines(fleet, ["db-01"])
    assert _names(resolve_group(fleet, "prod-linux")) == ["app-01", "web-01"]

    _scan(fleet, "web-02", security=2, other=1)
    _scan(fleet, "app-01", other=4)
    assert _names(resolve_group(fleet, "exposed")) == ["web-02"]
    _scan(fleet, "web-02", other=1)  # patched: its security updates are gone
    _scan(fleet, "app-01", security=1)
    assert _names(resolve_group(fleet, "exposed")) == ["app-01"]
    counts = {s.group.name: s.count for s in list_groups(fleet)}
    assert counts == {"exposed": 1, "prod-linux": 2}


def test_dynamic_age_uses_the_time_given(fleet: Store) -> None:
    group = create_group(fleet, "stale", query="last_scan_age > 1d")
    _scan(fleet, "web-01")
    assert _names(group_machines(fleet, group)) == ["db-01", "web-02", "win-01"]
    later = utcnow() + timedelta(days=2)
    assert len(group_machines(fleet, group, now=later)) == 4


def test_list_groups_counts_and_reports_a_broken_stored_query(fleet: Store) -> None:
    create_group(fleet, "all-prod", query="tag.env = prod")
    create_group(fleet, "pair", machines=["web-01", "db-01"])
    create_group(fleet, "broken", query="os = linux")
    with fleet.write() as session:  # as an older or newer patchdeck might have left it
        session.connection().execute(
            GROUP.update().where(GROUP.c.name == "broken").values(query="colour = red")
        )
    summaries = {s.group.name: s for s in list_groups(fleet)}
    assert list(summaries) == ["all-prod", "broken", "pair"]
    assert (summaries["all-prod"].count, summaries["all-prod"].error) == (3, None)
    assert summaries["pair"].count == 2 and summaries["pair"].group.machines == ("db-01", "web-01")
    assert summaries["broken"].count is None
    assert (summaries["broken"].error or "").startswith("unknown field 'colour' at column 1")
    with pytest.raises(QueryError, match="^group 'broken': unknown field 'colour'") as caught:
        resolve_targets(fleet, ["broken"])
    assert (caught.value.column, caught.value.query) == (1, "colour = red")


def test_delete_group_keeps_machines_and_is_audited(fleet: Store) -> None:
    create_group(fleet, "front", machines=["web-01", "web-02"])
    create_group(fleet, "prod", query="tag.env = prod")
    deleted = delete_group(fleet, "front")
    assert deleted.machines == ("web-01", "web-02")
    delete_group(fleet, "prod")
    assert list_groups(fleet) == []
    assert get_machine(fleet, "web-01").name == "web-01"
    with pytest.raises(NotFound, match="no group named 'front'"):
        delete_group(fleet, "front")
    with pytest.raises(NotFound, match="no group named 'nope'"):
        get_group(fleet, "nope")
    entries = [e for e in list_audit(fleet) if e.action.startswith("group.")]
    assert [(e.action, e.machines, e.detail) for e in entries] == [
        ("group.create", ("web-01", "web-02"), "front (static: 2 machines)"),
        ("group.create", (), "prod (dynamic: tag.env = prod)"),
        ("group.delete", ("web-01", "web-02"), "front (static)"),
        ("group.delete", (), "prod (dynamic: tag.env = prod)"),
    ]
    assert all(e.user for e in entries)


def test_a_group_a_deployment_targets_cannot_be_deleted(fleet: Store) -> None:
    group = create_group(fleet, "front", machines=["web-01"])
    with fleet.write() as session:
        deployment = DeploymentRow(name="nightly")
        session.add(deployment)
        session.flush()
        session.add(DeploymentTargetRow(deployment_id=deployment.id, group_id=group.id))
    with pytest.raises(InUse, match="the group 'front' is a target of deployment 'nightly'"):
        delete_group(fleet, "front")
    assert get_group(fleet, "front") == group


def test_resolve_targets_takes_machines_and_groups(fleet: Store) -> None:
    create_group(fleet, "prod", query="tag.env = prod")
    create_group(fleet, "front", machines=["web-02", "web-01"])
    found = resolve_targets(fleet, ["web-02", "prod", "front", "web-01"])
    # in the order given, a group's machines by name, each machine once
    assert _names(found) == ["web-02", "db-01", "web-01", "win-01"]
    assert found[0].tags == (("env", "stage"), ("role", "web"))
    assert resolve_targets(fleet, []) == []
    targets = resolve_names(fleet, ["prod", "web-01", "prod"])
    assert [(t.kind, t.name) for t in targets] == [("group", "prod"), ("machine", "web-01")]
    assert targets[1] == Target("machine", "web-01", get_machine(fleet, "web-01").id)


def test_resolve_targets_names_every_unknown_name(fleet: Store) -> None:
    create_group(fleet, "prod", query="tag.env = prod")
    with pytest.raises(NotFound) as caught:
        resolve_targets(fleet, ["ghost", "prod", "web-01", "group:web-01", "nope"])
    assert str(caught.value) == "no machine or group named 'ghost', 'group:web-01', 'nope'"


def test_a_name_that_is_both_must_say_which(fleet: Store) -> None:
    create_group(fleet, "app", query="tag.env = prod")
    _add(fleet, "app")  # a machine added later under the group's name
    with pytest.raises(AmbiguousName) as caught:
        resolve_targets(fleet, ["web-01", "app"])
    assert str(caught.value) == (
        "'app' is both a machine and a group: write machine:app or group:app"
    )
    assert _names(resolve_targets(fleet, ["machine:app"])) == ["app"]
    assert _names(resolve_targets(fleet, ["group:app"])) == ["db-01", "web-01", "win-01"]
    assert _names(resolve_targets(fleet, ["machine:web-01", "group:app"])) == [
        "web-01", "db-01", "win-01",
    ]  # fmt: skip


def test_editing_a_group_changes_its_definition_all_or_nothing(fleet: Store) -> None:
    from backends.inventory.group_edit import edit_group

    create_group(fleet, "front", machines=["web-01"])
    with pytest.raises(NotFound, match="ghost"):
        edit_group(fleet, "front", machines=["web-02", "ghost"])
    with pytest.raises(QueryError):
        edit_group(fleet, "front", query="tag.env = ")
    assert get_group(fleet, "front").machines == ("web-01",)  # unchanged by either

    dynamic = edit_group(fleet, "front", query="tag.env = prod")
    assert (dynamic.kind, dynamic.query, dynamic.machines) == ("dynamic", "tag.env = prod", ())
    assert _names(resolve_group(fleet, "front")) == ["db-01", "web-01", "win-01"]
    static = edit_group(fleet, "front", machines=["web-02", "db-01"])
    assert (static.kind, static.query, static.machines) == ("static", None, ("db-01", "web-02"))
    edits = [e for e in list_audit(fleet) if e.action == "group.edit"]
    assert len(edits) == 2 and any("dynamic: tag.env = prod" in e.detail for e in edits)
    with pytest.raises(NotFound):
        edit_group(fleet, "nope", query="tag.env = prod")
