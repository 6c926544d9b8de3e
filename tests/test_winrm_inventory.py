"""A Windows machine's WinRM options in the inventory: added, checked, shown, and read from an
inventory written before they existed (schema 3's migration)."""

from __future__ import annotations

import ast
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from backends.inventory.machines import add_machine, list_machines, update_machine
from backends.inventory.store import Store
from backends.inventory.validation import FieldError, build_spec
from tests.conftest import DATA, run_cli

ROOT = Path(__file__).parent.parent


def test_an_inventory_from_before_winrm_options_reads_as_the_defaults(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copy(DATA / "inventory-v1.db", copy)
    store = Store.open(str(copy))
    try:
        with sqlite3.connect(copy) as raw:
            assert raw.execute("SELECT count(winrm_auth) FROM machine").fetchone() == (0,)
        win = {m.name: m for m in list_machines(store)}["win-01"]
        assert (win.winrm_auth, win.winrm_https, win.winrm_verify_cert, win.winrm_ca_file) == (
            "ntlm",
            False,
            True,
            None,
        )
        spec = build_spec(
            name="win-01",
            address="192.0.2.30",
            transport="winrm",
            winrm_auth="basic",
            winrm_https=True,
            winrm_verify_cert=False,
        )
        changed = update_machine(store, win.id, spec)
        assert (changed.winrm_auth, changed.winrm_https, changed.winrm_verify_cert) == (
            "basic",
            True,
            False,
        )
        assert changed.port == 5986  # the HTTPS default, as no port was given
    finally:
        store.close()


def test_winrm_options_are_checked(store: Store) -> None:
    with pytest.raises(FieldError, match="winrm_auth: 'basic' sends the password as it is"):
        build_spec(name="w", address="h", transport="winrm", winrm_auth="basic")
    with pytest.raises(FieldError, match="winrm_https: 'yes' applies to WinRM machines only"):
        build_spec(name="l", address="h", transport="ssh", winrm_https=True)
    with pytest.raises(FieldError, match="winrm_auth: 'digest' is not one of ntlm, kerberos"):
        build_spec(name="w", address="h", transport="winrm", winrm_auth="digest")
    plain = add_machine(store, build_spec(name="l", address="h"))
    assert (plain.winrm_auth, plain.winrm_https) == ("ntlm", False)  # unused, but defined


def test_machine_add_and_show(db_path: Path) -> None:
    added = run_cli(
        "machine", "add", "win-02", "--address", "192.0.2.31", "--transport", "winrm",
        "--user", "CORP\\patchbot", "--winrm-https", "--winrm-no-verify", db=db_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout == "added win-02 (winrm 192.0.2.31:5986)\n"
    assert added.stderr == "warning: win-02's certificate will not be checked\n"
    shown = run_cli("machine", "show", "win-02", db=db_path)
    assert "winrm:          ntlm over https, certificate NOT checked" in shown.stdout
    as_json = json.loads(run_cli("machine", "show", "win-02", "--json", db=db_path).stdout)
    assert as_json["winrm"] == {
        "auth": "ntlm",
        "https": True,
        "verify_cert": False,
        "ca_file": None,
    }
    refused = run_cli(
        "machine", "add", "lin", "--address", "h", "--winrm-auth", "kerberos", db=db_path
    )
    assert refused.returncode == 2
    assert "winrm_auth: 'kerberos' applies to WinRM machines only, not ssh" in refused.stderr


def test_the_fleet_does_not_share_the_parsers_code() -> None:
    """What the simulated Windows machines print is written independently of the parser."""
    for path in (ROOT / "backends" / "fleet").glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.startswith("backends.platforms") for n in names), path
