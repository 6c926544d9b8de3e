"""The inventory file: WAL, schema versions, old inventories, and processes sharing one file."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest

from backends.inventory.errors import InventoryError
from backends.inventory.machines import add_machine, get_machine, list_machines, remove_machines
from backends.inventory.store import Store
from backends.inventory.tables import SCHEMA_VERSION, UPDATE_COUNTS_INDEX, MachineRow, TagRow
from backends.inventory.validation import build_spec
from tests.conftest import DATA


def test_new_inventory_uses_wal_and_records_its_schema(store: Store, db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("SELECT version FROM schema_info").fetchone() == (SCHEMA_VERSION,)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert store.found_version == 0
    assert Store.open(str(db_path)).found_version == SCHEMA_VERSION


def test_first_schema_inventory_opens_with_its_machines(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copy(DATA / "inventory-v1.db", copy)
    store = Store.open(str(copy))
    assert store.found_version == 1
    with sqlite3.connect(copy) as raw:  # migrated: schema 2's column is there
        assert raw.execute("SELECT version FROM schema_info").fetchone() == (SCHEMA_VERSION,)
        assert raw.execute("SELECT count(updates_digest) FROM machine").fetchone() == (0,)
        indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND name = ?"
        assert raw.execute(indexes, (UPDATE_COUNTS_INDEX,)).fetchone()  # and schema 5's index
    machines = {m.name: m for m in list_machines(store)}
    assert sorted(machines) == ["db-01", "web-01", "win-01"]
    assert machines["db-01"].port == 2222
    assert machines["db-01"].identity_file == "~/.ssh/id_ed25519"
    assert machines["web-01"].tags == (("env", "prod"), ("group", "web"))
    assert machines["win-01"].os_family == "windows"
    assert machines["win-01"].missing["update_rollup"] == 0
    # and it can still be written
    add_machine(store, build_spec(name="new-01", address="192.0.2.40"))
    assert len(list_machines(store)) == 4


def test_inventory_from_a_newer_patchdeck_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "future.db"
    shutil.copy(DATA / "inventory-v1.db", copy)
    with sqlite3.connect(copy) as raw:
        raw.execute("UPDATE schema_info SET version = ?", (SCHEMA_VERSION + 5,))
    with pytest.raises(InventoryError, match=f"schema version {SCHEMA_VERSION + 5}.*newer"):
        Store.open(str(copy))


def test_a_file_that_is_not_an_inventory_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InventoryError, match="cannot open the inventory"):
        Store.open(str(junk))
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE machine (x)")
    with pytest.raises(InventoryError, match="not a patchdeck inventory"):
        Store.open(str(other))


def test_removing_a_machine_removes_its_tags(store: Store) -> None:
    add_machine(store, build_spec(name="a", address="h", tags=(("env", "prod"),)))
    remove_machines(store, ["a"])
    with store.read() as session:
        assert session.query(TagRow).count() == 0
        assert session.query(MachineRow).count() == 0


def test_naive_datetimes_never_reach_the_inventory(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.write() as session:
        session.add(
            MachineRow(
                name="x",
                address="h",
                port=22,
                transport="ssh",
                os_family="linux",
                last_scan_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
            )
        )
        session.flush()


def _writer(db: str, count: int) -> None:
    store = Store.open(db)
    for i in range(count):
        add_machine(store, build_spec(name=f"w{i:04d}", address=f"10.0.{i // 250}.{i % 250}"))


def _reader(db: str, seconds: float, result: mp.Queue) -> None:  # type: ignore[type-arg]
    store = Store.open(db)
    seen: list[int] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            seen.append(len(list_machines(store)))
            if seen[-1] >= 200:
                break
        result.put(("ok", seen))
    except Exception as exc:  # reported to the test, which fails on it
        result.put(("error", repr(exc)))


def test_a_reader_and_a_writer_process_share_one_file(db_path: Path) -> None:
    Store.open(str(db_path)).close()
    ctx = mp.get_context("spawn")
    result: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    reader = ctx.Process(target=_reader, args=(str(db_path), 60.0, result))
    writer = ctx.Process(target=_writer, args=(str(db_path), 200))
    reader.start()
    writer.start()
    writer.join(90)
    reader.join(90)
    assert writer.exitcode == 0
    status, seen = result.get(timeout=5)
    assert status == "ok", seen
    assert seen == sorted(seen), "a reader saw the inventory go backwards"
    assert seen[-1] == 200
    assert len(set(seen)) > 2, "the reader never overlapped the writer"
    store = Store.open(str(db_path))
    assert get_machine(store, "w0199").address == "10.0.0.199"
