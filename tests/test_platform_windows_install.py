"""The Windows install's scripts and readers: every script parses as PowerShell and fits a
command line, only GUIDs reach a script, the task's answers are read defensively, and the
worker's progress lines — garbage, cut between two polls, huge — never crash the reader."""

from __future__ import annotations

import base64
import json
import random
import uuid

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Parser

from backends.fleet.faults import NO_FAULTS
from backends.fleet.windows_machine import WindowsMachine
from backends.platforms import windows_install as wi
from backends.platforms.records import Pinned, PlatformError, Result
from backends.transports.winrm import MAX_COMMAND_LINE, encoded_command

NONCE = "0123456789abcdef"
JOB = wi.Job("00112233445566ff")
A = "3e8a1c7b-5d2f-4a61-9b0e-2f7c4d9a8e11"
B = "9f1d2c3b-4a5e-4f60-8b7a-1c2d3e4f5a6b"
PARSER = Parser(Language(tree_sitter_powershell.language()))


def parses(script: str) -> bool:
    return not PARSER.parse(script.encode("utf-8")).root_node.has_error


def every_script(ids: list[str]) -> list[str]:
    commands = [
        *(command for _, command in wi.prepare_commands(JOB, ids, NONCE)),
        wi.register_command(JOB, NONCE),
        wi.start_command(JOB, NONCE),
        wi.poll_command(JOB, 123456, NONCE),
        wi.remove_command(JOB, NONCE),
        wi.reboot_command(NONCE),
        wi.boot_time_command(NONCE),
    ]
    return [c.script for c in commands]


def test_every_script_parses_fits_and_names_its_role() -> None:
    ids = [str(uuid.UUID(int=random.Random(5).getrandbits(128), version=4)) for _ in range(1)]
    ids += [str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))) for i in range(120)]
    scripts = every_script(ids)
    assert len(scripts) == 1 + 3 + 6  # 121 ids: three uploads of at most 50
    roles = []
    for script in scripts:
        assert parses(script), script.splitlines()[0]
        assert script.isascii()
        assert len(encoded_command(script)) <= MAX_COMMAND_LINE
        first = script.splitlines()[0]
        roles.append(first.removeprefix("# patchdeck-role: "))
        assert script.count(f"@@patchdeck:{NONCE}:") == 2
    assert roles == ["task-prepare", "task-ids", "task-ids", "task-ids", "task-register",
                     "task-start", "task-poll", "task-remove", "reboot", "boot-time"]  # fmt: skip
    assert parses(wi.worker_script())
    assert wi.worker_script() in scripts[0]  # written whole to worker.ps1
    uploaded = [line.strip("'") for s in scripts[1:4] for line in s.splitlines() if line[:1] == "'"]
    assert uploaded == ids


def test_the_task_runs_as_system_from_a_directory_only_administrators_may_write() -> None:
    prepare, _, register, *_ = every_script([A])
    assert "$d='C:\\ProgramData\\patchdeck\\00112233445566ff'" in prepare
    assert "'*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F'" in prepare  # SYSTEM, Administrators
    assert "-UserId 'SYSTEM'" in register and "-RunLevel Highest" in register
    assert "$n='install-00112233445566ff'" in register and "$p='\\patchdeck\\'" in register
    worker = wi.worker_script()
    assert "UpdateID='$_'" in worker and "CreateUpdateInstaller" in worker


async def test_no_script_calls_the_update_agent_in_the_session() -> None:
    """WUA refuses Download() and Install() in a WinRM session (E_ACCESSDENIED): only the
    worker calls them, uploaded as text and run by the task; the simulated machine, which
    refuses such calls, answers every script patchdeck sends without that error."""
    machine = WindowsMachine(11, 0, NO_FAULTS)
    scripts = every_script([A, B])
    assert "CreateUpdateInstaller()" in scripts[0] and "$s.Install()" in scripts[0]
    for script in scripts:
        answer = machine.run(script)
        assert "0x80070005" not in answer.stdout + answer.stderr, script.splitlines()[0]
    direct = wi.worker_script().replace("try{", "").split("}catch{")[0]  # not run by a task
    answer = machine.run(direct)
    assert answer.status == 1 and "0x80070005 (E_ACCESSDENIED)" in answer.stderr


def test_a_broken_script_would_be_caught() -> None:
    broken = wi.worker_script().replace("foreach($u in $x.Updates){", "foreach($u in {")
    assert not parses(broken)


