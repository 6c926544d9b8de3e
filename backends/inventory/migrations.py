"""Schema versions: a small, documented scheme instead of Alembic.

The table ``schema_info`` holds one row with the schema version the inventory was last written
with. Opening an inventory:

* no tables yet: create every table and record :data:`SCHEMA_VERSION`;
* an older version ``v``: run ``STEPS[v + 1] … STEPS[SCHEMA_VERSION]`` in one transaction, then
  create any table that is new (``create_all`` only adds missing tables), and record the version;
* a newer version: refuse, naming both versions (an older patchdeck must not damage it).

A step is a function of a SQLAlchemy ``Connection`` that uses only portable DDL
(``ALTER TABLE … ADD COLUMN``, SQLAlchemy constructs) so that SQLite and PostgreSQL take the same
path. ``tests/data/inventory-v1.db`` was written with schema 1; a test opens it with the current
code, so every step added here is exercised.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, select, text
from sqlmodel import SQLModel

from backends.inventory import tables
from backends.inventory.errors import InventoryError
from backends.inventory.tables import SCHEMA_VERSION, UPDATE_COUNTS_INDEX, SchemaInfo

Step = Callable[[Connection], None]


def _v2_updates_digest(conn: Connection) -> None:
    """Schema 2: ``machine.updates_digest``, so that an unchanged re-scan rewrites nothing."""
    conn.execute(text("ALTER TABLE machine ADD COLUMN updates_digest VARCHAR(64)"))


def _v3_winrm_options(conn: Connection) -> None:
    """Schema 3: a Windows machine's WinRM options (authentication, HTTPS, certificate check,
    CA file); NULL in every existing row, which reads as the defaults."""
    for column in (
        "winrm_auth VARCHAR(16)",
        "winrm_https BOOLEAN",
        "winrm_verify_cert BOOLEAN",
        "winrm_ca_file VARCHAR",
    ):
        conn.execute(text(f"ALTER TABLE machine ADD COLUMN {column}"))


def _v4_plans(conn: Connection) -> None:
    """Schema 4: what a plan holds per machine (the new table ``plan_machine``, made by
    ``create_all`` after the steps) and the version each planned update replaces."""
    conn.execute(text("ALTER TABLE plan_item ADD COLUMN installed_version VARCHAR"))


def _v5_update_counts_index(conn: Connection) -> None:
    """Schema 5: an index on ``machine_update (machine_id, classification)``, from which the
    console's machines view counts every machine's missing updates without reading the rows."""
    table = tables.UpdateRow.__table__  # type: ignore[attr-defined]
    (index,) = (i for i in table.indexes if i.name == UPDATE_COUNTS_INDEX)
    index.create(conn, checkfirst=True)


def _v6_runs(conn: Connection) -> None:
    """Schema 6: what a run records beyond schema 1's columns: its window's length, the
    deployment's options as it started, why it ended badly, its change counter and runner log;
    per machine the error's kind, notes (drift from the plan), the updates installed and
    failed, how many output lines were appended, and the run's change counter."""
    for table, column in (
        ("run", "window_minutes INTEGER NOT NULL DEFAULT 120"),
        ("run", "options JSON NOT NULL DEFAULT '{}'"),
        ("run", "error VARCHAR"),
        ("run", "seq INTEGER NOT NULL DEFAULT 0"),
        ("run", "log_path VARCHAR"),
        ("run_machine", "error_kind VARCHAR(32)"),
        ("run_machine", "notes JSON NOT NULL DEFAULT '[]'"),
        ("run_machine", "installed_items JSON NOT NULL DEFAULT '[]'"),
        ("run_machine", "failed_items JSON NOT NULL DEFAULT '[]'"),
        ("run_machine", "output_count INTEGER NOT NULL DEFAULT 0"),
        ("run_machine", "seq INTEGER NOT NULL DEFAULT 0"),
    ):
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column}"))


def _v7_reserved(conn: Connection) -> None:
    """Schema 7: reserved for the runner's schema work; changes nothing (yet)."""


def _v8_schedule_claims(conn: Connection) -> None:
    """Schema 8: ``schedule_claim``, one row per claimed occurrence of a deployment's schedule,
    unique per (deployment, occurrence): how ``run-due`` starts each occurrence once."""
    table = tables.ScheduleClaimRow.__table__  # type: ignore[attr-defined]
    table.create(conn, checkfirst=True)


# version -> the step that brings an inventory from version - 1 to it.
STEPS: dict[int, Step] = {
    2: _v2_updates_digest,
    3: _v3_winrm_options,
    4: _v4_plans,
    5: _v5_update_counts_index,
    6: _v6_runs,
    7: _v7_reserved,
    8: _v8_schedule_claims,
}


def migrate(conn: Connection) -> int:
    """Bring the inventory behind ``conn`` to :data:`SCHEMA_VERSION`; returns the version found
    (0 for a new inventory). Runs inside the caller's write transaction."""
    assert tables.SCHEMA_VERSION == SCHEMA_VERSION
    info = SchemaInfo.__table__  # type: ignore[attr-defined]
    names = set(inspect(conn).get_table_names())
    if "schema_info" not in names:
        if "machine" in names:
            raise InventoryError("this database holds tables that are not a patchdeck inventory")
        SQLModel.metadata.create_all(conn)
        conn.execute(info.insert().values(id=1, version=SCHEMA_VERSION))
        return 0
    found = conn.execute(select(info.c.version)).scalar_one_or_none()
    if found is None:
        raise InventoryError("the inventory's schema_info table is empty")
    if found > SCHEMA_VERSION:
        raise InventoryError(
            f"the inventory has schema version {found}, written by a newer patchdeck; "
            f"this one knows versions up to {SCHEMA_VERSION}"
        )
    if found < SCHEMA_VERSION:
        for version in range(found + 1, SCHEMA_VERSION + 1):
            STEPS[version](conn)
        SQLModel.metadata.create_all(conn)
        conn.execute(info.update().values(version=SCHEMA_VERSION))
    return int(found)
