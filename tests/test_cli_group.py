"""`patchdeck group …`, `machine list --where` and `scan --where` / `scan GROUP`, run as a user
runs them: exit codes, messages, carets under bad queries, and JSON shapes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from backends.fleet.register import register_fleet
from backends.fleet.server import serve
from backends.inventory.audit import list_audit
from backends.inventory.groups import create_group, list_groups
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
    for name, more in (
        ("web-01", dict(tags=(("env", "prod"),), criticality="high")),
        ("web-02", dict(tags=(("env", "stage"),))),
        ("win-01", dict(transport="winrm", tags=(("env", "prod"),))),
    ):
        add_machine(store, build_spec(name=name, address=f"{name}.lan", **more))  # type: ignore[arg-type]
    store.close()
    return db_path


def test_create_list_show_delete(inventory: Path) -> None:
    static = run_cli("group", "create", "web", "--machines", "web-02,web-01", db=inventory)
    assert (static.returncode, static.stdout) == (0, "created static group web (2 machines)\n")
    dynamic = run_cli("group", "create", "prod", "--query", "tag.env = prod", db=inventory)
    assert dynamic.stdout == "created dynamic group prod: tag.env = prod\n"
    more = run_cli("group", "create", "one", "--machines", "win-01", "--machines", "web-01",
                   db=inventory)  # fmt: skip
    assert more.stdout == "created static group one (2 machines)\n"

    listed = run_cli("group", "list", "--json", db=inventory)
    assert listed.returncode == 0
    rows = _json_lines(listed.stdout)
    assert [r["name"] for r in rows] == ["one", "prod", "web"]
    one, prod, web = rows
    assert set(web) == {"name", "kind", "query", "members", "created", "count", "error"}
    assert web["kind"] == "static" and web["members"] == ["web-01", "web-02"]
    assert web["query"] is None and web["count"] == 2 and web["error"] is None
    assert web["created"].endswith("Z")
    assert prod["kind"] == "dynamic" and prod["query"] == "tag.env = prod"
    assert prod["members"] is None and prod["count"] == 2

    table = run_cli("group", "list", db=inventory).stdout.splitlines()
    assert table[0].split() == ["NAME", "KIND", "MACHINES", "DEFINITION"]
    assert table[2].split() == ["prod", "dynamic", "2", "tag.env", "=", "prod"]
    assert table[3].split() == ["web", "static", "2", "web-01,", "web-02"]

    shown = run_cli("group", "show", "prod", "--json", db=inventory)
    (group,) = _json_lines(shown.stdout)
    assert group["name"] == "prod" and group["count"] == 2
    assert [m["name"] for m in group["machines"]] == ["web-01", "win-01"]
    machine = run_cli("machine", "show", "web-01", "--json", db=inventory).stdout
    assert group["machines"][0] == json.loads(machine)  # the same shape as machine show

    human = run_cli("group", "show", "web", db=inventory).stdout.splitlines()
    assert human[:4] == [
        "name:         web",
        "kind:         static",
        "machines:     web-01, web-02",
        "resolves to:  2 machines now",
    ]
    assert human[5].split() == ["NAME", "ADDRESS", "OS", "ENVIRONMENT", "LAST", "SCAN",
                                "SECURITY", "OTHER"]  # fmt: skip
    assert [line.split()[0] for line in human[6:]] == ["web-01", "web-02"]

    no_tty = run_cli("group", "delete", "web", db=inventory, stdin="y\n")
    assert no_tty.returncode == 3 and "pass --yes" in no_tty.stderr
    deleted = run_cli("group", "delete", "web", "--yes", db=inventory)
    assert (deleted.returncode, deleted.stdout) == (0, "deleted group web\n")
    assert [s.group.name for s in list_groups(Store.open(str(inventory)))] == ["one", "prod"]
    assert run_cli("machine", "show", "web-02", db=inventory).returncode == 0
    actions = [e.action for e in list_audit(Store.open(str(inventory)))]
    assert actions[-4:] == ["group.create", "group.create", "group.create", "group.delete"]


def test_empty_inventory_listing(db_path: Path) -> None:
    listed = run_cli("group", "list", db=db_path)
    assert listed.stdout == "no groups yet: create one with `patchdeck group create`\n"
    assert run_cli("group", "list", "--json", db=db_path).stdout == ""


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["create", "g", "--machines", "web-01,ghost,nope"],
         "patchdeck: no machine named 'ghost', 'nope'\n"),
        (["create", "web-01", "--machines", "web-02"],
         "patchdeck: name: 'web-01' is a machine's name: a group cannot share it\n"),
        (["create", "a b", "--query", "os = linux"],
         "patchdeck: name: 'a b' is not a valid group name (letters, digits and . _ - only)\n"),
        (["create", "g", "--machines", ","], "patchdeck: machines: ',' names no machine\n"),
        (["show", "ghost"], "patchdeck: no group named 'ghost'\n"),
        (["delete", "ghost", "--yes"], "patchdeck: no group named 'ghost'\n"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(inventory: Path, args: list[str], stderr: str) -> None:
    result = run_cli("group", *args, db=inventory)
    assert (result.returncode, result.stderr) == (2, stderr)
    assert list_groups(Store.open(str(inventory))) == []


def test_create_needs_exactly_one_definition(inventory: Path) -> None:
    both = run_cli("group", "create", "g", "--query", "os = linux", "--machines", "a", db=inventory)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    neither = run_cli("group", "create", "g", db=inventory)
    assert neither.returncode == 2 and "one of the arguments --query --machines" in neither.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["group", "create", "g", "--query"],
        ["machine", "list", "--where"],
        ["scan", "--where"],
    ],
)
def test_a_bad_query_shows_carets_under_the_token(inventory: Path, command: list[str]) -> None:
    result = run_cli(*command, "os = linux and\tnmae ~ 'web*'", db=inventory)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "  os = linux and\tnmae ~ 'web*'",
        "  " + " " * 14 + "\t^^^^",
        "patchdeck: unknown field 'nmae' at column 16 (did you mean 'name'?); fields are name, "
        "address, os, distro, version, transport, owner, role, environment, criticality, "
        "reboot_pending, reachable, last_scan_age, tag.<key>, missing.<classification>, "
        "missing.total",
    ]
    assert result.stdout == ""


def test_a_bad_query_is_shown_without_control_characters(inventory: Path) -> None:
    result = run_cli("machine", "list", "--where", "name = 'x\x1b[2J", db=inventory)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr
    assert result.stderr.splitlines()[:2] == ["  name = 'x [2J", "         ^^^^^^"]


def test_machine_list_where(inventory: Path) -> None:
    found = run_cli("machine", "list", "--where", "tag.env = prod and os = linux", "--json",
                    db=inventory)  # fmt: skip
    assert found.returncode == 0
    assert [r["name"] for r in _json_lines(found.stdout)] == ["web-01"]
    table = run_cli("machine", "list", "--where", "criticality < high", db=inventory).stdout
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["web-02", "win-01"]
    both = run_cli("machine", "list", "--where", "os = linux", "--match", "STAGE", db=inventory)
    assert [line.split()[0] for line in both.stdout.splitlines()[1:]] == ["web-02"]
    none = run_cli("machine", "list", "--where", "missing.total > 0", db=inventory)
    assert (none.returncode, none.stdout) == (0, "no machines match\n")


def test_scan_names_unknown_targets_and_accepts_an_empty_match(inventory: Path) -> None:
    unknown = run_cli("scan", "ghost", "web-01", "nope", db=inventory)
    assert unknown.returncode == 2
    assert unknown.stderr == "patchdeck: no machine or group named 'ghost', 'nope'\n"
    nothing = run_cli("scan", "--where", "missing.total > 0", "--json", db=inventory)
    assert (nothing.returncode, nothing.stdout) == (0, "")
    assert nothing.stderr == "nothing to scan: no machine matches\n"


async def test_scan_a_group_of_the_simulated_fleet(db_path: Path, tmp_path: Path) -> None:
    """``scan GROUP`` scans exactly the group's machines; a dynamic group built on what scans
    found changes with the next scan, and ``scan --where`` picks the machines not scanned."""
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    store = Store.open(str(db_path))

    async def cli(*args: str) -> Any:
        return await asyncio.to_thread(run_cli, *args, db=db_path, timeout=120)

    async with await serve(4, seed=11) as fleet:
        register_fleet(store, store.url, fleet.machines, user="root", identity_file=str(key))
        names = sorted(m.name for m in fleet.machines)
        pair = names[1:3]
        created = await cli("group", "create", "pair", "--machines", ",".join(pair))
        assert created.returncode == 0, created.stderr
        created = await cli("group", "create", "behind", "--query", "missing.total > 0")
        assert created.returncode == 0, created.stderr
        assert (await cli("group", "show", "behind", "--json")).stdout.count('"name"') == 1

        scanned = await cli("scan", "pair", "--json")
        assert scanned.returncode == 0, scanned.stderr
        rows = _json_lines(scanned.stdout)
        assert sorted(r["machine"] for r in rows) == pair
        assert all(r["status"] == "ok" for r in rows)
        behind = sorted(r["machine"] for r in rows if sum(r["missing"].values()) > 0)
        assert behind, "the simulated machines miss updates"
        (shown,) = _json_lines((await cli("group", "show", "behind", "--json")).stdout)
        assert [m["name"] for m in shown["machines"]] == behind

        rest = await cli("scan", "--where", "last_scan_age > 1h", "--json")
        assert rest.returncode == 0, rest.stderr
        assert sorted(r["machine"] for r in _json_lines(rest.stdout)) == [names[0], names[3]]
        again = await cli("scan", "pair", names[0], "--where", "last_scan_age > 1h", "--json")
        assert (again.returncode, again.stdout) == (0, "")
    store.close()


def test_a_long_static_group_is_listed_in_short(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store.open(str(db_path))
    names = [f"m{i}" for i in range(7)]
    for name in names:
        add_machine(store, build_spec(name=name, address=name))
    create_group(store, "seven", machines=names)
    store.close()
    assert main(["--db", str(db_path), "group", "list"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split(None, 3) == ["seven", "static", "7", "m0, m1, m2, m3, m4 and 2 more"]
