"""Scan 200 and 1,000 simulated hosts (the fleet in a process of its own) and compare with the
floor: a bare asyncssh client doing only connect, the same listing command, read, close, with
the same hosts, key, ciphers and concurrency, in the same run.

Two floors are measured, and both ratios printed:
- **script floor** (the goals' floor): the bare client sends each host exactly the listing
  script a first scan of patchdeck sends (docs/scan-script.md round 1, with a nonce of its own
  per host): the same remote work and the same bytes, so the ratio measures what patchdeck adds
  on this side (a second apt round, parsing, recording, events).
- **manager floor** (stricter): the bare client sends only the package manager's own listing
  command (``apt-get -s dist-upgrade``, ``dnf check-update``, …), less than a scan must ask.

Printed per size: wall time, CPU and peak memory of each client process, and the ratios.
"scan phase" times are measured inside each process from the first connection to the last
result (patchdeck's include writing every result to the inventory); process start-up (the
interpreter and imports) is not part of fan-out and is left out of the ratio.
Goals at 1,000 hosts: cold scan within 1.3x of the floor; a re-scan over kept connections at
least 3x faster than the floor; peak memory under 300 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backends.platforms.linux import scan_script
from backends.platforms.probe import new_nonce

SIZES = (200, 1000)
CONCURRENCY = 100
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PATCHDECK = Path(sys.executable).parent / "patchdeck"
CIPHERS = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
LISTING = {
    "apt": "LC_ALL=C apt-get -s -o Debug::NoLocking=1 dist-upgrade",
    "dnf": "LC_ALL=C dnf -q check-update",
    "yum": "LC_ALL=C yum -q check-update",
    "zypper": "LC_ALL=C zypper -n -x list-updates",
}


def manager(kind: str) -> str:
    if kind.startswith(("debian", "ubuntu")):
        return "apt"
    if kind.startswith("centos-7"):
        return "yum"
    if kind.startswith(("sles", "opensuse")):
        return "zypper"
    return "dnf"


def timed(command: list[str]) -> tuple[dict[str, Any], float, float, int]:
    """Run ``command``; its JSON answer, wall seconds, CPU seconds and peak RSS in kB."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT, env=_env())
    assert process.stdout is not None
    answer = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{command[:3]} failed with status {status}")
    return json.loads(answer), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def bench(size: int, folder: Path) -> dict[str, Any]:
    db, key = folder / f"fleet-{size}.db", folder / "client_key"
    if not key.exists():
        subprocess.run(
            [sys.executable, "-c", f"import asyncssh; asyncssh.generate_private_key("
             f"'ssh-ed25519').write_private_key({str(key)!r})"],
            check=True,
        )  # fmt: skip
    fleet = subprocess.Popen(
        [str(PATCHDECK), "--db", str(db), "fleet", "serve", "--machines", str(size),
         "--seed", "1", "--register", "--json", "--user", "root", "--identity", str(key)],
        stdout=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    try:
        assert fleet.stdout is not None
        hosts = []
        deadline = time.monotonic() + 120
        for line in fleet.stdout:
            row = json.loads(line)
            if row.get("ready"):
                break
            hosts.append(
                {
                    "address": row["host"],
                    "port": row["port"],
                    "script": scan_script(new_nonce()),
                    "listing": LISTING[manager(row["kind"])],
                }
            )
            if time.monotonic() > deadline:
                raise RuntimeError("the fleet did not come up within 120 s")
        spec = {
            "hosts": [{**h, "command": h["script"]} for h in hosts],
            "known_hosts": (folder / "known_hosts").read_text(),
            "user": "root",
            "identity": str(key),
            "ciphers": CIPHERS,
            "concurrency": CONCURRENCY,
        }
        spec_file = folder / f"hosts-{size}.json"
        spec_file.write_text(json.dumps(spec))
        floor, floor_wall, floor_cpu, floor_rss = timed(
            [sys.executable, str(HERE / "ssh_floor.py"), str(spec_file)]
        )
        spec["hosts"] = [{**h, "command": h["listing"]} for h in hosts]
        spec_file.write_text(json.dumps(spec))
        bare, _, _, _ = timed([sys.executable, str(HERE / "ssh_floor.py"), str(spec_file)])
        ours, ours_wall, ours_cpu, ours_rss = timed(
            [sys.executable, str(HERE / "scan_runner.py"), str(db), str(CONCURRENCY)]
        )
    finally:
        fleet.terminate()
        fleet.wait(30)
    return {
        "size": size,
        "floor": {**floor, "process_wall": floor_wall, "process_cpu": floor_cpu,
                  "rss_mb": floor_rss / 1024},
        "bare": bare,
        "ours": {**ours, "process_wall": ours_wall, "process_cpu": ours_cpu,
                 "rss_mb": ours_rss / 1024},
    }  # fmt: skip


def report(result: dict[str, Any]) -> bool:
    floor, bare, ours = result["floor"], result["bare"], result["ours"]
    cold, warm = ours["cold"], ours["warm"]
    cold_ratio = cold["wall"] / floor["wall"]
    warm_speedup = floor["wall"] / warm["wall"]
    print(f"scan {result['size']:,} simulated hosts, concurrency {CONCURRENCY}")
    print(
        f"  script floor (bare)       scan phase {floor['wall']:6.2f} s   CPU {floor['cpu']:6.2f} s"
        f"   process {floor['process_wall']:6.2f} s   peak {floor['rss_mb']:5.0f} MB"
        f"   failed {floor['failed']}"
    )
    print(
        f"  manager floor (bare)      scan phase {bare['wall']:6.2f} s   CPU {bare['cpu']:6.2f} s"
        f"   failed {bare['failed']}"
    )
    print(
        f"  patchdeck cold scan       scan phase {cold['wall']:6.2f} s   CPU {cold['cpu']:6.2f} s"
        f"   {cold_ratio:.2f}x script floor, {cold['wall'] / bare['wall']:.2f}x manager floor"
        f"   failed {cold['failed']}   updates {cold['updates']:,}"
    )
    print(
        f"  patchdeck re-scan (kept)  scan phase {warm['wall']:6.2f} s   CPU {warm['cpu']:6.2f} s"
        f"   {warm_speedup:.2f}x faster than script floor,"
        f" {bare['wall'] / warm['wall']:.2f}x than manager floor"
    )
    print(
        f"  patchdeck process         {ours['process_wall']:6.2f} s wall (both scans, start-up"
        f" included), CPU {ours['process_cpu']:.2f} s, peak {ours['rss_mb']:.0f} MB"
    )
    if result["size"] < 1000:
        return True
    goals = [
        ("cold scan within 1.3x of the script floor", cold_ratio <= 1.3),
        ("re-scan at least 3x faster than the script floor", warm_speedup >= 3),
        ("peak memory under 300 MB", ours["rss_mb"] < 300),
    ]
    for text, met in goals:
        print(f"  goal: {text}: {'met' if met else 'MISSED'}")
    return all(met for _, met in goals)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="patchdeck-bench-") as folder:
        for size in SIZES:
            ok &= report(bench(size, Path(folder)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
