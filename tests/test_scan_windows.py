"""Scans of Windows machines: the simulated fleet's WinRM endpoints, every failure in words, the
same records and JSON as Linux (a mixed fleet through the real CLI), and the WinRM password
never written anywhere."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from backends.engine.connections import ConnectionPool
from backends.engine.events import Event, MachineState, ScanDone
from backends.engine.scan import ScanOptions, scan
from backends.fleet.faults import FaultSpec
from backends.fleet.register import register_windows
from backends.fleet.winrm_server import WinRMCredential, serve_windows
from backends.inventory.location import own_known_hosts
from backends.inventory.machines import get_machine, list_machines
from backends.inventory.records import CLASSIFICATIONS
from backends.inventory.scans import machine_updates
from backends.inventory.store import Store
from backends.transports.known_hosts import HostKeys
from tests.conftest import patchdeck_command, run_cli

pytestmark = pytest.mark.timeout(90)

PASSWORD = "Pw-LEAKCHECK-7f3a9c51"
WINDOWS = set(CLASSIFICATIONS["windows"])
FAULTS = {
    "machines": {
        "win-003": ["refuse-auth"],
        "win-004": ["hang"],
        "win-005": ["wua-error"],
        "win-006": ["garbage"],
        "win-007": ["down"],
        "win-008": ["drop"],
    }
}


@pytest.fixture(autouse=True)
def the_fleets_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PATCHDECK_WINRM_PASSWORD"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATCHDECK_WINRM_PASSWORD", PASSWORD)


async def _scan_fleet(store: Store, tmp_path: Path, https: bool = False) -> dict[str, object]:
    credential = WinRMCredential("Administrator", PASSWORD)
    spec = FaultSpec.from_obj(FAULTS)
    events: list[Event] = []
    async with await serve_windows(9, 11, credential, spec, https=https) as fleet:
        register_windows(store, store.url, fleet.machines, "Administrator", fleet.ca_pem)
        machines = list_machines(store)
        pool = ConnectionPool(HostKeys(own_known_hosts(store.url), user_file=tmp_path / "none"))
        try:
            results = await scan(store, machines, events.append, pool, ScanOptions(timeout=4))
        finally:
            await pool.close_all()
    return {"results": results, "events": events, "machines": machines}


async def test_a_windows_fleet_scan(store: Store, tmp_path: Path) -> None:
    scanned = await _scan_fleet(store, tmp_path)
    results = scanned["results"]
    assert isinstance(results, dict)
    for name in ("win-000", "win-001", "win-002"):
        summary = results[name]
        assert summary.ok, (name, summary.error)
        assert summary.os_family == "windows"
        assert set(summary.missing) == WINDOWS
        assert sum(summary.missing.values()) == len(summary.updates) > 0
        assert get_machine(store, name).last_scan_outcome == "ok"
    assert (results["win-000"].distro, results["win-000"].version) == (
        "Windows Server 2022 Standard",
        "10.0.20348",
    )
    assert results["win-001"].distro == "Windows Server 2019 Datacenter"
    german = [u.name for u in results["win-002"].updates]
    assert any("für" in title for title in german), german  # a localised system, same classes

    machine = get_machine(store, "win-000")
    stored = [u for _, u in machine_updates(store, machine.id, [])]
    assert {u.platform_id for u in stored} == {u.platform_id for u in results["win-000"].updates}
    cu = next(u for u in stored if "Cumulative Update for Microsoft server" in u.name)
    assert (cu.classification, cu.severity, cu.advisories) == (
        "security",
        "Critical",
        ("KB5037422",),
    )
    assert len(cu.platform_id) == 36 and cu.available == "1"
    assert machine.missing == results["win-000"].missing

    def failure(name: str) -> tuple[str | None, str]:
        summary = results[name]
        assert not summary.ok
        return summary.error_kind, summary.error or ""

    kind, error = failure("win-003")
    assert kind == "auth-refused" and "refused the credentials of Administrator (ntlm)" in error
    assert get_machine(store, "win-003").reachable is True
    kind, error = failure("win-004")
    assert (kind, error) == ("timeout", "the scan did not finish within 4 s")
    kind, error = failure("win-005")
    assert kind == "command-failed"
    assert error.startswith(
        "the Windows Update search failed: 0x8024402C WU_E_PT_WINHTTP_NAME_NOT_RESOLVED"
    )
    kind, error = failure("win-006")
    assert kind == "unparseable" and "did not print a JSON document" in error
    kind, error = failure("win-007")
    assert kind == "unreachable" and "refused the connection" in error
    assert get_machine(store, "win-007").reachable is False
    kind, error = failure("win-008")
    assert kind == "connection-lost", error

    events = scanned["events"]
    assert isinstance(events, list)
    assert sorted(e.machine for e in events if isinstance(e, ScanDone)) == sorted(results)
    states = [(e.machine, e.state) for e in events if isinstance(e, MachineState)]
    assert ("win-000", "connecting") in states and ("win-000", "scanning") in states


async def test_the_password_never_leaks(
    store: Store,
    tmp_path: Path,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    found: list[str] = []
    for https in (False, True):  # NTLM, and Basic over HTTPS (the password in every request)
        scanned = await _scan_fleet(store, tmp_path / f"https-{https}", https)
        results = scanned["results"]
        assert isinstance(results, dict)
        assert results["win-000"].ok and not results["win-003"].ok
        found += [s.error or "" for s in results.values()]
        found += [repr(event) for event in scanned["events"]]  # type: ignore[attr-defined]
    store.close()
    forms = [
        PASSWORD.encode(),
        PASSWORD.encode("utf-16-le"),
        base64.b64encode(f"Administrator:{PASSWORD}".encode()),
    ]
    files = [p for p in db_path.parent.iterdir() if p.is_file()]
    assert db_path in files
    for path in files:
        data = path.read_bytes()
        for form in forms:
            assert form not in data, path
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "NTLM" in logged or "wsman" in logged  # the libraries did log their exchanges
    captured = capsys.readouterr()
    for text in (logged, captured.out, captured.err, *found):
        for form in forms:
            assert form.decode("latin-1") not in text


@pytest.fixture
def identity(tmp_path: Path) -> Path:
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    return key


@pytest.fixture
def served(tmp_path: Path, identity: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    """``patchdeck fleet serve --machines 2 --windows 2 --register`` in a process of its own."""
    db = tmp_path / "inventory.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
    command = [
        *patchdeck_command(), "--db", str(db), "fleet", "serve", "--machines", "2",
        "--windows", "2", "--register", "--user", "root", "--identity", str(identity),
        "--json", "--exit-with-stdin",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            row = json.loads(line)
            if row.get("ready"):
                break
        else:
            raise AssertionError("the fleet ended before it was ready")
        yield db, row
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_scan_json_over_a_mixed_fleet(served: tuple[Path, dict[str, object]]) -> None:
    db, ready = served
    assert (ready["machines"], ready["windows"], ready["winrm_user"]) == (4, 2, "Administrator")
    password = ready["winrm_password"]  # made up by the fleet: no PATCHDECK_WINRM_PASSWORD set
    assert isinstance(password, str) and len(password) >= 12
    listed = run_cli("machine", "list", "--json", db=db)
    transports = {
        m["name"]: (m["transport"], m["os"])
        for m in map(json.loads, listed.stdout.split("\n")[:-1])
    }
    assert transports == {
        "sim-000": ("ssh", "linux"),
        "sim-001": ("ssh", "linux"),
        "win-000": ("winrm", "windows"),
        "win-001": ("winrm", "windows"),
    }

    missing = run_cli("scan", "--json", "win-000", db=db)
    assert missing.returncode == 1
    assert "no password for win-000: set PATCHDECK_WINRM_PASSWORD_WIN_000" in missing.stdout

    result = run_cli("scan", "--json", db=db, env={"PATCHDECK_WINRM_PASSWORD": password})
    assert result.returncode == 0, (result.stdout, result.stderr)
    rows = {row["machine"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"sim-000", "sim-001", "win-000", "win-001"}
    for name in ("sim-000", "sim-001"):
        assert rows[name]["os"] == "linux" and set(rows[name]["missing"]) == {"security", "other"}
    for name in ("win-000", "win-001"):
        row = rows[name]
        assert row["status"] == "ok" and row["error"] is None
        assert row["os"] == "windows" and set(row["missing"]) == WINDOWS
        assert all(isinstance(n, int) for n in row["missing"].values())
        assert sum(row["missing"].values()) == len(row["updates"]) > 0
        assert str(row["distro"]).startswith("Windows Server 20")
        for update in row["updates"]:
            assert len(update["id"]) == 36 and update["installed"] is None
            assert update["classification"] in WINDOWS
            assert all(kb.startswith("KB") for kb in update["advisories"])
        assert set(row) == set(rows["sim-000"])  # one shape for both families
    for text in (result.stdout, result.stderr, missing.stdout, missing.stderr):
        assert password not in text
    assert password.encode() not in db.read_bytes()
