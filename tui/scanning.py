"""Scans started from the console, and what they have said so far.

The engine's events land here (on the UI loop: the scan runs in an async worker) and only change
memory: a machine's live state, the counts of the scans running, and the names that changed in
each view's own set (:meth:`Scanner.watch`). Views pull from it on a timer, a few times a
second, and refresh only the rows that changed; nothing here touches a widget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backends.engine.events import Event, MachineState, ScanDone, ScanSummary
from backends.inventory.records import Machine
from backends.inventory.store import Store
from tui.passwords import Passwords

if TYPE_CHECKING:
    from backends.engine.connections import ConnectionPool
    from backends.engine.scan import ScanMemory
    from backends.transports.known_hosts import HostKeys

QUEUED = "queued"


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    done: int
    failed: int

    @property
    def running(self) -> bool:
        return self.done < self.total


class Scanner:
    def __init__(
        self,
        store: Store,
        host_keys: Callable[[], HostKeys],
        concurrency: Callable[[], int],
        timeout: float,
        passwords: Passwords | None = None,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self._host_keys = host_keys
        self._concurrency = concurrency
        self.timeout = timeout
        self.states: dict[str, str] = {}  # machines in flight: queued, connecting, scanning
        self.last: dict[str, ScanSummary] = {}  # the last summary of every machine scanned
        self._watchers: list[set[str]] = []
        self._pool: ConnectionPool | None = None
        # kept with the pool: a re-scan does not parse again what a machine repeats
        self._memory: ScanMemory = {}
        self._total = self._done = self._failed = 0

    def watch(self) -> set[str]:
        """A set of machine names that the scanner fills as they change; the caller empties
        it when it has caught up."""
        changed: set[str] = set()
        self._watchers.append(changed)
        return changed

    def _changed(self, name: str) -> None:
        for changed in self._watchers:
            changed.add(name)

    @property
    def progress(self) -> Progress:
        return Progress(self._total, self._done, self._failed)

    def in_flight(self, name: str) -> bool:
        return name in self.states

    def publish(self, event: Event) -> None:
        if isinstance(event, MachineState) and event.machine in self.states:
            self.states[event.machine] = event.state
            self._changed(event.machine)
        elif isinstance(event, ScanDone):
            self.states.pop(event.machine, None)
            self.last[event.machine] = event.summary
            self._done += 1
            self._failed += not event.summary.ok
            self._changed(event.machine)

    def claim(self, machines: Sequence[Machine]) -> list[Machine]:
        """Those of ``machines`` not being scanned already, now queued."""
        if not self.states:  # nothing running: counts start again
            self._total = self._done = self._failed = 0
        todo = [m for m in machines if m.name not in self.states]
        for machine in todo:
            self.states[machine.name] = QUEUED
            self._changed(machine.name)
        self._total += len(todo)
        return todo

    def release(self, machines: Sequence[Machine]) -> None:
        """After a scan that ended early (cancelled, failed): forget what never finished."""
        for machine in machines:
            if self.states.pop(machine.name, None) is not None:
                self._total -= 1
                self._changed(machine.name)

    async def scan(self, machines: Sequence[Machine]) -> dict[str, ScanSummary]:
        """Scan ``machines`` (claimed first) with the engine; their results are recorded as
        they come and their events published here."""
        from backends.engine.connections import ConnectionPool
        from backends.engine.scan import ScanOptions, scan

        if self._pool is None:
            self._pool = ConnectionPool(self._host_keys(), password_source=self.passwords)
        options = ScanOptions(concurrency=self._concurrency(), timeout=self.timeout)
        if self.passwords is not None:
            self.passwords.start_scan()
        try:
            results = await scan(
                self.store, machines, self.publish, self._pool, options, self._memory
            )
        finally:
            self.release(machines)
        if self.passwords is not None:
            self.passwords.settle(
                (n for n, r in results.items() if r.ok), (n for n, r in results.items() if not r.ok)
            )
        return results

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close_all()
            self._pool = None
