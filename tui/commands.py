"""The command palette (``ctrl+p``): every action of the registry, run where it belongs.

An action of another view switches to that view first; one that needs a row uses the row
under the cursor there, as its key would.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.actions import VIEW_TITLES, VIEWS, Action

if TYPE_CHECKING:
    from tui.app import PatchdeckApp


class ActionsProvider(Provider):
    def _entries(self) -> list[tuple[str, str, Action]]:
        app = cast("PatchdeckApp", self.app)
        view = app.view_of(self.screen)
        entries = []
        for action in app.deck.registry.actions:
            if action.id == "palette" or not app.can_run(action, self.screen):
                continue
            where: str | None = None
            if action.views and view in action.views:
                where = view
            elif action.id == "back":
                continue  # going back from another view means nothing here
            elif action.views:
                where = next(v for v in action.views if v in VIEWS)
            title = f"{VIEW_TITLES[where]}: " if where else ""
            key = app.get_key_display(Binding(app.deck.registry.key(action), ""))
            entries.append((f"{title}{action.description}", f"key {key}", action))
        return entries

    async def discover(self) -> Hits:
        app = cast("PatchdeckApp", self.app)
        for name, help_text, action in self._entries():
            yield DiscoveryHit(
                name, partial(app.run_registry_action, action, self.screen), help=help_text
            )

    async def search(self, query: str) -> Hits:
        app = cast("PatchdeckApp", self.app)
        matcher = self.matcher(query)
        for name, help_text, action in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(app.run_registry_action, action, self.screen),
                    help=help_text,
                )
