"""Shared fixtures: a real inventory file per test, the real CLI, and system-tool checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.inventory.store import Store

DATA = Path(__file__).parent / "data"
REQUIRE_SYSTEM_TESTS = os.environ.get("PATCHDECK_REQUIRE_SYSTEM_TESTS") == "1"


def require_tool(tool: str, package: str) -> str:
    """The path of ``tool``; skip (or, in CI, fail) naming the Debian package that has it."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        reason = f"{tool} not found: install the Debian package {package!r}"
        if REQUIRE_SYSTEM_TESTS:
            pytest.fail(f"{reason} (PATCHDECK_REQUIRE_SYSTEM_TESTS=1)")
        pytest.skip(reason)
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "inventory.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store.open(str(db_path))
    yield opened
    opened.close()


def patchdeck_command() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "patchdeck"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui"]


def run_cli(
    *args: str,
    db: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``patchdeck [--db DB] ARGS…`` in a process of its own; stdin is never a terminal."""
    command = patchdeck_command()
    if db is not None:
        command += ["--db", str(db)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHDECK_")}
    full_env.update(env or {})
    return subprocess.run(
        [*command, *args],
        input=stdin or "",
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Debian's OpenSSH server on 127.0.0.1 (see tests/sshd.py)."""
    from tests.sshd import start_sshd

    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()
