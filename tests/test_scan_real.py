"""`patchdeck scan` over Debian's real sshd against this very machine (Debian 12 with real
pending updates, read-only): the counts must equal the truth computed here, independently of
the parser, from `apt list --upgradable` and `apt-cache policy` by the classification rule."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from backends.inventory.machines import add_machine, get_machine
from backends.inventory.scans import machine_updates
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.conftest import require_tool, run_cli
from tests.sshd import Sshd

C = {**os.environ, "LC_ALL": "C"}
LIST_LINE = re.compile(r"^(?P<name>[^/\s]+)/(?P<suites>\S+) (?P<new>\S+) \S+ \[upgradable from: ")


def _truth() -> tuple[set[str], set[str]]:
    """(security, other) package names by the rule: a version newer than the installed one
    comes from a security suite, as the candidate or masked below a candidate."""
    require_tool("apt-cache", "apt")
    listed = subprocess.run(
        ["apt", "list", "--upgradable"], capture_output=True, text=True, env=C, check=True
    ).stdout
    suites: dict[str, list[str]] = {}
    for line in listed.splitlines():
        m = LIST_LINE.match(line)
        if m:
            suites[m["name"]] = m["suites"].split(",")
    security = {n for n, s in suites.items() if any(x.endswith("-security") for x in s)}
    rest = sorted(set(suites) - security)
    if rest:
        policy = subprocess.run(
            ["apt-cache", "policy", *rest], capture_output=True, text=True, env=C, check=True
        ).stdout
        name, above_installed = "", True
        for line in policy.splitlines():
            if not line.startswith(" "):
                name, above_installed = line.rstrip(":"), True
            elif line.startswith(" *** "):
                above_installed = False
            elif above_installed and "-security" in line and line.startswith("        "):
                security.add(name)
    return security, set(suites) - security


@pytest.fixture
def real_machine(sshd: Sshd, db_path: Path) -> Store:
    store = Store.open(str(db_path))
    add_machine(
        store,
        build_spec(
            name="this-debian",
            address="127.0.0.1",
            port=sshd.port,
            user=sshd.user,
            identity_file=str(sshd.client_key),
        ),
    )
    (db_path.parent / "known_hosts").write_text(sshd.known_hosts_line())
    return store


def test_scan_counts_equal_the_truth(real_machine: Store, db_path: Path) -> None:
    security, other = _truth()
    result = run_cli("scan", "--json", db=db_path, timeout=180)
    assert result.returncode == 0, result.stderr + result.stdout
    [line] = result.stdout.splitlines()
    found = json.loads(line)
    assert found["status"] == "ok" and found["error"] is None
    assert (found["os"], found["distro"], found["version"]) == ("linux", "debian", "12")
    assert found["missing"] == {"security": len(security), "other": len(other)}
    by_class = {
        c: {u["name"].split(":")[0] for u in found["updates"] if u["classification"] == c}
        for c in ("security", "other")
    }
    assert by_class["security"] == security
    assert by_class["other"] == other

    machine = get_machine(real_machine, "this-debian")
    assert machine.last_scan_outcome == "ok" and machine.reachable is True
    assert machine.missing == found["missing"]
    stored = machine_updates(real_machine, machine.id)
    assert len(stored) == len(security) + len(other)

    shown = run_cli("updates", "this-debian", "--classification", "security", db=db_path)
    assert shown.returncode == 0
    assert len(shown.stdout.splitlines()) == 1 + len(security)


def test_unknown_host_key_fails_in_words_and_keeps_going(
    real_machine: Store, db_path: Path
) -> None:
    (db_path.parent / "known_hosts").unlink()
    add_machine(real_machine, build_spec(name="nowhere", address="127.0.0.1", port="1"))
    result = run_cli("scan", "--json", db=db_path, timeout=120)
    assert result.returncode == 1
    rows = {r["machine"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["this-debian"]["status"] == "failed"
    assert "is not known" in rows["this-debian"]["error"]
    assert "patchdeck machine trust this-debian" in rows["this-debian"]["error"]
    assert rows["nowhere"]["status"] == "failed"
    assert "refused the connection" in rows["nowhere"]["error"]
    assert get_machine(real_machine, "nowhere").reachable is False
    assert get_machine(real_machine, "this-debian").reachable is True
