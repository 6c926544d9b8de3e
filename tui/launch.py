"""Starting a run: the run's row, then its runner process, detached from the terminal.

What ``patchdeck deployment run`` (``--detach`` or not) and the console's plan view both do once
the operator has confirmed a plan: :func:`start_run`. The runner (``python -m tui run execute
RUN``) starts in a session of its own, with no terminal (stdin from /dev/null, stdout and stderr
to the run's log file), so neither Ctrl-C, closing the console nor losing the SSH session reaches
it. The inventory's URL goes through the environment (``PATCHDECK_DB``), never the command line,
where ``ps`` would show a password.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from backends.inventory.deployment_options import DeploymentOptions
from backends.inventory.location import runner_logs
from backends.inventory.plans import Plan
from backends.inventory.runs import Run, create_run
from backends.inventory.store import Store


@dataclass(frozen=True, slots=True)
class Started:
    """A run just created and the runner process that owns it now."""

    run: Run
    process: subprocess.Popen[bytes]
    log: Path


def log_path(url: str, run_id: int) -> Path:
    """Where the runner of ``run_id`` on the inventory ``url`` writes its log."""
    return runner_logs(url) / f"run-{run_id}.log"


def spawn_runner(url: str, run_id: int, known_hosts: str | None = None) -> subprocess.Popen[bytes]:
    """Start the runner of ``run_id`` (``known_hosts``: an extra trusted host-key file, as
    ``--known-hosts`` gives it); returns its process (the caller may forget it)."""
    path = log_path(url, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tui"]
    if known_hosts:
        command += ["--known-hosts", known_hosts]
    command += ["run", "execute", str(run_id), "--log", str(path)]
    env = {**os.environ, "PATCHDECK_DB": url}
    with path.open("ab") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            env=env,
        )


def start_run(
    store: Store, plan: Plan, options: DeploymentOptions, known_hosts: str | None = None
) -> Started:
    """Create a run of ``plan`` (its window starting now) and start its runner process."""
    run = create_run(store, plan, options)
    process = spawn_runner(store.url, run.id, known_hosts)
    return Started(run, process, log_path(store.url, run.id))
