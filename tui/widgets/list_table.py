"""A table of rows keyed by database id, drawn a line at a time, with a `/` filter that never
loses a keystroke.

- **Only what is on screen is drawn.** Rows are keys; their cells are asked for when a row is
  drawn (``show_rows`` takes a function from key to cells), and a drawn line is kept until its
  row changes (``refresh_rows``), the rows are replaced or the table's look changes (focus,
  theme, width). Showing 10,000 rows costs what showing a screenful does; so does changing one
  row while 10,000 are shown. (Textual's ``DataTable`` builds every row up front, and any change
  to a cell drops every cached line: textual#6457.)
- **Columns are sized by their content**, measured by the caller (``show_rows``: the widest cell
  of each column, which the caller knows without building every cell) or here
  (``replace_rows``), never wider than the column's ``max_width``; every row is one line.
- **The filter never loses a keystroke.** Textual hands each key to the widget focused when the
  key arrives. An operator typing ``/web`` in one burst would lose ``web`` to the table if ``/``
  were an ordinary binding: the focus moves to the filter box only after those keys were already
  given to the table. So the table opens the filter itself, in its own key handler, and passes
  on the printable keys that reach it while the box has focus.
- It looks and moves like a ``DataTable`` with a row cursor and zebra stripes (the same component
  styles, under this widget's names): ``up``/``down``, ``pageup``/``pagedown``, ``home``/``end``
  (first and last row), ``left``/``right`` scroll; a click moves the cursor, a click on the
  cursor's row posts :class:`ListTable.RowSelected`, a click on a header
  :class:`ListTable.HeaderSelected`. ``enter`` is not the table's: the screen binds it (open the
  row), so that it can be remapped and shows in the footer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size, Spacing, clamp
from textual.message import Message
from textual.renderables.styled import Styled
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input

MAX_COLUMN_WIDTH = 48
PADDING = 1  # cells on each side of every column
HEADER = -1  # the row index of the header line

Cells = Callable[[str], Sequence[Text]]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    max_width: int = MAX_COLUMN_WIDTH


class ListTable(ScrollView, can_focus=True, inherit_bindings=False):
    ALLOW_SELECT = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first_row", "First row", show=False),
        Binding("end,ctrl+end", "last_row", "Last row", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "list-table--cursor",
        "list-table--hover",
        "list-table--header",
        "list-table--header-hover",
        "list-table--odd-row",
        "list-table--even-row",
    }
    # DataTable's look (textual/widgets/_data_table.py), under this widget's names
    DEFAULT_CSS = """
    ListTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .list-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .list-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .list-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .list-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .list-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .list-table--odd-row {
        }
        & > .list-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .list-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .list-table--header-hover {
            background: $accent 30%;
        }
        & > .list-table--hover {
            background: $block-hover-background;
        }
    }
    """

    class RowSelected(Message):
        """The row under the cursor was clicked."""

        def __init__(self, table: ListTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> ListTable:
            return self.table

    class CursorMoved(Message):
        """The cursor moved to another row (by a key, a click or the program)."""

        def __init__(self, table: ListTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> ListTable:
            return self.table

    class HeaderSelected(Message):
        """A column's header was clicked."""

        def __init__(self, table: ListTable, column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> ListTable:
            return self.table

    def __init__(
        self, *, filter_box: str, id: str | None = None, filter_keys: Sequence[str] = ("slash",)
    ) -> None:
        super().__init__(id=id)
        self.filter_box = filter_box
        self.filter_keys = tuple(filter_keys)
        self.columns: list[Column] = []
        self._widths: list[int] = []  # each column's content width (padding not included)
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._cells: Cells = lambda key: ()
        self._eager: dict[str, Sequence[Text]] = {}  # replace_rows: the cells it was given
        self._revisions: dict[str, int] = {}  # how often each row changed since shown
        self._generation = 0  # how often the rows were replaced
        self._lines: LRUCache[tuple[object, ...], Strip] = LRUCache(512)
        self._pseudo_state: object = None
        self._styles: dict[str, Style] = {}  # component styles, until focus or theme change
        self._metas: LRUCache[tuple[int, int | None], Style] = LRUCache(2048)
        self.cursor_row = 0
        self._hover_row: int | None = None
        self._show_hover = False  # the mouse moved since the keyboard last moved the cursor

    # the rows -----------------------------------------------------------------------------

    def replace_rows(
        self,
        columns: Sequence[Column | tuple[str, str]],
        rows: Sequence[tuple[str, Sequence[Text]]],
    ) -> None:
        """Show exactly ``rows`` (key, cells), columns sized to their content; the cursor
        stays on the row it was on if that row is still shown."""
        specs = [c if isinstance(c, Column) else Column(*c) for c in columns]
        widths = [0] * len(specs)
        for _, cells in rows:
            for i, cell in enumerate(cells):
                widths[i] = max(widths[i], cell.cell_len)
        eager = dict(rows)
        self.show_rows(specs, [key for key, _ in rows], eager.__getitem__, widths)
        self._eager = eager

    def show_rows(
        self,
        columns: Sequence[Column],
        keys: Sequence[str],
        cells: Cells,
        widths: Sequence[int],
    ) -> None:
        """Show the rows ``keys``, in that order, whose cells ``cells`` gives when a row is
        drawn; ``widths``: the widest cell of each column. The cursor stays on the row it was
        on if that row is still shown."""
        current = self.current_key()
        cursor = self.cursor_row
        self._eager = {}
        self.columns = list(columns)
        self._widths = [
            max(len(c.label), min(width, c.max_width))
            for c, width in zip(self.columns, widths, strict=True)
        ]
        self._keys = list(keys)
        self._index = {key: i for i, key in enumerate(self._keys)}
        self._cells = cells
        self._revisions.clear()
        self._generation += 1
        self._lines.clear()
        self._hover_row = None
        self.virtual_size = Size(self._table_width(), len(self._keys) + 1)
        self.scroll_to(0, 0, animate=False, force=True, immediate=True)
        if current is not None and current in self._index:
            cursor = self._index[current]
        self.cursor_row = 0
        self.move_cursor(cursor)
        self.refresh()

    def refresh_rows(self, keys: Iterable[str] | None = None) -> None:
        """The cells of these rows (of every row, without ``keys``) changed: draw them again
        when they are next shown."""
        if keys is None:
            self._generation += 1
            self._lines.clear()
            self.refresh()
            return
        # Only rows on screen are drawn again now (a row off screen is drawn from its new
        # revision when it scrolls in): refreshing a line costs Textual far more than a check.
        top = int(self.scroll_y)
        bottom = top + max(1, self.size.height)
        for key in keys:
            row = self._index.get(key)
            if row is not None:
                self._revisions[key] = self._revisions.get(key, 0) + 1
                if top - 1 <= row <= bottom:
                    self._refresh_row(row)

    def update_cell(self, key: str, column: str, value: Text) -> None:
        """Change one cell of a row given to ``replace_rows``."""
        cells = list(self._eager[key])
        cells[[c.key for c in self.columns].index(column)] = value
        self._eager[key] = cells
        self.refresh_rows([key])

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> Sequence[str]:
        """The keys of the rows shown, in order."""
        return self._keys

    def get_row(self, key: str) -> list[Text]:
        """The cells of the row ``key``."""
        return list(self._cells(key))

    def get_row_at(self, index: int) -> list[Text]:
        """The cells of the row at ``index`` (0: the first row)."""
        return self.get_row(self._keys[index])

    def current_key(self) -> str | None:
        """The key of the row under the cursor, if there is one."""
        if 0 <= self.cursor_row < len(self._keys):
            return self._keys[self.cursor_row]
        return None

    def column_x(self, column: str) -> int:
        """Where the column ``column`` starts (its padding included), in the table's lines."""
        x = 0
        for spec, width in zip(self.columns, self._widths, strict=True):
            if spec.key == column:
                return x
            x += width + 2 * PADDING
        raise KeyError(column)

    # the cursor ---------------------------------------------------------------------------

    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        """Put the cursor on the row at ``row`` (within the rows), and show it."""
        row = clamp(row, 0, max(0, len(self._keys) - 1))
        if row != self.cursor_row:
            self._refresh_row(self.cursor_row)
            self.cursor_row = row
            self._refresh_row(row)
            self.post_message(self.CursorMoved(self, self.current_key()))
        if scroll:
            if self.size.height:
                self._scroll_cursor_into_view()
            else:  # not laid out yet
                self.call_after_refresh(self._scroll_cursor_into_view)

    def _scroll_cursor_into_view(self) -> None:
        width = max(self.size.width, self._table_width())
        region = Region(int(self.scroll_x), self.cursor_row + 1, width, 1)
        self.scroll_to_region(
            region, spacing=Spacing(1, 0, 0, 0), animate=False, force=True, immediate=True
        )

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        self._keyboard()
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._keyboard()
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self._keyboard()
        self.scroll_relative(y=-self._page(), animate=False, force=True, immediate=True)
        self.move_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self._keyboard()
        self.scroll_relative(y=self._page(), animate=False, force=True, immediate=True)
        self.move_cursor(self.cursor_row + self._page())

    def action_first_row(self) -> None:
        self._keyboard()
        self.move_cursor(0)

    def action_last_row(self) -> None:
        self._keyboard()
        self.move_cursor(len(self._keys) - 1)

    def _keyboard(self) -> None:
        """The keyboard moves the cursor: the mouse's row is no longer shown."""
        if self._show_hover:
            self._show_hover = False
            if self._hover_row is not None:
                self._refresh_row(self._hover_row)

    # the mouse ----------------------------------------------------------------------------

    def _row_at(self, event: events.MouseEvent) -> tuple[int, int] | None:
        """The row (``HEADER`` for the header) and the table's x under the mouse."""
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        row = HEADER if offset.y == 0 else int(self.scroll_y) + offset.y - 1
        if row >= len(self._keys):
            return None
        return row, int(self.scroll_x) + offset.x

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        found = self._row_at(event)
        self._set_hover(None if found is None else found[0])

    def _on_leave(self, _: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, row: int | None) -> None:
        if row == self._hover_row and self._show_hover:
            return
        for old in (self._hover_row, row):
            if old is not None:
                self._refresh_row(old)
        self._hover_row = row
        self._show_hover = row is not None

    async def _on_click(self, event: events.Click) -> None:
        found = self._row_at(event)
        if found is None:
            return
        row, x = found
        event.stop()
        if row == HEADER:
            column = self._column_at(x)
            if column is not None:
                self.post_message(self.HeaderSelected(self, column))
        elif row == self.cursor_row:
            self.post_message(self.RowSelected(self, self._keys[row]))
        else:
            self.move_cursor(row)

    def _column_at(self, x: int) -> str | None:
        start = 0
        for spec, width in zip(self.columns, self._widths, strict=True):
            start += width + 2 * PADDING
            if x < start:
                return spec.key
        return None

    # drawing ------------------------------------------------------------------------------

    def _table_width(self) -> int:
        return sum(self._widths) + 2 * PADDING * len(self._widths)

    def _refresh_row(self, row: int) -> None:
        self.refresh_line(row + 1)
        if row == HEADER:
            self.refresh(Region(0, 0, self.size.width, 1))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()  # the theme changed
        self._styles.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        state = self.get_pseudo_class_state()
        if state != self._pseudo_state:  # focus came or went
            self._pseudo_state = state
            self._styles.clear()
        return super().render_lines(crop)

    def _style(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self._styles[component] = self.get_component_rich_style(component)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        row = HEADER if y == 0 else y - 1 + scroll_y
        if row >= len(self._keys) or not self.columns:
            return Strip.blank(width, self.rich_style)
        key = self._keys[row] if row != HEADER else None
        cursor = row == self.cursor_row and row != HEADER
        hover = self._show_hover and row == self._hover_row
        cache_key = (
            row,
            key,
            self._revisions.get(key, 0) if key is not None else 0,
            self._generation,
            cursor,
            hover,
            width,
            scroll_x,
            self._pseudo_state,
        )
        strip = self._lines.get(cache_key)
        if strip is None:
            strip = self._row_strip(row, key, cursor, hover)
            if scroll_x or strip.cell_length != width:
                strip = strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)
            self._lines[cache_key] = strip
        return strip

    def _row_strip(self, row: int, key: str | None, cursor: bool, hover: bool) -> Strip:
        """The whole line of ``row`` (at least as wide as the widget), as DataTable draws it."""
        if key is None:
            row_style = self._style("list-table--header")
            cells: Sequence[Text] = [Text(c.label, no_wrap=True) for c in self.columns]
        else:
            row_style = self._style("list-table--odd-row" if row % 2 else "list-table--even-row")
            cells = self._cells(key)
        component = Style()
        if hover:
            component += self._style("list-table--hover")
            if key is None:
                component += self._style("list-table--header-hover")
        if cursor:
            component += self._style("list-table--cursor")
        # the cursor's colours win over the cells' own (DataTable's "css" cursor priority)
        post = Style.from_color(component.color, component.bgcolor)
        layout = CellLayout(self.app, row_style, component, post)
        segments: list[Segment] = []
        for column, (cell, width) in enumerate(zip(cells, self._widths, strict=True)):
            # where each cell is rides along, as in DataTable (and keeps cells' segments apart)
            segments.extend(layout.cell(cell, width, self._meta(row, column)))
        table_width = self._table_width()
        room = max(0, self.size.width - table_width)
        beyond = self._meta(row, None)
        segments.append(Segment(" " * room, row_style + component + beyond))
        return Strip(segments, table_width + room)

    def _meta(self, row: int, column: int | None) -> Style:
        """Where a cell is (``None``: beyond the last column), as DataTable says it; the same
        object each time, so that Rich's cache of style sums serves every frame."""
        meta = self._metas.get((row, column))
        if meta is None:
            where = {"row": row, "column": column if column is not None else 0}
            if column is None:
                where["out_of_bounds"] = True
            meta = self._metas[(row, column)] = Style.from_meta(where)
        return meta

    # the filter ---------------------------------------------------------------------------

    def open_filter(self) -> None:
        box = self.screen.query_one(self.filter_box, Input)
        box.add_class("-shown")
        self.screen.set_focus(box)  # now, not on the next message

    def on_key(self, event: events.Key) -> None:
        box = self.screen.query_one(self.filter_box, Input)
        if self.screen.focused is box and event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
        elif event.key in self.filter_keys:
            self.open_filter()
        else:
            return
        event.stop()
        event.prevent_default()


class CellLayout:
    """Lays out the cells of one line as DataTable does: each cell is
    ``Styled(Padding(cell, (0, PADDING)), row + meta + component, post)`` rendered on one line
    without wrapping, where ``meta`` says where the cell is, and a cell's segments of equal
    style are merged (DataTable simplifies its lines; meta keeps cells apart).

    A cell of printable ASCII text in one style without a link (most cells) is laid out here
    as Rich would lay it out; any other goes through Rich."""

    def __init__(self, app: App[Any], row_style: Style, component: Style, post: Style) -> None:
        self.app = app
        self.row_style, self.component, self.post = row_style, component, post
        self.edge = row_style + component + post  # the same for every row: Rich caches it
        self._inner: dict[Style, Style] = {}

    def cell(self, cell: Text, width: int, meta: Style) -> list[Segment]:
        text = cell.plain
        own = self.app.console.get_style(cell.style) if cell.style else None
        if (
            cell.spans
            or cell.justify not in (None, "default", "right")
            or cell.overflow not in (None, "fold", "crop")
            or not (text.isascii() and text.isprintable())
            or (own is not None and own.link)
        ):
            return self._by_rich(cell, width, meta)
        # meta last: it sets only what no other style here sets
        edge = self.edge + meta
        if own is None:
            inner = edge
        else:
            base = self._inner.get(own)
            if base is None:
                base = self._inner[own] = self.row_style + self.component + own + self.post
            inner = edge if base == self.edge else base + meta
        side = " " * PADDING
        if cell.justify == "right":  # Rich strips the right, crops, pads the left in its style
            text = text.rstrip()[:width]
            text = " " * (width - len(text)) + text
            if inner is edge:
                return [Segment(side + text + side, edge)]
            return [Segment(side, edge), Segment(text, inner), Segment(side, edge)]
        text = text[:width]
        pad = " " * (width - len(text)) + side  # Rich pads the line outside the text
        if inner is edge or not text:
            return [Segment(side + text + pad, edge)]
        return [Segment(side, edge), Segment(text, inner), Segment(pad, edge)]

    def _by_rich(self, cell: Text, width: int, meta: Style) -> list[Segment]:
        app = self.app
        options = app.console_options.update_dimensions(width + 2 * PADDING, 1)
        pre = self.row_style + meta + self.component
        styled = Styled(Padding(cell, (0, PADDING)), pre_style=pre, post_style=self.post)
        lines = app.console.render_lines(styled, options.update(no_wrap=True))
        return list(Segment.simplify(lines[0]))
