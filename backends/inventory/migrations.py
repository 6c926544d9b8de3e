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
from backends.inventory.tables import SCHEMA_VERSION, SchemaInfo

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


# version -> the step that brings an inventory from version - 1 to it.
STEPS: dict[int, Step] = {2: _v2_updates_digest, 3: _v3_winrm_options, 4: _v4_plans}


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
