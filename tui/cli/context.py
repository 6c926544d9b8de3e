"""What every command shares: the global options and the inventory, opened on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from backends.inventory.location import inventory_url, own_known_hosts
from backends.inventory.store import Store
from tui.settings import Settings, load_settings

if TYPE_CHECKING:
    from backends.transports.known_hosts import HostKeys


@dataclass
class Context:
    db: str | None = None
    known_hosts: str | None = None
    _store: Store | None = field(default=None, repr=False)
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return inventory_url(self.db)

    def store(self) -> Store:
        """The inventory, opened on first use. Every command that opens it first marks the
        runs whose runner died interrupted (a live run of another process is never touched)."""
        if self._store is None:
            from backends.inventory.run_owners import reap_stale_runs

            self._store = Store(self.url)
            reap_stale_runs(self._store)
        return self._store

    def settings(self) -> Settings:
        """The config file and ``PATCHDECK_*`` variables, read on first use (only the commands
        that use a setting read them, so a broken file does not stop ``machine list``)."""
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def known_hosts_files(self) -> list[Path]:
        """patchdeck's own known_hosts, then ``--known-hosts`` or ``$PATCHDECK_KNOWN_HOSTS``."""
        files = [own_known_hosts(self.url)]
        extra = self.known_hosts or os.environ.get("PATCHDECK_KNOWN_HOSTS")
        if extra:
            files.append(Path(extra).expanduser())
        return files

    def host_keys(self, accept_new: bool = False) -> HostKeys:
        """The SSH host keys this command trusts, and where it records new ones."""
        from backends.transports.known_hosts import HostKeys

        own, *extra = self.known_hosts_files()
        return HostKeys(own, extra, accept_new=accept_new)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
