"""Add or edit a machine: every field checked by ``backends.inventory.validation`` (as
``machine add`` and the imports check them), the first bad one named and focused.

The form saves through the ``save`` function it is given (add or update), in a worker; it
closes with the saved machine, or stays open with the reason it could not save.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from backends.inventory.errors import InventoryError
from backends.inventory.records import CRITICALITIES, OS_FAMILIES, TRANSPORTS, Machine, MachineSpec
from backends.inventory.validation import FieldError, build_spec, check_tags
from tui.safe import neutralise, plain

# field -> the widget holding it (FieldError names the field)
_TEXT_FIELDS = (
    ("name", "Name"),
    ("address", "Address"),
    ("port", "Port"),
    ("user", "User"),
    ("identity", "Identity file"),
    ("tags", "Tags"),
    ("owner", "Owner"),
    ("role", "Role"),
    ("environment", "Environment"),
)
_PLACEHOLDERS = {
    "port": "22 for ssh, 5985 for winrm",
    "identity": "SSH private key (else the agent)",
    "tags": "key=value; key=value",
}
Save = Callable[[MachineSpec], Machine]


class MachineForm(ModalScreen[Machine | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+s", "save", "Save", show=False),
    ]

    def __init__(self, save: Save, machine: Machine | None = None) -> None:
        super().__init__()
        self.save_machine = save
        self.machine = machine

    def _value(self, field: str) -> str:
        m = self.machine
        if m is None:
            return ""
        values = {
            "name": m.name,
            "address": m.address,
            "port": str(m.port) if m.port else "",
            "user": m.user or "",
            "identity": m.identity_file or "",
            "tags": "; ".join(f"{k}={v}" for k, v in m.tags),
            "owner": m.owner or "",
            "role": m.role or "",
            "environment": m.environment or "",
        }
        return values[field]

    def compose(self) -> ComposeResult:
        title = f"Edit {self.machine.name}" if self.machine else "Add a machine"
        with Vertical(id="form-box", classes="dialog"):
            yield Static(plain(title), classes="dialog-title")
            with Grid(id="form-fields"):
                for field, label in _TEXT_FIELDS[:3]:
                    yield from self._text(field, label)
                yield Label("Transport")
                yield Select(
                    [(t, t) for t in TRANSPORTS],
                    value=self.machine.transport if self.machine else "ssh",
                    allow_blank=False,
                    id="field-transport",
                    compact=True,
                )
                yield Label("OS")
                yield Select(
                    [("from transport", "")] + [(o, o) for o in OS_FAMILIES],
                    value=self.machine.os_family if self.machine else "",
                    allow_blank=False,
                    id="field-os",
                    compact=True,
                )
                for field, label in _TEXT_FIELDS[3:]:
                    yield from self._text(field, label)
                yield Label("Criticality")
                yield Select(
                    [(c, c) for c in CRITICALITIES],
                    value=self.machine.criticality if self.machine else "medium",
                    allow_blank=False,
                    id="field-criticality",
                    compact=True,
                )
            yield Static("", id="form-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)

    def _text(self, field: str, label: str) -> ComposeResult:
        yield Label(label)
        yield Input(
            self._value(field),
            placeholder=_PLACEHOLDERS.get(field, ""),
            id=f"field-{field}",
            compact=True,
        )

    def on_mount(self) -> None:
        self.query_one("#field-name", Input).focus()

    def _text_of(self, field: str) -> str:
        return self.query_one(f"#field-{field}", Input).value

    def _choice(self, field: str) -> str:
        value = self.query_one(f"#field-{field}", Select).value
        return value if isinstance(value, str) else ""

    def spec(self) -> MachineSpec:
        """What the form says, checked; raises :class:`FieldError` naming the field."""
        transport = self._choice("transport")
        # The form has no WinRM fields: an edited WinRM machine keeps the ones it has.
        kept = (
            self.machine
            if self.machine and transport == "winrm" == self.machine.transport
            else None
        )
        return build_spec(
            winrm_auth=kept.winrm_auth if kept else None,
            winrm_https=kept.winrm_https if kept else None,
            winrm_verify_cert=kept.winrm_verify_cert if kept else None,
            winrm_ca_file=kept.winrm_ca_file if kept else None,
            name=self._text_of("name"),
            address=self._text_of("address"),
            port=self._text_of("port") or None,
            transport=transport,
            os_family=self._choice("os") or None,
            user=self._text_of("user"),
            identity_file=self._text_of("identity"),
            tags=check_tags(self._text_of("tags")),
            owner=self._text_of("owner"),
            role=self._text_of("role"),
            environment=self._text_of("environment"),
            criticality=self._choice("criticality"),
        )

    def _error(self, text: str, field: str | None = None) -> None:
        error = self.query_one("#form-error", Static)
        error.update(plain(text, wrap=True))
        error.add_class("-error")
        if field is not None:
            widgets = self.query(f"#field-{field}")
            if widgets:
                widgets.first().focus()

    def action_save(self) -> None:
        try:
            spec = self.spec()
        except FieldError as exc:
            self._error(str(exc), exc.field)
            return
        self._save(spec)

    @work(thread=True, group="form", exclusive=True, exit_on_error=False, name="saving")
    def _save(self, spec: MachineSpec) -> Machine:
        return self.save_machine(spec)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "form":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Machine):
            self.dismiss(event.worker.result)
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, InventoryError):
                self._error(str(error), "name")
            else:
                self.log.error(f"saving a machine failed: {error!r}")
                self._error(neutralise(f"could not save: {error!r}"))

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @on(Input.Changed)
    def _typing(self) -> None:
        self.query_one("#form-error", Static).remove_class("-error")

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
