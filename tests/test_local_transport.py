"""The local transport: same interface as SSH, on this machine."""

from __future__ import annotations

import pytest

from backends.transports.base import Endpoint, Output, TransportError, check_sudo
from backends.transports.local import LocalConnection

HERE = Endpoint(name="here", address="localhost", port=0)


async def test_runs_streams_and_decodes_hostile_bytes() -> None:
    conn = LocalConnection(HERE)
    lines: list[str] = []
    out = await conn.run("printf 'ok\\n\\377bad\\n'; echo e >&2; exit 4", on_line=lines.append)
    assert out.exit_status == 4
    assert lines == ["ok", "\ufffdbad"]
    assert out.stderr == "e\n"


async def test_timeout_kills_the_command() -> None:
    with pytest.raises(TransportError) as late:
        await LocalConnection(HERE).run("sleep 30", timeout=0.3)
    assert late.value.kind == "timeout"


def test_a_sudo_password_prompt_is_a_failure_in_words() -> None:
    asked = Output(1, "", "sudo: a password is required\n")
    with pytest.raises(TransportError) as failed:
        check_sudo(asked, HERE)
    assert failed.value.kind == "sudo-password"
    assert "NOPASSWD" in str(failed.value)
    fine = Output(0, "done\n", "")
    assert check_sudo(fine, HERE) is fine
