"""patchdeck's scan engine, twice over one connection pool: a cold scan (new connections) and a
re-scan over the connections it kept. Prints one JSON object with its own timings.

Usage: python scan_runner.py DB_PATH CONCURRENCY
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

from backends.engine.connections import ConnectionPool
from backends.engine.scan import ScanMemory, ScanOptions, scan
from backends.inventory.location import own_known_hosts
from backends.inventory.machines import list_machines
from backends.inventory.store import Store
from backends.transports.known_hosts import HostKeys


async def main(db: str, concurrency: int) -> dict:  # type: ignore[type-arg]
    store = Store.open(db)
    pool = ConnectionPool(HostKeys(own_known_hosts(store.url)))
    options = ScanOptions(concurrency=concurrency)
    out: dict[str, Any] = {}
    memory: ScanMemory = {}
    for phase in ("cold", "warm"):
        start, cpu = time.perf_counter(), time.process_time()
        # As the console does before each scan: what the last scan learned shapes the next.
        machines = list_machines(store)
        results = await scan(store, machines, lambda event: None, pool, options, memory)
        out[phase] = {
            "wall": time.perf_counter() - start,
            "cpu": time.process_time() - cpu,
            "failed": sum(1 for s in results.values() if not s.ok),
            "updates": sum(len(s.updates) for s in results.values()),
        }
    await pool.close_all()
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