@pytest.mark.parametrize(
    "bad",
    ["", "KB5037422", "3e8a1c7b-5d2f-4a61-9b0e-2f7c4d9a8e1", "3e8a1c7b'; Remove-Item C:\\ -R #",
     f"{A}'", f"{A}\n{B}", "g" * 36, f" {A}x"],
)  # fmt: skip
def test_only_guids_reach_a_script(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Windows UpdateID"):
        wi.prepare_commands(JOB, [A, bad], NONCE)


def test_ids_are_normalised_and_other_values_checked() -> None:
    assert wi.check_update_id("{3E8A1C7B-5D2F-4A61-9B0E-2F7C4D9A8E11}") == A
    with pytest.raises(ValueError, match="nothing to install"):
        wi.prepare_commands(JOB, [], NONCE)
    with pytest.raises(ValueError, match="twice"):
        wi.prepare_commands(JOB, [A, A.upper()], NONCE)
    for job in ("", "00112233445566FF", "0011223344556", "../../x", "0011223344556677 "):
        with pytest.raises(ValueError, match="job id"):
            wi.Job(job)
    for offset in (-1, True, 1.5, "1"):
        with pytest.raises(ValueError, match="offset"):
            wi.poll_command(JOB, offset, NONCE)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wi.reboot_command("not a nonce")
    assert len({wi.Job.new().id for _ in range(20)}) == 20


def framed(role: str, body: str, nonce: str = NONCE) -> Result:
    return Result(0, f"@@patchdeck:{nonce}:{role}\r\n{body}\r\n@@patchdeck:{nonce}:end:0\r\n")


def test_reading_the_task_scripts_answers() -> None:
    assert wi.read_answer(framed("task-ids", '{"ids":2}'), NONCE, "task-ids") == {"ids": 2}
    with pytest.raises(PlatformError) as failed:
        error = '{"error":{"hresult":"0x80070005","message":"Access is denied."}}'
        wi.read_answer(framed("task-register", error), NONCE, "task-register")
    assert failed.value.kind == "command-failed"
    assert str(failed.value) == (
        "the task-register script failed: 0x80070005 E_ACCESSDENIED: access denied (the account "
        "is not an administrator, or the call is not allowed from a remote session) (Windows "
        "said: Access is denied.)"
    )
    for body in ("not json", "[1,2]", '"x"', "{" * 100000):
        with pytest.raises(PlatformError) as unreadable:
            wi.read_answer(framed("task-start", body), NONCE, "task-start")
        assert unreadable.value.kind == "unparseable"
    with pytest.raises(PlatformError):  # another nonce: not our answer
        wi.read_answer(framed("task-start", "{}", "fedcba9876543210"), NONCE, "task-start")


def test_reading_a_poll() -> None:
    data = base64.b64encode(b'{"phase":"search"}\n').decode()
    body = json.dumps({"state": "Running", "last": "0x00041301", "size": 19, "data": data})
    poll = wi.read_poll(framed("task-poll", body), NONCE)
    assert (poll.state, poll.last_result, poll.size, poll.data) == (
        "Running", "0x00041301", 19, b'{"phase":"search"}\n',
    )  # fmt: skip
    assert poll.running
    odd = json.dumps({"state": 7, "last": "rm -rf", "size": -4, "data": ""})
    poll = wi.read_poll(framed("task-poll", odd), NONCE)
    assert (poll.state, poll.last_result, poll.size, poll.running) == ("Unknown", None, 0, False)
    for data in ("not base64!", base64.b64encode(b"x" * (wi.POLL_BYTES + 1)).decode()):
        with pytest.raises(PlatformError, match="task-poll"):
            wi.read_poll(framed("task-poll", json.dumps({"state": "Ready", "data": data})), NONCE)


def test_reading_the_boot_time() -> None:
    good = framed("boot-time", '{"boot":"2024-05-12T03:14:07.5000000Z"}')
    assert wi.read_boot_time(good, NONCE) == "2024-05-12T03:14:07.5000000Z"
    assert wi.read_boot_time(framed("boot-time", '{"boot":"\\u001b[31m"}'), NONCE) is None
    assert wi.read_boot_time(Result(None, ""), NONCE) is None


# -- progress lines ---------------------------------------------------------------------------

PINNED = [Pinned(A, "KB5037422", "1"), Pinned(B, "KB890830", "200")]
LINES = [
    {"phase": "search", "count": 2, "missing": []},
    {"phase": "download", "id": A, "index": 0, "count": 2, "percent": 0},
    {"phase": "install", "id": A, "index": 0, "count": 2, "percent": 25},
    {"phase": "result", "id": A, "step": "install", "result": 2, "hresult": "0x00000000",
     "reboot": True, "percent": 50},
    {"phase": "download", "id": B, "index": 1, "count": 2, "percent": 50},
    {"phase": "install", "id": B, "index": 1, "count": 2, "percent": 75},
    {"phase": "result", "id": B, "step": "install", "result": 4, "hresult": "0x80070643",
     "reboot": False, "percent": 100},
    {"phase": "done", "result": 4, "reboot": True},
]  # fmt: skip
FILE = b"".join(json.dumps(line).encode() + b"\n" for line in LINES)


def test_progress_lines_become_an_outcome() -> None:
    progress = wi.Progress({A: "KB5037422", B: "KB890830"})
    seen = progress.feed(FILE)
    assert all(line is not None for line, _ in seen) and len(seen) == len(LINES)
    shown = [progress.progress(line) for line, _ in seen if line is not None]
    percents = [s.percent for s in shown if s is not None]
    assert percents == sorted(percents) and percents[-1] == 100
    installing = shown[2]
    assert installing is not None
    assert (installing.item, installing.message) == ("KB5037422", "installing KB5037422")
    assert progress.offset == len(FILE) and progress.finished
    outcome = progress.outcome(PINNED)
    assert outcome.installed == (A,)
    assert outcome.failed == (
        (B, "install failed: 0x80070643 ERROR_INSTALL_FAILURE: the update's installer failed"),
    )
    assert (outcome.error, outcome.reboot_required) == (None, True)


def test_lines_cut_anywhere_between_polls_read_the_same() -> None:
    rng = random.Random(99)
    for _ in range(200):
        progress = wi.Progress({})
        cuts = sorted(rng.sample(range(1, len(FILE)), rng.randrange(1, 12)))
        parts = [FILE[a:b] for a, b in zip([0, *cuts], [*cuts, len(FILE)], strict=True)]
        lines = [line for part in parts for line, _ in progress.feed(part)]
        assert [line.phase for line in lines if line is not None] == [x["phase"] for x in LINES]
        assert progress.offset == len(FILE) and progress.pending == b""


def test_an_unfinished_or_failed_task() -> None:
    progress = wi.Progress({})
    progress.feed(FILE[: FILE.index(b'{"phase": "download", "id": "9f1d')])
    outcome = progress.outcome(PINNED, "the install task did not finish within 5 s")
    assert outcome.installed == (A,)
    assert outcome.failed == ((B, "the install task did not finish within 5 s"),)
    assert outcome.error_kind == "command-failed" and outcome.reboot_required is True
    assert wi.Progress({}).outcome(PINNED).error == "the install task ended without a result"

    crashed = wi.Progress({})
    crashed.feed(b'{"phase":"search","count":0,"missing":["' + A.encode() + b'"]}\n')
    crashed.feed(b'{"phase":"error","hresult":"0x8024001F","message":"no network"}\n')
    outcome = crashed.outcome(PINNED)
    assert outcome.error == (
        "the install task failed: 0x8024001F WU_E_NO_CONNECTION: no network connection "
        "(Windows said: no network)"
    )
    assert dict(outcome.failed)[A] == "Windows Update did not find it by its UpdateID any more"


@pytest.mark.parametrize(
    "line",
    ["", "garbage", "{", "[]", "null", '{"phase":"nope"}', '{"phase":"install"}',
     '{"phase":"install","id":"not-a-guid"}', '{"phase":"result","id":7}', "\x1b[2J\x00",
     '{"phase":"download","id":"' + A + '"' + " " * 9000 + "}", "[" * 50000 + "]" * 50000],
)  # fmt: skip
def test_lines_that_are_not_progress_are_none(line: str) -> None:
    assert wi.parse_line(line) is None


def test_odd_values_in_a_progress_line_are_dropped_not_trusted() -> None:
    line = wi.parse_line(
        json.dumps({"phase": "result", "id": A.upper(), "percent": 1e9, "result": "2",
                    "hresult": "0x1", "reboot": "yes", "missing": [A, 5, "x"]})
    )  # fmt: skip
    assert line is not None
    assert (line.update_id, line.percent, line.result, line.hresult, line.reboot) == (
        A, 100.0, None, None, None,
    )  # fmt: skip
    assert line.missing == (A,)
    assert wi.parse_line(b'{"phase":"done","percent":NaN}') is not None


def test_random_bytes_never_crash_the_reader() -> None:
    rng = random.Random(7)
    for case in range(300):
        progress = wi.Progress({A: "KB5037422"})
        chunks = []
        for _ in range(rng.randrange(1, 8)):
            kind = rng.randrange(4)
            if kind == 0:
                chunks.append(bytes(rng.randrange(256) for _ in range(rng.randrange(300))))
            elif kind == 1:
                chunks.append(FILE[rng.randrange(len(FILE)) :][: rng.randrange(400)])
            elif kind == 2:
                chunks.append(b"x" * rng.randrange(wi.MAX_LINE * 2))
            else:
                chunks.append(b"\n" * rng.randrange(3))
        for chunk in chunks:
            for line, text in progress.feed(chunk):
                assert len(text) <= 300
                if line is not None:
                    progress.progress(line)
        assert progress.offset == sum(map(len, chunks)), case
        outcome = progress.outcome(PINNED)
        assert len(outcome.installed) + len(outcome.failed) == len(PINNED)
