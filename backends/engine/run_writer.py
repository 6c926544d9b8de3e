"""The runner's one way to the database: every write in one thread of its own, in order;
transitions committed before their event is published; output gathered and written about
twice a second; the heartbeat; and the operator's requests (cancel, approve) polled.

A write that finds the run no longer this runner's raises
:class:`~backends.inventory.run_journal.LostOwnership`; the runner stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from backends.engine.events import MachineState, OutputLine, Progress, Publish
from backends.inventory import run_journal
from backends.inventory.run_journal import Control, LostOwnership, OutputBatch
from backends.inventory.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """A machine of the run, as the writer addresses it."""

    machine_id: int
    name: str


@dataclass(slots=True)
class _Pending:
    lines: list[str] = field(default_factory=list)
    percent: int | None = None
    item: str | None = None


class RunWriter:
    def __init__(
        self,
        store: Store,
        run_id: int,
        owner: str,
        publish: Publish,
        *,
        flush_every: float = 0.5,
        heartbeat_every: float = 2.0,
        poll_every: float = 0.5,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.owner = owner
        self.publish = publish
        self.flush_every = flush_every
        self.heartbeat_every = heartbeat_every
        self.poll_every = poll_every
        self.control: Control | None = None
        self.lost: LostOwnership | None = None
        self.changed = asyncio.Event()  # set whenever a poll brings something new
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-writer")
        self._pending: dict[Target, _Pending] = {}
        self._stopping = asyncio.Event()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the writer's thread."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except LostOwnership as exc:
            self.lost = exc
            raise

    # -- machines ------------------------------------------------------------------------------

    async def transition(self, target: Target, state: str, detail: str = "", **values: Any) -> None:
        """Commit the machine's new state (its output so far first), then publish it."""
        await self._flush({target})
        await self.call(
            run_journal.update_machine,
            self.store,
            self.run_id,
            self.owner,
            target.machine_id,
            state=state,
            **values,
        )
        self.publish(MachineState(self.run_id, target.name, state, detail))

    async def record(self, target: Target, **values: Any) -> None:
        """Commit other columns of the machine (counts, notes) without a new state."""
        await self.call(
            run_journal.update_machine,
            self.store,
            self.run_id,
            self.owner,
            target.machine_id,
            **values,
        )

    def line(self, target: Target, text: str) -> None:
        """A line the machine printed: written with the next batch, then published."""
        self._pending.setdefault(target, _Pending()).lines.append(text)

    def progress(self, target: Target, percent: float, item: str | None) -> None:
        pending = self._pending.setdefault(target, _Pending())
        pending.percent = int(percent)
        if item:
            pending.item = item

    async def _flush(self, only: set[Target] | None = None) -> None:
        targets = [t for t in self._pending if only is None or t in only]
        if not targets:
            return
        taken = {t: self._pending.pop(t) for t in targets}
        batches = {
            t.machine_id: OutputBatch(tuple(p.lines), p.percent, p.item) for t, p in taken.items()
        }
        await self.call(run_journal.append_output, self.store, self.run_id, self.owner, batches)
        for target, pending in taken.items():
            for text in pending.lines:
                self.publish(OutputLine(self.run_id, target.name, text))
            if pending.percent is not None:
                self.publish(
                    Progress(self.run_id, target.name, float(pending.percent), pending.item or "")
                )

    # -- the run -------------------------------------------------------------------------------

    async def poll(self) -> Control:
        control = await self.call(run_journal.control, self.store, self.run_id)
        if control.owner_id != self.owner or control.state != "running":
            self.lost = LostOwnership(f"run #{self.run_id} is no longer owned by {self.owner}")
            raise self.lost
        if control != self.control:
            self.control = control
            self.changed.set()
        return control

    async def _loop(self, every: float, step: Callable[[], Any]) -> None:
        """``step`` every ``every`` seconds until stopped. A database failure is logged and
        tried again next time (a heartbeat that stays away long enough makes another command
        declare the run interrupted, and the next write finds that out)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), every)
            if self._stopping.is_set():
                return
            try:
                await step()
            except LostOwnership:
                raise
            except Exception:
                log.exception("run %s: the runner's bookkeeping failed; trying again", self.run_id)

    async def _beat(self) -> None:
        await self.call(run_journal.beat, self.store, self.run_id, self.owner)

    @contextlib.asynccontextmanager
    async def running(self, on_lost: Callable[[], object]) -> AsyncIterator[None]:
        """Heartbeat, polling and output batches for as long as the block runs. Ownership
        lost calls ``on_lost``."""

        async def guarded(every: float, step: Callable[[], Any]) -> None:
            try:
                await self._loop(every, step)
            except LostOwnership:
                on_lost()

        tasks = [
            asyncio.create_task(guarded(self.heartbeat_every, self._beat)),
            asyncio.create_task(guarded(self.poll_every, self.poll)),
            asyncio.create_task(guarded(self.flush_every, self._flush)),
        ]
        try:
            yield
        finally:
            self._stopping.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.lost is None:
                with contextlib.suppress(LostOwnership):
                    await self._flush()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
