"""The WinRM transport against the simulated fleet's WinRM endpoints over loopback, with the
real pywinrm (nothing patched in it): NTLM over HTTP with sealed messages, Basic over HTTPS
with the fleet's CA, and every failure in words."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import winrm

from backends.fleet import winrm_server
from backends.fleet.faults import FaultSpec
from backends.fleet.winrm_server import WindowsFleet, WinRMCredential, serve_windows
from backends.platforms.windows import search_script
from backends.transports import winrm as transport
from backends.transports import winrm_password
from backends.transports.base import Endpoint, TransportError
from backends.transports.winrm import WinRMSettings, connect, new_executor
from backends.transports.winrm_errors import scrub

pytestmark = [
    pytest.mark.timeout(60),
    # pywinrm itself, used as is by two tests, warns about $REQUESTS_CA_BUNDLE when it is set
    pytest.mark.filterwarnings("ignore:'pywinrm' will use an environment variable"),
]

PASSWORD = "Tr4nsport-Only!"
NONCE = "00112233aabbccdd"
FAULTS = FaultSpec.from_obj(
    {"machines": {"win-001": ["refuse-auth"], "win-002": ["hang"], "win-003": ["down"]}}
)


@pytest.fixture(autouse=True)
def no_password_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("PATCHDECK_WINRM_PASSWORD"):
            monkeypatch.delenv(name)
    monkeypatch.setitem(sys.modules, "keyring", None)  # no keyring, whatever is installed


@pytest.fixture
async def fleet() -> AsyncIterator[WindowsFleet]:
    async with await serve_windows(
        4, seed=3, credential=WinRMCredential("Administrator", PASSWORD), faults=FAULTS
    ) as running:
        yield running


@pytest.fixture
async def https_fleet() -> AsyncIterator[WindowsFleet]:
    async with await serve_windows(
        1, seed=3, credential=WinRMCredential("Administrator", PASSWORD), https=True
    ) as running:
        yield running


@pytest.fixture
def executor() -> Iterator[object]:
    pool = new_executor(4)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def endpoint(fleet: WindowsFleet, name: str, user: str = "Administrator") -> Endpoint:
    machine = fleet.machine(name)
    return Endpoint(name=name, address=machine.host, port=machine.port, user=user)


def give_password(monkeypatch: pytest.MonkeyPatch, name: str, password: str = PASSWORD) -> None:
    monkeypatch.setenv(winrm_password.password_variable(name), password)


async def test_unmodified_pywinrm_runs_powershell_on_the_fake(fleet: WindowsFleet) -> None:
    machine = fleet.machine("win-000")

    def run() -> winrm.Response:
        session = winrm.Session(
            f"127.0.0.1:{machine.port}", auth=("Administrator", PASSWORD), transport="ntlm"
        )
        return session.run_ps(search_script(NONCE))

    response = await asyncio.to_thread(run)
    assert response.status_code == 0
    lines = response.std_out.decode().split("\r\n")
    assert lines[0] == f"@@patchdeck:{NONCE}:windows-scan"
    assert lines[1].startswith('{"schema":1,"os":{"caption":"Microsoft Windows Server 2022')
    assert lines[2] == f"@@patchdeck:{NONCE}:end:0"


async def test_ntlm_run_streams_lines_and_keeps_the_shell(
    fleet: WindowsFleet,
    executor: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(winrm_server, "RECEIVE_CHUNK", 100)  # many Receives for one command
    give_password(monkeypatch, "win-000")
    connection = await connect(endpoint(fleet, "win-000"), WinRMSettings(), executor)  # type: ignore[arg-type]
    try:
        seen: list[str] = []
        output = await connection.run(search_script(NONCE), timeout=20, on_line=seen.append)
        assert output.exit_status == 0
        assert output.stdout.count("\r\n") == 3 and len(output.stdout) > 1000
        assert [line.rstrip("\r") for line in seen] == output.stdout.split("\r\n")[:3]
        shell = connection._shell
        second = await connection.run(
            "Write-Output 'one'\nWrite-Error 'it broke'\nexit 3", timeout=20
        )
        assert (second.exit_status, second.stdout, second.stderr) == (3, "one\r\n", "it broke")
        assert connection._shell == shell and connection.is_open()
        unknown = await connection.run("Get-Thing -Now", timeout=20)
        assert unknown.exit_status == 1
        assert "The term 'Get-Thing' is not recognized" in unknown.stderr
    finally:
        await connection.close()
    assert not connection.is_open()


async def test_a_shell_the_server_forgot_is_opened_again(
    fleet: WindowsFleet, executor: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_password(monkeypatch, "win-000")
    connection = await connect(endpoint(fleet, "win-000"), WinRMSettings(), executor)  # type: ignore[arg-type]
    try:
        first = connection._shell
        assert first is not None
        port = fleet.machine("win-000").port

        def forget() -> None:  # as when the service restarts or the shell idles out
            other = winrm.Protocol(
                f"http://127.0.0.1:{port}/wsman",
                transport="ntlm",
                username="Administrator",
                password=PASSWORD,
            )
            other.close_shell(first)

        await asyncio.to_thread(forget)
        output = await connection.run("Write-Output 'again'", timeout=20)
        assert output.stdout == "again\r\n"
        assert connection._shell not in (None, first)
    finally:
        await connection.close()


async def test_basic_over_https_checks_the_certificate(
    https_fleet: WindowsFleet, executor: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_password(monkeypatch, "win-000")
    where = endpoint(https_fleet, "win-000")
    assert https_fleet.ca_pem is not None
    ca = tmp_path / "ca.pem"
    ca.write_text(https_fleet.ca_pem)

    checked = WinRMSettings(auth="basic", https=True, ca_file=str(ca))
    connection = await connect(where, checked, executor)  # type: ignore[arg-type]
    output = await connection.run("Write-Output 'over TLS'", timeout=20)
    await connection.close()
    assert output.stdout == "over TLS\r\n"

    with pytest.raises(TransportError) as refused:
        await connect(where, WinRMSettings(auth="basic", https=True), executor)  # type: ignore[arg-type]
    assert refused.value.kind == "certificate-refused"
    assert str(refused.value).startswith(
        f"the HTTPS certificate of win-000 (127.0.0.1:{where.port}) was refused: it is not "
        "signed by a trusted CA. Give its CA with `--winrm-ca-file`"
    )

    unchecked = WinRMSettings(auth="basic", https=True, verify_cert=False)
    connection = await connect(where, unchecked, executor)  # type: ignore[arg-type]
    assert (await connection.run("Write-Output 'x'", timeout=20)).stdout == "x\r\n"
    await connection.close()

    give_password(monkeypatch, "win-000", "not-the-password")
    with pytest.raises(TransportError) as wrong:
        await connect(where, checked, executor)  # type: ignore[arg-type]
    assert wrong.value.kind == "auth-refused"


@pytest.mark.parametrize("name", ["win-000", "win-001"])
async def test_refused_credentials_in_words(
    fleet: WindowsFleet, executor: object, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    wrong = "Wrong-Password-123" if name == "win-000" else PASSWORD  # win-001 refuses everyone
    give_password(monkeypatch, name, wrong)
    with pytest.raises(TransportError) as refused:
        await connect(endpoint(fleet, name), WinRMSettings(), executor)  # type: ignore[arg-type]
    assert refused.value.kind == "auth-refused"
    assert str(refused.value) == (
        f"{name} refused the credentials of Administrator (ntlm): check the user and the "
        f"password given for {name}, and that the account may use WinRM"
    )
    assert wrong not in str(refused.value)


async def test_a_hanging_command_times_out(
    fleet: WindowsFleet, executor: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_password(monkeypatch, "win-002")
    connection = await connect(endpoint(fleet, "win-002"), WinRMSettings(), executor)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(TransportError) as hung:
        await connection.run(search_script(NONCE), timeout=1.5)
    assert time.monotonic() - started < 3
    assert hung.value.kind == "timeout"
    assert str(hung.value) == "win-002 did not finish the command within 1.5 s"
    assert not connection.is_open()


async def test_a_machine_that_is_down(
    fleet: WindowsFleet, executor: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_password(monkeypatch, "win-003")
    where = endpoint(fleet, "win-003")
    with pytest.raises(TransportError) as down:
        await connect(where, WinRMSettings(), executor)  # type: ignore[arg-type]
    assert down.value.kind == "unreachable"
    assert str(down.value).startswith(f"127.0.0.1:{where.port} refused the connection")


async def _raw_server(answer: bytes | None) -> tuple[asyncio.Server, int]:
    """A server on loopback that reads a request and answers ``answer`` (``None``: nothing,
    ever; ``b""``: closes the connection)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if answer is None:
                await asyncio.sleep(30)
            elif answer:
                writer.write(answer)
                await writer.drain()
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("answer", "kind", "words"),
    [
        (None, "timeout", "did not answer a WinRM request"),
        (b"", "connection-lost", "closed the connection"),
        (
            b"HTTP/1.1 500 Error\r\nContent-Length: 5\r\n\r\nnope!",
            "remote-error",
            "answered HTTP 500",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "remote-error", "cannot be read"),
    ],
)
async def test_misbehaving_servers(
    executor: object,
    monkeypatch: pytest.MonkeyPatch,
    answer: bytes | None,
    kind: str,
    words: str,
) -> None:
    monkeypatch.setattr(transport, "OPERATION_TIMEOUT", 1)
    monkeypatch.setattr(transport, "READ_TIMEOUT", 2)
    give_password(monkeypatch, "odd")
    server, port = await _raw_server(answer)
    try:
        where = Endpoint("odd", "127.0.0.1", port, "Administrator")
        # Basic: the first request is a SOAP one (NTLM would fail at its handshake first)
        settings = WinRMSettings(auth="basic", https=False)
        with pytest.raises(TransportError) as failed:
            await connect(where, settings, executor, timeout=2)  # type: ignore[arg-type]
        assert failed.value.kind == kind, failed.value
        assert words in str(failed.value)
    finally:
        server.close()


