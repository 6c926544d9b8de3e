"""The Windows assessment: the search script, its JSON read defensively, classification by
GUID (never by the localised name), and Windows Update's numbers in words.

The outputs in tests/data/platforms/windows-*.txt are hand-written from documented shapes (no
Windows machine is reachable here; each has a note saying so, with the sources)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Parser

from backends.inventory.records import CLASSIFICATIONS
from backends.platforms import windows
from backends.platforms.records import Assessment, PlatformError, Result
from backends.platforms.windows_errors import (
    HRESULTS,
    describe_hresult,
    describe_result_code,
    parse_hresult,
)
from backends.transports.winrm import MAX_COMMAND_LINE, encoded_command

DATA = Path(__file__).parent / "data" / "platforms"
NONCE = "0123456789abcdef"
KINDS = {"unparseable", "command-failed", "unsupported"}


def raw(name: str) -> str:
    """A data file as the transport hands it over: CR LF kept."""
    return (DATA / name).read_bytes().decode("utf-8")


def scan(name: str) -> Assessment:
    stdout = raw(name)
    assessor = windows.assess(nonce=NONCE)
    command = next(assessor)
    assert command.script == windows.search_script(NONCE)
    with pytest.raises(StopIteration) as done:
        assessor.send(Result(0, stdout))
    assessment = done.value.value
    assert isinstance(assessment, Assessment)
    return assessment


def test_every_data_file_has_a_note_saying_it_is_hand_written() -> None:
    for path in DATA.glob("windows-*.txt"):
        note = (DATA / f"{path.name}.md").read_text(encoding="utf-8")
        assert "Hand-written, not captured" in note, path


def test_a_server_2022_answer() -> None:
    found = scan("windows-search-server2022.txt")
    facts = found.facts
    assert (facts.family, facts.distro, facts.version) == (
        "windows",
        "Windows Server 2022 Standard",
        "10.0.20348",
    )
    assert facts.pretty_name == "Microsoft Windows Server 2022 Standard"
    assert facts.boot_id == "2024-05-12T03:14:07.5000000Z"
    assert facts.reboot_required is True
    assert any("RebootPending" in n and "PendingFileRenameOperations" in n for n in found.notes)
    assert found.problems == []
    by_kb = {u.advisories[0]: u for u in found.updates}
    assert {kb: u.classification for kb, u in by_kb.items()} == {
        "KB5037422": "security",
        "KB5037930": "security",
        "KB890830": "update_rollup",
        "KB2267602": "definition",
        "KB4052623": "critical",
        "KB5037782": "updates",
        "KB5011048": "feature_pack",
    }
    cu = by_kb["KB5037422"]
    assert cu.platform_id == "3e8a1c7b-5d2f-4a61-9b0e-2f7c4d9a8e11"
    assert cu.name.startswith("2024-05 Cumulative Update for Microsoft server operating system")
    assert (cu.severity, cu.available, cu.installed, cu.reboot_likely) == (
        "Critical",
        "1",
        None,
        True,
    )
    assert by_kb["KB5037930"].severity == "Important"
    assert by_kb["KB2267602"].severity is None  # an empty MsrcSeverity
    assert by_kb["KB890830"].available == "200" and not by_kb["KB890830"].reboot_likely
    assert by_kb["KB5011048"].reboot_likely  # RebootBehavior 1: always requires a reboot


def test_a_localised_answer_is_classified_by_guid() -> None:
    found = scan("windows-search-localised.txt")
    assert found.facts.reboot_required is False
    titles = [u.name for u in found.updates]
    assert (
        "2024-05 Kumulatives Update für Windows Server 2019 für x64-basierte Systeme (KB5037765)"
        in titles
    )
    japanese = next(u for u in found.updates if u.advisories == ("KB5037766",))
    assert (
        japanese.name
        == "2024-05 x64 ベース システム用 Windows Server 2019 の累積更新プログラム (KB5037765) 🛡"
    )
    assert japanese.classification == "security" and japanese.severity == "Important"
    assert japanese.reboot_likely
    upper = next(u for u in found.updates if u.advisories == ("KB5037765",))
    assert upper.platform_id == "9d7b2c41-6e3a-4f58-9b1c-2a3d4e5f6071"  # braces, case: normalised
    assert upper.classification == "security"
    rest = {u.name: u.classification for u in found.updates if u.classification == "updates"}
    assert set(rest) == {
        "Funktionsupdate auf Windows Server, Version 23H2",
        "Neue Klasse von Updates (KB5099999)",
        "Update ohne Klassifizierung (KB5088888)",
    }
    notes = " | ".join(found.notes)
    assert "classified Upgrades: counted as updates" in notes
    assert "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee, which patchdeck does not know" in notes
    assert "1 update(s) have no classification" in notes
    assert next(u for u in found.updates if "Funktionsupdate" in u.name).advisories == ()


def test_a_failed_search_is_a_failure_in_words() -> None:
    with pytest.raises(PlatformError) as failed:
        scan("windows-search-failed.txt")
    assert failed.value.kind == "command-failed"
    assert str(failed.value) == (
        "the Windows Update search failed: 0x8024402C WU_E_PT_WINHTTP_NAME_NOT_RESOLVED: the "
        "name of the update server or proxy cannot be resolved (Windows said: Exception from "
        "HRESULT: 0x8024402C)"
    )


def _document(**changes: Any) -> str:
    text = raw("windows-search-server2022.txt")
    body = json.loads(text.split("\r\n")[1])
    body.update(changes)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("result", "kind", "words"),
    [(4, "command-failed", "failed"), (5, "command-failed", "aborted")],
)
def test_failed_or_aborted_result_codes(result: int, kind: str, words: str) -> None:
    with pytest.raises(PlatformError, match=words) as failed:
        windows.parse_scan(_document(search={"result": result}))
    assert failed.value.kind == kind


def test_partial_results_and_odd_values_are_noted_not_fatal() -> None:
    found = windows.parse_scan(
        _document(
            search={"result": 3},
            reboot={"cbs": "yes", "wu": None, "rename": False},
            updates=[
                {"id": "not-a-guid", "title": "x"},
                "a string",
                {"id": "3E8A1C7B-5D2F-4A61-9B0E-2F7C4D9A8E11", "kb": "KB5037422", "classes": "x"},
                {"id": "3e8a1c7b-5d2f-4a61-9b0e-2f7c4d9a8e11", "title": "the same again"},
            ],
        )
    )
    assert "succeeded with errors" in found.notes[0]
    assert found.facts.reboot_required is None
    assert len(found.updates) == 1
    only = found.updates[0]
    assert (only.name, only.advisories, only.classification) == (
        "KB5037422",
        ("KB5037422",),
        "updates",
    )
    problems = " | ".join(found.problems)
    assert "update 0: no UpdateID" in problems and "update 1: not an object" in problems
    assert "listed twice" in problems and "pending-restart flags" in problems


def test_the_answer_must_carry_the_scripts_nonce() -> None:
    stdout = raw("windows-search-server2022.txt")
    assessor = windows.assess(nonce="fedcba9876543210")
    next(assessor)
    with pytest.raises(PlatformError, match="printed no patchdeck sections"):
        assessor.send(Result(0, stdout))


def test_a_script_that_died_says_what_powershell_said() -> None:
    assessor = windows.assess(nonce=NONCE)
    next(assessor)
    with pytest.raises(PlatformError) as failed:
        assessor.send(Result(1, "", "Get-CimInstance : Access denied"))
    assert "exit 1" in str(failed.value) and "Access denied" in str(failed.value)


def test_the_script() -> None:
    script = windows.search_script(NONCE)
    assert script.splitlines()[0] == "# patchdeck-role: search"
    assert f'Search("{windows.SEARCH_CRITERIA}")' in script
    assert script.count(f"@@patchdeck:{NONCE}:") == 2
    assert script.isascii()
    assert len(encoded_command(script)) <= MAX_COMMAND_LINE
    tree = Parser(Language(tree_sitter_powershell.language())).parse(script.encode("utf-8"))
    assert not tree.root_node.has_error, "the search script does not parse as PowerShell"
    with pytest.raises(ValueError):
        windows.search_script("not a nonce")


def test_a_broken_script_would_be_caught_by_the_parse_check() -> None:
    broken = windows.search_script(NONCE).replace("foreach($x in $r.Updates){", "foreach($x in {")
    tree = Parser(Language(tree_sitter_powershell.language())).parse(broken.encode("utf-8"))
    assert tree.root_node.has_error


def test_classification_tables_cover_every_windows_classification() -> None:
    assert sorted(set(windows.CLASSIFICATION_GUIDS.values())) == sorted(CLASSIFICATIONS["windows"])
    for guid in [*windows.CLASSIFICATION_GUIDS, *windows.OTHER_CLASSIFICATIONS]:
        assert re.fullmatch(r"[0-9a-f-]{36}", guid)


def test_hresults_in_words() -> None:
    assert describe_hresult("0x80070005").startswith("0x80070005 E_ACCESSDENIED: access denied")
    assert describe_hresult(-2145107924) == describe_hresult("0x8024402c")
    assert describe_hresult(2149859372).startswith("0x8024402C WU_E_PT_WINHTTP")
    assert "not a code patchdeck knows" in describe_hresult("0x80001234")
    assert describe_hresult("banana") == "error 'banana'"
    assert parse_hresult(True) is None and parse_hresult(1 << 40) is None
    assert describe_result_code(3) == "succeeded with errors"
    assert describe_result_code("x") == "result code x"
    for value, (name, words) in HRESULTS.items():
        # Win32, Windows Update, CBS, and .NET (what PowerShell's catch reports)
        assert value >> 16 in (0x8007, 0x8024, 0x800F, 0x8013), hex(value)
        assert name.isupper() and words and not words.endswith(".")


# --- never a crash ---------------------------------------------------------------------------

_VALUES: list[Any] = [None, True, 0, -1, 2**70, 1.5, "", "x" * 5000, [], {}, ["a"], {"a": 1}]


def _mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    if depth > 6 or rng.random() < 0.15:
        return rng.choice(_VALUES)
    if isinstance(value, dict):
        out = {k: _mutate(v, rng, depth + 1) for k, v in value.items() if rng.random() > 0.1}
        if rng.random() < 0.1:
            out[rng.choice(["id", "kb", "classes", "os", "zz"])] = rng.choice(_VALUES)
        return out
    if isinstance(value, list):
        return [_mutate(v, rng, depth + 1) for v in value if rng.random() > 0.1]
    if isinstance(value, str) and rng.random() < 0.3:
        cut = value[: rng.randrange(len(value) + 1)]
        return cut + rng.choice(["\x00", "\x1b[31m", "\ud800", "é", "{", "'"])
    return value


def test_mutated_documents_end_in_an_assessment_or_a_platform_error() -> None:
    base = json.loads(_document())
    failed_search = raw("windows-search-failed.txt")
    base_failed = json.loads(failed_search.split("\r\n")[1])
    rng = random.Random(4242)
    outcomes = {"assessment": 0, "error": 0}
    for case in range(1500):
        document = _mutate(base if case % 5 else base_failed, rng)
        text = json.dumps(document)
        if case % 9 == 0:
            text = text[: rng.randrange(len(text) + 1)]
        try:
            found = windows.parse_scan(text)
        except PlatformError as exc:
            assert exc.kind in KINDS
            outcomes["error"] += 1
            continue
        outcomes["assessment"] += 1
        for update in found.updates:
            assert update.classification in CLASSIFICATIONS["windows"]
            assert update.severity is None or len(update.severity) <= windows.SEVERITY_LIMIT
            assert len(update.name) <= windows.MAX_TITLE
        assert len(found.problems) <= windows.MAX_PROBLEMS + 1
    assert outcomes["assessment"] > 300 and outcomes["error"] > 100, outcomes


def test_garbage_truncated_huge_and_non_utf8_answers() -> None:
    rng = random.Random(2424)
    good = raw("windows-search-server2022.txt")
    for case in range(240):
        kind = case % 4
        if kind == 0:  # the real answer cut anywhere
            stdout = good[: rng.randrange(len(good) + 1)]
        elif kind == 1:  # bytes that are not UTF-8, decoded the way the transport does
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(2000)))
            body = noise.decode("utf-8", errors="replace")
            stdout = f"@@patchdeck:{NONCE}:windows-scan\r\n{body}\r\n@@patchdeck:{NONCE}:end:0\r\n"
        elif kind == 2:  # deeply nested JSON
            depth = rng.randrange(10, 200_000)
            body = "[" * depth + "]" * depth
            stdout = f"@@patchdeck:{NONCE}:windows-scan\n{body}\n@@patchdeck:{NONCE}:end:0\n"
        else:  # many updates
            updates = [
                {"id": f"{i:08x}-0000-4000-8000-000000000000", "title": "t" * rng.randrange(900),
                 "kb": [str(i)], "classes": [rng.choice(list(windows.CLASSIFICATION_GUIDS))]}
                for i in range(rng.randrange(1500))
            ]  # fmt: skip
            body = _document(updates=updates)
            stdout = f"@@patchdeck:{NONCE}:windows-scan\n{body}\n@@patchdeck:{NONCE}:end:0\n"
        assessor = windows.assess(nonce=NONCE)
        next(assessor)
        try:
            assessor.send(Result(rng.choice([0, 1, None]), stdout))
        except StopIteration as done:
            assert isinstance(done.value, Assessment)
        except PlatformError as exc:
            assert exc.kind in KINDS
