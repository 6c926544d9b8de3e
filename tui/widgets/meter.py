"""A horizontal bar: ``value`` of ``total``, as wide as the widget. Its colour is the widget's
``color`` (set in .tcss by class), the empty part the ``meter--empty`` component's."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

FULL = "█"
EMPTY = "░"


class Meter(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"meter--empty"}

    value: reactive[int] = reactive(0)
    total: reactive[int] = reactive(0)

    def __init__(
        self, value: int = 0, total: int = 0, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(Meter.value, value)
        self.set_reactive(Meter.total, total)

    def render(self) -> Text:
        width = self.size.width
        filled = 0
        if self.total > 0 and self.value > 0:
            filled = max(1, round(width * min(self.value, self.total) / self.total))
        empty_style = self.get_component_rich_style("meter--empty")
        bar = Text(FULL * filled, no_wrap=True)
        bar.append(EMPTY * (width - filled), style=empty_style)
        return bar
