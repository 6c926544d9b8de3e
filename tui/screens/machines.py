"""The machines view: every machine in the inventory, filterable with ``/``."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from backends.inventory.machines import count_machines, list_machines
from backends.inventory.records import Machine
from backends.inventory.store import Store
from tui.messages import MachinesLoaded
from tui.safe import plain
from tui.widgets.list_table import ListTable

COLUMNS = (
    ("name", "Name"),
    ("address", "Address"),
    ("os", "OS"),
    ("environment", "Env"),
    ("tags", "Tags"),
)


def _cells(machine: Machine) -> tuple[Text, ...]:
    address = f"{machine.address}:{machine.port}" if machine.port else machine.address
    os_text = " ".join(filter(None, (machine.distro, machine.version))) or machine.os_family
    tags = " ".join(f"{k}={v}" for k, v in machine.tags)
    return (
        plain(machine.name),
        plain(address),
        plain(os_text),
        plain(machine.environment or ""),
        plain(tags),
    )


class MachinesScreen(Screen[None]):
    AUTO_FOCUS = "#machines"
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="body"):
            # Not select_on_focus: keys typed in the same burst as `/` must not be replaced.
            yield Input(
                placeholder="filter: name, address or tag", id="filter", select_on_focus=False
            )
            yield ListTable(id="machines", filter_box="#filter")
            yield Static("loading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.load("")

    @work(thread=True, group="machines", exclusive=True, exit_on_error=False)
    def load(self, text: str) -> None:
        machines = list_machines(self.store, text or None)
        total = len(machines) if not text else count_machines(self.store)
        self.post_message(MachinesLoaded(machines, text, total))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.log.error(f"worker {event.worker.name} failed: {error!r}")
            self.notify(f"could not read the inventory: {error}", severity="error", timeout=10)

    def on_machines_loaded(self, message: MachinesLoaded) -> None:
        if message.filter_text != self.filter_text:
            return  # an older keystroke's answer
        table = self.query_one("#machines", ListTable)
        with self.app.batch_update():
            table.replace_rows(COLUMNS, [(str(m.id), _cells(m)) for m in message.machines])
        status = self.query_one("#status", Static)
        if message.filter_text:
            status.update(
                plain(
                    f"{len(message.machines)} of {message.total} machines match "
                    f"{message.filter_text!r}   esc clears"
                )
            )
        elif message.total:
            status.update(f"{message.total} machine{'s' if message.total != 1 else ''}")
        else:
            status.update("no machines yet: add some with `patchdeck machine add` or `import`")

    def action_filter(self) -> None:
        self.query_one("#machines", ListTable).open_filter()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.query_one("#machines", DataTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.load(self.filter_text)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#machines", DataTable).focus()
