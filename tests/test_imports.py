"""``machine import`` parsers: fixtures under tests/data/imports, exact specs and messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.inventory.imports import FORMATS, ImportFailed, ImportProblem, parse_file
from backends.inventory.imports.detect import ansible_is_yaml, guess_format
from backends.inventory.machines import get_machine, import_machines
from backends.inventory.records import MachineSpec
from backends.inventory.store import Store

DATA = Path(__file__).parent / "data" / "imports"


@pytest.fixture(autouse=True)
def _in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths are given relative to the fixture folder, so messages name them short."""
    monkeypatch.chdir(DATA)


def spec(name: str, address: str | None = None, **fields: Any) -> MachineSpec:
    return MachineSpec(name=name, address=address or name, **fields)


def groups(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple(("group", name) for name in names)


def problems(path: str, fmt: str | None = None) -> list[str]:
    with pytest.raises(ImportFailed) as failed:
        parse_file(Path(path), fmt)
    assert str(failed.value) == "\n".join(str(p) for p in failed.value.problems)
    return [str(p) for p in failed.value.problems]


# --- good files -------------------------------------------------------------------------------

DC_KEY = "~/.ssh/dc_key"
ED25519 = "~/.ssh/id_ed25519"
WEB = groups("datacenter", "prod", "web")
EXPECTED: dict[str, list[MachineSpec]] = {
    "hosts.csv": [
        spec(
            "web1", "10.0.0.1", port=2222, os_family="linux", user="deploy",
            identity_file="~/.ssh/id_web", tags=(("env", "prod"), ("team", "web")),
            owner="alice", role="frontend", environment="prod", criticality="high",
        ),
        spec("win1", "10.0.0.2", transport="winrm", user="Administrator", owner="bob"),
        spec(
            "db1", "db1.example.com", tags=(("tier", "db"),), role="database",
            environment="staging", criticality="critical",
        ),
        spec("local1", "localhost", transport="local", criticality="low"),
    ],
    "subset.csv": [spec("app1", "10.1.0.1"), spec("app2", "10.1.0.2")],
    "inventory.ini": [
        spec("bastion", "203.0.113.5", user="jump", criticality="low"),
        spec(
            "web01.example.com", port=8022, user="deploy", identity_file=DC_KEY, tags=WEB,
            owner="ops team", environment="prod", criticality="low",
        ),
        spec(
            "web02.example.com", port=2200, user="deploy", identity_file=DC_KEY,
            tags=groups("canary", "datacenter", "prod", "web"), owner="ops team",
            role="front end", environment="prod", criticality="low",
        ),
        spec(
            "web03.example.com", port=8022, user="deploy", identity_file=DC_KEY, tags=WEB,
            owner="ops team", environment="prod", criticality="low",
        ),
        *(
            spec(
                f"db-{x}", "10.0.1.1", port=9022, user="root", identity_file=DC_KEY,
                tags=groups("datacenter", "db", "prod"), owner="ops team",
                environment="production", criticality="high",
            )
            for x in "ab"
        ),
        spec(
            "win1", "10.0.2.1", transport="winrm", os_family="windows", user="Administrator",
            identity_file=DC_KEY, tags=groups("datacenter", "windows"), criticality="low",
        ),
    ],
    "inventory.yml": [
        spec("bastion", "203.0.113.5", user="root", criticality="low"),
        spec(
            "web01.example.com", port=8022, user="deploy", identity_file=DC_KEY, tags=WEB,
            environment="production", criticality="low",
        ),
        spec(
            "web02.example.com", port=2200, user="deploy", identity_file=DC_KEY,
            tags=groups("canary", "datacenter", "prod", "web"), environment="production",
            criticality="low",
        ),
        spec(
            "db1", "10.0.1.1", port=9022, user="root", identity_file=DC_KEY,
            tags=groups("datacenter", "db", "prod"), owner="dba", environment="production",
            criticality="low",
        ),
        spec(
            "win1", "10.0.2.1", port=5986, transport="winrm", os_family="windows", user="root",
            identity_file=DC_KEY, tags=groups("datacenter", "windows"), criticality="low",
            winrm_https=True,
        ),
        spec("local1", transport="local", user="root", tags=groups("canary"), criticality="low"),
    ],
    "ssh_config": [
        spec("db1", "10.0.1.1", port=22, user="dbadmin", identity_file=ED25519),
        spec("web2", "web2.example.com", port=2201, user="ops", identity_file=ED25519),
        spec("web1", "web1.example.com", port=2222, user="deploy", identity_file=ED25519),
        spec("bastion", "203.0.113.5", port=22, user="ops", identity_file="~/.ssh/my key"),
        spec("quoted1", port=2200, user="ops", identity_file=ED25519),
        spec("web[1]", port=2200, user="ops", identity_file=ED25519),
    ],
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_good_files_give_exact_specs(path: str) -> None:
    assert parse_file(Path(path)) == EXPECTED[path]


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("hosts.csv", "csv"),
        ("subset.csv", "csv"),
        ("inventory.ini", "ansible"),
        ("inventory.yml", "ansible"),
        ("ssh_config", "ssh-config"),
        ("wildcards.ssh_config", "ssh-config"),
        ("bad_ssh_config", "ssh-config"),
        ("cycle.ini", "ansible"),
        ("syntax.yml", "ansible"),
        ("unknown_column.csv", "csv"),
        ("empty.csv", "csv"),
    ],
)
def test_guess_format_for_each_fixture(path: str, fmt: str) -> None:
    assert fmt in FORMATS
    assert guess_format((DATA / path).read_text(), path) == fmt
    if fmt == "ansible":
        assert ansible_is_yaml((DATA / path).read_text()) == path.endswith(".yml")


