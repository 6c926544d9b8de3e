"""What every view screen shares: its name in the action registry, the console, failures shown."""

from __future__ import annotations

import logging
from typing import ClassVar, cast

from textual.dom import DOMNode
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.deck import Deck, DeckApp
from tui.safe import neutralise

log = logging.getLogger("patchdeck.console")


class View(Screen[None]):
    VIEW: ClassVar[str]

    @property
    def deck_app(self) -> DeckApp:
        return cast(DeckApp, self.app)

    @property
    def deck(self) -> Deck:
        return self.deck_app.deck

    def app_go_back(self) -> None:
        self.deck_app.go_back()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A registry action this view does not have is not shown (nor run) here; in read-only
        mode, neither is one that changes machines or definitions."""
        return hasattr(self, f"action_{action}") and self.deck.allows(action)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """No silent failures: a worker that fails is a notification and a log line."""
        if event.state is WorkerState.ERROR:
            report_failure(self, event.worker)


def report_failure(node: DOMNode, worker: Worker[object]) -> None:
    error = worker.error
    line = f"worker {worker.name!r} ({worker.group}) failed: {error!r}"
    node.log.error(line)
    log.error(line, exc_info=error)
    what = worker.name or worker.group
    node.app.notify(
        neutralise(f"{what} failed: {error}"),
        title="Error",
        severity="error",
        timeout=15,
        markup=False,
    )
