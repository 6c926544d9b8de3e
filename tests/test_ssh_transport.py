"""The SSH transport against Debian's real sshd: host keys, auth, sudo, timeouts, streaming."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.transports.base import Endpoint, TransportError
from backends.transports.known_hosts import HostKeys
from backends.transports.ssh import connect, fetch_host_key
from tests.sshd import Sshd


def _endpoint(sshd: Sshd, **changes: object) -> Endpoint:
    fields: dict[str, object] = {
        "name": "real-sshd",
        "address": "127.0.0.1",
        "port": sshd.port,
        "user": sshd.user,
        "identity_file": str(sshd.client_key),
    }
    fields.update(changes)
    return Endpoint(**fields)  # type: ignore[arg-type]


def _keys(tmp_path: Path, sshd: Sshd | None = None, accept_new: bool = False) -> HostKeys:
    own = tmp_path / "known_hosts"
    if sshd is not None:
        own.write_text(sshd.known_hosts_line())
    return HostKeys(own, user_file=tmp_path / "user_known_hosts", accept_new=accept_new)


async def test_runs_a_command_and_streams_lines(sshd: Sshd, tmp_path: Path) -> None:
    conn = await connect(_endpoint(sshd), _keys(tmp_path, sshd))
    lines: list[str] = []
    out = await conn.run("printf 'a\\nb\\n'; echo err >&2; exit 3", on_line=lines.append)
    assert (out.exit_status, out.stdout, out.stderr) == (3, "a\nb\n", "err\n")
    assert lines == ["a", "b"]
    again = await conn.run("echo $((6*7))")  # the same connection, reused
    assert again.stdout == "42\n"
    await conn.close()


async def test_unknown_host_key_is_refused_with_its_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    with pytest.raises(TransportError) as refused:
        await connect(_endpoint(sshd), keys)
    assert refused.value.kind == "host-key-unknown"
    assert "patchdeck machine trust real-sshd" in str(refused.value)
    key = await fetch_host_key(_endpoint(sshd))
    assert key.get_fingerprint("sha256") in str(refused.value)
    assert not keys.own.exists()


async def test_accept_new_records_the_key_once(sshd: Sshd, tmp_path: Path) -> None:
    keys = _keys(tmp_path, accept_new=True)
    conn = await connect(_endpoint(sshd), keys)
    await conn.close()
    assert keys.own.read_text().startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    strict = HostKeys(keys.own, user_file=tmp_path / "none")  # no accept-new: now known
    conn = await connect(_endpoint(sshd), strict)
    await conn.close()


async def test_changed_host_key_is_always_refused(sshd: Sshd, tmp_path: Path) -> None:
    own = tmp_path / "known_hosts"
    own.write_text(
        f"[127.0.0.1]:{sshd.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIBxtTbKYNbyZtTkxR5XRmsSLNNqhe4CUEQMt3fOOJr3U\n"
    )
    keys = HostKeys(own, user_file=tmp_path / "none", accept_new=True)
    with pytest.raises(TransportError) as refused:
        await connect(_endpoint(sshd), keys)
    assert refused.value.kind == "host-key-changed"
    assert "CHANGED" in str(refused.value)
    assert len(own.read_text().splitlines()) == 1  # accept-new never overwrites


async def test_wrong_key_is_auth_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    import asyncssh

    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))
    with pytest.raises(TransportError) as refused:
        await connect(_endpoint(sshd, identity_file=str(other)), _keys(tmp_path, sshd))
    assert refused.value.kind == "auth-refused"


async def test_closed_port_is_unreachable(tmp_path: Path, sshd: Sshd) -> None:
    from tests.sshd import free_port

    with pytest.raises(TransportError) as refused:
        await connect(_endpoint(sshd, port=free_port()), _keys(tmp_path))
    assert refused.value.kind == "unreachable"
    assert "refused the connection" in str(refused.value)


async def test_command_timeout(sshd: Sshd, tmp_path: Path) -> None:
    conn = await connect(_endpoint(sshd), _keys(tmp_path, sshd))
    with pytest.raises(TransportError) as late:
        await conn.run("sleep 30", timeout=0.5)
    assert late.value.kind == "timeout"
    assert (await conn.run("echo still usable")).stdout == "still usable\n"
    await conn.close()


async def test_privileged_commands_as_root_need_no_sudo(sshd: Sshd, tmp_path: Path) -> None:
    conn = await connect(_endpoint(sshd), _keys(tmp_path, sshd))
    out = await conn.run("id -u", privileged=True)
    if conn.is_root:
        assert out.stdout == "0\n"
    else:  # a non-root tester: sudo -n is used and never prompts
        assert out.exit_status is not None
    await conn.close()
