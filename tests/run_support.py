"""What the run tests share: a clock tests move, runner options with short waits, and a
simulated fleet registered in the inventory with a deployment planned over it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backends.engine.connections import ConnectionPool
from backends.engine.events import Event
from backends.engine.plan import make_plan
from backends.engine.run_options import RunnerOptions
from backends.engine.runner import execute_run
from backends.fleet.profiles import pick_kind
from backends.fleet.server import Fleet
from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import Deployment, create_deployment
from backends.inventory.location import own_known_hosts
from backends.inventory.plans import Plan
from backends.inventory.runs import Run, create_run
from backends.inventory.store import Store
from backends.transports.known_hosts import HostKeys

SEED = 7


def index_of(kind: str, seed: int = SEED) -> int:
    """The index of the first machine of ``kind`` in a fleet of ``seed`` (the first ten
    machines are one of each kind)."""
    return next(i for i in range(10) if pick_kind(seed, i).key == kind)


def name_of(kind: str, seed: int = SEED) -> str:
    return f"sim-{index_of(kind, seed):03d}"


@dataclass
class ManualClock:
    """The maintenance window's clock, moved by the test (and by ``on_event`` hooks)."""

    at: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 22, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, minutes: float) -> None:
        self.at += timedelta(minutes=minutes)


FAST = RunnerOptions(
    heartbeat_every=0.2,
    poll_every=0.05,
    flush_every=0.05,
    scan_timeout=30.0,
    command_timeout=30.0,
    install_timeout=30.0,
    lock_wait=3.0,
    lock_retry_every=0.5,
    reboot_timeout=6.0,
    reboot_poll_every=0.2,
)


def pool_for(store: Store, tmp_path: Path) -> ConnectionPool:
    return ConnectionPool(
        HostKeys(own_known_hosts(store.url), user_file=tmp_path / "none"), connect_timeout=3.0
    )


def deploy(
    store: Store,
    name: str,
    stages: Sequence[Sequence[str]],
    notify: str | None = None,
    **options: Any,
) -> Deployment:
    defaults: dict[str, Any] = {"classifications": ["security", "other"]}
    built = build_options(**{**defaults, **options})
    return create_deployment(store, name, stages, built, notify=notify)


async def plan_of(store: Store, deployment: Deployment, pool: ConnectionPool) -> Plan:
    return await make_plan(store, deployment, pool, lambda event: None)


@dataclass
class Runner:
    """Plans, creates and executes runs in this process, collecting the events."""

    store: Store
    pool: ConnectionPool
    options: RunnerOptions = FAST
    events: list[Event] = field(default_factory=list)
    on_event: Callable[[Event], None] | None = None

    def publish(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    async def start(
        self, deployment: Deployment, now: datetime | None = None, plan: Plan | None = None
    ) -> Run:
        plan = plan or await plan_of(self.store, deployment, self.pool)
        return create_run(self.store, plan, deployment.options, now=now)

    async def execute(self, run: Run, clock: ManualClock | None = None) -> Run:
        options = self.options if clock is None else replace(self.options, clock=clock)
        return await execute_run(self.store, run.id, self.pool, self.publish, options)

    async def run(
        self, deployment: Deployment, clock: ManualClock | None = None, plan: Plan | None = None
    ) -> Run:
        run = await self.start(deployment, clock.now() if clock else None, plan)
        return await self.execute(run, clock)


def by_name(run: Run) -> dict[str, Any]:
    return {m.machine: m for m in run.machines}


def register(store: Store, fleet: Fleet, key: Path) -> None:
    from backends.fleet.register import register_fleet

    register_fleet(store, store.url, fleet.machines, user="root", identity_file=str(key))
