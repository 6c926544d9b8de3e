"""The throwaway copy of this machine (tests/overlay_target.py) that real installations go to:
patchdeck reaches it over SSH like any machine, it starts as this machine is, and what is
installed in it never reaches this machine."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.inventory.machines import add_machine
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


def test_the_copy_scans_as_this_machine_and_keeps_installs_to_itself(
    copy: Sshd, db_path: Path
) -> None:
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
    security, other = _truth()
    assert security, "this machine has no pending security update to install in a copy"

    scanned = run_cli("scan", "--json", db=db_path, timeout=180)
    assert scanned.returncode == 0, scanned.stderr + scanned.stdout
    found = json.loads(scanned.stdout)
    assert found["missing"] == {"security": len(security), "other": len(other)}

    # an installation inside the copy (over the same SSH, as root) stays there
    package = sorted(security)[0]
    before = _installed(package)
    ssh = [
        "ssh", "-p", str(copy.port), "-i", str(copy.client_key),
        "-o", f"UserKnownHostsFile={db_path.parent / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "root@127.0.0.1",
    ]  # fmt: skip
    installed = subprocess.run(
        [*ssh, f"DEBIAN_FRONTEND=noninteractive apt-get install -y --only-upgrade {package}"],
        capture_output=True, text=True, timeout=480,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    inside = subprocess.run(
        [*ssh, f"dpkg-query -W -f '${{Version}}' {package}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert inside != before
    assert _installed(package) == before  # this machine is as it was

    rescanned = run_cli("scan", "--json", db=db_path, timeout=180)
    found = json.loads(rescanned.stdout)
    assert package not in {u["name"].split(":")[0] for u in found["updates"]}
    assert found["missing"]["security"] < len(security)