def test_password_variables() -> None:
    assert winrm_password.password_variable("web-01.example") == (
        "PATCHDECK_WINRM_PASSWORD_WEB_01_EXAMPLE"
    )
    env = {"PATCHDECK_WINRM_PASSWORD": "all", "PATCHDECK_WINRM_PASSWORD_WIN_01": "mine"}
    assert winrm_password.lookup_password("win-01", "Administrator", env) == "mine"
    assert winrm_password.lookup_password("win-02", "Administrator", env) == "all"
    assert winrm_password.lookup_password("win-02", "Administrator", {}) is None


def test_the_keyring_is_asked_by_machine_then_user(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = {("patchdeck-winrm", "CORP\\ops"): "from-keyring"}
    fake = SimpleNamespace(get_password=lambda service, key: stored.get((service, key)))
    monkeypatch.setitem(sys.modules, "keyring", fake)
    assert winrm_password.lookup_password("win-01", "CORP\\ops", {}) == "from-keyring"
    stored[("patchdeck-winrm", "win-01")] = "machine-first"
    assert winrm_password.lookup_password("win-01", "CORP\\ops", {}) == "machine-first"

    def broken(service: str, key: str) -> str:
        raise RuntimeError("no backend")

    monkeypatch.setitem(sys.modules, "keyring", SimpleNamespace(get_password=broken))
    assert winrm_password.lookup_password("win-01", "CORP\\ops", {}) is None


async def test_no_password_then_the_prompt(
    fleet: WindowsFleet, executor: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = endpoint(fleet, "win-000")
    with pytest.raises(TransportError) as missing:
        await connect(where, WinRMSettings(), executor)  # type: ignore[arg-type]
    assert missing.value.kind == "no-credentials"
    assert str(missing.value).startswith(
        "no password for win-000: set PATCHDECK_WINRM_PASSWORD_WIN_000 (or "
        "PATCHDECK_WINRM_PASSWORD for every Windows machine), or store it in the system keyring"
    )
    asked: list[tuple[str, str | None]] = []

    async def prompt(name: str, user: str | None) -> str | None:
        asked.append((name, user))
        return PASSWORD

    connection = await connect(where, WinRMSettings(), executor, prompt)  # type: ignore[arg-type]
    await connection.close()
    assert asked == [("win-000", "Administrator")]

    with pytest.raises(TransportError, match="no user to log in to win-000 as"):
        await connect(endpoint(fleet, "win-000", user=""), WinRMSettings(), executor)  # type: ignore[arg-type]


@pytest.mark.parametrize("auth", ["kerberos", "credssp"])
async def test_kerberos_and_credssp_need_their_extras(executor: object, auth: str) -> None:
    from winrm import transport as pywinrm_transport

    if getattr(pywinrm_transport, f"HAVE_{auth.upper()}"):
        pytest.skip(f"pywinrm's {auth} extra is installed here")
    with pytest.raises(TransportError) as missing:
        await connect(Endpoint("w", "127.0.0.1", 1, "u"), WinRMSettings(auth=auth), executor)  # type: ignore[arg-type]
    assert missing.value.kind == "unsupported"
    assert f"pip install 'pywinrm[{auth}]'" in str(missing.value)


def test_scrub_and_the_command_line_limit() -> None:
    assert scrub("it was Secret-99 all along", "Secret-99") == "it was ******** all along"
    assert scrub("abc", None) == "abc"
    with pytest.raises(ValueError, match="too long for a command line"):
        transport.encoded_command("Write-Output 'x'\n" * 400)
