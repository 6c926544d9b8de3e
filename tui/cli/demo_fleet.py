"""The demo's simulated fleet: ``patchdeck fleet serve`` in a process of its own, on loopback.

The fleet registers its machines in the demo's throwaway inventory and trusts their host keys
in the known_hosts next to it; its Windows machines accept a password made here for this demo
alone, which the demo's own scan, console and runners read from ``$PATCHDECK_WINRM_PASSWORD``.
The demo waits for the fleet's ``ready`` line, within a bound. The process runs in a session of
its own (the terminal's Ctrl-C and hangup go to the demo, which decides) with a pipe on its
stdin and ``--exit-with-stdin``: it stops when the demo stops it, and also when the demo dies in
a way that runs no cleanup (the pipe closes).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from backends.fleet.profiles import machine_name
from backends.transports.winrm_password import GENERIC_VARIABLE
from tui.cli.exits import FAILED, USAGE, CliError

SEED = 0
# The one test hook: how long to wait for the fleet's ready line, in seconds (default 60).
# ``0`` makes the demo give up at once, which is how tests check that it leaves nothing behind.
TIMEOUT_VARIABLE = "PATCHDECK_DEMO_FLEET_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
_STOP_WAIT = 10.0


def fleet_timeout() -> float:
    value = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise CliError(f"{TIMEOUT_VARIABLE}: expected seconds (>= 0), not {value!r}", USAGE)
    return seconds


def fault_spec(machines: int) -> dict[str, dict[str, list[str]]]:
    """Faults for the last machines (the first ten are one of each kind, and healthy): a few
    down (refused connections), one refusing every key, one dropping its connection."""
    faults = ["down"] * max(2, machines // 15) + ["refuse-auth", "drop"]
    faults = faults[: machines // 3]
    return {"machines": {machine_name(machines - 1 - i): [f] for i, f in enumerate(faults)}}


def write_identity(path: Path) -> None:
    """A throwaway client key: the demo's identity towards its machines."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment="patchdeck demo")
    path.touch(mode=0o600)
    key.write_private_key(str(path))


class FleetProcess:
    """A started ``patchdeck fleet serve``; its stdout lines arrive through a thread."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as errors:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, name="demo-fleet-stdout", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_ready(self, timeout: float) -> int:
        """Wait for the ready line; the number of machines. Raises :class:`CliError`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CliError(
                    f"the simulated fleet did not start within {timeout:g} s{self._why()}", FAILED
                )
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                status = self.process.wait()
                raise CliError(
                    f"the simulated fleet stopped before it was ready (exit status {status})"
                    f"{self._why()}",
                    FAILED,
                )
            with suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict) and row.get("ready"):
                    return int(row["machines"])

    def _why(self) -> str:
        with suppress(OSError):
            said = [line.strip() for line in self.log.read_text(errors="replace").splitlines()]
            said = [line for line in said if line]
            if said:
                return f": {said[-1]}"
        return ""

    def stop(self) -> None:
        """End the fleet and wait for it (SIGTERM, then SIGKILL if it lingers)."""
        process = self.process
        with suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            if process.poll() is None:
                process.terminate()
            process.wait(_STOP_WAIT)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def demo_password() -> Iterator[None]:
    """A fresh password for the demo's Windows machines, in this process's environment (the
    fleet, the scan and runners inherit it) until the demo ends."""
    before = os.environ.get(GENERIC_VARIABLE)
    os.environ[GENERIC_VARIABLE] = secrets.token_urlsafe(18)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(GENERIC_VARIABLE, None)
        else:
            os.environ[GENERIC_VARIABLE] = before


@contextmanager
def running_fleet(
    folder: Path, db: Path, machines: int, timeout: float, windows: int = 0
) -> Iterator[FleetProcess]:
    """A fleet of ``machines`` Linux and ``windows`` Windows machines registered in the
    inventory ``db``, stopped on the way out."""
    identity = folder / "client_key"
    faults = folder / "faults.json"
    write_identity(identity)
    faults.write_text(json.dumps(fault_spec(machines), indent=2), encoding="utf-8")
    command = [
        sys.executable, "-m", "tui", "--db", str(db),
        "fleet", "serve", "--machines", str(machines), "--seed", str(SEED),
        "--faults", str(faults), "--register", "--json", "--exit-with-stdin",
        "--user", "root", "--identity", str(identity),
    ]  # fmt: skip
    if windows:
        command += ["--windows", str(windows)]
    fleet = FleetProcess(command, folder / "fleet.log")
    try:
        fleet.wait_ready(timeout)
        yield fleet
    finally:
        fleet.stop()
