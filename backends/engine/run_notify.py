"""What a runner tells the operator's notify command: the run ended, it crossed its failure
threshold, or it waits at a manual gate (:mod:`backends.engine.notify` has the events).

Commands run in threads beside the run and never hold it up or fail it; the runner waits for
the ones still running (each has its own time limit) before it exits, so none is cut short.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from backends.engine.notify import NOTIFY_TIMEOUT, make_event, notify_async

log = logging.getLogger(__name__)


class RunNotifier:
    def __init__(
        self,
        command: str | None,
        deployment: str | None,
        run_id: int,
        timeout: float = NOTIFY_TIMEOUT,
    ) -> None:
        self.command = command
        self.deployment = deployment or "(deleted)"
        self.run_id = run_id
        self.timeout = timeout
        self._sent: list[asyncio.Task[bool]] = []

    def send(self, kind: str, **fields: Any) -> None:
        """Start telling the command about ``kind`` (nothing when there is no command)."""
        if not self.command:
            return
        event = make_event(kind, self.deployment, run_id=self.run_id, **fields)
        self._sent.append(asyncio.create_task(notify_async(self.command, event, self.timeout)))

    async def drain(self) -> None:
        """Wait for the commands still running (each stops within its own time limit)."""
        pending, self._sent = self._sent, []
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
