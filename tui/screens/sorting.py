"""Sorting a view by one of its columns, the same way in every view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol


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
