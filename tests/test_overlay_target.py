"""The throwaway copy of this machine (tests/overlay_target.py) that real installations go to:
patchdeck reaches it over SSH like any machine, it starts as this machine is, and what is
installed in it never reaches this machine. Then a real run: ``patchdeck deployment run``
installs exactly the planned security updates in the copy with the real apt-get."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.inventory.machines import add_machine
from backends.inventory.plans import get_plan
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.conftest import REQUIRE_SYSTEM_TESTS, run_cli
from tests.overlay_target import overlay_supported, start_overlay_sshd
from tests.sshd import Sshd
from tests.test_scan_real import C, _truth

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def copy(tmp_path: Path) -> Iterator[Sshd]:
    reason = overlay_supported()
    if reason is not None:
        if REQUIRE_SYSTEM_TESTS:
            pytest.fail(f"{reason} (PATCHDECK_REQUIRE_SYSTEM_TESTS=1)")
        pytest.skip(reason)
    target = start_overlay_sshd(tmp_path / "copy-target")
    try:
        yield target
    finally:
        target.stop()


def _installed(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True, text=True, env=C, check=True,
    ).stdout  # fmt: skip


def _register(copy: Sshd, db_path: Path) -> None:
    store = Store.open(str(db_path))
    add_machine(
        store,
        build_spec(
            name="copy",
            address="127.0.0.1",
            port=copy.port,
            user="root",
            identity_file=str(copy.client_key),
        ),
    )
    store.close()
    (db_path.parent / "known_hosts").write_text(copy.known_hosts_line())


def _ssh(copy: Sshd, db_path: Path) -> list[str]:
    return [
        "ssh", "-p", str(copy.port), "-i", str(copy.client_key),
        "-o", f"UserKnownHostsFile={db_path.parent / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "root@127.0.0.1",
    ]  # fmt: skip


def _inside(copy: Sshd, db_path: Path, package: str) -> str:
    return subprocess.run(
        [*_ssh(copy, db_path), f"dpkg-query -W -f '${{Version}}' {package}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip


def test_the_copy_scans_as_this_machine_and_keeps_installs_to_itself(
    copy: Sshd, db_path: Path
) -> None:
    _register(copy, db_path)
    security, other = _truth()
    assert security, "this machine has no pending security update to install in a copy"

    scanned = run_cli("scan", "--json", db=db_path, timeout=180)
    assert scanned.returncode == 0, scanned.stderr + scanned.stdout
    found = json.loads(scanned.stdout)
    assert found["missing"] == {"security": len(security), "other": len(other)}

    # an installation inside the copy (over the same SSH, as root) stays there
    package = sorted(security)[0]
    before = _installed(package)
    installed = subprocess.run(
        [
            *_ssh(copy, db_path),
            f"DEBIAN_FRONTEND=noninteractive apt-get install -y --only-upgrade {package}",
        ],
        capture_output=True, text=True, timeout=480,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    assert _inside(copy, db_path, package) != before
    assert _installed(package) == before  # this machine is as it was

    rescanned = run_cli("scan", "--json", db=db_path, timeout=180)
    found = json.loads(rescanned.stdout)
    assert package not in {u["name"].split(":")[0] for u in found["updates"]}
    assert found["missing"]["security"] < len(security)


def test_a_deployment_run_installs_exactly_the_plan_with_the_real_apt(
    copy: Sshd, db_path: Path
) -> None:
    _register(copy, db_path)
    security, other = _truth()
    # jq and the library it needs: a small pair of security updates pending on this Debian 12
    # image; every other pending security update must stay as it is
    wanted = [p for p in ("jq", "libjq1") if p in security]
    assert wanted, f"jq is no longer a pending security update here: {sorted(security)[:10]}"
    untouched = sorted(security - set(wanted))[0]
    before = {p: _installed(p) for p in [*wanted, untouched]}
    created = run_cli(
        "deployment", "create", "real", "--target", "copy", "--classification", "none",
        *(f"--include={p}" for p in wanted), "--reboot", "never", db=db_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    ran = run_cli("deployment", "run", "real", "--yes", "--json", db=db_path, timeout=540)
    assert ran.returncode == 0, ran.stderr[-3000:] + ran.stdout[-2000:]
    (row,) = [json.loads(line) for line in ran.stdout.splitlines()]
    assert (row["machine"], row["state"], row["failed"]) == ("copy", "succeeded", 0)
    assert row["installed"] == len(wanted) and row["reboot"] in ("pending", "not-needed")

    shown = json.loads(run_cli("run", "show", "1", "--json", db=db_path).stdout)
    (machine,) = shown["machines"]
    assert sorted(machine["installed_items"]) == sorted(wanted), machine
    store = Store.open(str(db_path))
    (planned,) = get_plan(store, shown["plan"]).machines
    store.close()
    pinned = {item.platform_id: item.version for item in planned.items}
    assert sorted(pinned) == sorted(wanted)
    for package in wanted:  # the pinned version is what the copy has now
        assert _inside(copy, db_path, package) == pinned[package] != before[package]
        assert _installed(package) == before[package]  # this machine is as it was
    assert _inside(copy, db_path, untouched) == before[untouched]  # not in the plan: left

    rescanned = json.loads(run_cli("scan", "--json", db=db_path, timeout=180).stdout)
    names = {u["name"].split(":")[0] for u in rescanned["updates"]}
    assert names == (security | other) - set(wanted)  # every other update still pending
