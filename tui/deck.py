"""What every view of the console shares: the inventory, the keys, the clock, the scanner.

Views reach it as ``self.deck`` (see :mod:`tui.screens.view`); nothing here is Textual.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from backends.engine.defaults import SCAN_CONCURRENCY, SCAN_TIMEOUT
from backends.inventory.location import own_known_hosts
from backends.inventory.store import Store
from tui import ssh_session
from tui.actions import Registry
from tui.passwords import Passwords
from tui.scanning import Scanner

if TYPE_CHECKING:
    from backends.transports.known_hosts import HostKeys

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConsoleSettings(Protocol):
    """What the console takes from the settings (``tui.settings.Settings`` has it all)."""

    @property
    def keys(self) -> Mapping[str, str]: ...

    @property
    def theme(self) -> str | None: ...

    @property
    def reduced_motion(self) -> bool: ...

    @property
    def concurrency(self) -> int: ...

    @property
    def read_only(self) -> bool: ...


@dataclass
class Deck:
    store: Store
    registry: Registry = field(default_factory=Registry)
    clock: Clock = utc_now
    known_hosts: Sequence[Path] = ()  # patchdeck's own file first, then extra trusted files
    concurrency: int = SCAN_CONCURRENCY
    scan_timeout: float = SCAN_TIMEOUT
    # read-only mode: actions that change machines or definitions are hidden and refused
    read_only: bool = False
    # how the console runs ssh on the terminal (tests put a recorder here)
    run_interactive: Callable[[Sequence[str]], Awaitable[int]] = ssh_session.run_interactive
    # the run the run view follows (``show_run`` sets it)
    run_shown: int | None = None

    def __post_init__(self) -> None:
        if not self.known_hosts:
            self.known_hosts = default_known_hosts(self.store.url)
        self._host_keys: HostKeys | None = None
        # WinRM passwords typed into the console (the app gives it its prompt)
        self.passwords = Passwords()
        self.scanner = Scanner(
            self.store,
            self.host_keys,
            lambda: self.concurrency,
            self.scan_timeout,
            self.passwords,
        )

    def allows(self, action: str) -> bool:
        """Whether the action called ``action`` may run now (read-only mode refuses changes)."""
        return not (self.read_only and self.registry.changes(action))

    def host_keys(self) -> HostKeys:
        """The SSH host keys the console trusts; it records new ones in the first file."""
        if self._host_keys is None:
            from backends.transports.known_hosts import HostKeys

            own, *extra = self.known_hosts
            self._host_keys = HostKeys(own, extra)
        return self._host_keys


def default_known_hosts(url: str) -> list[Path]:
    """patchdeck's own known_hosts, then ``$PATCHDECK_KNOWN_HOSTS`` (as the CLI does)."""
    files = [own_known_hosts(url)]
    extra = os.environ.get("PATCHDECK_KNOWN_HOSTS")
    if extra:
        files.append(Path(extra).expanduser())
    return files


class DeckApp(Protocol):
    """What views ask of the app (``tui.app.PatchdeckApp``), without importing it."""

    @property
    def deck(self) -> Deck: ...

    def go_back(self) -> None: ...

    def show_view(self, name: str) -> None: ...

    def show_run(self, run_id: int) -> None: ...

    def start_scan(self, ids: Sequence[int] | None, what: str) -> None: ...
