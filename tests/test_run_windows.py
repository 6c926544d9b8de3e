"""Runs on Windows machines: the simulated fleet's WinRM endpoints, planned and run through the
engine (and once through the CLI, in processes of their own): exactly the plan's UpdateIDs
installed through the scheduled task, its progress as events, the reboot options with a new
boot time, a failing update in words, a machine that never comes back, an install that hangs,
a machine that goes down in the middle of its install, a cancel, and the task and its
directory removed every time (asked of the simulated machine). A direct install from the WinRM
session is refused with E_ACCESSDENIED where the task's install goes through, and the WinRM
password is found nowhere in what a run leaves behind."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncssh
import pytest
import winrm

from backends.engine.connections import ConnectionPool
from backends.engine.events import MachineState, OutputLine, Progress
from backends.engine.scan import ScanOptions, scan
from backends.fleet.faults import NO_FAULTS, FaultSpec
from backends.fleet.register import register_windows
from backends.fleet.timing import FAST as FAST_FLEET
from backends.fleet.windows_machine import WindowsMachine
from backends.fleet.winrm_server import WindowsFleet, WinRMCredential, serve_windows
from backends.inventory.machines import get_machine, list_machines
from backends.inventory.runs import Run, RunMachine
from backends.inventory.scans import machine_updates
from backends.inventory.store import Store
from backends.platforms.windows_errors import describe_hresult
from tests.conftest import patchdeck_command
from tests.run_support import FAST, Runner, deploy, plan_of, pool_for

pytestmark = pytest.mark.timeout(120)

SEED = 11
PASSWORD = "Pw-RUNLEAK-51c2e8d4"  # distinctive: searched for in all a run leaves behind
FAULTS = {
    "machines": {
        "win-003": [{"failing-update": "KB5037765"}],
        "win-004": ["no-return"],
        "win-005": ["hang-install"],
        "win-006": ["down-mid-install"],
    }
}


def pending(index: int) -> dict[str, str]:
    """KB → UpdateID of what the machine misses at the start."""
    machine = WindowsMachine(SEED, index, NO_FAULTS)
    return {f"KB{u.kb}": machine.update_id(u) for u in machine.pending}


@pytest.fixture(autouse=True)
def the_fleets_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable.startswith("PATCHDECK_WINRM_PASSWORD"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("PATCHDECK_WINRM_PASSWORD", PASSWORD)


@dataclass
class Lab:
    store: Store
    fleet: WindowsFleet
    pool: ConnectionPool

    def runner(self, **changes: object) -> Runner:
        return Runner(self.store, self.pool, replace(FAST, **changes))  # type: ignore[arg-type]

    def clean(self, name: str) -> bool:
        """No install task registered and no job directory left on the machine."""
        scheduler = self.fleet.state(name).scheduler
        return scheduler.tasks() == [] and scheduler.directories() == []


@pytest.fixture
async def lab(store: Store, tmp_path: Path) -> AsyncIterator[Lab]:
    credential = WinRMCredential("Administrator", PASSWORD)
    fleet = await serve_windows(7, SEED, credential, FaultSpec.from_obj(FAULTS), timing=FAST_FLEET)
    try:
        register_windows(store, store.url, fleet.machines, "Administrator")
        pool = pool_for(store, tmp_path)
        yield Lab(store, fleet, pool)
        await pool.close_all()
    finally:
        await fleet.close()


def _only(run: Run) -> RunMachine:
    assert len(run.machines) == 1
    return run.machines[0]


def leaked(text: str | bytes) -> bool:
    """Whether the WinRM password is in ``text``: as it is, as UTF-16 (what PowerShell and
    NTLM use), or in an HTTP Basic header."""
    forms = [
        PASSWORD.encode(),
        PASSWORD.encode("utf-16-le"),
        base64.b64encode(f"Administrator:{PASSWORD}".encode()),
    ]
    data = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
    return any(form in data for form in forms)


def test_the_leak_check_would_find_the_password() -> None:
    assert leaked(f"error: bad password {PASSWORD}!")
    assert leaked(b"\x00" + PASSWORD.encode("utf-16-le"))
    assert leaked(
        "Authorization: Basic " + base64.b64encode(b"Administrator:" + PASSWORD.encode()).decode()
    )
    assert not leaked(PASSWORD[:-1])


async def test_an_install_through_the_task_end_to_end(
    lab: Lab, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: patchdeck's, pywinrm's, the fleet's
    kbs = pending(0)
    before = lab.fleet.state("win-000")
    boot = before.boot
    deployment = deploy(
        lab.store, "win-security", [["win-000"]],
        classifications=["security", "critical"], reboot="if-required",
        pre_command="Write-Output 'pre: ready'", post_command="Write-Output 'post: fine'",
    )  # fmt: skip
    plan = await plan_of(lab.store, deployment, lab.pool)
    planned = plan.machines[0]
    assert planned.error is None, planned.error
    wanted = sorted([kbs["KB5037422"], kbs["KB4052623"]])
    assert sorted(i.platform_id for i in planned.items) == wanted
    assert {e.platform_id for e in planned.excluded} == {kbs["KB890830"]}  # update_rollup
    assert planned.reboot_expected

    runner = lab.runner()
    machine = _only(await runner.run(deployment, plan=plan))
    assert machine.state == "succeeded", machine.error
    assert (machine.installed, machine.failed) == (2, 0)
    assert sorted(machine.installed_items) == wanted
    assert machine.reboot == "performed"

    states = [e.state for e in runner.events if isinstance(e, MachineState) and e.run_id]
    assert states[:5] == ["connecting", "scanning", "installing", "rebooting", "verifying"]
    assert states[-1] == "succeeded"
    progress = [e for e in runner.events if isinstance(e, Progress) and e.run_id]
    assert progress[0].percent < progress[-1].percent == 100
    assert any(e.item and "KB5037422" in e.item for e in progress)  # the update being worked on
    lines = [e.text for e in runner.events if isinstance(e, OutputLine)]
    assert "[pre] pre: ready" in lines and "[post] post: fine" in lines
    assert any(line.startswith("installing 2024-05 Cumulative Update") for line in lines)
    assert any(line.startswith("removed the install task \\patchdeck\\install-") for line in lines)

    state = lab.fleet.state("win-000")
    assert state.boots == 1 and state.boot > boot  # a new boot time
    assert {state.update_id(u) for u in state.pending} == {kbs["KB890830"]}
    assert not state.wants_reboot
    still = {u.platform_id for _, u in machine_updates(lab.store, machine.machine_id)}
    assert still == {kbs["KB890830"]}  # the scan after the run
    assert get_machine(lab.store, "win-000").reboot_pending is False
    assert lab.clean("win-000")

    # the password is nowhere in what the run left behind
    assert len(caplog.records) > 10  # the run and the libraries did log
    logged = caplog.text + "".join(repr(r.args) + str(r.msg) for r in caplog.records)
    assert not leaked(logged)
    for event in runner.events:
        assert not leaked(repr(event)), event
    recorded = [*machine.output, machine.error or "", *machine.notes, repr(machine)]
    assert any("removed the install task" in line for line in recorded)
    assert not any(leaked(text) for text in recorded)
    files = [p for p in db_path.parent.iterdir() if p.is_file()]
    assert db_path in files
    for path in files:  # the inventory, its journal, known_hosts …
        assert not leaked(path.read_bytes()), path


async def test_reboot_never_leaves_it_pending_and_not_needed_is_said(lab: Lab) -> None:
    kbs = {1: pending(1), 2: pending(2)}
    runner = lab.runner()
    definitions = deploy(
        lab.store, "defs", [["win-001"]], classifications=["definition"], reboot="if-required"
    )
    never = deploy(
        lab.store, "never", [["win-002"]], classifications=["security", "updates"],
        exclude=["KB5037782"], reboot="never",
    )  # fmt: skip
    defs = _only(await runner.run(definitions))
    assert (defs.state, defs.reboot, defs.installed) == ("succeeded", "not-needed", 1), defs.error
    assert list(defs.installed_items) == [kbs[1]["KB2267602"]]
    assert lab.fleet.state("win-001").boots == 0

    german = _only(await runner.run(never))
    assert (german.state, german.reboot) == ("succeeded", "pending"), german.error
    assert list(german.installed_items) == [kbs[2]["KB5037930"]]  # not the excluded preview
    state = lab.fleet.state("win-002")
    assert state.boots == 0 and state.wants_reboot
    assert kbs[2]["KB5037782"] in {state.update_id(u) for u in state.pending}
    assert lab.clean("win-001") and lab.clean("win-002")


async def test_a_failing_update_is_reported_in_words(lab: Lab) -> None:
    kbs = pending(3)
    deployment = deploy(lab.store, "failing", [["win-003"]], classifications=["security"])
    machine = _only(await lab.runner().run(deployment))
    assert machine.state == "failed"
    assert (machine.installed, machine.failed) == (0, 1)
    assert list(machine.failed_items) == [
        (
            kbs["KB5037765"],
            "install failed: 0x8024200B WU_E_UH_INSTALLERFAILURE: the update's installer "
            "reported a failure",
        )
    ]
    assert machine.error is not None and "WU_E_UH_INSTALLERFAILURE" in machine.error
    assert machine.error_kind == "install"
    assert kbs["KB5037765"] in {u for u in map(lab.fleet.state("win-003").update_id,
                                               lab.fleet.state("win-003").pending)}  # fmt: skip
    assert lab.clean("win-003")


async def test_a_machine_that_does_not_come_back(lab: Lab) -> None:
    deployment = deploy(lab.store, "gone", [["win-004"]], classifications=["definition"],
                        reboot="always")  # fmt: skip
    machine = _only(await lab.runner(reboot_timeout=1.5).run(deployment))
    assert machine.state == "failed"
    assert machine.error_kind == "no-return"
    assert machine.error is not None and "did not come back within 1.5 s" in machine.error
    assert machine.installed == 1
    assert lab.clean("win-004")  # removed before the reboot


async def test_a_hanging_install_times_out_and_its_task_is_removed(lab: Lab) -> None:
    deployment = deploy(lab.store, "hang", [["win-005"]], classifications=["definition"])
    machine = _only(await lab.runner(install_timeout=1.0).run(deployment))
    assert machine.state == "failed"
    assert machine.error is not None
    assert "the install task did not finish within 1 s" in machine.error
    assert lab.clean("win-005")


DIRECT_INSTALL = """$ErrorActionPreference='Stop'
$w=New-Object -ComObject Microsoft.Update.Session
$x=$w.CreateUpdateSearcher().Search("IsInstalled=0 and Type='Software'")
$s=$w.CreateUpdateInstaller()
$s.Updates=$x.Updates
$r=$s.Install()
$r.ResultCode
"""
DIRECT_DOWNLOAD = """$w=New-Object -ComObject Microsoft.Update.Session
$x=$w.CreateUpdateSearcher().Search("IsInstalled=0 and Type='Software'")
$g=$w.CreateUpdateDownloader();$g.Updates=$x.Updates;$y=$g.Download()
"""
NOT_A_CALL = """# $s=$w.CreateUpdateInstaller(); $s.Install() would be refused here
Write-Output '$w.CreateUpdateDownloader().Download()'
"""


async def test_a_direct_install_from_the_session_is_refused_and_the_task_is_not(
    lab: Lab,
) -> None:
    kbs = pending(1)
    listed = lab.fleet.machine("win-001")

    def run_ps(script: str) -> winrm.Response:
        session = winrm.Session(
            f"127.0.0.1:{listed.port}", auth=("Administrator", PASSWORD), transport="ntlm"
        )
        return session.run_ps(script)

    before = lab.fleet.state("win-001").pending
    install = await asyncio.to_thread(run_ps, DIRECT_INSTALL)
    assert install.status_code == 1 and install.std_out == b""
    said = install.std_err.decode()
    assert said.startswith(
        'Exception calling "Install" with "0" argument(s): "Access is denied. (Exception from '
        'HRESULT: 0x80070005 (E_ACCESSDENIED))"'
    ), said
    assert "\nAt line:6 char:1\n+ $r=$s.Install()\n+ ~~~~~~~~~~~~~~~\n" in said
    download = await asyncio.to_thread(run_ps, DIRECT_DOWNLOAD)
    assert download.status_code == 1
    assert 'Exception calling "Download"' in download.std_err.decode()
    assert "char:54\n+ $g=$w.CreateUpdateDownloader();" in download.std_err.decode()
    assert "0x80070005" in download.std_err.decode()
    words = re.search(r"HRESULT: (0x[0-9A-F]{8})", said)
    assert words is not None
    assert describe_hresult(words.group(1)) == (
        "0x80070005 E_ACCESSDENIED: access denied (the account is not an administrator, or "
        "the call is not allowed from a remote session)"
    )
    quoted = await asyncio.to_thread(run_ps, NOT_A_CALL)  # text that only names the calls
    assert (quoted.status_code, quoted.std_out) == (
        0,
        b"$w.CreateUpdateDownloader().Download()\r\n",
    )
    assert lab.fleet.state("win-001").pending == before  # nothing was installed

    # patchdeck's own transport: a script in patchdeck's frame catches the exception
    nonce = "00aa11bb22cc33dd"
    framed = (
        "# patchdeck-role: direct-install\n"
        f"Write-Output '@@patchdeck:{nonce}:direct-install'\n"
        "try{\n"
        + DIRECT_INSTALL
        + "}catch{$e=$_.Exception;$r=[ordered]@{error=[ordered]@{hresult=('0x{0:X8}' -f "
        '$e.HResult)\nmessage="$($e.Message)"}}}\n'
        "Write-Output (ConvertTo-Json $r -Compress)\n"
        f"Write-Output '@@patchdeck:{nonce}:end:0'\n"
    )
    machine = get_machine(lab.store, "win-001")
    connection = await lab.pool.get(machine)
    output = await connection.run(framed, timeout=20)
    assert output.exit_status == 0
    document = json.loads(output.stdout.split("\r\n")[1])
    assert document["error"]["hresult"] == "0x80131501"  # MethodInvocationException's
    assert "0x80070005 (E_ACCESSDENIED)" in document["error"]["message"]

    # the same machine installs through the task
    deployment = deploy(lab.store, "defs", [["win-001"]], classifications=["definition"])
    ran = _only(await lab.runner().run(deployment))
    assert (ran.state, ran.installed) == ("succeeded", 1), ran.error
    assert list(ran.installed_items) == [kbs["KB2267602"]]
    assert not any("0x80070005" in line for line in ran.output)
    assert lab.clean("win-001")


async def test_a_machine_that_goes_down_in_the_middle_of_its_install(lab: Lab) -> None:
    state = lab.fleet.state("win-006")
    boot = state.boot
    deployment = deploy(lab.store, "crash", [["win-006"]], classifications=["security"])
    plan = await plan_of(lab.store, deployment, lab.pool)
    ids = {item.name: item.platform_id for item in plan.machines[0].items}
    assert len(ids) == 3  # the second the task takes is being installed when it goes down
    runner = lab.runner()
    started = time.monotonic()
    machine = _only(await runner.run(deployment, plan=plan))
    assert time.monotonic() - started < 20
    lines = [e.text for e in runner.events if isinstance(e, OutputLine)]
    taken = [line.removeprefix("downloading ") for line in lines if line.startswith("downloading")]
    assert len(taken) == 2 and set(taken) < set(ids)  # in the task's order
    order = [ids[n] for n in taken] + [ids[n] for n in ids if n not in taken]
    assert machine.state == "failed"
    assert machine.error_kind == "went-down"
    assert machine.error is not None
    assert machine.error.startswith(
        f"installing: the machine went down while installing {taken[1]} and came back "
    ), machine.error
    assert "later with a new boot time" in machine.error
    assert "it restarted and the install task died with it" in machine.error
    assert (machine.installed, machine.failed) == (1, 2)
    assert list(machine.installed_items) == [order[0]]  # its result was read after the restart
    assert sorted(i for i, _ in machine.failed_items) == sorted(order[1:])
    assert all("went down while installing" in why for _, why in machine.failed_items)
    assert machine.reboot is None  # not known after an unexpected restart
    assert any(line.startswith("the machine stopped answering while ") for line in lines)
    assert any(line.startswith("the machine is back after ") for line in lines)
    assert any(line.startswith("the install task \\patchdeck\\install-") and
               "was gone already; removed C:\\ProgramData\\patchdeck\\" in line
               for line in lines)  # fmt: skip

    assert state.boots == 1 and state.crashes == 1 and state.boot > boot
    left = {state.update_id(u) for u in state.pending}
    assert order[0] not in left and set(order[1:]) <= left
    assert lab.clean("win-006")  # the task died with the machine; the cleanup took the rest

    # a scan afterwards shows what was installed and what was not
    summaries = await scan(
        lab.store, [m for m in list_machines(lab.store) if m.name == "win-006"],
        lambda event: None, lab.pool, ScanOptions(timeout=20),
    )  # fmt: skip
    assert summaries["win-006"].ok, summaries["win-006"].error
    still = {u.platform_id for _, u in machine_updates(lab.store, machine.machine_id)}
    assert order[0] not in still and set(order[1:]) <= still

    again = _only(await runner.run(deploy(lab.store, "again", [["win-006"]],
                                          classifications=["security"])))  # fmt: skip
    assert (again.state, sorted(again.installed_items)) == ("succeeded", sorted(order[1:]))


async def test_a_machine_down_for_longer_than_the_wait_fails_in_time(
    store: Store, tmp_path: Path
) -> None:
    credential = WinRMCredential("Administrator", PASSWORD)
    spec = FaultSpec.from_obj({"machines": {"win-000": ["down-mid-install"]}})
    slow_back = replace(FAST_FLEET, reboot_down=600.0)  # back long after the run gave up
    async with await serve_windows(1, SEED, credential, spec, timing=slow_back) as fleet:
        register_windows(store, store.url, fleet.machines, "Administrator")
        pool = pool_for(store, tmp_path)
        try:
            deployment = deploy(store, "gone", [["win-000"]], classifications=["security"])
            runner = Runner(store, pool, replace(FAST, reboot_timeout=1.0))
            started = time.monotonic()
            machine = _only(await runner.run(deployment))
            assert time.monotonic() - started < 20
        finally:
            await pool.close_all()
        assert machine.state == "failed" and machine.error_kind == "went-down"
        assert machine.error is not None
        assert re.fullmatch(
            r"installing: the machine went down while (?:downloading|installing) .+ \(KB5037422\) "
            r"and did not "
            r"answer again within 1 s \(.+\)",
            machine.error,
        ), machine.error
        assert machine.installed == 0 and machine.failed == 1
        lines = [e.text for e in runner.events if isinstance(e, OutputLine)]
        assert any("remove them by hand" in line for line in lines)  # it could not clean up
        assert fleet.state("win-000").scheduler.tasks() == []  # gone with the machine


async def test_a_cancelled_runner_still_removes_the_task(lab: Lab) -> None:
    deployment = deploy(lab.store, "cancel", [["win-005"]], classifications=["definition"])
    runner = lab.runner(install_timeout=60.0)
    run = await runner.start(deployment)
    started = asyncio.Event()

    def watch(event: object) -> None:
        if isinstance(event, Progress) and event.run_id:
            started.set()

    runner.on_event = watch
    task = asyncio.create_task(runner.execute(run))
    await asyncio.wait_for(started.wait(), 30)
    assert lab.fleet.state("win-005").scheduler.tasks()  # the task is there, running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lab.clean("win-005")


# -- through the CLI --------------------------------------------------------------------------


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
    env["PATCHDECK_WINRM_PASSWORD"] = PASSWORD
    return subprocess.run(
        [*patchdeck_command(), "--db", str(db), *args],
        capture_output=True, text=True, env=env, timeout=100, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_deployment_run_json_over_a_mixed_fleet_served_by_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "inventory.db"
    key = tmp_path / "client_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"machines": {"win-001": [{"failing-update": "KB5037765"}]}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
    env["PATCHDECK_WINRM_PASSWORD"] = PASSWORD
    fleet = subprocess.Popen(
        [*patchdeck_command(), "--db", str(db), "fleet", "serve", "--machines", "1",
         "--user", "root", "--identity", str(key), "--windows", "2", "--seed", str(SEED),
         "--register", "--faults", str(faults), "--json", "--exit-with-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert fleet.stdout is not None
        for line in fleet.stdout:
            if json.loads(line).get("ready"):
                break
        created = _cli(
            db, "deployment", "create", "win", "--target", "win-000", "--target", "win-001",
            "--target", "sim-000",
            "--classification", "security", "--reboot", "if-required",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        ran = _cli(db, "deployment", "run", "win", "--yes", "--json")
        assert ran.returncode == 1, ran.stderr  # win-001's update fails
        rows = {row["machine"]: row for row in map(json.loads, ran.stdout.splitlines())}
        assert set(rows) == {"win-000", "win-001", "sim-000"}
        assert rows["sim-000"]["state"] == "succeeded", rows["sim-000"]
        assert rows["sim-000"]["installed"] > 0
        ok, bad = rows["win-000"], rows["win-001"]
        assert (ok["state"], ok["installed"], ok["failed"], ok["reboot"]) == (
            "succeeded", 1, 0, "performed",
        )  # fmt: skip
        assert ok["error"] is None and ok["started"].endswith("Z") and ok["ended"].endswith("Z")
        assert (bad["state"], bad["failed"]) == ("failed", 1)
        assert "0x8024200B WU_E_UH_INSTALLERFAILURE" in bad["error"]
        shown = _cli(db, "scan", "win-000", "--json")
        assert shown.returncode == 0, shown.stderr
        missing = json.loads(shown.stdout.splitlines()[0])["missing"]
        assert missing["security"] == 0 and missing["critical"] == 1
    finally:
        assert fleet.stdin is not None
        fleet.stdin.close()
        fleet.wait(timeout=20)


def test_the_failing_update_fault_names_a_kb() -> None:
    spec = FaultSpec.from_obj({"machines": {"win-000": [{"failing-update": "kb5037422"}]}})
    assert spec.for_machine("win-000", SEED).failing_update == "KB5037422"
    assert spec.for_machine("win-000", SEED).names() == ["failing-update"]
    for bad in ("KB", "rm -rf", True, 12):
        with pytest.raises(ValueError, match="failing-update wants a KB"):
            FaultSpec.from_obj({"machines": {"win-000": [{"failing-update": bad}]}})
    with pytest.raises(ValueError, match="give it per machine"):
        FaultSpec.from_obj({"random": {"failing-update": 0.5}})
