"""The groups view: every computer group with how many machines it holds now, and beside the
list the group under the cursor (its query or machines, and the machines it resolves to).

``n`` makes a dynamic group (a query, its matches previewed as it is typed), ``m`` a static one
(machines picked with marks), ``e`` edits the group under the cursor, ``d`` deletes it (asks,
Cancel focused). Dynamic groups are counted by the database each time the list is read.
``/`` filters the list (name, kind, query or machines), ``o``/``O`` sort it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Static

from backends.inventory.errors import InventoryError, QueryError
from backends.inventory.groups import (
    STATIC,
    Group,
    GroupSummary,
    delete_group,
    group_machines,
    list_groups,
)
from tui.actions import GROUPS, bindings
from tui.format import plural
from tui.modals.confirm import Confirm
from tui.modals.group_form import GroupForm
from tui.modals.static_group_form import StaticGroupForm
from tui.safe import neutralise, plain
from tui.screens.sorting import ColumnSort, FilteredList
from tui.widgets.list_table import Column, ListTable

FOLLOW = 0.2  # seconds between two looks at which row the cursor is on
MEMBERS_SHOWN = 200
COLUMNS = [
    Column("name", "Name", 24),
    Column("kind", "Kind", 7),
    Column("count", "Machines", 8),
    Column("definition", "Query or machines", 60),
]


SORTS = (
    ColumnSort("name", "name", lambda s: s.group.name),
    ColumnSort("kind", "kind", lambda s: (s.group.kind, s.group.name)),
    ColumnSort("count", "machines", lambda s: (s.count or -1, s.group.name), descending=True),
    ColumnSort("definition", "query or machines", lambda s: (definition(s.group), s.group.name)),
)


@dataclass
class GroupsLoaded(Message):
    groups: list[GroupSummary]


@dataclass
class MembersLoaded(Message):
    group: str
    names: list[str]
    error: str | None = None


@dataclass
class GroupDeleted(Message):
    name: str
    error: str | None = None


def definition(group: Group) -> str:
    """A dynamic group's query; a static group's machines."""
    if group.kind != STATIC:
        return group.query or ""
    return ", ".join(group.machines) if group.machines else "(no machines left)"


class GroupsScreen(FilteredList):
    SORTS = SORTS
    TABLE = "#groups"
    FILTER_HINT = "filter: name, kind, query or machine"
    VIEW = GROUPS
    TITLE = "Groups"
    AUTO_FOCUS = "#groups"
    BINDINGS: ClassVar[list[BindingType]] = bindings(GROUPS)

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, GroupSummary] = {}  # every group, by name
        self._shown: str | None = None  # the group the side panel is about
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield self.filter_box()
            yield self.list_table()
            with Vertical(id="group-side", classes="side"):
                yield Static("", id="group-about")
                yield Static("", id="group-members")
        yield Static("loading…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(FOLLOW, self._follow_cursor)
        self.load()

    def on_screen_resume(self) -> None:
        if self._loaded:  # back from another view or a form: read again
            self.load()

    # loading ----------------------------------------------------------------------------

    @work(thread=True, group="groups", exclusive=True, exit_on_error=False, name="groups")
    def load(self) -> None:
        self.post_message(GroupsLoaded(list_groups(self.deck.store, self.deck.clock())))

    def on_groups_loaded(self, message: GroupsLoaded) -> None:
        self._loaded = True
        self.rows = {s.group.name: s for s in message.groups}
        self._show_rows()
        self._shown = None
        self._follow_cursor()
        self.refresh_bindings()

    def haystack(self, row: GroupSummary) -> str:
        group = row.group
        return f"{group.name} {group.kind} {definition(group)}"

    def _show_rows(self) -> None:
        shown = self.rows_shown(self.rows)
        table = self.query_one("#groups", ListTable)
        with self.app.batch_update():
            table.replace_rows(COLUMNS, [(name, self.cells(self.rows[name])) for name in shown])
            self._show_status(len(shown))

    def cells(self, summary: GroupSummary) -> tuple[Text, ...]:
        group = summary.group
        if summary.count is None:
            count = Text("error", style="bold", justify="right")
        else:
            count = Text(str(summary.count), justify="right")
        return (plain(group.name), plain(group.kind), count, plain(definition(group)))

    def _show_status(self, shown: int) -> None:
        if self.rows:
            text = self.list_status(shown, len(self.rows), "group")
            if not self.filter_text:
                text += " · n new dynamic · m new static"
        else:
            text = "no groups yet: n makes a dynamic group (a query), m a static one (machines)"
        self.query_one("#status", Static).update(plain(text))

    # the side panel ---------------------------------------------------------------------

    def current(self) -> GroupSummary | None:
        key = self.query_one("#groups", ListTable).current_key()
        return self.rows.get(key) if key is not None else None

    def _follow_cursor(self) -> None:
        summary = self.current()
        name = summary.group.name if summary else None
        if name == self._shown:
            return
        self._shown = name
        about = self.query_one("#group-about", Static)
        members = self.query_one("#group-members", Static)
        if summary is None:
            about.update("")
            members.update("")
            return
        group = summary.group
        lines = [f"{group.name} ({group.kind})"]
        if group.kind != STATIC:
            lines.append(f"query: {group.query or ''}")
        if summary.error:
            lines.append(f"error: {summary.error}")
        about.update(plain("\n".join(lines), wrap=True))
        members.update(plain("reading its machines…"))
        self._members(group)

    @work(thread=True, group="group-members", exclusive=True, exit_on_error=False, name="members")
    def _members(self, group: Group) -> None:
        try:
            machines = group_machines(self.deck.store, group, self.deck.clock())
        except QueryError as exc:
            self.post_message(MembersLoaded(group.name, [], exc.message))
            return
        self.post_message(MembersLoaded(group.name, [m.name for m in machines]))

    def on_members_loaded(self, message: MembersLoaded) -> None:
        if message.group != self._shown:
            return  # the cursor moved on meanwhile
        members = self.query_one("#group-members", Static)
        if message.error:
            members.update(plain(message.error, wrap=True))
            return
        names = message.names
        head = f"{plural(len(names), 'machine')} now" + (":" if names else "")
        more = len(names) - MEMBERS_SHOWN
        body = "\n".join(names[:MEMBERS_SHOWN]) + (f"\n… and {more} more" if more > 0 else "")
        members.update(plain(f"{head}\n{body}".rstrip(), wrap=True))

    # actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        if action in ("edit_group", "delete_group"):
            return bool(self.rows)
        return True

    def action_refresh(self) -> None:
        self.load()

    def action_new_group(self) -> None:
        self.app.push_screen(GroupForm(), self._saved)

    def action_new_static_group(self) -> None:
        self.app.push_screen(StaticGroupForm(), self._saved)

    def action_edit_group(self) -> None:
        summary = self.current()
        if summary is None:
            return
        group = summary.group
        form = StaticGroupForm(group) if group.kind == STATIC else GroupForm(group)
        self.app.push_screen(form, self._saved)

    def _saved(self, name: str | None) -> None:
        if name is not None:
            self.notify(neutralise(f"saved group {name}"), markup=False)
            self.load()

    def action_delete_group(self) -> None:
        summary = self.current()
        if summary is None:
            return
        group = summary.group
        count = "?" if summary.count is None else str(summary.count)

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(group.name)

        self.app.push_screen(
            Confirm(
                f"Delete the group {group.name} ({group.kind}, {count} machines now)?",
                "Delete",
                detail="Its machines stay in the inventory.",
            ),
            answered,
        )

    @work(thread=True, group="group-delete", exit_on_error=False, name="deleting a group")
    def _delete(self, name: str) -> None:
        try:
            delete_group(self.deck.store, name)
        except InventoryError as exc:
            self.post_message(GroupDeleted(name, str(exc)))
            return
        self.post_message(GroupDeleted(name))

    def on_group_deleted(self, message: GroupDeleted) -> None:
        if message.error:
            self.notify(neutralise(message.error), severity="error", timeout=10, markup=False)
        else:
            self.notify(neutralise(f"deleted group {message.name}"), markup=False)
        self.load()

    @on(ListTable.RowSelected, "#groups")
    def _clicked(self) -> None:
        if self.deck.allows("edit_group"):
            self.action_edit_group()