@pytest.mark.parametrize(
    ("text", "path", "fmt"),
    [
        ("name,address\nweb1,10.0.0.1\n", "hosts.txt", "csv"),
        ("[web]\nweb1\n", "inventory", "ansible"),
        ("web1 ansible_host=10.0.0.1\n", "hosts", "ansible"),
        ("---\nall:\n  hosts: {}\n", "inv", "ansible"),
        ("all:\n  hosts:\n", "whatever.ini", "ansible"),
        ("# mine\nHost web1\n  HostName x\n", "config", "ssh-config"),
        ("ServerAliveInterval 60\nHost x\n", "anything.yml", "ssh-config"),
        ("web1,10.0.0.1\n", "machines.csv", "csv"),
    ],
)
def test_guess_format_from_content(text: str, path: str, fmt: str) -> None:
    assert guess_format(text, path) == fmt


def test_explicit_format_wins_over_guess() -> None:
    assert parse_file(Path("subset.csv"), "csv") == EXPECTED["subset.csv"]
    with pytest.raises(ValueError, match="unknown import format 'xml'"):
        parse_file(Path("subset.csv"), "xml")


# --- error cases: exact text, file and line ---------------------------------------------------

ERRORS: dict[str, list[str]] = {
    "bad_rows.csv": [
        "bad_rows.csv:2: port: 'abc' is not a number",
        "bad_rows.csv:3: transport: 'telnet' is not one of ssh, winrm, local",
        "bad_rows.csv:3: criticality: 'urgent' is not one of low, medium, high, critical",
        "bad_rows.csv:4: tag: 'team' is not KEY=VALUE",
        "bad_rows.csv:5: owner: 'two\\nlines' contains control characters or is too long",
        "bad_rows.csv:7: duplicate machine 'web1' (first on line 2)",
        "bad_rows.csv:8: row has 2 fields, the header has 7",
        "bad_rows.csv:9: port: '70000' is not between 1 and 65535",
    ],
    "unknown_column.csv": [
        "unknown_column.csv:1: unknown column 'colour' (known: name, address, port, transport,"
        " os, user, identity, tags, owner, role, environment, criticality, winrm_auth,"
        " winrm_https, winrm_ca_file, winrm_verify)",
        "unknown_column.csv:1: column 'port' appears twice",
    ],
    "missing_column.csv": ["missing_column.csv:1: missing required column 'address'"],
    "empty.csv": ["empty.csv:1: no machines found"],
    "latin1.csv": [
        "latin1.csv:3: not valid UTF-8: byte 0xe9 at column 4",
        "latin1.csv:5: not valid UTF-8: byte 0xff at column 1",
    ],
    "cycle.ini": ["cycle.ini:8: group cycle: a -> b -> c -> a"],
    "bad.ini": [
        "bad.ini:2: port: 'abc' is not a number",
        "bad.ini:3: port: '99999' is not between 1 and 65535",
        "bad.ini:4: duplicate machine 'web1' (first on line 2)",
        "bad.ini:5: host range '[3:1]' runs backwards",
        "bad.ini:6: expected key=value after the host name, got 'novalue'",
        "bad.ini:7: section [web:bogus]: expected :vars or :children",
        "bad.ini:8: not a section header: '[oops'",
        "bad.ini:9: [nogroup:vars] is for a group that is not defined",
        "bad.ini:12: expected a group name in [web:children]",
    ],
    "syntax.yml": [
        "syntax.yml:4: YAML syntax error: while parsing a flow mapping, expected ',' or '}',"
        " but got ':'"
    ],
    "bad.yml": [
        "bad.yml:4: host 'web1': ansible_port: expected a single value, found a list",
        "bad.yml:6: criticality: 'urgent' is not one of low, medium, high, critical",
        "bad.yml:9: group 'web': unknown key 'host' (expected hosts, vars or children)",
        "bad.yml:13: group 'db': expected a mapping of hosts, found a list",
    ],
    "wildcards.ssh_config": ["wildcards.ssh_config:1: no machines found"],
    "bad_ssh_config": [
        "bad_ssh_config:2: port: 'abc' is not a number",
        "bad_ssh_config:3: HostName: unterminated double quote",
        "bad_ssh_config:4: IdentityFile: expected one value, found none",
        "bad_ssh_config:5: Host: missing value",
        "bad_ssh_config:7: HostName: expected one value, found 2 values",
        "loop/loop.conf:1: Include: nested more than 8 deep",
    ],
}


