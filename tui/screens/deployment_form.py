"""The deployment builder: name, targets in stages, classifications, include and exclude
patterns, reboot option, window, concurrency, max failures, gate, pre and post commands, the
schedule (none, once at a time, or every occurrence of an RFC 5545 rule moved by an offset, in a
time zone) and the notify command.

Every value is checked as it is typed by the service's own checks
(``backends.inventory.deployment_options``), and a bad one shows the service's message right
under its field. Saving goes through ``create_deployment`` / ``edit_deployment`` in a worker (the
targets are resolved there: an unknown one is named under the targets). The screen closes with
the deployment's name.

The schedule is checked as the CLI's ``--at`` / ``--every`` / ``--offset`` / ``--tz`` are
(``backends.engine.schedule.build_schedule``), its error under the field at fault, and the next
5 occurrences are previewed under it as it is typed. Editing shows a deployment's schedule and
keeps it exactly as it is (the time it was set included) unless a schedule field changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from backends.engine.schedule import (
    AT_EXAMPLE,
    EVERY_EXAMPLE,
    build_schedule,
    format_offset,
    local_text,
    machine_zone,
    next_occurrences,
)
from backends.inventory.deployment_options import (
    ALL_CLASSIFICATIONS,
    DEFAULTS,
    GATES,
    NO_CLASSIFICATION,
    REBOOT_OPTIONS,
    DeploymentOptions,
    build_options,
    check_command,
    check_concurrency,
    check_deployment_name,
    check_max_failures,
    check_patterns,
    check_window,
)
from backends.inventory.deployments import Deployment, create_deployment, edit_deployment
from backends.inventory.errors import AlreadyExists, AmbiguousName, InventoryError, NotFound
from backends.inventory.schedules import Schedule
from backends.inventory.validation import FieldError
from tui.deck import DeckApp
from tui.safe import neutralise, plain

# a FieldError's field -> the form's field that shows it
FIELD_OF = {
    "name": "name",
    "target": "targets",
    "stage": "targets",
    "classification": "classifications",
    "include": "include",
    "exclude": "exclude",
    "reboot": "reboot",
    "window": "window",
    "concurrency": "concurrency",
    "max-failures": "max-failures",
    "gate": "gate",
    "pre": "pre",
    "post": "post",
    "at": "when",
    "every": "when",
    "schedule": "when",
    "offset": "offset",
    "tz": "tz",
    "notify": "notify",
}
SCHEDULE_FIELDS = ("when", "offset", "tz")
# the schedule's kinds: none (run by hand), once (--at), every (--every)
NONE, AT, EVERY = "none", "at", "every"
KINDS = ((NONE, "none: run by hand"), (AT, "once, at a time"), (EVERY, "every (RRULE)"))
OCCURRENCES = 5
# what each typed field is checked with as it changes
CHECKS: dict[str, Callable[[str], object]] = {
    "name": check_deployment_name,
    "include": lambda v: check_patterns("include", split(v)),
    "exclude": lambda v: check_patterns("exclude", split(v)),
    "window": check_window,
    "concurrency": check_concurrency,
    "max-failures": check_max_failures,
    "pre": lambda v: check_command("pre", v),
    "post": lambda v: check_command("post", v),
    "notify": lambda v: check_command("notify", v),
}
LABELS = {
    "name": "Name",
    "targets": "Targets",
    "classifications": "Classes",
    "include": "Include",
    "exclude": "Exclude",
    "reboot": "Reboot",
    "window": "Window",
    "concurrency": "Concurrency",
    "max-failures": "Max failures",
    "gate": "Gate",
    "pre": "Pre",
    "post": "Post",
    "schedule": "Schedule",
    "when": "When",
    "offset": "Offset",
    "tz": "Zone",
    "notify": "Notify",
}
HINTS = {
    "targets": "machines and groups, comma-separated; ; between stages (the first goes first)",
    "include": "globs on id, package, KB or advisory (space-separated); only these when no "
    "class is ticked",
    "window": "30m to 6h; the last 20m are kept for reboots",
    "max-failures": "N machines or P%; 0 stops starting machines at the first failure",
    "offset": "moves each occurrence (wall time): +3d, -12h, 1d12h",
    "tz": "an IANA name: Europe/Berlin, UTC",
    "notify": "run here, the event as JSON on stdin: run ended, failures, gate, missed",
}
WHEN_HINTS = {
    AT: AT_EXAMPLE.replace("--tz", "the zone"),
    EVERY: f"RFC 5545, in the zone's wall time: {EVERY_EXAMPLE} is Patch Tuesday 22:00",
}


def split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def stages_of(text: str) -> list[list[str]]:
    """``web-1, web-2; prod`` as stages of target names."""
    return [[n.strip() for n in stage.split(",") if n.strip()] for stage in text.split(";")]


def stages_text(stages: Sequence[Sequence[str]]) -> str:
    return "; ".join(", ".join(stage) for stage in stages)


@dataclass(frozen=True, slots=True)
class ScheduleFields:
    """The schedule as the builder's fields hold it."""

    kind: str = NONE
    when: str = ""
    offset: str = ""
    tz: str = ""

    @classmethod
    def of(cls, schedule: Schedule | None, zone: str) -> ScheduleFields:
        if schedule is None:
            return cls(tz=zone)
        if schedule.at is not None:
            local = schedule.at.astimezone(ZoneInfo(schedule.tz))
            return cls(AT, local.isoformat(timespec="minutes"), "", schedule.tz)
        offset = format_offset(schedule.offset) if schedule.offset else ""
        return cls(EVERY, schedule.rrule or "", offset, schedule.tz)

    def build(self, now: datetime) -> Schedule | None:
        """The schedule these fields say, checked by the service (:class:`FieldError` naming
        ``at``, ``every``, ``offset`` or ``tz``); ``None`` for none."""
        if self.kind == NONE:
            return None
        every = self.kind == EVERY
        return build_schedule(
            None,
            at=None if every else self.when,
            every=self.when if every else None,
            offset=(self.offset.strip() or None) if every else None,
            tz=self.tz.strip() or None,
            now=now,
        )


