"""Where the inventory lives: ``--db``, else ``$PATCHDECK_DB``, else the user data dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "patchdeck"


def default_db_path() -> Path:
    """``~/.local/share/patchdeck/inventory.db`` on Linux."""
    return Path(platformdirs.user_data_dir(APP, appauthor=False)) / "inventory.db"


def inventory_url(db: str | None = None) -> str:
    """A SQLAlchemy URL for the inventory: a path becomes a SQLite URL, a URL is kept as given."""
    value = db or os.environ.get("PATCHDECK_DB") or str(default_db_path())
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or ``None`` for other databases and in-memory SQLite."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or url.endswith(":memory:"):
        return None
    return Path(url[len(prefix) :])


def own_known_hosts(url: str) -> Path:
    """patchdeck's own known_hosts: next to a SQLite inventory, else in the user data dir."""
    path = sqlite_path(url)
    base = path.parent if path is not None else default_db_path().parent
    return base / "known_hosts"


def runner_logs(url: str) -> Path:
    """Where runner processes write their logs: ``runs/`` next to a SQLite inventory, else in
    the user data dir."""
    path = sqlite_path(url)
    base = path.parent if path is not None else default_db_path().parent
    return base / "runs"
