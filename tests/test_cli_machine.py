"""`patchdeck machine …` run as a user runs it: exit codes, messages, JSON, and the inventory."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.location import default_db_path
from backends.inventory.machines import list_machines
from backends.inventory.store import Store
from tests.conftest import DATA, run_cli

IMPORTS = DATA / "imports"


def _count(db: Path, table: str = "machine") -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as raw:
        return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_add_list_show_as_json(db_path: Path) -> None:
    added = run_cli(
        "machine", "add", "web-01", "--address", "10.0.0.1", "--port", "2222",
        "--user", "deploy", "--identity", "~/.ssh/id_web", "--tag", "env=prod",
        "--tag", "team=web", "--owner", "alice", "--role", "frontend",
        "--environment", "prod", "--criticality", "high", db=db_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout == "added web-01 (ssh 10.0.0.1:2222)\n"
    run_cli("machine", "add", "win-01", "--address", "10.0.0.2", "--transport", "winrm", db=db_path)

    listed = run_cli("machine", "list", "--json", db=db_path)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["web-01", "win-01"]
    web, win = rows
    assert web["port"] == 2222 and web["user"] == "deploy" and web["os"] == "linux"
    assert web["tags"] == ["env=prod", "team=web"]
    assert web["criticality"] == "high" and web["last_scan"] is None
    assert web["missing"] == {"security": 0, "other": 0}
    assert win["port"] == 5985 and win["os"] == "windows"
    assert set(win["missing"]) == {
        "critical", "security", "update_rollup", "feature_pack", "service_pack",
        "definition", "tools", "updates",
    }  # fmt: skip

    shown = run_cli("machine", "show", "web-01", "--json", db=db_path)
    assert json.loads(shown.stdout) == web
    human = run_cli("machine", "show", "web-01", db=db_path).stdout
    assert "address:        10.0.0.1:2222" in human and "tags:           env=prod team=web" in human

    where = run_cli("machine", "list", "--match", "TEAM=WEB", db=db_path)
    assert where.stdout.splitlines()[0].split() == [
        "NAME", "ADDRESS", "TRANSPORT", "OS", "ENVIRONMENT", "LAST", "SCAN", "TAGS"
    ]  # fmt: skip
    assert [line.split()[0] for line in where.stdout.splitlines()[1:]] == ["web-01"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "h", "--port", "ssh"], "patchdeck: port: 'ssh' is not a number\n"),
        (["--address", "h", "--port", "0"], "patchdeck: port: '0' is not between 1 and 65535\n"),
        (["--address", "h", "--tag", "novalue"], "patchdeck: tag: 'novalue' is not KEY=VALUE\n"),
        (["--address", "bad host"], "address: 'bad host' is not a host name or IP address\n"),
        (["--address", "h", "--transport", "telnet"], "--transport: invalid choice: 'telnet'"),
        ([], "the following arguments are required: --address"),
    ],
)  # fmt: skip
def test_add_rejects_bad_input_in_one_line(db_path: Path, args: list[str], message: str) -> None:
    result = run_cli("machine", "add", "web-01", *args, db=db_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert _count(db_path) == 0


def test_duplicate_name_is_refused(db_path: Path) -> None:
    assert run_cli("machine", "add", "a", "--address", "h1", db=db_path).returncode == 0
    again = run_cli("machine", "add", "a", "--address", "h2", db=db_path)
    assert again.returncode == 2
    assert again.stderr == "patchdeck: a machine named 'a' already exists\n"


def test_global_options_go_before_the_command(db_path: Path) -> None:
    result = run_cli("machine", "list", "--db", str(db_path))
    assert result.returncode == 2
    assert "unrecognized arguments: --db" in result.stderr


def test_unknown_machine_is_named(db_path: Path) -> None:
    result = run_cli("machine", "show", "ghost", db=db_path)
    assert (result.returncode, result.stderr) == (2, "patchdeck: no machine named 'ghost'\n")


def test_remove_confirms_and_refuses_without_a_terminal(db_path: Path) -> None:
    for name in ("a", "b", "c"):
        run_cli("machine", "add", name, "--address", name, db=db_path)
    unknown = run_cli("machine", "remove", "a", "ghost", "--yes", db=db_path)
    assert (unknown.returncode, unknown.stderr) == (2, "patchdeck: no machine named 'ghost'\n")
    no_tty = run_cli("machine", "remove", "a", db=db_path, stdin="y\n")
    assert no_tty.returncode == 3
    assert "pass --yes" in no_tty.stderr
    assert _count(db_path) == 3
    removed = run_cli("machine", "remove", "a", "b", "--yes", db=db_path)
    assert removed.returncode == 0 and removed.stdout == "removed 2 machines\n"
    assert [m.name for m in list_machines(Store.open(str(db_path)))] == ["c"]


@pytest.mark.parametrize(
    ("fixture", "fmt", "names"),
    [
        ("hosts.csv", None, ["db1", "local1", "web1", "win1"]),
        ("inventory.yml", None, None),
        ("inventory.ini", "ansible", None),
        ("ssh_config", None, None),
    ],
)
def test_import_each_format(
    db_path: Path, fixture: str, fmt: str | None, names: list[str] | None
) -> None:
    args = ["machine", "import", str(IMPORTS / fixture)] + (["--format", fmt] if fmt else [])
    result = run_cli(*args, db=db_path)
    assert result.returncode == 0, result.stderr
    store = Store.open(str(db_path))
    machines = list_machines(store)
    assert result.stdout.startswith(f"imported {len(machines)} machines from ")
    assert f"{len(machines)} added, 0 updated" in result.stdout
    if names is not None:
        assert [m.name for m in machines] == names
    assert len(machines) >= 3
    entry = list_audit(store)[-1]
    assert entry.action == "machine.import" and len(entry.machines) == len(machines)


def test_import_again_updates_by_name_and_keeps_scan_facts(db_path: Path, tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("name,address,tags\nweb1,10.0.0.1,env=prod;team=a\nweb2,10.0.0.2,\n")
    assert run_cli("machine", "import", str(first), db=db_path).returncode == 0
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE machine SET distro = 'debian', version = '12' WHERE name = 'web1'")
    second = tmp_path / "b.csv"
    second.write_text("name,address,tags\nweb1,10.9.9.9,env=stage\nweb3,10.0.0.3,\n")
    result = run_cli("machine", "import", str(second), db=db_path)
    assert "1 added, 1 updated" in result.stdout
    machines = {m.name: m for m in list_machines(Store.open(str(db_path)))}
    assert sorted(machines) == ["web1", "web2", "web3"]
    assert machines["web1"].address == "10.9.9.9"
    assert machines["web1"].tags == (("env", "stage"),)
    assert (machines["web1"].distro, machines["web1"].version) == ("debian", "12")


@pytest.mark.parametrize(
    ("fixture", "first_problem"),
    [
        ("bad_rows.csv", "bad_rows.csv:2: port: 'abc' is not a number"),
        ("unknown_column.csv", "unknown_column.csv:1: unknown column"),
        ("syntax.yml", "syntax.yml:"),
        ("cycle.ini", "cycle.ini:"),
        ("latin1.csv", "latin1.csv:"),
        ("wildcards.ssh_config", "wildcards.ssh_config:1: no machines found"),
        ("empty.csv", "empty.csv:"),
    ],
)
def test_bad_import_writes_nothing(db_path: Path, fixture: str, first_problem: str) -> None:
    run_cli("machine", "add", "keep", "--address", "h", db=db_path)
    result = run_cli("machine", "import", str(IMPORTS / fixture), db=db_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert first_problem in lines[0]
    assert lines[-1] == f"patchdeck: {IMPORTS / fixture}: nothing was imported"
    assert "Traceback" not in result.stderr
    assert _count(db_path) == 1
    assert _count(db_path, "audit") == 1


def test_import_of_a_missing_file(db_path: Path, tmp_path: Path) -> None:
    result = run_cli("machine", "import", str(tmp_path / "nope.csv"), db=db_path)
    assert result.returncode == 2
    assert "nope.csv:0: cannot read: No such file or directory" in result.stderr


def test_inventory_location(tmp_path: Path) -> None:
    by_env = tmp_path / "env.db"
    result = run_cli("machine", "add", "a", "--address", "h", env={"PATCHDECK_DB": str(by_env)})
    assert result.returncode == 0 and _count(by_env) == 1
    by_flag = tmp_path / "flag.db"
    result = run_cli(
        "--db", str(by_flag), "machine", "add", "b", "--address", "h",
        env={"PATCHDECK_DB": str(by_env)},
    )  # fmt: skip
    assert result.returncode == 0 and _count(by_flag) == 1 and _count(by_env) == 1
    home = tmp_path / "home"
    result = run_cli("machine", "add", "c", "--address", "h", env={"HOME": str(home)})
    assert result.returncode == 0
    assert _count(home / ".local/share/patchdeck/inventory.db") == 1
    assert str(default_db_path()).endswith("/.local/share/patchdeck/inventory.db")


def test_bad_db_url_is_one_line(tmp_path: Path) -> None:
    result = run_cli("--db", "nosuchdriver://x/y", "machine", "list")
    assert result.returncode == 2
    assert result.stderr.startswith("patchdeck: ") and result.stderr.count("\n") == 1
