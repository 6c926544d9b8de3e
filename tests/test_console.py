"""The machines view, driven by Pilot as an operator drives it: list, `/` filter, sort by key
and by header click, marks, add / edit / remove through the forms, the detail screen, and
remote text shown literally. Assertions are on the screen and in the inventory."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from textual.widgets import Button, DataTable, Input, Static

from backends.inventory.errors import NotFound
from backends.inventory.machine_status import machine_statuses
from backends.inventory.machines import add_machine, get_machine, list_machines
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import record_scans
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.console_helpers import screen_text, settle, wait_for_text
from tests.fleet_data import NOW, fill
from tui.actions import MACHINES
from tui.app import PatchdeckApp
from tui.modals.confirm import Confirm
from tui.modals.machine_form import MachineForm
from tui.screens.machine_detail import MachineDetailScreen
from tui.widgets.list_table import ListTable

pytestmark = pytest.mark.timeout(60)

HOSTILE = "[bold red]pwned\x1b[31m"


def _fill(store: Store) -> None:
    add_machine(store, build_spec(name="web-01", address="10.0.0.1", tags=(("env", "prod"),)))
    add_machine(store, build_spec(name="web-02", address="10.0.0.2", tags=(("env", "stage"),)))
    add_machine(
        store, build_spec(name="db-01", address="10.0.1.1", tags=(("note", "[bold red]x\x1b[2J"),))
    )


def _scanned(store: Store) -> None:
    """web-01: 3 security + 1 other, reboot pending; web-02: 1 other; db-01: never scanned."""
    ids = {m.name: m.id for m in list_machines(store)}

    def update(name: str, classification: str) -> Update:
        return Update(name, name, "1", "2", classification)

    record_scans(
        store,
        [
            ScanReport(
                ids["web-01"],
                NOW - timedelta(hours=2),
                ok=True,
                distro="debian",
                version="12",
                reboot_pending=True,
                updates=(
                    *(update(f"sec-{i}", "security") for i in range(3)),
                    update("vim", "other"),
                ),
            ),
            ScanReport(
                ids["web-02"],
                NOW - timedelta(minutes=5),
                ok=True,
                distro="ubuntu",
                version="22.04",
                updates=(update("vim", "other"),),
            ),
        ],
    )


def _column(app: Any, index: int) -> list[str]:
    table = app.screen.query_one("#machines", ListTable)
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


def _header_x(app: Any, key: str) -> int:
    """Where the header of column ``key`` is, to click it."""
    table: ListTable = app.screen.query_one("#machines", ListTable)
    return table.column_x(key) + 1


def _names(app: Any) -> list[str]:
    return _column(app, 1)


def _status(app: Any) -> str:
    return str(app.screen.query_one("#status", Static).render())


def _app(store: Store) -> PatchdeckApp:
    return PatchdeckApp(store, first_view=MACHINES, clock=lambda: NOW)


async def test_machines_are_listed_and_filtered(store: Store) -> None:
    _fill(store)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert _names(app) == ["db-01", "web-01", "web-02"]
        assert "3 machines" in _status(app)
        footer = screen_text(app).splitlines()[-1]
        assert "⏎ Open" in footer and "/ Filter" in footer and "s Scan" in footer

        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#filter", Input)
        await pilot.press(*"prod")
        await settle(pilot)
        assert _names(app) == ["web-01"]
        assert "1 of 3 machines match 'prod'" in _status(app)

        await pilot.press("escape")
        await settle(pilot)
        assert _names(app) == ["db-01", "web-01", "web-02"]
        assert isinstance(app.focused, ListTable)

        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_tag_text_is_shown_literally(store: Store) -> None:
    _fill(store)
    app = _app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        tags = app.screen.query_one("#machines", ListTable).get_row_at(0)[3]
        assert str(tags) == "note=[bold red]x\\x1b[2J"
        assert "\x1b" not in str(tags)
        assert not tags.spans  # not rendered as markup
        assert "note=[bold red]x\\x1b[2J" in screen_text(app)


async def test_empty_inventory_says_how_to_add_machines(store: Store) -> None:
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no machines yet: a adds one" in _status(app)
        footer = screen_text(app).splitlines()[-1]
        assert "Mark" not in footer and "Scan" not in footer  # nothing to mark or scan


async def test_columns_show_counts_reboot_age_and_state(store: Store) -> None:
    _fill(store)
    _scanned(store)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#machines", ListTable)
        row = [str(c) for c in table.get_row("3" if _names(app)[2] == "db-01" else "1")]
        web01 = [str(c) for c in table.get_row_at(_names(app).index("web-01"))]
        assert web01[1:] == ["web-01", "debian 12", "env=prod", "3", "", "1", "yes", "2h", "ok"]
        db01 = [str(c) for c in table.get_row_at(_names(app).index("db-01"))]
        assert db01[4:] == ["·", "·", "·", "?", "never", "never"]
        assert row  # every row has its cells
        assert "ubuntu 22.04" in screen_text(app)  # the OS column is wide enough at 80×24


async def test_sorting_by_key_and_by_header_click(store: Store) -> None:
    _fill(store)
    _scanned(store)
    app = _app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert _names(app) == ["db-01", "web-01", "web-02"]
        await pilot.press("O")  # reverse
        assert _names(app) == ["web-02", "web-01", "db-01"]
        assert "by name ▼" in _status(app)
        await pilot.press("o")  # next column: OS, ascending
        assert _names(app) == ["web-01", "db-01", "web-02"]  # debian 12, linux, ubuntu 22.04
        assert "by OS ▲" in _status(app)

        sec = _header_x(app, "sec")
        await pilot.click("#machines", offset=(sec, 0))  # the "Sec" header
        await pilot.pause()
        # clicking a header sorts by it (counts: most first) and a second click reverses
        assert "by security ▼" in _status(app)
        assert _names(app)[0] == "web-01"
        await pilot.click("#machines", offset=(sec, 0))
        await pilot.pause()
        assert "by security ▲" in _status(app)
        assert _names(app)[0] == "db-01"  # not assessed sorts below 0


async def test_marks_are_ours_shown_and_survive_a_filter(store: Store) -> None:
    _fill(store)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space")  # marks db-01, moves down, marks web-01
        assert _column(app, 0) == ["●", "●", " "]
        assert "2 marked" in _status(app)
        screen = app.screen
        assert screen.target_names() == ["db-01", "web-01"]  # type: ignore[attr-defined]

        await pilot.press("slash", *"web")
        await settle(pilot)
        assert _names(app) == ["web-01", "web-02"]
        assert "2 marked (1 not shown)" in _status(app)
        await pilot.press("enter", "asterisk")  # mark every machine shown
        assert _column(app, 0) == ["●", "●"]
        assert "3 marked" in _status(app)

        await pilot.press("escape")  # clears the filter
        await settle(pilot)
        await pilot.press("escape")  # then the marks
        assert _column(app, 0) == [" ", " ", " "]
        assert "marked" not in _status(app)


async def test_add_edit_and_remove_through_the_forms(store: Store) -> None:
    _fill(store)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, MachineForm)
        await pilot.press(*"app-01", "tab", *"10.9.0.1", "tab", *"99999", "enter")
        await pilot.pause()
        assert "port: '99999' is not between 1 and 65535" in screen_text(app)
        assert app.focused is app.screen.query_one("#field-port", Input)
        app.screen.query_one("#field-port", Input).value = "2222"
        app.screen.query_one("#field-tags", Input).value = "env=prod; team=blue"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, MachineForm)
        added = get_machine(store, "app-01")
        assert (added.address, added.port, added.tags) == (
            "10.9.0.1",
            2222,
            (("env", "prod"), ("team", "blue")),
        )
        assert "app-01" in _names(app)

        # the same name again is refused, in the form, naming it
        await pilot.press("a", *"web-01", "tab", *"10.0.0.9", "enter")
        await settle(pilot)
        assert "a machine named 'web-01' already exists" in screen_text(app)
        await pilot.press("escape")

        # edit the row under the cursor (app-01 sorts first)
        await pilot.press("home", "e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, MachineForm)
        assert form.query_one("#field-name", Input).value == "app-01"
        form.query_one("#field-environment", Input).value = "production"
        form.query_one("#field-name", Input).value = "app-02"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert get_machine(store, "app-02").environment == "production"
        with pytest.raises(NotFound):
            get_machine(store, "app-01")
        assert "app-02" in _names(app)

        # remove two marked machines: Cancel has the focus, so enter keeps them
        await pilot.press("home", "space", "space", "d")
        assert isinstance(app.screen, Confirm)
        assert "Remove 2 machines (app-02, db-01)" in screen_text(app)
        assert app.focused is app.screen.query_one("#cancel", Button)
        await pilot.press("enter")
        await settle(pilot)
        assert len(list_machines(store)) == 4
        await pilot.press("d", "right", "enter")  # move to Remove
        await settle(pilot)
        assert sorted(m.name for m in list_machines(store)) == ["web-01", "web-02"]
        assert _names(app) == ["web-01", "web-02"]
        assert "marked" not in _status(app)


async def test_the_detail_shows_facts_updates_and_the_error_in_words(store: Store) -> None:
    machine = add_machine(
        store, build_spec(name="web-01", address="10.0.0.1", user="ops", tags=(("env", "prod"),))
    )
    hostile = Update(
        platform_id=f"pkg{HOSTILE}",
        name=f"pkg{HOSTILE}",
        installed="1.0",
        available=f"2.0{HOSTILE}",
        classification="security",
        severity="Important",
        advisories=("DSA-5555-1", "CVE-2025-1"),
        source=f"bookworm-security{HOSTILE}",
    )
    plain_update = Update("vim", "vim", "9.0", "9.1", "other", source="bookworm")
    record_scans(
        store,
        [
            ScanReport(
                machine.id, NOW, ok=True, distro="debian", version="12",
                updates=(hostile, plain_update),
            )
        ],
    )  # fmt: skip
    record_scans(
        store,
        [
            ScanReport(
                machine.id,
                NOW,
                ok=False,
                error="the host key of web-01 (10.0.0.1:22) is not known (SHA256:abc); "
                f"check it and run `patchdeck machine trust web-01` {HOSTILE}",
                reachable=True,
            )
        ],
    )
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MachineDetailScreen)
        text = screen_text(app)
        assert "ops@10.0.0.1:22 (ssh)" in text and "debian 12 (linux)" in text
        assert "Last scan failed: the host key of web-01" in text
        assert "t shows the key it presents and trusts it" in text
        state = app.screen.query_one("#detail-state", Static).render()
        assert "machine trust web-01` [bold red]pwned\\x1b[31m" in str(state)
        assert "\x1b" not in str(state) and not getattr(state, "spans", None)
        assert "Missing 2 updates: security 1, other 1" in text
        table = app.screen.query_one("#machine-updates", DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert first == [
            "security",
            "Important",
            "pkg[bold red]pwned\\x1b[31m",
            "1.0",
            "2.0[bold red]pwned\\x1b[31m",
            "DSA-5555-1 CVE-2025-1",
            "bookworm-security[bold red]pwned\\x1b[31m",
        ]
        assert not any(cell.spans for cell in table.get_row_at(0))  # no markup applied
        assert "\x1b" not in text and "pkg[bold red]pwned" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, MachineDetailScreen)
        assert app.current_mode == MACHINES


async def test_a_worker_failure_is_a_notification_and_a_log_line(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(store)
    app = _app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the disk is on fire [bold]\x1b[2J")

        monkeypatch.setattr("tui.screens.machines.machine_statuses", broken)
        await pilot.press("r")
        await settle(pilot)
        shown = [n.message for n in app._notifications]
        assert any("listing failed: the disk is on fire [bold]\\x1b[2J" in m for m in shown)
        assert any("the disk is on fire" in r.getMessage() for r in caplog.records)
        assert _names(app) == ["db-01", "web-01", "web-02"]  # what was shown stays


async def test_the_first_screenful_shows_while_the_others_are_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, machines=70, updates=1)
    every_machine_asked = threading.Event()
    release = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("first") is None:  # reading every machine waits for the test
            every_machine_asked.set()
            release.wait(30)
        return machine_statuses(*args, **kwargs)

    monkeypatch.setattr("tui.screens.machines.machine_statuses", slow)
    app = _app(store)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_text(pilot, "reading the others")
            assert every_machine_asked.is_set()
            assert _names(app) == [f"m-{i:05d}" for i in range(60)]  # by name, as it goes on
            assert "the first 60 machines · reading the others…" in _status(app)
            await pilot.press("down", "space")  # it is a list already
            release.set()
            await settle(pilot)
            assert _names(app) == [f"m-{i:05d}" for i in range(70)]
            assert "70 machines · 1 marked" in _status(app)
            assert app.screen.target_names() == ["m-00001"]  # type: ignore[attr-defined]
    finally:
        release.set()


async def test_editing_a_winrm_machine_keeps_its_winrm_options(store: Store) -> None:
    from textual.app import App

    machine = add_machine(
        store,
        build_spec(
            name="win-01", address="10.0.0.5", transport="winrm", winrm_auth="basic",
            winrm_https=True, winrm_verify_cert=False, winrm_ca_file="/etc/ca.pem",
        ),
    )  # fmt: skip
    form = MachineForm(lambda spec: machine, machine)

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(form)

    async with Host().run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        form.query_one("#field-environment", Input).value = "prod"
        spec = form.spec()
    assert (spec.winrm_auth, spec.winrm_https, spec.winrm_verify_cert, spec.winrm_ca_file) == (
        "basic", True, False, "/etc/ca.pem",
    )  # fmt: skip
    assert spec.environment == "prod"