@pytest.mark.parametrize("path", sorted(ERRORS))
def test_bad_files_report_every_problem(path: str) -> None:
    assert problems(path) == ERRORS[path]


def test_problem_and_failure_text() -> None:
    problem = ImportProblem("hosts.csv", 5, "port: 'abc' is not a number")
    assert str(problem) == "hosts.csv:5: port: 'abc' is not a number"
    failed = ImportFailed([problem, ImportProblem("hosts.csv", 7, "x")])
    assert str(failed) == "hosts.csv:5: port: 'abc' is not a number\nhosts.csv:7: x"


def test_unreadable_file_is_an_import_failure() -> None:
    assert problems("no-such-file.csv", "csv") == [
        "no-such-file.csv:0: cannot read: No such file or directory"
    ]


# --- smaller behaviours, from text written to tmp_path ----------------------------------------


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_csv_bom_and_blank_cells(tmp_path: Path) -> None:
    path = _write(tmp_path, "h.csv", "\ufeffname,address,port,tags\n\n web1 ,10.0.0.1, , \n")
    assert parse_file(path) == [spec("web1", "10.0.0.1")]


def test_csv_unterminated_quote(tmp_path: Path) -> None:
    path = _write(tmp_path, "h.csv", 'name,address\nweb1,"10.0.0.1\nweb2,x\n')
    assert problems(str(path)) == [f"{path}:2: CSV syntax error: unexpected end of data"]


def test_csv_ten_thousand_rows(tmp_path: Path) -> None:
    rows = "".join(f"web{i},10.0.{i // 256}.{i % 256},22,ssh,env=prod\n" for i in range(10_000))
    path = _write(tmp_path, "big.csv", "name,address,port,transport,tags\n" + rows)
    specs = parse_file(path)
    assert len(specs) == 10_000
    assert specs[-1] == spec("web9999", "10.0.39.15", port=22, tags=(("env", "prod"),))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web1:2222 ansible_port=2200\n", [spec("web1", port=2200)]),
        ("h ansible_ssh_port=1 ansible_port=2 ansible_ssh_host=a\n", [spec("h", "a", port=2)]),
        ("web1:2222\n", [spec("web1", port=2222)]),
        ("[g]\nh[a:c]\n", [spec(f"h{x}", tags=groups("g")) for x in "abc"]),
        ("[g]\nn[8:10:2]\n", [spec(f"n{x}", tags=groups("g")) for x in (8, 10)]),
        ("[g:children]\nmissing\n[g]\nh\n", [spec("h", tags=groups("g"))]),
        (
            "[all:vars]\nansible_connection=paramiko\n[g]\nh ansible_ssh_user=u\n",
            [spec("h", user="u", tags=groups("g"))],
        ),
        ("[ungrouped]\nh ansible_connection=local\n", [spec("h", transport="local")]),
        (
            "h ansible_connection=ansible.builtin.winrm\n",
            [spec("h", transport="winrm", os_family="windows")],
        ),
    ],
)
def test_ini_details(tmp_path: Path, text: str, expected: list[MachineSpec]) -> None:
    assert parse_file(_write(tmp_path, "inv.ini", text), "ansible") == expected


