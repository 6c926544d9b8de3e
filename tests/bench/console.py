"""The console's machines view with 10,000 machines × 100 updates each, against a minimal Textual
app that shows the same 10,000 rows in a plain DataTable, measured in the same run.

**First paint**: from just before the inventory is opened and the app is made, to the end of
the first frame that shows the table's first screenful (the first row's name and the name of a
row further down). The apps run headless (``run_test``) at 160×48; each frame Textual makes is
also turned into the bytes a terminal would be sent (``render_segments``, as the real driver
does), and the frame is recognised by those bytes, so the figure ends where a terminal would
start drawing. Each measurement is a fresh process (imports not timed); the two apps take turns.
The console shows the first screenful before it has read every machine; **every row** is the
time to the first frame whose status line counts all 10,000 (the minimal app has every row at
its first paint).

The minimal app reads the rows with one straightforward query (machines joined with their
updates, counted by classification, and their tags), then ``DataTable.add_rows`` of plain strings.

**Filter**: in the console, after ``/``, from a key press to the end of the first frame that
shows the filtered table (its status line and a row that only the filtered table shows): a
first key that keeps most machines (``9``), and a key that narrows 110 rows to 10 (``m-099``
→ ``m-0999``).

**Run view key latency**: a run of 1,000 machines, all installing, written into the
inventory as a runner records it (``tests.run_data``), while a thread of the same process
writes every machine's progress and a line of output to the database three times a second
(as a runner of 1,000 machines would, in batches). In the run view, from a ``down`` key to
the end of the first frame showing the next machine's output pane; the same key with the
writer paused is the baseline, measured in the same process.

Goals: first paint within 1.5x of the minimal app; a filter key under 100 ms; the run view's
key within 2x of the idle view and under 100 ms while 1,000 machines stream progress.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable

MACHINES = 10_000
UPDATES = 100
ROUNDS = 5
SIZE = (160, 48)
PAINT_GOAL = 1.5  # times the minimal app
RUN_MACHINES = 1_000
RUN_KEYS = 15  # key presses measured, idle and streaming
RUN_WRITE_EVERY = 0.3  # seconds between two progress batches of every machine
RUN_RATIO_GOAL = 2.0
RUN_KEY_GOAL = 0.100
FILTER_GOAL = 0.100  # seconds
ROOT = Path(__file__).resolve().parent.parent.parent
FIRST, FURTHER = "m-00000", "m-00030"  # the first row, and one the first screenful shows

MINIMAL_QUERY = """
SELECT m.name,
       coalesce(m.distro || ' ' || m.version, m.os_family),
       coalesce((SELECT group_concat(t.key || '=' || t.value, ' ')
                 FROM machine_tag t WHERE t.machine_id = m.id), ''),
       count(u.id) FILTER (WHERE u.classification = 'security'),
       count(u.id) FILTER (WHERE u.classification = 'critical'),
       count(u.id) FILTER (WHERE u.classification NOT IN ('security', 'critical')),
       coalesce(m.reboot_pending, ''),
       coalesce(m.last_scan_at, 'never'),
       CASE WHEN m.reachable = 0 THEN 'unreachable'
            WHEN m.last_scan_outcome = 'failed' THEN 'failed'
            WHEN m.last_scan_at IS NULL THEN 'never' ELSE 'ok' END