@dataclass(frozen=True, slots=True)
class Prefill:
    """What a new deployment starts with (from the machines' or the updates' marks)."""

    targets: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    classifications: tuple[str, ...] | None = None  # None: the defaults


class DeploymentForm(Screen[str | None]):
    TITLE = "Deployment"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, deployment: Deployment | None = None, prefill: Prefill = Prefill()) -> None:
        super().__init__()
        self.deployment = deployment
        self.prefill = prefill
        self.sub_title = f"edit {deployment.name}" if deployment else "new deployment"
        schedule = deployment.schedule if deployment is not None else None
        # what the schedule fields start with: saved again only when one of them changes
        self.initial_schedule = ScheduleFields.of(schedule, "" if schedule else machine_zone())

    # layout -----------------------------------------------------------------------------

    def _values(self) -> tuple[str, str, DeploymentOptions]:
        d = self.deployment
        if d is not None:
            stages = [[t.name for t in stage] for stage in d.stages]
            return d.name, stages_text(stages), d.options
        p = self.prefill
        classifications = (
            DEFAULTS.classifications if p.classifications is None else p.classifications
        )
        options = DeploymentOptions(classifications=classifications, include=p.include)
        return "", ", ".join(p.targets), options

    def compose(self) -> ComposeResult:
        name, targets, options = self._values()
        yield Header()
        with VerticalScroll(id="builder"):
            yield from self._row("name", self._input("name", name, disabled=bool(self.deployment)))
            yield from self._row("targets", self._input("targets", targets))
            boxes = [
                Checkbox(
                    c.replace("_", " "),
                    c in options.classifications,
                    id=f"class-{c}",
                    compact=True,
                )
                for c in ALL_CLASSIFICATIONS
            ]
            yield from self._row("classifications", Horizontal(*boxes, id="field-classifications"))
            yield from self._row("include", self._input("include", " ".join(options.include)))
            yield from self._row("exclude", self._input("exclude", " ".join(options.exclude)))
            yield from self._row("reboot", self._select("reboot", REBOOT_OPTIONS, options.reboot))
            yield from self._row("window", self._input("window", options.window))
            yield from self._row(
                "concurrency", self._input("concurrency", str(options.concurrency))
            )
            yield from self._row("max-failures", self._input("max-failures", options.max_failures))
            yield from self._row("gate", self._select("gate", GATES, options.gate))
            yield from self._row("pre", self._input("pre", options.pre_command or ""))
            yield from self._row("post", self._input("post", options.post_command or ""))
            first = self.initial_schedule
            yield from self._row("schedule", self._select("schedule", KINDS, first.kind))
            with Vertical(id="schedule-fields"):
                yield from self._row("when", self._input("when", first.when))
                with Vertical(id="offset-field"):
                    yield from self._row("offset", self._input("offset", first.offset))
                yield from self._row("tz", self._input("tz", first.tz))
                yield Static("", id="schedule-preview")
            notify = self.deployment.notify if self.deployment else None
            yield from self._row("notify", self._input("notify", notify or ""))
            yield Static("", id="builder-error")
            with Horizontal(id="builder-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)
        yield Footer()

    def _row(self, field: str, widget: Widget) -> ComposeResult:
        with Horizontal(classes="builder-row"):
            yield Label(LABELS[field], classes="builder-label")
            yield widget
        if field in HINTS or field == "when":
            yield Static(HINTS.get(field, ""), id=f"hint-{field}", classes="field-hint")
        yield Static("", id=f"error-{field}", classes="field-error")

    def _input(self, field: str, value: str, *, disabled: bool = False) -> Input:
        return Input(neutralise(value), id=f"field-{field}", compact=True, disabled=disabled)

    def _select(
        self, field: str, choices: Sequence[str | tuple[str, str]], value: str
    ) -> Select[str]:
        pairs = [(c, c) if isinstance(c, str) else (c[1], c[0]) for c in choices]
        return Select(pairs, value=value, allow_blank=False, id=f"field-{field}", compact=True)

    def on_mount(self) -> None:
        first = "#field-targets" if self.deployment else "#field-name"
        self.query_one(first, Input).focus()
        self._show_kind()
        self._check_schedule()

    # values -----------------------------------------------------------------------------

    def text(self, field: str) -> str:
        return self.query_one(f"#field-{field}", Input).value

    def choice(self, field: str) -> str:
        value = self.query_one(f"#field-{field}", Select).value
        return value if isinstance(value, str) else ""

    def schedule_fields(self) -> ScheduleFields:
        return ScheduleFields(
            self.choice("schedule") or NONE, self.text("when"), self.text("offset"), self.text("tz")
        )

    def schedule_changes(self) -> dict[str, Any]:
        """What ``create_deployment`` / ``edit_deployment`` take for the schedule: nothing when
        editing and no schedule field changed (the schedule is kept as it is)."""
        fields = self.schedule_fields()
        if self.deployment is not None and fields == self.initial_schedule:
            return {}
        schedule = fields.build(self.deck_app.deck.clock())
        if schedule is None:
            return {"clear_schedule": True} if self.deployment is not None else {}
        return {"schedule": schedule}

    @property
    def deck_app(self) -> DeckApp:
        return cast(DeckApp, self.app)

    def classifications(self) -> list[str]:
        ticked = [c for c in ALL_CLASSIFICATIONS if self.query_one(f"#class-{c}", Checkbox).value]
        return ticked or [NO_CLASSIFICATION]

    def option_values(self) -> dict[str, Any]:
        return {
            "classifications": self.classifications(),
            "include": split(self.text("include")) or [""],
            "exclude": split(self.text("exclude")) or [""],
            "reboot": self.choice("reboot"),
            "window": self.text("window"),
            "concurrency": self.text("concurrency"),
            "max_failures": self.text("max-failures"),
            "gate": self.choice("gate"),
            "pre_command": self.text("pre"),
            "post_command": self.text("post"),
        }

    # errors, where they belong ------------------------------------------------------------

    def show_error(self, field: str, text: str | None) -> None:
        error = self.query_one(f"#error-{field}", Static)
        error.update(plain(text or "", wrap=True))
        error.set_class(bool(text), "-shown")
        widgets = self.query(f"#field-{field}")
        if widgets and isinstance(widgets.first(), Input):
            widgets.first().set_class(bool(text), "-invalid")

    def _fail(self, error: Exception) -> None:
        """Show ``error`` under the field it is about (the name when it says nothing more)."""
        if isinstance(error, FieldError):
            field = FIELD_OF.get(error.field, "name")
        elif isinstance(error, (NotFound, AmbiguousName)):
            field = "targets"
        else:
            field = "name" if isinstance(error, AlreadyExists) else ""
        if not field:
            self.query_one("#builder-error", Static).update(plain(str(error), wrap=True))
            return
        self.show_error(field, str(error))
        widgets = self.query(f"#field-{field}")
        if widgets:
            widgets.first().focus()

    @on(Input.Changed)
    def _check(self, event: Input.Changed) -> None:
        field = (event.input.id or "").removeprefix("field-")
        check = CHECKS.get(field)
        if field == "targets":
            self.show_error("targets", None)
        if field in SCHEDULE_FIELDS:
            self._check_schedule()
        if check is None:
            return
        try:
            check(event.value)
        except FieldError as exc:
            self.show_error(field, str(exc))
        else:
            self.show_error(field, None)

    # the schedule ---------------------------------------------------------------------------

    @on(Select.Changed, "#field-schedule")
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_kind()
        self._check_schedule()

    def _show_kind(self) -> None:
        kind = self.choice("schedule")
        self.query_one("#schedule-fields").set_class(kind not in (AT, EVERY), "-none")
        self.query_one("#offset-field").set_class(kind != EVERY, "-none")
        self.query_one("#hint-when", Static).update(WHEN_HINTS.get(kind, ""))

    def _check_schedule(self) -> None:
        """Check the schedule as typed: the service's error under its field, else the next
        occurrences under the schedule."""
        for field in SCHEDULE_FIELDS:
            self.show_error(field, None)
        preview = self.query_one("#schedule-preview", Static)
        fields = self.schedule_fields()
        if fields.kind == NONE:
            preview.update("")
            return
        now = self.deck_app.deck.clock()
        try:
            schedule = fields.build(now)
        except FieldError as exc:
            self.show_error(FIELD_OF.get(exc.field, "when"), str(exc))
            preview.update("")
            return
        if schedule is None:
            preview.update("")
            return
        upcoming = next_occurrences(schedule, now, OCCURRENCES)
        lines = [local_text(when, schedule.tz) for when in upcoming]
        head = "once:" if schedule.at is not None else f"next {len(lines)}:"
        text = "\n".join(f"{head if i == 0 else '':<8}{line}" for i, line in enumerate(lines))
        preview.update(plain(text or "no occurrence after now", wrap=True))

    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _check_choices(self) -> None:
        try:
            build_options(**self.option_values())
        except FieldError as exc:
            if FIELD_OF.get(exc.field) in ("classifications", "reboot", "gate"):
                self.show_error("classifications", str(exc))
                return
        self.show_error("classifications", None)

    # saving -----------------------------------------------------------------------------

    def action_save(self) -> None:
        self.query_one("#builder-error", Static).update("")
        try:
            name = (
                self.deployment.name
                if self.deployment
                else check_deployment_name(self.text("name"))
            )
            options = build_options(**self.option_values())
            schedule = self.schedule_changes()
            notify = check_command("notify", self.text("notify"))
        except FieldError as exc:
            self._fail(exc)
            return
        self._save(name, stages_of(self.text("targets")), options, schedule, notify)

    @work(thread=True, group="form", exclusive=True, exit_on_error=False, name="saving")
    def _save(
        self,
        name: str,
        stages: list[list[str]],
        options: DeploymentOptions,
        schedule: dict[str, Any],
        notify: str | None,
    ) -> str:
        store = self.deck_app.deck.store
        if self.deployment is None:
            return create_deployment(store, name, stages, options, notify=notify, **schedule).name
        values = self.option_values()
        return edit_deployment(
            store, name, stages=stages, notify=notify or "", **schedule, **values
        ).name

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "form":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, str):
            self.dismiss(event.worker.result)
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, (InventoryError, FieldError)):
                self._fail(error)
            else:
                self.log.error(f"saving a deployment failed: {error!r}")
                self._fail(RuntimeError(f"could not save: {error!r}"))

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
