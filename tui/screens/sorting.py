"""Sorting a view by one of its columns, and filtering a list, the same way in every view."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from textual import on
from textual.widgets import Input

from tui.format import plural
from tui.screens.view import View
from tui.widgets.list_table import ListTable


class Sort(Protocol):
    @property
    def column(self) -> str: ...

    @property
    def descending(self) -> bool: ...  # the first press sorts this way (counts: most first)


class SortedView:
    """``action_sort`` moves to the next column of ``SORTS``, ``action_reverse`` flips the
    order, and a header click (:meth:`_sort_by` with ``flip``) picks that column, or flips the
    order when it is the current one. The view keeps ``sort`` and ``sort_reverse`` and shows
    them in :meth:`_apply_sort`."""

    SORTS: ClassVar[Sequence[Any]]
    sort: Any
    sort_reverse: bool

    def _apply_sort(self) -> None:
        raise NotImplementedError

    def _sort_by(self, column: str, flip: bool) -> None:
        sort = next((s for s in self.SORTS if s.column == column), None)
        if sort is None:
            return
        if flip and sort is self.sort:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort, self.sort_reverse = sort, sort.descending
        self._apply_sort()

    def action_sort(self) -> None:
        following = self.SORTS[(self.SORTS.index(self.sort) + 1) % len(self.SORTS)]
        self._sort_by(following.column, flip=False)

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._apply_sort()


@dataclass(frozen=True, slots=True)
class ColumnSort:
    """A sort of a list whose rows are plain values: ``key`` of a row (ties keep the order the
    list was read in)."""

    column: str
    label: str
    key: Callable[[Any], Any]
    descending: bool = False  # the first press sorts this way (counts: most first)


class FilteredList(SortedView, View):
    """A list view of one :class:`ListTable` (``TABLE``) with the table's filter box
    (``#filter``): ``/`` opens it (typing goes straight in), each keystroke shows the rows whose
    :meth:`haystack` holds the text, ``enter`` returns to the list, ``esc`` clears it (then goes
    back); ``o``/``O`` and header clicks sort by ``SORTS`` (:class:`SortedView`). The view
    shows its rows in :meth:`_show_rows`, taking them through :meth:`rows_shown`."""

    TABLE: ClassVar[str]
    SORTS: ClassVar[Sequence[ColumnSort]]
    FILTER_HINT: ClassVar[str] = "filter"

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.sort = self.SORTS[0]
        self.sort_reverse = self.sort.descending

    def filter_box(self) -> Input:
        # Not select_on_focus: keys typed in the same burst as `/` must not be replaced.
        return Input(placeholder=self.FILTER_HINT, id="filter", select_on_focus=False)

    def list_table(self) -> ListTable:
        return ListTable(
            id=self.TABLE.removeprefix("#"),
            filter_box="#filter",
            filter_keys=self.deck.registry.keys("filter"),
        )

    def haystack(self, row: Any) -> str:
        """Where the filter looks in ``row``."""
        raise NotImplementedError

    def _show_rows(self) -> None:
        raise NotImplementedError

    def rows_shown(self, rows: Mapping[str, Any]) -> list[str]:
        """The keys of ``rows`` the filter keeps, in the sort order."""
        wanted = self.filter_text.lower()
        kept = [k for k, row in rows.items() if not wanted or wanted in self.haystack(row).lower()]
        key = self.sort.key
        return sorted(kept, key=lambda k: key(rows[k]), reverse=self.sort_reverse)

    def list_status(self, shown: int, total: int, noun: str) -> str:
        """``2 of 5 groups match 'web' · esc clears · by name ▲``."""
        if self.filter_text:
            text = f"{shown} of {plural(total, noun)} match {self.filter_text!r} · esc clears"
        else:
            text = plural(total, noun)
        return f"{text} · by {self.sort.label} {'▼' if self.sort_reverse else '▲'}"

    def _apply_sort(self) -> None:
        self._show_rows()

    def action_filter(self) -> None:
        self.query_one(self.TABLE, ListTable).open_filter()

    def clear_filter(self) -> bool:
        """Clear and close the filter; whether there was one to clear."""
        box = self.query_one("#filter", Input)
        if not (box.value or box.has_class("-shown")):
            return False
        box.value = ""
        box.remove_class("-shown")
        self.query_one(self.TABLE, ListTable).focus()
        return True

    def action_back(self) -> None:
        if not self.clear_filter():
            self.app_go_back()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self._show_rows()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(self.TABLE, ListTable).focus()

    @on(ListTable.HeaderSelected)
    def _header(self, event: ListTable.HeaderSelected) -> None:
        self._sort_by(event.column, flip=True)