FROM machine m LEFT JOIN machine_update u ON u.machine_id = m.id
GROUP BY m.id ORDER BY m.name
"""


# the frames -------------------------------------------------------------------------------


class Frames:
    """Recognises, for each expectation, the first frame from a moment on whose bytes (with
    those of the frames since that moment) hold every one of its markers."""

    def __init__(self) -> None:
        self.pending: dict[str, set[str]] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.at: dict[str, float] = {}

    def expect(self, name: str, *markers: str) -> None:
        self.pending[name] = set(markers)
        self.done[name] = asyncio.Event()

    def frame(self, text: str) -> None:
        for name, markers in list(self.pending.items()):
            markers.difference_update([m for m in markers if m in text])
            if not markers:
                del self.pending[name]
                self.at[name] = time.perf_counter()
                self.done[name].set()

    async def wait(self, name: str, seconds: float = 120) -> float:
        await asyncio.wait_for(self.done[name].wait(), seconds)
        return self.at[name]


class Recorded(App[Any]):
    """An app whose frames are made into terminal bytes (headless drivers skip that) and
    shown to ``frames``."""

    frames: Frames

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        super()._display(screen, renderable)
        if hasattr(renderable, "render_segments") and not self._batch_count:  # an update
            self.frames.frame(renderable.render_segments(self.console))


# the minimal app --------------------------------------------------------------------------


class MinimalApp(Recorded):
    def __init__(self, db: Path, frames: Frames) -> None:
        super().__init__()
        self.db = db
        self.frames = frames

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.load()

    @work(thread=True)
    def load(self) -> None:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute(MINIMAL_QUERY).fetchall()
        self.call_from_thread(self.show, rows)

    def show(self, rows: list[tuple[Any, ...]]) -> None:
        table = self.query_one(DataTable)
        table.add_columns(
            "Name", "OS", "Env/tags", "Sec", "Crit", "Oth", "Rbt", "Last scan", "State"
        )
        table.add_rows(rows)


async def minimal_paint(db: Path) -> dict[str, float]:
    frames = Frames()
    frames.expect("paint", FIRST, FURTHER)
    start = time.perf_counter()
    app = MinimalApp(db, frames)
    async with app.run_test(headless=True, size=SIZE):
        painted = await frames.wait("paint")
    return {"paint": painted - start, "complete": painted - start}


# the console ------------------------------------------------------------------------------


async def console_paint(db: Path) -> dict[str, float]:
    from backends.inventory.machine_status import matches
    from backends.inventory.store import Store
    from tui.actions import MACHINES as MACHINES_VIEW
    from tui.app import PatchdeckApp
    from tui.screens.machines import MachinesScreen

    class Console(PatchdeckApp, Recorded):
        _BASE_PATH = inspect.getfile(PatchdeckApp)  # its CSS_PATH is relative to tui/app.py

    frames = Frames()
    frames.expect("paint", FIRST, FURTHER)
    frames.expect("complete", FIRST, f"{MACHINES} machines ·")  # every machine is read
    start = time.perf_counter()
    store = Store.open(str(db))
    app = Console(store, first_view=MACHINES_VIEW)
    app.frames = frames
    result: dict[str, float] = {}
    async with app.run_test(headless=True, size=SIZE) as pilot:
        result["paint"] = await frames.wait("paint") - start
        result["complete"] = await frames.wait("complete") - start
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, MachinesScreen)
        machines = list(screen.all.values())

        def first_new(text: str, before: Iterable[str]) -> str:
            """A name the table filtered by ``text`` shows and the table before did not."""
            shown = sorted(m.name for m in machines if matches(m, text))
            return next(name for name in shown[:30] if name not in set(before))

        await pilot.press("slash")
        await _settle(pilot)
        unfiltered = sorted(m.name for m in machines)[:60]
        frames.expect("broad", "match '9'", first_new("9", unfiltered))
        start = time.perf_counter()
        await pilot.press("9")
        result["broad"] = await frames.wait("broad", 30) - start

        await pilot.press("backspace", *"m-099")
        await _settle(pilot)
        narrowed = sorted(m.name for m in machines if matches(m, "m-099"))[:60]
        frames.expect("narrow", "match 'm-0999'", first_new("m-0999", narrowed))
        start = time.perf_counter()
        await pilot.press("9")
        result["narrow"] = await frames.wait("narrow", 30) - start
    store.close()
    return result


async def _settle(pilot: Pilot[Any]) -> None:
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.2)


# the run view under a streaming run -------------------------------------------------------


class Streamer:
    """Writes every machine's progress and a line of output, in one batch, every
    ``RUN_WRITE_EVERY`` seconds, in a thread, while ``streaming`` is set."""

    def __init__(self, store: Any, run_id: int, owner: str, ids: tuple[int, ...]) -> None:
        import threading

        self.store, self.run_id, self.owner, self.ids = store, run_id, owner, ids
        self.streaming = threading.Event()
        self.stopped = threading.Event()
        self.batches = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from backends.inventory.run_journal import OutputBatch, append_output, beat

        tick = 0
        while not self.stopped.is_set():
            beat(self.store, self.run_id, self.owner)  # a live runner, not a stale one
            if self.streaming.wait(0.05):
                tick += 1
                batches = {
                    machine_id: OutputBatch(
                        (f"Unpacking pkg-{tick} ({tick}.0) over ({tick - 1}.0) ...",),
                        (tick + n) % 100,
                        f"pkg-{tick}",
                    )
                    for n, machine_id in enumerate(self.ids)
                }
                append_output(self.store, self.run_id, self.owner, batches)
                self.batches += 1
                self.stopped.wait(RUN_WRITE_EVERY)


async def run_view_keys(folder: Path) -> dict[str, float]:
    from backends.inventory.run_journal import update_machine
    from backends.inventory.store import Store
    from tests.fleet_data import NOW
    from tests.run_data import fake_run
    from tui.app import PatchdeckApp
    from tui.screens.run import RunScreen

    class Console(PatchdeckApp, Recorded):
        _BASE_PATH = inspect.getfile(PatchdeckApp)

    store = Store.open(str(folder / "run.db"))
    made = fake_run(store, RUN_MACHINES, NOW)
    for machine_id in made.machine_ids:  # every machine at work
        update_machine(store, made.run_id, made.owner, machine_id, state="installing",
                       started_at=NOW, ended_at=None, reboot=None)  # fmt: skip
    streamer = Streamer(store, made.run_id, made.owner, made.machine_ids)
    streamer.thread.start()
    frames = Frames()
    app = Console(store)
    app.frames = frames
    result: dict[str, float] = {}
    async with app.run_test(headless=True, size=SIZE) as pilot:
        await _settle(pilot)
        app.show_run(made.run_id)
        await _settle(pilot)
        await pilot.pause(1.0)
        screen = app.screen
        assert isinstance(screen, RunScreen) and len(screen.machines) == RUN_MACHINES
        names = sorted(m.machine for m in screen.machines.values())
        row = 0

        async def keys(which: str) -> list[float]:
            nonlocal row
            times = []
            for _ in range(RUN_KEYS):
                row += 1
                frames.expect(f"{which}{row}", f"{names[row]} · installing")
                start = time.perf_counter()
                await pilot.press("down")
                times.append(await frames.wait(f"{which}{row}", 30) - start)
                await pilot.pause(0.13)  # keys a few times a second, between the writes
            return times

        idle = await keys("idle")
        streamer.streaming.set()
        await pilot.pause(1.0)
        before = streamer.batches
        streaming = await keys("streaming")
        result["batches"] = float(streamer.batches - before)
        streamer.stopped.set()
        streamer.streaming.clear()
    streamer.thread.join(10)
    store.close()
    result["idle"] = statistics.median(idle)
    result["idle_max"] = max(idle)
    result["streaming"] = statistics.median(streaming)
    result["streaming_max"] = max(streaming)
    return result


def run_view_main() -> bool:
    """Measure the run view (in a process of its own), print it; whether the goals are met."""
    with tempfile.TemporaryDirectory(prefix="patchdeck-bench-") as folder:
        r = measure("run-view", Path(folder))
    ratio = r["streaming"] / r["idle"]
    print(
        f"run view, {RUN_MACHINES:,} machines installing, progress and output of every one "
        f"written every {RUN_WRITE_EVERY:g} s ({r['batches']:.0f} batches while measuring), "
        f"{SIZE[0]}×{SIZE[1]}, median of {RUN_KEYS} keys"
    )
    print(
        f"  key (down → next machine's output shown), idle       {r['idle'] * 1000:8.1f} ms"
        f"   (max {r['idle_max'] * 1000:.1f})"
    )
    print(
        f"  key (down → next machine's output shown), streaming  {r['streaming'] * 1000:8.1f} ms"
        f"   (max {r['streaming_max'] * 1000:.1f})   {ratio:.2f}x idle"
    )
    goals = [
        (f"run view key within {RUN_RATIO_GOAL}x of idle", ratio <= RUN_RATIO_GOAL),
        (f"run view key under {RUN_KEY_GOAL * 1000:.0f} ms", r["streaming"] < RUN_KEY_GOAL),
    ]
    for text, met in goals:
        print(f"  goal: {text}: {'met' if met else 'MISSED'}")
    return all(met for _, met in goals)


# the run ----------------------------------------------------------------------------------


def build(db: Path) -> float:
    """10,000 machines with 100 missing updates each (every 13th unreachable), through the
    service's ``record_scans``."""
    from backends.inventory.store import Store
    from tests.fleet_data import fill

    start = time.perf_counter()
    store = Store.open(str(db))
    fill(store, machines=MACHINES, updates=UPDATES)
    store.close()
    return time.perf_counter() - start


