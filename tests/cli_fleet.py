"""A simulated fleet in a process of its own (``patchdeck fleet serve``), registered in an
inventory, for tests whose runner runs in yet another process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from backends.inventory.errors import NotFound
from backends.inventory.runs import Run, get_run
from backends.inventory.store import Store
from tests.conftest import patchdeck_command


class CliFleet:
    def __init__(
        self, tmp_path: Path, machines: int, seed: int, faults: dict[str, Any] | None = None
    ) -> None:
        self.db = tmp_path / "inventory.db"
        key = tmp_path / "client_key"
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
        command = [
            *patchdeck_command(), "--db", str(self.db), "fleet", "serve",
            "--machines", str(machines), "--seed", str(seed), "--register", "--user", "root",
            "--identity", str(key), "--json", "--exit-with-stdin",
        ]  # fmt: skip
        if faults is not None:
            spec = tmp_path / "faults.json"
            spec.write_text(json.dumps(faults))
            command += ["--faults", str(spec)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if json.loads(line).get("ready"):
                break
        else:
            raise AssertionError("fleet serve ended before it was ready")

    def store(self) -> Store:
        return Store(f"sqlite:///{self.db}")

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def wait_for_run(
    db: Path, run_id: int, condition: Callable[[Run], bool], timeout: float = 60.0
) -> Run:
    """Poll the run until ``condition`` holds (bounded by ``timeout``)."""
    store = Store(f"sqlite:///{db}")
    try:
        deadline = time.monotonic() + timeout
        run: Run | None = None
        while True:
            with contextlib.suppress(NotFound):  # not made yet: the plan comes first
                run = get_run(store, run_id)
                if condition(run):
                    return run
            if time.monotonic() > deadline:
                states = [(m.machine, m.state) for m in run.machines] if run else "no run"
                raise AssertionError(f"run #{run_id} never got there: {states}")
            time.sleep(0.1)
    finally:
        store.close()


def runner_pid(run: Run) -> int:
    assert run.owner_id is not None
    return int(run.owner_id.split(":")[1])