def test_yaml_same_host_in_two_groups_is_one_machine(tmp_path: Path) -> None:
    text = (
        "web:\n  hosts:\n    h1: {ansible_port: 2200, role: a}\n"
        "db:\n  vars: {role: b}\n  hosts:\n    h1: {owner: o}\n"
    )
    assert parse_file(_write(tmp_path, "inv.yaml", text)) == [
        spec("h1", port=2200, role="a", owner="o", tags=groups("db", "web"))
    ]


def test_yaml_child_vars_win_and_merge_keys(tmp_path: Path) -> None:
    text = (
        "all:\n  vars: &base {ansible_port: 1, role: base}\n  children:\n"
        "    p:\n      vars: {ansible_port: 2}\n      children:\n"
        "        c:\n          vars: {<<: *base, owner: me}\n          hosts: {h: ~}\n"
    )
    assert parse_file(_write(tmp_path, "inv.yml", text)) == [
        spec("h", port=1, role="base", owner="me", tags=groups("c", "p"))
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "1: the top level: expected a mapping of groups, found a list"),
        ("all:\n  hosts:\n    h:\n      ansible_host: {a: 1}\n", "4: host 'h': ansible_host: "),
        ("a: 1\n---\nb: 2\n", "2: YAML syntax error: expected a single document in the stream"),
        ('all:\n  hosts: {"h\\x01": }\n', "2: name: 'h\\x01' is not a valid machine name"),
    ],
)
def test_yaml_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "inv.yml", text)
    [found] = problems(str(path))
    assert found.startswith(f"{path}:{message}")


def test_ssh_include_inside_host_block_is_conditional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _write(tmp_path, "more.conf", "Host db1\n  Port 2201\nHost web1\n  Port 2202\n")
    main = _write(tmp_path, "config", "Host web1\n  Include ~/more.conf\n  User u\n")
    assert parse_file(main, "ssh-config") == [spec("web1", port=2202, user="u")]


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02",
        b"[[[[[[[[" * 2000,
        b"all:\n  children:\n    a: &a\n      children: {b: *a}\n",
        b"name,address\n" + b'"' * 5,
        b"Host\x00 a\n",
        b"[g]\nh[0:999999999]\n",
        b"\xef\xbb\xbf",
    ],
)
@pytest.mark.parametrize("fmt", [None, *FORMATS])
def test_garbage_never_raises_anything_but_import_failed(
    tmp_path: Path, data: bytes, fmt: str | None
) -> None:
    path = _write(tmp_path, "junk", data)
    try:
        parse_file(path, fmt)
    except ImportFailed as exc:
        assert exc.problems and all(p.line >= 1 for p in exc.problems)


# --- WinRM options, through the inventory service ---------------------------------------------

#: (port, winrm_auth, winrm_https, winrm_verify_cert, winrm_ca_file) as the inventory has them.
WinRM = tuple[int, str, bool, bool, str | None]
CA = "/etc/pki/corp-ca.pem"


def _import(store: Store, path: Path) -> dict[str, WinRM]:
    """Import ``path`` for real; every machine's WinRM settings, read back from the inventory."""
    specs = parse_file(path)
    import_machines(store, specs, str(path))
    found: dict[str, WinRM] = {}
    for name in (s.name for s in specs):
        m = get_machine(store, name)
        assert (m.transport, m.os_family) == ("winrm", "windows")
        found[name] = (m.port, m.winrm_auth, m.winrm_https, m.winrm_verify_cert, m.winrm_ca_file)
    return found


WINRM_CSV = f"""\
name,address,transport,winrm_auth,winrm_https,winrm_ca_file,winrm_verify
win1,10.0.3.1,winrm,Kerberos,yes,{CA},
win2,10.0.3.2,WinRM,basic,TRUE,,false
win3,10.0.3.3,winrm,,,,
win4,10.0.3.4,winrm,credssp,0,,1
win5,10.0.3.5,winrm,,1,, no
"""

