"""How a runner works: its clock, how often it writes and looks, and the time limit of
every remote step. The defaults are for real machines; tests shorten them."""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.engine.window import Clock, SystemClock
from backends.platforms.install import INSTALL_TIMEOUT, LOCK_RETRY_SECONDS


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    clock: Clock = field(default_factory=SystemClock)  # the maintenance window's time
    heartbeat_every: float = 2.0  # seconds between heartbeats
    poll_every: float = 0.5  # seconds between looks at cancel and approve requests
    flush_every: float = 0.5  # seconds between output batches
    scan_timeout: float = 300.0  # each scan before and after the install
    command_timeout: float = 600.0  # the pre and post commands
    install_timeout: float = INSTALL_TIMEOUT  # the install, on top of the lock wait
    lock_wait: float = 600.0  # how long a held package lock is waited for
    lock_retry_every: float = LOCK_RETRY_SECONDS  # dnf/yum: try again this often
    reboot_timeout: float = 900.0  # for the machine to answer with a new boot id
    reboot_poll_every: float = 5.0  # seconds between attempts to reach it
    # told about the run when its deployment has no notify command of its own (the settings')
    notify_default: str | None = None
