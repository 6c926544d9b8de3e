"""The inventory's database: engine set-up, transactions and schema, on SQLite or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, so the console, a runner and a headless command can
share one file: readers never block the writer, and writers wait their turn. Write transactions
start with ``BEGIN IMMEDIATE`` so that two writers queue at the start instead of one failing when
it upgrades a read lock. Nothing here is SQLite-only SQL; PostgreSQL takes the same code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from backends.inventory.errors import InventoryError
from backends.inventory.location import inventory_url, sqlite_path
from backends.inventory.migrations import migrate

BUSY_TIMEOUT_MS = 30_000


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writes can ask for IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("patchdeck_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Store:
    """One open inventory. Services take a ``Store``; nothing outside ``backends.inventory``
    sees its sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        path = sqlite_path(url)
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.engine = _sqlite_engine(url)
            elif url.startswith("sqlite"):
                self.engine = _sqlite_engine(url)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
            with self.write() as session:
                self.found_version = migrate(session.connection())
        except ArgumentError as exc:
            raise InventoryError(f"--db: {url!r} is not a database path or URL") from exc
        except DBAPIError as exc:
            raise InventoryError(f"cannot open the inventory {url}: {exc.orig}") from exc
        except OSError as exc:
            raise InventoryError(f"cannot open the inventory {url}: {exc}") from exc
        except ModuleNotFoundError as exc:
            raise InventoryError(
                f"cannot open the inventory {url}: "
                f"its database driver is not installed ({exc.name})"
            ) from exc

    @classmethod
    def open(cls, db: str | None = None) -> Store:
        """Open ``db`` (a path or URL), else ``$PATCHDECK_DB``, else the default inventory."""
        return cls(inventory_url(db))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(patchdeck_write=True)
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()