WINRM_INI = f"""\
[windows]
win1 ansible_host=10.0.2.1 ansible_winrm_transport=kerberos
win2 ansible_port=5986 ansible_winrm_transport=ssl ansible_winrm_server_cert_validation=ignore
win3 ansible_winrm_scheme=https ansible_winrm_ca_trust_path={CA}
win4 ansible_port=5985
win5 ansible_winrm_transport=plaintext ansible_winrm_scheme=HTTPS
win6 ansible_port=8443 ansible_winrm_scheme=http ansible_winrm_server_cert_validation=validate
[windows:vars]
ansible_connection=winrm
ansible_winrm_transport=credssp
"""

WINRM_YAML = f"""\
all:
  children:
    windows:
      vars:
        ansible_connection: ansible.windows.winrm
        ansible_winrm_server_cert_validation: ignore
      hosts:
        win1: {{ansible_winrm_transport: credssp, ansible_winrm_scheme: https}}
        win2:
          ansible_winrm_scheme: http
          ansible_winrm_server_cert_validation: validate
          ansible_winrm_ca_trust_path: {CA}
        win3: {{ansible_winrm_transport: ssl}}
        win4: {{ansible_port: 15986, ansible_winrm_transport: ntlm}}
        win5: {{ansible_winrm_scheme: ~, ansible_winrm_server_cert_validation: ~}}
"""


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "win.csv",
            WINRM_CSV,
            {
                "win1": (5986, "kerberos", True, True, CA),
                "win2": (5986, "basic", True, False, None),
                "win3": (5985, "ntlm", False, True, None),
                "win4": (5985, "credssp", False, True, None),
                "win5": (5986, "ntlm", True, False, None),
            },
        ),
        (
            "win.ini",
            WINRM_INI,
            {
                # no scheme: patchdeck's default (HTTP) without a port, ansible's with one
                "win1": (5985, "kerberos", False, True, None),
                "win2": (5986, "basic", True, False, None),
                "win3": (5986, "credssp", True, True, CA),
                "win4": (5985, "credssp", False, True, None),
                "win5": (5986, "basic", True, True, None),
                "win6": (8443, "credssp", False, True, None),
            },
        ),
        (
            "win.yml",
            WINRM_YAML,
            {
                "win1": (5986, "credssp", True, False, None),
                "win2": (5985, "ntlm", False, True, CA),
                "win3": (5986, "basic", True, False, None),  # pywinrm's ssl: Basic over HTTPS
                "win4": (15986, "ntlm", True, False, None),
                "win5": (5985, "ntlm", False, True, None),  # null: unset, defaults
            },
        ),
    ],
)
def test_winrm_options_reach_the_inventory(
    store: Store, tmp_path: Path, name: str, text: str, expected: dict[str, WinRM]
) -> None:
    assert _import(store, _write(tmp_path, name, text)) == expected


