"""``t``: the SSH host keys that machines present, fingerprints first; recorded in patchdeck's
own known_hosts only when the operator chooses Trust (Cancel has the focus).

A key that differs from the one trusted before is marked CHANGED and warned about, as
``patchdeck machine trust`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Static
from textual.worker import Worker, WorkerState

from backends.inventory.records import Machine
from backends.transports.known_hosts import HostKeys
from tui.format import plural
from tui.safe import neutralise, plain
from tui.trust import NoHostKey, PresentedKey, TransportError, fetch_presented_key, trust_key

AT_ONCE = 20  # machines asked for their key at the same time


class TrustKeys(ModalScreen[int | None]):
    """Answers how many keys were recorded, or ``None`` when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("left,right", "app.focus_next", "Move", show=False),
    ]

    def __init__(self, machines: Sequence[Machine], keys: HostKeys) -> None:
        super().__init__()
        self.machines = list(machines)
        self.keys = keys
        self.presented: list[PresentedKey] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="trust-box", classes="dialog"):
            yield Static(
                plain(f"Host keys of {plural(len(self.machines), 'machine')}"),
                classes="dialog-title",
            )
            yield DataTable(id="trust-keys", cursor_type="none", show_cursor=False)
            yield Static("asking for the keys…", id="trust-note", classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Trust", id="trust", variant="warning", compact=True, disabled=True)

    def on_mount(self) -> None:
        table = self.query_one("#trust-keys", DataTable)
        table.add_columns("Machine", "Key", "Fingerprint", "")
        self.query_one("#cancel", Button).focus()
        self.fetch()

    @work(group="trust", exclusive=True, exit_on_error=False, name="asking for host keys")
    async def fetch(self) -> list[tuple[Machine, PresentedKey | str]]:
        limit = asyncio.Semaphore(AT_ONCE)

        async def one(machine: Machine) -> tuple[Machine, PresentedKey | str]:
            async with limit:
                try:
                    return machine, await fetch_presented_key(machine, self.keys)
                except (NoHostKey, TransportError) as exc:
                    return machine, str(exc)

        return list(await asyncio.gather(*(one(m) for m in self.machines)))

    def _show(self, found: list[tuple[Machine, PresentedKey | str]]) -> None:
        table = self.query_one("#trust-keys", DataTable)
        warnings: list[str] = []
        failures = 0
        for machine, answer in found:
            if isinstance(answer, str):
                failures += 1
                table.add_row(plain(machine.name), "", plain(answer), plain("failed", "bold"))
                continue
            if answer.trusted:
                state = plain("trusted already")
            else:
                self.presented.append(answer)
                state = plain("CHANGED", "bold reverse") if answer.changed else plain("new")
                warning = answer.warning()
                if warning:
                    warnings.append(f"{answer.machine}: {warning}")
            table.add_row(
                plain(answer.machine), plain(answer.algorithm), plain(answer.fingerprint), state
            )
        note = self.query_one("#trust-note", Static)
        if self.presented:
            lines = [
                f"Trust {plural(len(self.presented), 'key')} above? They go to {self.keys.own}."
            ]
            note.update(plain("\n".join([*warnings, *lines]), wrap=True))
            self.query_one("#trust", Button).disabled = False
        elif failures:
            note.update("No key to trust: the machines above could not be asked.")
        else:
            note.update("Every key above is trusted already.")
        note.set_class(bool(warnings), "-error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "trust":
            return
        if event.state is WorkerState.SUCCESS and worker.name == "asking for host keys":
            self._show(worker.result)  # type: ignore[arg-type]
        elif event.state is WorkerState.SUCCESS:
            self.dismiss(len(self.presented))
        elif event.state is WorkerState.ERROR:
            self.log.error(f"{worker.name} failed: {worker.error!r}")
            note = self.query_one("#trust-note", Static)
            note.update(plain(f"{worker.name} failed: {neutralise(str(worker.error))}", wrap=True))
            note.add_class("-error")

    @work(thread=True, group="trust", exclusive=True, exit_on_error=False, name="recording keys")
    def record(self) -> None:
        for presented in self.presented:
            trust_key(presented, self.keys)

    @on(Button.Pressed, "#trust")
    def _trust(self) -> None:
        self.query_one("#trust", Button).disabled = True
        self.record()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
