"""ListTable: it draws only the rows on screen, lays cells out as DataTable does, moves like
one, and its filter never loses a keystroke."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.renderables.styled import Styled
from textual.widgets import Input

from tests.console_helpers import screen_text
from tui.widgets.list_table import CellLayout, Column, ListTable

pytestmark = pytest.mark.timeout(60)

ROWS = 10_000
COLUMNS = [Column("name", "Name"), Column("count", "Count"), Column("note", "Note", 12)]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.asked: Counter[str] = Counter()  # how often each row's cells were asked for
        self.versions: dict[str, int] = {}
        self.headers: list[str] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield Input(id="filter")
        yield ListTable(id="table", filter_box="#filter")

    def cells(self, key: str) -> Sequence[Text]:
        self.asked[key] += 1
        version = self.versions.get(key, 0)
        return (
            Text(f"host-{key}"),
            Text(str(int(key) % 97), justify="right"),
            Text(f"v{version}", style="bold"),
        )

    def on_mount(self) -> None:
        table = self.query_one(ListTable)
        keys = [str(i) for i in range(ROWS)]
        table.show_rows(COLUMNS, keys, self.cells, [len(f"host-{ROWS}"), 2, 3])
        table.focus()

    def on_list_table_header_selected(self, event: ListTable.HeaderSelected) -> None:
        self.headers.append(event.column)

    def on_list_table_row_selected(self, event: ListTable.RowSelected) -> None:
        self.selected.append(event.key)


async def test_only_the_rows_on_screen_are_drawn() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(ListTable)
        assert table.row_count == ROWS
        assert set(app.asked) == {str(i) for i in range(len(app.asked))}
        assert len(app.asked) < 25  # a screenful, not 10,000 rows
        assert "host-0 " in screen_text(app) and "host-30 " not in screen_text(app)

        await pilot.press("end")
        assert table.current_key() == str(ROWS - 1)
        assert f"host-{ROWS - 1}" in screen_text(app)
        assert len(app.asked) < 50

        # a changed row is asked for again, and only it
        before = dict(app.asked)
        app.versions[str(ROWS - 2)] = 1
        table.refresh_rows([str(ROWS - 2), "5"])  # "5" is not on screen: nothing to draw
        await pilot.pause()
        assert app.asked - Counter(before) == Counter({str(ROWS - 2): 1})
        assert "v1" in screen_text(app)

        # a row changed while off screen shows its new cells when it scrolls in
        app.versions["5"] = 2
        table.refresh_rows(["5"])
        await pilot.press("home")
        assert table.current_key() == "0" and table.scroll_y == 0
        await pilot.pause()
        assert "host-5 " in screen_text(app) and "v2" in screen_text(app)
        await pilot.press("pagedown", "down", "up", "up")
        assert table.cursor_row == table.scrollable_content_region.height - 1 - 1


async def test_clicks_select_a_header_move_the_cursor_and_open_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(ListTable)
        await pilot.click(ListTable, offset=(table.column_x("count") + 1, 0))
        await pilot.click(ListTable, offset=(table.column_x("note") + 2, 0))
        await pilot.click(ListTable, offset=(1, 3))  # the third row: the cursor goes there
        await pilot.pause()
        assert app.headers == ["count", "note"] and table.current_key() == "2"
        assert app.selected == []
        await pilot.click(ListTable, offset=(1, 3))  # again: it is opened
        await pilot.pause()
        assert app.selected == ["2"]
        assert table.get_row_at(2)[0].plain == "host-2"


async def test_keys_typed_with_the_filter_key_go_into_the_box() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"web")  # in one burst: none goes to the table
        box = app.query_one(Input)
        assert app.focused is box and box.value == "web"
        assert app.query_one(ListTable).current_key() == "0"


def _by_rich(cell: Text, width: int, styles: tuple[Style, Style, Style], meta: Style) -> Any:
    """What DataTable does with a cell (textual/widgets/_data_table.py, _render_cell)."""
    row_style, component, post = styles
    app = App[None]()
    options = app.console_options.update_dimensions(width + 2, 1).update(no_wrap=True)
    styled = Styled(Padding(cell, (0, 1)), pre_style=row_style + meta + component, post_style=post)
    return list(Segment.simplify(app.console.render_lines(styled, options)[0]))


@pytest.mark.parametrize(
    "cell",
    [
        Text("web-01"),
        Text(""),
        Text("", justify="right"),
        Text("", style="dim"),
        Text("12", justify="right", style="bold red"),
        Text("12  ", justify="right"),
        Text("a name far too long for its column"),
        Text("long and right-justified text", justify="right"),
        Text("never", style="dim"),
        Text("warn", style="#ffa62b"),
        Text("ünïcödé wide 日本"),
        Text("tab\there"),
        Text("[bold]literal\\x1b"),
        Text.assemble(("two", "bold"), " styles"),
        Text("linked", style="link https://example.org"),
        Text("centred", justify="center"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("cursor", [False, True], ids=["row", "cursor"])
async def test_cells_are_laid_out_as_datatable_lays_them_out(cell: Text, cursor: bool) -> None:
    async with App[None]().run_test() as pilot:
        row_style = Style.parse("#e0e0e0 on #1e1e1e")
        component = Style.parse("bold #000000 on #ffa62b") if cursor else Style()
        post = Style.from_color(component.color, component.bgcolor)
        styles = (row_style, component, post)
        meta = Style.from_meta({"row": 3, "column": 1})
        layout = CellLayout(pilot.app, *styles)
        for width in (1, 4, 12):
            assert layout.cell(cell, width, meta) == _by_rich(cell, width, styles, meta), width