def test_reimport_changes_winrm_options(store: Store, tmp_path: Path) -> None:
    assert _import(store, _write(tmp_path, "a.csv", WINRM_CSV))["win1"] == (
        5986, "kerberos", True, True, CA,
    )  # fmt: skip
    again = "name,address,transport,winrm_auth,winrm_verify\nwin1,10.0.3.1,winrm,ntlm,no\n"
    assert _import(store, _write(tmp_path, "b.csv", again)) == {
        "win1": (5985, "ntlm", False, False, None)
    }
    ini = "[w]\nwin1 ansible_connection=winrm ansible_winrm_scheme=https ansible_port=443\n"
    assert _import(store, _write(tmp_path, "c.ini", ini)) == {
        "win1": (443, "ntlm", True, True, None)
    }
    yml = "w:\n  hosts:\n    win1: {ansible_connection: winrm, ansible_winrm_transport: credssp}\n"
    assert _import(store, _write(tmp_path, "d.yml", yml)) == {
        "win1": (5985, "credssp", False, True, None)
    }
    assert get_machine(store, "win1").address == "win1"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "bad.csv",
            "name,address,transport,winrm_auth,winrm_https,winrm_verify,winrm_ca_file\n"
            "w1,10.0.0.1,winrm,digest,maybe,,\n"
            "w2,10.0.0.2,winrm,basic,no,,\n"
            "w3,10.0.0.3,ssh,ntlm,,,\n"
            "w4,10.0.0.4,,,,False,\n"
            "w5,10.0.0.5,winrm,,,nope,\n"
            "w6,10.0.0.6,local,,yes,,/ca.pem\n"
            "w7,10.0.0.7,ssh,,,,/ca.pem\n",
            [
                "2: winrm_auth: 'digest' is not one of ntlm, kerberos, credssp, basic",
                "2: winrm_https: 'maybe' is not one of true, yes, 1, false, no, 0",
                "3: winrm_auth: 'basic' sends the password as it is: use it only with HTTPS",
                "4: winrm_auth: 'ntlm' applies to WinRM machines only, not ssh",
                "5: winrm_verify: 'False' applies to WinRM machines only, not ssh",
                "6: winrm_verify: 'nope' is not one of true, yes, 1, false, no, 0",
                "7: winrm_https: 'yes' applies to WinRM machines only, not local",
                "8: winrm_ca_file: '/ca.pem' applies to WinRM machines only, not ssh",
            ],
        ),
        (
            "bad.ini",
            "[windows]\n"
            "w1 ansible_winrm_transport=certificate\n"
            "w2 ansible_winrm_scheme=ftp ansible_winrm_server_cert_validation=maybe\n"
            "w3 ansible_winrm_transport=plaintext ansible_winrm_scheme=http\n"
            "w4 ansible_winrm_transport=ntlm,kerberos\n"
            "w5 ansible_winrm_transport=ssl ansible_winrm_cert_pem=/c.pem\n"
            "[windows:vars]\n"
            "ansible_connection=winrm\n"
            "ansible_winrm_transport=digest\n"
            "[linux]\n"
            "l1 ansible_winrm_transport=ntlm\n"
            "l2 ansible_connection=ssh ansible_winrm_server_cert_validation=ignore\n",
            [
                "2: ansible_winrm_transport: 'certificate' (client certificates) is not supported",
                "3: ansible_winrm_scheme: 'ftp' is not one of http, https",
                "3: ansible_winrm_server_cert_validation: 'maybe' is not one of validate, ignore",
                "4: ansible_winrm_transport: 'plaintext' sends the password as it is:"
                " use it only with HTTPS",
                "5: ansible_winrm_transport: 'ntlm,kerberos' lists several transports: give one",
                "6: ansible_winrm_cert_pem: client certificates are not supported",
                "9: ansible_winrm_transport: 'digest' is not one of ntlm, kerberos, credssp,"
                " basic, plaintext, ssl",
                # l1 and l2 are ssh hosts: their WinRM variables mean nothing (as in ansible)
            ],
        ),
        (
            "bad.yml",
            "all:\n"
            "  children:\n"
            "    windows:\n"
            "      vars: {ansible_connection: winrm}\n"
            "      hosts:\n"
            "        w1:\n"
            "          ansible_winrm_scheme: https\n"
            "          ansible_winrm_server_cert_validation: skip\n"
            "        w2:\n"
            "          ansible_winrm_transport: [ntlm, kerberos]\n"
            "        w3: {ansible_winrm_transport: basic, ansible_port: 5985}\n"
            "  hosts:\n"
            "    l1: {ansible_winrm_scheme: https}\n",
            [
                "8: ansible_winrm_server_cert_validation: 'skip' is not one of validate, ignore",
                "10: host 'w2': ansible_winrm_transport: expected a single value, found a list",
                "11: ansible_winrm_transport: 'basic' sends the password as it is:"
                " use it only with HTTPS",
                # l1 is an ssh host: its WinRM variable is ignored, as ansible ignores it
            ],
        ),
    ],
)
def test_bad_winrm_options_name_file_line_and_field(
    tmp_path: Path, name: str, text: str, expected: list[str]
) -> None:
    path = _write(tmp_path, name, text)
    assert problems(str(path)) == [f"{path}:{message}" for message in expected]


def test_winrm_variables_of_a_mixed_group_do_not_stop_its_ssh_hosts(
    store: Store, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "mixed.ini",
        "[all:vars]\nansible_winrm_server_cert_validation=ignore\nansible_winrm_scheme=https\n"
        "[web]\nweb1 ansible_host=10.0.0.5\n"
        "[win]\nwin1 ansible_connection=winrm ansible_host=10.0.0.6\n",
    )
    import_machines(store, parse_file(path), str(path))  # no problem raised
    web, win = get_machine(store, "web1"), get_machine(store, "win1")
    assert (web.transport, web.winrm_https, web.winrm_verify_cert) == ("ssh", False, True)
    assert (win.transport, win.winrm_https, win.winrm_verify_cert) == ("winrm", True, False)
