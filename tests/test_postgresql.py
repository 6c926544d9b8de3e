"""The same service code on a real PostgreSQL server (a throwaway cluster on loopback)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.inventory.audit import list_audit
from backends.inventory.machines import (
    add_machine,
    get_machine,
    import_machines,
    list_machines,
    remove_machines,
)
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
