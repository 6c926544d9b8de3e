"""Import 10,000 machines from CSV: patchdeck's import against plain sqlite3 ``executemany``.

The floor writes the same rows (machines and their tags) with Python's ``sqlite3`` into the same
schema, already parsed; patchdeck's figure includes reading and checking the CSV. Both write a
fresh WAL-mode file with ``synchronous = NORMAL``. Medians of several rounds, ratios from the
same run. Goal: the in-process import within 4x of the floor.
"""

from __future__ import annotations

import csv
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from backends.inventory.imports import parse_file
from backends.inventory.machines import count_machines, import_machines
from backends.inventory.store import Store

ROWS = 10_000
ROUNDS = 3
GOAL = 4.0


def write_csv(path: Path, rows: int) -> None:
    envs = ("prod", "stage", "dev")
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "address", "port", "transport", "user", "tags", "environment"])
        for i in range(rows):
            writer.writerow(
                [
                    f"host-{i:05d}",
                    f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                    22 if i % 10 else 2222,
                    "ssh",
                    "deploy",
                    f"env={envs[i % 3]};team=t{i % 17};rack=r{i % 40}",
                    envs[i % 3],
                ]
            )


def floor(db: Path, source: Path) -> float:
    """Plain sqlite3: the same rows, pre-parsed, into the same schema."""
    Store.open(str(db)).close()
    with source.open(newline="") as f:
        rows = list(csv.DictReader(f))
    machines = [
        (
            i + 1,
            r["name"],
            r["address"],
            int(r["port"]),
            "ssh",
            "linux",
            r["user"],
            r["environment"],
        )
        for i, r in enumerate(rows)
    ]
    tags = [
        (i + 1, *part.split("=", 1)) for i, r in enumerate(rows) for part in r["tags"].split(";")
    ]
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    start = time.perf_counter()
    conn.executemany(
        "INSERT INTO machine (id, name, address, port, transport, os_family, user, environment,"
        " criticality) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'medium')",
        machines,
    )
    conn.executemany("INSERT INTO machine_tag (machine_id, key, value) VALUES (?, ?, ?)", tags)
    conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def in_process(db: Path, source: Path) -> float:
    store = Store.open(str(db))
    start = time.perf_counter()
    specs = parse_file(source, "csv")
    import_machines(store, specs, source=str(source))
    elapsed = time.perf_counter() - start
    assert count_machines(store) == ROWS
    store.close()
    return elapsed


def whole_command(db: Path, source: Path) -> float:
    script = Path(sys.executable).parent / "patchdeck"
    start = time.perf_counter()
    subprocess.run(
        [str(script), "--db", str(db), "machine", "import", str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="patchdeck-bench-") as folder:
        base = Path(folder)
        source = base / "machines.csv"
        write_csv(source, ROWS)
        timings: dict[str, list[float]] = {"floor": [], "import": [], "command": []}
        runs: dict[str, Callable[[Path, Path], float]] = {
            "floor": floor,
            "import": in_process,
            "command": whole_command,
        }
        for round_no in range(ROUNDS):
            for name, run in runs.items():
                timings[name].append(run(base / f"{name}-{round_no}.db", source))
        med = {name: statistics.median(values) for name, values in timings.items()}
    ratio = med["import"] / med["floor"]
    print(f"import {ROWS:,} machines from CSV (3 tags each), median of {ROUNDS} rounds")
    print(f"  floor: sqlite3 executemany        {med['floor'] * 1000:8.1f} ms")
    print(
        f"  patchdeck import (parse + write)  {med['import'] * 1000:8.1f} ms   {ratio:.2f}x floor"
    )
    print(
        f"  whole `patchdeck machine import`  {med['command'] * 1000:8.1f} ms   (process included)"
    )
    verdict = "met" if ratio <= GOAL else "MISSED"
    print(f"  goal: within {GOAL:.0f}x of the floor: {verdict}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
