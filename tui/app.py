"""The patchdeck console (Textual): views as modes, one registry of actions, scans in workers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from backends.engine.events import ScanSummary
from backends.inventory.location import sqlite_path
from backends.inventory.machines import get_machines, list_machines
from backends.inventory.store import Store
from tui.actions import (
    DASHBOARD,
    DEPLOYMENTS,
    GROUPS,
    MACHINES,
    RUN,
    RUNS,
    UPDATES,
    VIEW_TITLES,
    VIEWS,
    Action,
    Registry,
    bindings,
)
from tui.commands import ActionsProvider
from tui.deck import Clock, ConsoleSettings, Deck, utc_now
from tui.modals.confirm import Confirm
from tui.modals.jump import JumpPrompt
from tui.modals.password import PasswordPrompt
from tui.passwords import Answer
from tui.safe import neutralise
from tui.screens.dashboard import DashboardScreen
from tui.screens.deployments import DeploymentsScreen
from tui.screens.groups import GroupsScreen
from tui.screens.help import HelpScreen
from tui.screens.machines import MachinesScreen
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen, live_runs_text
from tui.screens.updates import UpdatesScreen
from tui.screens.view import View, report_failure

SCAN_GROUP = "scan"


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    asked: int
    results: dict[str, ScanSummary]


class PatchdeckApp(App[int]):
    TITLE = "patchdeck"
    CSS_PATH: ClassVar[list[str | PurePath]] = [
        "styles/app.tcss",
        "styles/deployments.tcss",
        "styles/runs.tcss",
    ]
    MODES: ClassVar[dict[str, Any]] = {
        DASHBOARD: DashboardScreen,
        MACHINES: MachinesScreen,
        UPDATES: UpdatesScreen,
        GROUPS: GroupsScreen,
        DEPLOYMENTS: DeploymentsScreen,
        RUNS: RunsScreen,
        RUN: RunScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = bindings(None)
    COMMANDS = App.COMMANDS | {ActionsProvider}

    def __init__(
        self,
        store: Store,
        *,
        settings: ConsoleSettings | None = None,
        clock: Clock | None = None,
        known_hosts: Sequence[Path] = (),
        first_view: str = DASHBOARD,
    ) -> None:
        super().__init__()
        registry = Registry(settings.keys if settings is not None else None)
        self.deck = Deck(store, registry, clock or utc_now, known_hosts)
        if settings is not None:
            self.deck.concurrency = max(1, settings.concurrency)
            if settings.reduced_motion:
                self.animation_level = "none"
            self.deck.read_only = settings.read_only
        self.settings = settings
        self.deck.passwords.asker = self._ask_password
        self.first_view = first_view
        self._history: list[str] = []

    @property
    def store(self) -> Store:
        return self.deck.store

    def on_mount(self) -> None:
        self.sub_title = _describe(self.store.url) + (" (read-only)" if self.deck.read_only else "")
        if self.settings is not None and self.settings.theme:
            if self.settings.theme in self.available_themes:
                self.theme = self.settings.theme
            else:
                self.notify(
                    f"theme {self.settings.theme!r} does not exist; "
                    f"themes: {', '.join(sorted(self.available_themes))}",
                    severity="warning",
                    markup=False,
                )
        if self.deck.registry.overrides:
            self.set_keymap(self.deck.registry.keymap())
        self.switch_mode(self.first_view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # `?` and `:` are text in a text box
        return not (action in ("help", "jump") and isinstance(self.focused, Input))

    # views ------------------------------------------------------------------------------

    def view_of(self, screen: Screen[Any] | None = None) -> str | None:
        """The registry's name for ``screen`` (the current one by default)."""
        screen = self.screen if screen is None else screen
        return screen.VIEW if isinstance(screen, View) else None

    def action_view(self, name: str) -> None:
        self.show_view(name)

    def show_view(self, name: str) -> None:
        if name not in VIEWS or name == self.current_mode:
            return
        self._history.append(self.current_mode)
        self.switch_mode(name)

    def show_run(self, run_id: int) -> None:
        """Open run ``run_id`` in the run view, which follows it through the database."""
        self.deck.run_shown = run_id
        if self.current_mode == RUN:
            for screen in self.screen_stack:
                if isinstance(screen, RunScreen):
                    screen.follow(run_id)
            return
        self._history.append(self.current_mode)
        self.switch_mode(RUN)

    def go_back(self) -> None:
        """``esc`` at the top of a view: the view before it, if any."""
        while self._history:
            previous = self._history.pop()
            if previous in VIEWS and previous != self.current_mode:
                self.switch_mode(previous)
                return

    def action_jump(self) -> None:
        def chosen(view: str | None) -> None:
            if view is not None:
                self.show_view(view)

        self.push_screen(JumpPrompt(VIEWS), chosen)

    def action_help(self) -> None:
        view = self.view_of()
        registry = self.deck.registry

        def rows(actions: list[Action]) -> list[tuple[str, str]]:
            return [
                (self.get_key_display(Binding(registry.key(a), "")), a.description) for a in actions
            ]

        own = [
            a
            for a in registry.for_view(view)
            if a.views and self._runs_here(a, self.screen) and self.deck.allows(a.action)
        ]
        everywhere = [a for a in registry.for_view(view) if not a.views]
        title = VIEW_TITLES.get(view or "", "console")
        self.push_screen(HelpScreen(title, rows(own), rows(everywhere)))

    # the palette ------------------------------------------------------------------------

    @staticmethod
    def _runs_here(action: Action, screen: Screen[Any] | type[Screen[Any]]) -> bool:
        name = action.action.split("(", 1)[0]
        return hasattr(screen, f"action_{name}")

    def can_run(self, action: Action, screen: Screen[Any]) -> bool:
        """Whether the palette can run ``action`` from ``screen`` (here, or in another view)."""
        if not self.deck.allows(action.action.split("(", 1)[0]):
            return False
        if not action.views:
            return True
        if self.view_of(screen) in action.views:
            return self._runs_here(action, screen)
        return any(v in VIEWS and self._runs_here(action, self.MODES[v]) for v in action.views)

    async def run_registry_action(self, action: Action, screen: Screen[Any]) -> None:
        """Run ``action`` as its key would: on ``screen`` if it belongs there, else in the first
        view that has it."""
        if not action.views:
            await self.run_action(action.action)
            return
        if self.view_of(screen) not in action.views or not screen.is_attached:
            where = next(v for v in action.views if v in VIEWS)
            if where != self.current_mode:
                self._history.append(self.current_mode)
                await self.switch_mode(where)
            screen = self.screen
            if self.view_of(screen) not in action.views:
                screen = self.screen_stack[0]
        await self.run_action(action.action, screen)

    # work and quitting ------------------------------------------------------------------

    def start_scan(self, ids: Sequence[int] | None, what: str) -> None:
        """Scan the machines with these ids (every machine for ``None``) in a worker; views
        follow it through the scanner."""
        self.run_worker(
            self._scan(None if ids is None else list(ids)),
            group=SCAN_GROUP,
            name=f"scan of {what}",
            description=f"scan of {what}",
            exit_on_error=False,
        )

    async def _scan(self, ids: list[int] | None) -> ScanOutcome:
        store = self.deck.store
        if ids is None:
            machines = await asyncio.to_thread(list_machines, store)
        else:
            machines = await asyncio.to_thread(get_machines, store, ids)
        scanner = self.deck.scanner
        todo = scanner.claim(machines)
        if not todo:
            return ScanOutcome(asked=len(machines), results={})
        results = await scanner.scan(todo)
        return ScanOutcome(asked=len(machines), results=results)

    async def _ask_password(self, name: str, user: str | None) -> Answer | None:
        """The password prompt, for a scan that needs a WinRM password nothing else gave."""
        answered: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()

        def done(answer: Answer | None) -> None:
            if not answered.done():
                answered.set_result(answer)

        self.push_screen(PasswordPrompt(name, user), done)
        return await answered

    def running_work(self) -> str | None:
        """What would be lost by quitting now, in words; ``None`` when nothing runs."""
        scans = [
            w
            for w in self.workers
            if w.group == SCAN_GROUP and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
        ]
        if not scans:
            return None
        progress = self.deck.scanner.progress
        return f"a scan is running ({progress.done} of {progress.total} machines done)"

    async def action_quit(self) -> None:
        busy = self.running_work()
        runs = await asyncio.to_thread(live_runs_text, self.store)
        if busy is None and runs is None:
            await self._leave()
            return
        if busy is None and runs is not None:
            await self._quit_leaving_runs(runs)
            return
        assert busy is not None

        async def answered(yes: bool | None) -> None:
            if yes:
                self.workers.cancel_group(self, SCAN_GROUP)
                await self._leave()

        self.push_screen(
            Confirm(
                f"{busy[0].upper()}{busy[1:]}. Quit anyway?",
                "Quit",
                detail="It stops; machines already scanned stay recorded."
                + (f" ({runs}: that goes on without the console.)" if runs else ""),
            ),
            answered,
        )

    async def _quit_leaving_runs(self, runs: str) -> None:
        """A run goes on without the console: say so before quitting."""

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._leave()

        self.push_screen(
            Confirm(
                f"{runs[0].upper()}{runs[1:]}. Quit the console?",
                "Quit",
                detail="Quitting does not stop a run: its runner goes on. Follow it again "
                "from the history (6) or with `patchdeck run follow`.",
            ),
            answered,
        )

    async def _leave(self) -> None:
        await self.deck.scanner.close()
        self.exit(0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is WorkerState.ERROR:
            report_failure(self, worker)
        elif event.state is WorkerState.SUCCESS and isinstance(worker.result, ScanOutcome):
            self._scan_finished(worker.result)
        elif event.state is WorkerState.CANCELLED and worker.group == SCAN_GROUP:
            self.notify("scan cancelled; machines already scanned are recorded")

    def _scan_finished(self, outcome: ScanOutcome) -> None:
        results = outcome.results
        if not results:
            self.notify("those machines are being scanned already")
            return
        failed = sorted(name for name, summary in results.items() if not summary.ok)
        text = f"scan finished: {len(results)} machines, {len(results) - len(failed)} ok"
        if failed:
            listed = ", ".join(failed[:3]) + (
                f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            )
            text += f", {len(failed)} failed ({listed})"
        self.notify(neutralise(text), severity="warning" if failed else "information", markup=False)


def _describe(url: str) -> str:
    """The inventory, as the header shows it: a file path with ``~`` for home."""
    path = sqlite_path(url)
    if path is None:
        return url.split("@")[-1] if "@" in url else url  # no user or password on screen
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def run_console(
    url: str, *, known_hosts: Sequence[Path] = (), settings: ConsoleSettings | None = None
) -> int:
    store = Store(url)
    try:
        result = PatchdeckApp(store, known_hosts=known_hosts, settings=settings).run()
    finally:
        store.close()
    return result or 0
