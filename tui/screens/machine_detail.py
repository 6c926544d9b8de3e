"""One machine: its facts, tags, the updates it misses (classification, severity, advisories,
versions, source) and, when its last scan failed, why, in words."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Grid, Vertical
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from backends.inventory.machines import get_machines
from backends.inventory.records import CLASSIFICATIONS, Machine, Update
from backends.inventory.scans import machine_updates
from tui.actions import MACHINE, bindings
from tui.cli.output import winrm_summary
from tui.format import age, os_name, plural, yes_no
from tui.messages import MachineLoaded
from tui.safe import neutralise, plain
from tui.scanning import QUEUED
from tui.screens.machine_actions import MachineActions

TICK = 0.25
ORDER = ("critical", "security", *CLASSIFICATIONS["windows"][2:], "other")
LIVE = {QUEUED: "waiting to be scanned", "connecting": "connecting…", "scanning": "scanning…"}
UPDATE_COLUMNS = ("Class", "Severity", "Update", "Installed", "Available", "Advisories", "Source")


def _unchecked(machine: Machine) -> bool:
    return machine.winrm_https and not machine.winrm_verify_cert


def _fact_classes(machine: Machine, label: str) -> str:
    """A WinRM machine whose HTTPS certificate is not checked shows it as a warning."""
    return "fact-warning" if label == "winrm" and _unchecked(machine) else ""


def _order(update: Update) -> tuple[int, str]:
    c = update.classification
    return (ORDER.index(c) if c in ORDER else len(ORDER), update.name)


class MachineGone(Exception):
    pass


class MachineDetailScreen(MachineActions):
    VIEW = MACHINE
    TITLE = "Machine"
    BINDINGS: ClassVar[list[BindingType]] = bindings(MACHINE)

    def __init__(self, machine_id: int, name: str) -> None:
        super().__init__()
        self.machine_id = machine_id
        self.machine_name = name
        self.machine: Machine | None = None
        self.sub_title = name
        self._changed: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="detail"):
            yield Grid(id="facts")
            yield Static("", id="detail-state")
            yield Static("", id="detail-missing")
            yield DataTable(id="machine-updates", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#machine-updates", DataTable).add_columns(*UPDATE_COLUMNS)
        self._changed = self.deck.scanner.watch()
        self.set_interval(TICK, self._flush)
        self.load()

    @work(thread=True, group="machine", exclusive=True, exit_on_error=False, name="reading")
    def load(self) -> None:
        store = self.deck.store
        found = get_machines(store, [self.machine_id])
        if not found:
            raise MachineGone(f"{self.machine_name} is no longer in the inventory")
        updates = [u for _, u in machine_updates(store, self.machine_id)]
        self.post_message(MachineLoaded(found[0], sorted(updates, key=_order)))

    def on_machine_loaded(self, message: MachineLoaded) -> None:
        m = message.machine
        self.machine = m
        self.machine_name = m.name
        self.sub_title = m.name
        now = self.deck.clock()
        scan = "never"
        if m.last_scan_at is not None:
            scan = f"{age(m.last_scan_at, now)} ago, {m.last_scan_outcome or '?'}"
        where = f"{m.user + '@' if m.user else ''}{m.address}:{m.port}"
        facts = [
            ("name", m.name),
            ("address", f"{where} ({m.transport})"),
            ("os", f"{os_name(m.os_family, m.distro, m.version)} ({m.os_family})"),
            ("environment", m.environment or "-"),
            ("criticality", m.criticality),
            ("owner / role", f"{m.owner or '-'} / {m.role or '-'}"),
            *(
                [("winrm", winrm_summary(m))]
                if m.transport == "winrm"
                else [("identity", m.identity_file or "agent / ssh config")]
            ),
            ("tags", " ".join(f"{k}={v}" for k, v in m.tags) or "-"),
            ("last scan", scan),
            ("reachable", yes_no(m.reachable)),
            ("reboot pending", yes_no(m.reboot_pending)),
        ]
        grid = self.query_one("#facts", Grid)
        with self.app.batch_update():
            grid.remove_children()
            grid.mount_all(
                w
                for label, value in facts
                for w in (
                    Static(label, classes="fact-label"),
                    Static(plain(value), classes=_fact_classes(m, label)),
                )
            )
            self._show_state()
            self._show_updates(message.updates)

    def _show_state(self) -> None:
        state = self.query_one("#detail-state", Static)
        live = self.deck.scanner.states.get(self.machine_name)
        m = self.machine
        if live is not None:
            state.update(LIVE.get(live, live))
            state.set_classes("-live")
        elif m is not None and m.last_scan_outcome == "failed" and m.last_scan_error:
            text = f"Last scan failed: {m.last_scan_error}"
            if "machine trust" in m.last_scan_error:
                text += "\nHere, t shows the key it presents and trusts it."
            state.update(plain(text, wrap=True))
            state.set_classes("-error")
        elif m is not None and m.transport == "winrm" and _unchecked(m):
            state.update(
                "Warning: this machine's HTTPS certificate is NOT checked; anyone on the "
                "way to it could pose as it and receive its password."
            )
            state.set_classes("-warning")
        else:
            state.update("")
            state.set_classes("")

    def _show_updates(self, updates: list[Update]) -> None:
        table = self.query_one("#machine-updates", DataTable)
        table.clear()
        for u in updates:
            table.add_row(
                plain(u.classification.replace("_", " ")),
                plain(u.severity or ""),
                plain(u.name),
                plain(u.installed or "(new)"),
                plain(u.available or ""),
                plain(" ".join(u.advisories)),
                plain(u.source or ""),
                key=u.platform_id,
            )
        missing = self.query_one("#detail-missing", Static)
        m = self.machine
        if m is None or (m.last_scan_at is None and not updates):
            missing.update("Not assessed yet: s scans it.")
        elif not updates:
            missing.update("Missing no update.")
        else:
            counts = ", ".join(f"{c.replace('_', ' ')} {n}" for c, n in m.missing.items() if n)
            missing.update(plain(f"Missing {plural(len(updates), 'update')}: {counts}"))

    def _flush(self) -> None:
        if self.machine_name not in self._changed:
            self._changed.clear()
            return
        self._changed.clear()
        if self.deck.scanner.in_flight(self.machine_name):
            self._show_state()
        else:
            self.load()

    # MachineActions ---------------------------------------------------------------------

    def target_ids(self) -> list[int]:
        return [self.machine_id]

    def target_names(self) -> list[str]:
        return [self.machine_name]

    def current_id(self) -> int | None:
        return self.machine_id

    def machines_changed(self, removed: list[str]) -> None:
        if self.machine_name in removed:
            self.dismiss()
        else:
            self.load()

    def action_back(self) -> None:
        self.dismiss()

    def action_refresh(self) -> None:
        self.load()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and isinstance(event.worker.error, MachineGone):
            self.notify(neutralise(str(event.worker.error)), severity="warning", markup=False)
            self.dismiss()
            return
        super().on_worker_state_changed(event)
