"""`run-due` starting a scheduled deployment for real: against the simulated fleet, the due
occurrence is claimed, planned afresh, run by a runner process of its own in a window counted
from the occurrence, and the claim names the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backends.inventory.deployments import edit_deployment, get_deployment
from backends.inventory.runs import get_run
from backends.inventory.schedules import STARTED, Schedule, list_claims
from tests.cli_fleet import CliFleet, wait_for_run
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[CliFleet]:
    served = CliFleet(tmp_path, machines=2, seed=3)
    yield served
    served.stop()


def test_run_due_starts_the_due_occurrence_once(fleet: CliFleet) -> None:
    created = run_cli(
        "deployment", "create", "hourly", "--target", "sim-000", "sim-001",
        "--classification", "security", "--classification", "other",
        "--every", "FREQ=HOURLY", "--tz", "UTC", db=fleet.db,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    store = fleet.store()
    # as if a one-off time had come a minute ago
    occurrence = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    edit_deployment(store, "hourly", schedule=Schedule(tz="UTC", at=occurrence))

    result = run_cli("run-due", "--json", db=fleet.db, timeout=120)
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert (line["state"], line["occurrence"]) == (STARTED, occurrence.isoformat()[:19] + "Z")
    run_id = line["run_id"]
    (claim,) = list_claims(store, get_deployment(store, "hourly").id)
    assert (claim.state, claim.run_id) == (STARTED, run_id)
    run = get_run(store, run_id)
    assert run.window_end == occurrence + timedelta(hours=2)  # counted from the occurrence

    again = run_cli("run-due", "--json", db=fleet.db)
    assert (again.returncode, again.stdout) == (0, "")  # started once
    ended = wait_for_run(fleet.db, run_id, lambda r: not r.live)
    assert ended.state == "succeeded", [(m.machine, m.state, m.error) for m in ended.machines]
    store.close()
