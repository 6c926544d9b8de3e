"""The floor for a scan: a bare asyncssh client that connects to each host with the same
concurrency, runs the same listing command, reads all output and closes. Nothing else.

Usage: python ssh_floor.py HOSTS.json  (prints one JSON object with its own timings)
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import asyncssh


async def main(spec: dict) -> dict:  # type: ignore[type-arg]
    known_hosts = asyncssh.import_known_hosts(spec["known_hosts"])
    limit = asyncio.Semaphore(spec["concurrency"])
    failed = 0

    async def one(host: dict) -> int:  # type: ignore[type-arg]
        nonlocal failed
        async with limit:
            try:
                async with asyncssh.connect(
                    host["address"],
                    host["port"],
                    username=spec["user"],
                    client_keys=[spec["identity"]],
                    known_hosts=known_hosts,
                    encryption_algs=spec["ciphers"],
                ) as conn:
                    result = await conn.run(host["command"])
                    return len(result.stdout or "")
            except (OSError, asyncssh.Error):
                failed += 1
                return 0

    start = time.perf_counter()
    cpu = time.process_time()
    sizes = await asyncio.gather(*(one(h) for h in spec["hosts"]))
    return {
        "wall": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
        "bytes": sum(sizes),
        "failed": failed,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(asyncio.run(main(json.load(f)))))