def measure(which: str, db: Path) -> dict[str, float]:
    """One measurement in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    answer = subprocess.run(
        [sys.executable, "-m", "tests.bench.console", which, str(db)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    result: dict[str, float] = json.loads(answer.stdout.splitlines()[-1])
    return result


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="patchdeck-bench-") as folder:
        db = Path(folder) / "inventory.db"
        built = build(db)
        runs: dict[str, list[dict[str, float]]] = {"minimal": [], "console": []}
        for round_no in range(ROUNDS):
            order = ("minimal", "console") if round_no % 2 == 0 else ("console", "minimal")
            for which in order:
                runs[which].append(measure(which, db))

    def med(which: str, what: str) -> float:
        return statistics.median(r[what] for r in runs[which])

    minimal, console = med("minimal", "paint"), med("console", "paint")
    complete = med("console", "complete")
    broad, narrow = med("console", "broad"), med("console", "narrow")
    ratio = console / minimal
    print(
        f"console, {MACHINES:,} machines × {UPDATES} updates (inventory built in {built:.1f} s),"
        f" {SIZE[0]}×{SIZE[1]}, median of {ROUNDS} rounds"
    )
    print(f"  first paint: minimal app (plain DataTable)  {minimal * 1000:8.1f} ms")
    print(f"  first paint: patchdeck machines view       {console * 1000:8.1f} ms   {ratio:.2f}x")
    print(
        f"  every row:   patchdeck machines view       {complete * 1000:8.1f} ms"
        f"   {complete / minimal:.2f}x"
    )
    print(f"  filter, first key ('9', most rows stay)    {broad * 1000:8.1f} ms")
    print(f"  filter, narrowing key ('m-099' → 'm-0999') {narrow * 1000:8.1f} ms")
    goals = [
        (f"first paint within {PAINT_GOAL}x of the minimal app", ratio <= PAINT_GOAL),
        (f"filter key under {FILTER_GOAL * 1000:.0f} ms", max(broad, narrow) < FILTER_GOAL),
    ]
    for text, met in goals:
        print(f"  goal: {text}: {'met' if met else 'MISSED'}")
    print()
    run_view = run_view_main()
    return 0 if all(met for _, met in goals) and run_view else 1


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=("minimal", "console", "run-view"))
    parser.add_argument("db", type=Path, help="the inventory (run-view: a folder for one)")
    args = parser.parse_args(argv)
    if args.which == "run-view":
        print(json.dumps(asyncio.run(run_view_keys(args.db))))
        return
    run = minimal_paint if args.which == "minimal" else console_paint
    print(json.dumps(asyncio.run(run(args.db))))


if __name__ == "__main__":
    child(sys.argv[1:])
