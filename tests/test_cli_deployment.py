"""`patchdeck deployment …` as a user runs it: stages and options stored and shown, every bad
input one line and exit 2, confirmation before deleting, and `deployment plan` against the
simulated fleet with its JSON shape and exit code."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from backends.fleet.faults import FaultSpec
from backends.fleet.register import register_fleet
from backends.fleet.server import serve
from backends.inventory.audit import list_audit
from backends.inventory.groups import create_group
from backends.inventory.machines import add_machine
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.conftest import run_cli
from tui.cli import main


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


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


def test_create_list_show_edit(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        inventory, capsys,
        "deployment", "create", "nightly", "--stage", "db-01", "--stage", "web,web-01",
        "--classification", "security", "--classification", "other",
        "--include", "openssl*", "--exclude", "kernel*", "--reboot", "always",
        "--window", "90m", "--concurrency", "5", "--max-failures", "20%", "--gate", "manual",
        "--pre", "systemctl stop app", "--post", "systemctl start app",
    )  # fmt: skip
    assert (code, out) == (0, "created deployment nightly (3 targets in 2 stages)\n")
    code, out, _ = _cli(inventory, capsys, "deployment", "create", "quick", "--target", "web")
    assert out == "created deployment quick (1 target in 1 stage)\n"

    code, out, _ = _cli(inventory, capsys, "deployment", "list", "--json")
    nightly, quick = _json_lines(out)
    assert set(nightly) == {
        "name", "stages", "classifications", "include", "exclude", "reboot", "window",
        "window_minutes", "concurrency", "max_failures", "gate", "pre", "post", "created",
        "updated", "last_plan", "schedule", "notify", "next",
    }  # fmt: skip
    assert nightly["stages"] == [
        [{"kind": "machine", "name": "db-01"}],
        [{"kind": "group", "name": "web"}, {"kind": "machine", "name": "web-01"}],
    ]
    assert (nightly["classifications"], nightly["include"], nightly["exclude"]) == (
        ["security", "other"], ["openssl*"], ["kernel*"]
    )  # fmt: skip
    assert (nightly["reboot"], nightly["window"], nightly["window_minutes"]) == (
        "always",
        "1h30m",
        90,
    )
    assert (nightly["concurrency"], nightly["max_failures"], nightly["gate"]) == (
        5,
        "20%",
        "manual",
    )
    assert (nightly["pre"], nightly["post"]) == ("systemctl stop app", "systemctl start app")
    assert nightly["created"].endswith("Z") and nightly["last_plan"] is None
    assert quick["classifications"] == ["security", "critical"] and quick["window"] == "2h"

    _, out, _ = _cli(inventory, capsys, "deployment", "list")
    rows = out.splitlines()
    assert rows[0].split() == ["NAME", "TARGETS", "CLASSIFICATIONS", "REBOOT", "WINDOW", "LAST",
                               "PLAN"]  # fmt: skip
    assert rows[1].startswith("nightly  machine db-01 | group web, machine web-01  ")
    assert rows[1].split()[-2:] == ["1h30m", "never"]

    _, out, _ = _cli(inventory, capsys, "deployment", "show", "nightly")
    assert out.splitlines() == [
        "name:             nightly",
        "stage 1:          machine db-01",
        "stage 2:          group web, machine web-01",
        "classifications:  security, other",
        "include:          openssl*",
        "exclude:          kernel*",
        "reboot:           always",
        "window:           1h30m (the last 20m kept for a reboot)",
        "concurrency:      5",
        "max failures:     20%",
        "gate:             manual (between stages)",
        "pre:              systemctl stop app",
        "post:             systemctl start app",
        "schedule:         none (run by hand)",
        "notify:           - (the settings' notify, if any)",
        "latest plan:      never planned",
    ]
    _, out, _ = _cli(inventory, capsys, "deployment", "show", "nightly", "--json")
    (shown,) = _json_lines(out)
    assert shown == {**nightly, "plan": None}

    code, out, _ = _cli(
        inventory, capsys, "deployment", "edit", "nightly", "--target", "db-01", "--reboot",
        "never", "--pre", "",
    )  # fmt: skip
    assert (code, out) == (0, "updated deployment nightly\n")
    _, out, _ = _cli(inventory, capsys, "deployment", "show", "nightly", "--json")
    (edited,) = _json_lines(out)
    assert edited["stages"] == [[{"kind": "machine", "name": "db-01"}]]
    assert (edited["reboot"], edited["pre"], edited["gate"]) == ("never", None, "manual")


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["create", "d", "--target", "web", "ghost"], "no machine or group named 'ghost'"),
        (["create", "d", "--target", "web", "--classification", "secure"],
         "classification: 'secure' is not one of security, other, critical, update_rollup, "
         "feature_pack, service_pack, definition, tools, updates (or none)"),
        (["create", "d", "--target", "web", "--reboot", "maybe"],
         "reboot: 'maybe' is not one of if-required, never, always, reboot-only"),
        (["create", "d", "--target", "web", "--window", "7h"],
         "window: '7h' is not between 30m and 6h"),
        (["create", "d", "--target", "web", "--window", "soon"],
         "window: 'soon' is not a duration: write it like 90m, 2h or 1h30m"),
        (["create", "d", "--target", "web", "--concurrency", "0"],
         "concurrency: '0' is not between 1 and 10000"),
        (["create", "d", "--target", "web", "--max-failures", "150%"],
         "max-failures: '150%' is more than 100%"),
        (["create", "d", "--target", "web", "--gate", "never"],
         "gate: 'never' is not one of auto, manual"),
        (["create", "d", "--target", "web", "--stage", "db-01"],
         "--target and --stage: give the targets as one stage or as stages, not both"),
        (["create", "d"], "target: give the machines and groups with --target or --stage"),
        (["create", "d", "--stage", "web", "--stage", "db-01,web"],
         "target: 'web' is named twice (stage 2 and stage 1)"),
        (["create", "d e", "--target", "web"],
         "name: 'd e' is not a valid deployment name (letters, digits and . _ - only)"),
        (["show", "ghost"], "no deployment named 'ghost'"),
        (["plan", "ghost"], "no deployment named 'ghost'"),
        (["delete", "ghost", "--yes"], "no deployment named 'ghost'"),
        (["edit", "ghost", "--gate", "auto"], "no deployment named 'ghost'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    inventory: Path, capsys: pytest.CaptureFixture[str], args: list[str], stderr: str
) -> None:
    code, out, err = _cli(inventory, capsys, "deployment", *args)
    assert (code, out, err) == (2, "", f"patchdeck: {stderr}\n")
    _, out, _ = _cli(inventory, capsys, "deployment", "list", "--json")
    assert out == ""


def test_names_are_unique_and_edit_needs_a_change(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(inventory, capsys, "deployment", "create", "d", "--target", "web")[0] == 0
    again = _cli(inventory, capsys, "deployment", "create", "d", "--target", "db-01")
    assert again == (2, "", "patchdeck: a deployment named 'd' already exists\n")
    nothing = _cli(inventory, capsys, "deployment", "edit", "d")
    assert nothing == (
        2, "", "patchdeck: edit: nothing to change: give --target, --stage or an option\n"
    )  # fmt: skip


def test_delete_asks_and_a_targeted_group_stays(inventory: Path) -> None:
    created = run_cli("deployment", "create", "d", "--stage", "web", "--stage", "db-01",
                      db=inventory)  # fmt: skip
    assert created.returncode == 0, created.stderr
    refused = run_cli("group", "delete", "web", "--yes", db=inventory)
    assert refused.returncode == 2
    assert refused.stderr == (
        "patchdeck: the group 'web' is a target of deployment 'd': remove it from there first\n"
    )
    no_tty = run_cli("deployment", "delete", "d", db=inventory, stdin="y\n")
    assert no_tty.returncode == 3 and "pass --yes" in no_tty.stderr
    deleted = run_cli("deployment", "delete", "d", "--yes", db=inventory)
    assert (deleted.returncode, deleted.stdout) == (0, "deleted deployment d\n")
    assert run_cli("group", "delete", "web", "--yes", db=inventory).returncode == 0
    actions = [e.action for e in list_audit(Store.open(str(inventory)))]
    assert actions[-3:] == ["deployment.create", "deployment.delete", "group.delete"]


async def test_plan_prints_one_object_per_machine_and_exits_1_for_a_machine_it_cannot_plan(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    store = Store.open(str(db_path))
    faults = FaultSpec.from_obj({"machines": {"sim-002": ["down"]}})

    def cli(*args: str) -> tuple[int, str, str]:
        return _cli(db_path, capsys, *args)

    async with await serve(3, seed=5, faults=faults) as fleet:
        register_fleet(store, store.url, fleet.machines, user="root", identity_file=str(key))
        names = sorted(m.name for m in fleet.machines)
        code, _, err = await asyncio.to_thread(
            cli, "deployment", "create", "all", "--target", *names,
            "--classification", "security", "--classification", "other", "--exclude", "tzdata",
        )  # fmt: skip
        assert code == 0, err
        code, out, err = await asyncio.to_thread(cli, "deployment", "plan", "all", "--json")
        assert code == 1, err
        rows = _json_lines(out)
        code, table, _ = await asyncio.to_thread(cli, "deployment", "plan", "all")
        assert code == 1
        code, shown, _ = await asyncio.to_thread(cli, "deployment", "show", "all", "--json")

    assert [r["machine"] for r in rows] == names
    for row in rows:
        assert set(row) == {"machine", "updates", "reboot_expected", "excluded", "error"}
        for update in row["updates"]:
            assert set(update) == {"id", "name", "from", "to", "classification"}
            assert update["classification"] in ("security", "other") and update["to"]
        for excluded in row["excluded"]:
            assert excluded == {
                "id": excluded["id"], "name": "tzdata", "reason": "matches --exclude tzdata"
            }  # fmt: skip
    ok = [r for r in rows if r["error"] is None]
    assert len(ok) == 2 and sum(len(r["updates"]) for r in ok) > 0
    (down,) = [r for r in rows if r["error"] is not None]
    assert down["machine"] == "sim-002" and down["error"].startswith("scan failed: ")
    assert down["updates"] == [] and down["reboot_expected"] is False

    lines = table.splitlines()
    assert lines[0].split() == ["MACHINE", "STAGE", "UPDATES", "SECURITY", "REBOOT",
                                "EXCLUDED", "PROBLEM"]  # fmt: skip
    assert lines[3].split()[:6] == ["sim-002", "1", "-", "-", "-", "-"]
    assert lines[-1].startswith("plan #2 of all: 3 machines, ")
    assert lines[-1].endswith(", 1 could not be planned")

    (deployment,) = _json_lines(shown)
    plan = deployment["plan"]
    assert set(plan) == {"id", "created", "by", "stale", "totals", "machines"}
    assert (plan["id"], plan["stale"], plan["by"]) == (2, False, list_audit(store)[-1].user)
    assert plan["totals"] == {
        "machines": 3,
        "updates": sum(len(r["updates"]) for r in ok),
        "reboots": sum(1 for r in ok if r["reboot_expected"]),
        "failed": 1,
    }
    assert plan["machines"] == rows  # the latest plan, as `plan --json` printed it
    store.close()
    assert deployment["last_plan"] == plan["created"]
