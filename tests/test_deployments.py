"""Deployments as a service: defaults, every option checked with a message naming it, targets
kept in ordered stages, edits, deletion, the audit trail, and groups a deployment targets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.deployment_options import (
    DeploymentOptions,
    allowed_failures,
    build_options,
)
from backends.inventory.deployments import (
    create_deployment,
    delete_deployment,
    deployment_machines,
    edit_deployment,
    get_deployment,
    list_deployments,
)
from backends.inventory.errors import AlreadyExists, AmbiguousName, InUse, NotFound
from backends.inventory.groups import Target, create_group, delete_group
from backends.inventory.machines import add_machine, remove_machines
from backends.inventory.plans import MachinePlan, latest_plan, plan_is_stale, save_plan
from backends.inventory.store import Store
from backends.inventory.tables import utcnow
from backends.inventory.validation import FieldError, build_spec


@pytest.fixture
def inventory(store: Store) -> Store:
    for name, env in (("web-01", "prod"), ("web-02", "prod"), ("db-01", "prod"), ("dev-01", "dev")):
        add_machine(store, build_spec(name=name, address=f"{name}.lan", tags=(("env", env),)))
    create_group(store, "web", machines=["web-01", "web-02"])
    create_group(store, "prod", query="tag.env = prod")
    return store


def test_defaults_are_those_of_the_issue(inventory: Store) -> None:
    deployment = create_deployment(inventory, "nightly", [["web"]])
    assert deployment.options == DeploymentOptions()
    options = deployment.options
    assert options.classifications == ("security", "critical")
    assert (options.reboot, options.window_minutes, options.window) == ("if-required", 120, "2h")
    assert (options.concurrency, options.max_failures, options.gate) == (10, "0", "auto")
    assert (options.include, options.exclude, options.pre_command) == ((), (), None)
    assert deployment.stages == ((Target("group", "web", deployment.stages[0][0].id),),)
    assert deployment.last_plan_at is None


def test_every_option_is_stored_and_read_back(inventory: Store) -> None:
    options = build_options(
        classifications=["other", "security", "security"],
        include=["openssl*", "KB5034441", "openssl*"],
        exclude=["kernel*"],
        reboot="Always",
        window="1h30m",
        concurrency="25",
        max_failures="10%",
        gate="manual",
        pre_command="systemctl stop app",
        post_command="systemctl start app",
    )
    created = create_deployment(inventory, "full", [["web-01", "db-01"], ["prod"]], options)
    (read,) = list_deployments(inventory)
    assert read == created == get_deployment(inventory, "full")
    assert read.options == DeploymentOptions(
        classifications=("security", "other"),  # display order, once each
        include=("openssl*", "KB5034441"),
        exclude=("kernel*",),
        reboot="always",
        window_minutes=90,
        concurrency=25,
        max_failures="10%",
        gate="manual",
        pre_command="systemctl stop app",
        post_command="systemctl start app",
    )
    assert [[(t.kind, t.name) for t in stage] for stage in read.stages] == [
        [("machine", "web-01"), ("machine", "db-01")],
        [("group", "prod")],
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"classifications": ["securty"]},
         "classification: 'securty' is not one of security, other, critical, update_rollup, "
         "feature_pack, service_pack, definition, tools, updates (or none)"),
        ({"classifications": ["none", "security"]},
         "classification: 'none' cannot be combined with a classification"),
        ({"classifications": ["none"]},
         "classification: 'none' selects nothing: add --include patterns"),
        ({"reboot": "sometimes"},
         "reboot: 'sometimes' is not one of if-required, never, always, reboot-only"),
        ({"window": "29m"}, "window: '29m' is not between 30m and 6h"),
        ({"window": "6h1m"}, "window: '6h1m' is not between 30m and 6h"),
        ({"window": "2 hours"},
         "window: '2 hours' is not a duration: write it like 90m, 2h or 1h30m"),
        ({"window": "90m30s"}, "window: '90m30s' is not a whole number of minutes"),
        ({"concurrency": "0"}, "concurrency: '0' is not between 1 and 10000"),
        ({"concurrency": "ten"}, "concurrency: 'ten' is not a whole number"),
        ({"max_failures": "-1"},
         "max-failures: '-1' is not a number of machines (N) or a share (P%)"),
        ({"max_failures": "101%"}, "max-failures: '101%' is more than 100%"),
        ({"max_failures": "5.5%"},
         "max-failures: '5.5%' is not a number of machines (N) or a share (P%)"),
        ({"gate": "later"}, "gate: 'later' is not one of auto, manual"),
        ({"include": ["a b"]}, "include: 'a b' is not a pattern (no spaces, at most 255)"),
        ({"exclude": ["x\x1by"]}, "exclude: 'x\\x1by' contains control characters or is too long"),
        ({"pre_command": "a\x07"}, "pre: 'a\\x07' contains control characters or is too long"),
    ],
)  # fmt: skip
def test_a_bad_option_is_named_with_its_value(
    inventory: Store, options: dict[str, object], message: str
) -> None:
    with pytest.raises(FieldError) as caught:
        build_options(**options)  # type: ignore[arg-type]
    assert str(caught.value) == message
    created = create_deployment(inventory, "nightly", [["web"]])
    with pytest.raises(FieldError) as again:
        edit_deployment(inventory, "nightly", **options)
    assert str(again.value) == message
    assert get_deployment(inventory, "nightly") == created  # an edit that fails writes nothing


@pytest.mark.parametrize(
    ("name", "stages", "error", "message"),
    [
        ("a b", [["web"]], FieldError,
         "name: 'a b' is not a valid deployment name (letters, digits and . _ - only)"),
        ("x", [], FieldError, "target: '' names no target: give --target or --stage"),
        ("x", [["web"], [" ", ""]], FieldError, "stage: ' ,' (stage 2) names no target"),
        ("x", [["web"], ["db-01", "web"]], FieldError,
         "target: 'web' is named twice (stage 2 and stage 1)"),
        ("x", [["ghost", "web", "nope"]], NotFound, "no machine or group named 'ghost', 'nope'"),
    ],
)  # fmt: skip
def test_bad_names_and_stages_are_refused_and_nothing_is_written(
    inventory: Store, name: str, stages: list[list[str]], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        create_deployment(inventory, name, stages)
    assert str(caught.value) == message
    assert list_deployments(inventory) == []


def test_names_are_unique_and_ambiguous_targets_must_say_which(inventory: Store) -> None:
    create_deployment(inventory, "nightly", [["web"]])
    with pytest.raises(AlreadyExists, match="a deployment named 'nightly' already exists"):
        create_deployment(inventory, "nightly", [["db-01"]])
    add_machine(inventory, build_spec(name="prod", address="10.0.0.9"))  # a group's name
    with pytest.raises(AmbiguousName, match="write machine:prod or group:prod"):
        create_deployment(inventory, "other", [["prod"]])
    made = create_deployment(inventory, "other", [["group:prod", "machine:prod"]])
    assert [(t.kind, t.name) for t in made.stages[0]] == [("group", "prod"), ("machine", "prod")]


def test_a_machine_belongs_to_the_first_stage_that_reaches_it(inventory: Store) -> None:
    deployment = create_deployment(inventory, "staged", [["web-02"], ["web", "dev-01"], ["prod"]])
    placed = [(s.stage, s.machine.name) for s in deployment_machines(inventory, deployment)]
    assert placed == [(0, "web-02"), (1, "dev-01"), (1, "web-01"), (2, "db-01")]


def test_edit_changes_only_what_is_given(inventory: Store) -> None:
    create_deployment(inventory, "nightly", [["web"]], build_options(exclude=["kernel*"]))
    edited = edit_deployment(inventory, "nightly", reboot="never", window="3h")
    assert (edited.options.reboot, edited.options.window_minutes) == ("never", 180)
    assert edited.options.exclude == ("kernel*",)  # untouched
    assert [t.name for t in edited.targets] == ["web"]
    restaged = edit_deployment(inventory, "nightly", stages=[["db-01"], ["web"]], exclude=[""])
    assert [[t.name for t in s] for s in restaged.stages] == [["db-01"], ["web"]]
    assert restaged.options.exclude == ()  # an empty pattern clears the list
    with pytest.raises(FieldError, match="gate: 'sometimes'"):
        edit_deployment(inventory, "nightly", stages=[["dev-01"]], gate="sometimes")
    assert get_deployment(inventory, "nightly") == restaged  # nothing written
    with pytest.raises(NotFound, match="no deployment named 'ghost'"):
        edit_deployment(inventory, "ghost", gate="manual")


def test_delete_and_every_change_is_audited(inventory: Store) -> None:
    create_deployment(inventory, "nightly", [["web-01", "prod"]])
    edit_deployment(inventory, "nightly", gate="manual")
    delete_deployment(inventory, "nightly")
    assert list_deployments(inventory) == []
    entries = [e for e in list_audit(inventory) if e.action.startswith("deployment.")]
    assert [e.action for e in entries] == [
        "deployment.create",
        "deployment.edit",
        "deployment.delete",
    ]
    assert entries[0].machines == ("web-01",)
    assert entries[0].detail.startswith("nightly: stages [machine:web-01,group:prod]")
    assert "gate manual" in entries[1].detail and "gate auto" in entries[0].detail


def test_a_targeted_group_cannot_be_deleted_until_the_deployment_lets_go(inventory: Store) -> None:
    create_deployment(inventory, "nightly", [["db-01"], ["web"]])
    with pytest.raises(InUse, match="the group 'web' is a target of deployment 'nightly'"):
        delete_group(inventory, "web")
    edit_deployment(inventory, "nightly", stages=[["db-01"]])
    delete_group(inventory, "web")


def test_a_removed_machine_leaves_the_deployment(inventory: Store) -> None:
    create_deployment(inventory, "nightly", [["db-01"], ["web-01"]])
    remove_machines(inventory, ["db-01"])
    assert [[t.name for t in s] for s in get_deployment(inventory, "nightly").stages] == [
        ["web-01"]
    ]


def test_max_failures_in_machines_or_percent() -> None:
    assert allowed_failures("0", 40) == 0
    assert allowed_failures("3", 40) == 3
    assert allowed_failures("10%", 40) == 4
    assert allowed_failures("10%", 9) == 0  # rounded down: the first failure stops it


def test_the_latest_plan_and_when_it_is_stale(inventory: Store) -> None:
    deployment = create_deployment(inventory, "nightly", [["web"]])
    assert latest_plan(inventory, deployment.id) is None
    machine = deployment_machines(inventory, deployment)[0].machine
    now = utcnow()
    old = save_plan(inventory, deployment.id, [MachinePlan(machine.id, machine.name, 0)],
                    created_at=now - timedelta(hours=3))  # fmt: skip
    new = save_plan(inventory, deployment.id, [], created_at=now - timedelta(minutes=5))
    assert latest_plan(inventory, deployment.id) == new
    assert get_deployment(inventory, "nightly").last_plan_at == new.created_at
    assert plan_is_stale(old, now) and not plan_is_stale(new, now)
    assert plan_is_stale(new, now, max_age=timedelta(minutes=1))
    edited = edit_deployment(inventory, "nightly", gate="manual")
    assert plan_is_stale(new, now, deployment_changed_at=edited.updated_at)
