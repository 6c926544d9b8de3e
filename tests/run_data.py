"""A run written straight into an inventory, at fixed times, as a runner would record it: for
the run view's snapshots and the console benchmark (no fleet, no runner process; this
process claims the run, so it counts as a live runner)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backends.inventory.deployment_options import build_options
from backends.inventory.deployments import create_deployment
from backends.inventory.machines import list_machines
from backends.inventory.plans import MachinePlan, PlanItem, save_plan
from backends.inventory.run_journal import OutputBatch, append_output, claim_run, update_machine
from backends.inventory.run_owners import new_owner_id
from backends.inventory.runs import create_run
from backends.inventory.store import Store
from tests.fleet_data import fill

HOSTILE = "[bold red]pwned\x1b[31m"
PACKAGES = ("openssl", "libssl3", "linux-image-amd64", "curl", "tzdata")


@dataclass(frozen=True, slots=True)
class FakeRun:
    run_id: int
    owner: str
    machine_ids: tuple[int, ...]


def fake_run(store: Store, machines: int, now: datetime, *, stages: int = 1) -> FakeRun:
    """``machines`` machines (``m-00000`` …) in a run started 6 minutes before ``now`` by
    alice, with a 2 h window; the first machines at every state a run shows."""
    fill(store, machines=machines, updates=3)
    listed = sorted(list_machines(store), key=lambda m: m.name)
    per_stage = -(-len(listed) // stages)
    names = [m.name for m in listed]
    staged = [names[i : i + per_stage] for i in range(0, len(names), per_stage)]
    deployment = create_deployment(
        store, "nightly", staged, build_options(reboot="if-required", window="2h")
    )
    items = tuple(
        PlanItem(p, p, "1.0", "1.1", "security" if n % 2 == 0 else "other", p.startswith("linux"))
        for n, p in enumerate(PACKAGES)
    )
    plan = save_plan(
        store,
        deployment.id,
        [
            MachinePlan(m.id, m.name, i // per_stage, items=items, reboot_expected=True)
            for i, m in enumerate(listed)
        ],
        created_at=now - timedelta(minutes=10),
        user="alice",
    )
    run = create_run(store, plan, deployment.options, now=now - timedelta(minutes=6), user="alice")
    owner = new_owner_id()
    claim_run(store, run.id, owner)
    ids = tuple(m.id for m in listed)
    started = now - timedelta(minutes=5)
    done = now - timedelta(minutes=1)
    shapes: list[dict[str, object]] = [
        {"state": "succeeded", "installed": 5, "reboot": "performed", "ended_at": done,
         "installed_items": list(PACKAGES)},
        {"state": "installing", "percent": 40, "current_item": "libssl3", "installed": 1},
        {"state": "failed", "installed": 4, "failed": 1, "ended_at": done,
         "error": "installing: curl failed: dpkg returned an error code (1)",
         "failed_items": [{"id": "curl", "reason": "dpkg returned an error code (1)"}]},
        {"state": "rebooting", "installed": 5, "percent": 100},
        {"state": "scanning"},
        {"state": "succeeded", "installed": 5, "reboot": "not-needed", "ended_at": done},
    ]  # fmt: skip
    for index, shape in enumerate(shapes[: len(ids)]):
        update_machine(store, run.id, owner, ids[index], started_at=started, **shape)
    output = {
        ids[1]: OutputBatch(
            (
                "Reading package lists...",
                "Preparing to unpack .../openssl_1.1_amd64.deb ...",
                "Unpacking openssl (1.1) over (1.0) ...",
                f"Setting up openssl (1.1) ... {HOSTILE}",
                "Preparing to unpack .../libssl3_1.1_amd64.deb ...",
            ),
            40,
            "libssl3",
        )
    }
    if len(ids) > 2:
        output[ids[2]] = OutputBatch(("dpkg: error processing package curl (--configure):",))
    append_output(store, run.id, owner, output)
    return FakeRun(run.id, owner, ids)
