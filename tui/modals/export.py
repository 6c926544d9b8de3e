"""Export a run's report to a file: the format (Markdown for a change ticket, CSV, JSON) and
the path (by default ``run-N.md`` in the current directory). The report is gathered and
written in a worker; the dialog closes with the path written, or stays open saying why it
could not write."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static
from textual.worker import Worker, WorkerState

from backends.inventory.run_report import run_report
from backends.inventory.store import Store
from tui.cli.exits import CliError
from tui.cli.report import _write as write_file
from tui.cli.run_report import FORMATS, SUFFIXES, render
from tui.safe import plain

LABELS = {"md": "Markdown (for a change ticket)", "csv": "CSV (a row per update)", "json": "JSON"}


def default_path(run_id: int, form: str, folder: Path | None = None) -> Path:
    return (folder or Path.cwd()) / f"run-{run_id}{SUFFIXES[form]}"


def export_report(store: Store, run_id: int, form: str, path: Path) -> Path:
    """Write the report of run ``run_id`` to ``path``; the absolute path written."""
    text = render(run_report(store, run_id), form)
    target = path.expanduser().resolve()
    write_file(text, str(target))
    return target


class ExportReport(ModalScreen[Path | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(self, store: Store, run_id: int, folder: Path | None = None) -> None:
        super().__init__()
        self.store = store
        self.run_id = run_id
        self.folder = folder
        self.form = "md"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-box"):
            yield Static(f"Export the report of run #{self.run_id}", classes="dialog-title")
            with RadioSet(id="export-format"):
                for form in FORMATS:
                    yield RadioButton(LABELS[form], value=form == "md", id=f"format-{form}")
            yield Label("File", classes="dialog-hint")
            yield Input(str(default_path(self.run_id, "md", self.folder)), id="export-path")
            yield Static("", id="export-error", classes="dialog-detail -error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Export", id="export", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#export-format", RadioSet).focus()

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        form = (event.pressed.id or "format-md").removeprefix("format-")
        box = self.query_one("#export-path", Input)
        path = Path(box.value)
        if path.suffix == SUFFIXES[self.form]:  # the suffix follows the format
            box.value = str(path.with_suffix(SUFFIXES[form]))
        self.form = form

    @on(Input.Submitted, "#export-path")
    def _submitted(self) -> None:
        self._export()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export":
            self._export()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _export(self) -> None:
        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            self._error("give the file to write the report to")
            return
        self._error("")
        self._write(self.form, Path(value))

    @work(thread=True, group="export", exclusive=True, exit_on_error=False, name="export")
    def _write(self, form: str, path: Path) -> Path:
        return export_report(self.store, self.run_id, form, path)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "export":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Path):
            self.dismiss(event.worker.result)
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            self._error(str(error) if isinstance(error, CliError) else f"failed: {error}")

    def _error(self, text: str) -> None:
        self.query_one("#export-error", Static).update(plain(text, wrap=True))
