"""The machine query language against a real SQLite inventory: every field and operator,
precedence, quoting, every error with its column, and "never a traceback" for any text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backends.inventory.errors import InventoryError, QueryError
from backends.inventory.machines import add_machine
from backends.inventory.query import caret_line, display_line, explain, machines_matching
from backends.inventory.query_compile import glob_to_like
from backends.inventory.query_fields import ALL_CLASSIFICATIONS
from backends.inventory.query_parser import MAX_COMPARISONS, MAX_DEPTH, parse
from backends.inventory.records import ScanReport, Update
from backends.inventory.scans import record_scans
from backends.inventory.store import Store
from backends.inventory.validation import build_spec

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALL = ["db-01", "odd_1", "oddx1", "web-01", "web-02", "win-01", "win-02"]


def _updates(**counts: int) -> tuple[Update, ...]:
    return tuple(
        Update(platform_id=f"{c}-{i}", name=f"{c}-{i}", installed="1", available="2",
               classification=c)
        for c, n in counts.items()
        for i in range(n)
    )  # fmt: skip


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Seven machines with tags, owners and recorded scans (ok, failed and never)."""
    store = Store.open(str(tmp_path_factory.mktemp("query") / "inventory.db"))
    specs = [
        dict(name="web-01", address="10.0.0.1", tags=(("env", "prod"), ("group", "web"),
             ("group", "frontend")), owner="alice", role="frontend", environment="prod",
             criticality="high"),
        dict(name="web-02", address="10.0.0.2", tags=(("Env", "Stage"),), owner="Bob",
             role="500x", environment="stage"),
        dict(name="db-01", address="10.0.1.5", tags=(("env", "prod"), ("team", "dba")),
             criticality="critical", environment="prod"),
        dict(name="win-01", address="win-01.example.com", transport="winrm",
             tags=(("env", "prod"),), criticality="low", role="50%"),
        dict(name="win-02", address="192.0.2.9", transport="winrm", owner="it ops"),
        dict(name="odd_1", address="10.0.2.1", transport="local", role="a_b"),
        dict(name="oddx1", address="10.0.2.2", role="axb"),
    ]  # fmt: skip
    ids = {}
    for spec in specs:
        ids[spec["name"]] = add_machine(store, build_spec(**spec)).id  # type: ignore[arg-type]
    reports = [
        ScanReport(ids["web-01"], NOW - timedelta(hours=1), True, distro="debian", version="12",
                   reboot_pending=False, updates=_updates(security=2, other=1)),
        ScanReport(ids["web-02"], NOW - timedelta(days=2), True, distro="ubuntu",
                   version="22.04", reboot_pending=True, updates=_updates(other=3)),
        ScanReport(ids["win-01"], NOW - timedelta(minutes=30), True, distro="windows",
                   version="2022", updates=_updates(critical=1, security=2, update_rollup=1)),
        ScanReport(ids["win-02"], NOW - timedelta(minutes=10), False, error="refused",
                   reachable=False),
        ScanReport(ids["odd_1"], NOW - timedelta(hours=24), True, distro="rhel", version="9.3",
                   reboot_pending=False),
    ]  # fmt: skip
    record_scans(store, reports)
    yield store
    store.close()


def names(store: Store, query: str) -> list[str]:
    return [m.name for m in machines_matching(store, query, now=NOW)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # text fields: = != ~ in, without regard to case; a missing value never equals
        ("name = web-01", ["web-01"]),
        ("name = WEB-01", ["web-01"]),
        ("name != web-01", [n for n in ALL if n != "web-01"]),
        ("name ~ web-*", ["web-01", "web-02"]),
        ("name ~ 'w?n-0?'", ["win-01", "win-02"]),
        ("name ~ 'odd_*'", ["odd_1"]),  # _ is literal, not LIKE's any-character
        ("name in (db-01, win-02, ghost)", ["db-01", "win-02"]),
        ("name not in (db-01, win-02)", [n for n in ALL if n not in ("db-01", "win-02")]),
        ("address ~ 10.0.0.*", ["web-01", "web-02"]),
        ("address = win-01.example.com", ["win-01"]),
        ("owner = alice", ["web-01"]),
        ("owner = bob", ["web-02"]),
        ("owner != alice", [n for n in ALL if n != "web-01"]),  # no owner counts as not alice
        ("owner ~ *", ["web-01", "web-02", "win-02"]),  # has an owner
        ("not owner ~ *", ["db-01", "odd_1", "oddx1", "win-01"]),
        ("owner = 'it ops'", ["win-02"]),
        ("role ~ '50%'", ["win-01"]),  # % is literal
        ("role ~ '5*'", ["web-02", "win-01"]),
        ("role = a_b", ["odd_1"]),
        ("role ~ a?b", ["odd_1", "oddx1"]),
        ("environment = prod", ["db-01", "web-01"]),
        ("environment in (stage, prod)", ["db-01", "web-01", "web-02"]),
        ("distro = debian", ["web-01"]),
        ("distro != debian", [n for n in ALL if n != "web-01"]),
        ("distro in (debian, ubuntu)", ["web-01", "web-02"]),
        ("version = 22.04", ["web-02"]),
        ("version ~ '9.*'", ["odd_1"]),
        # choices
        ("os = windows", ["win-01", "win-02"]),
        ("os = Linux", ["db-01", "odd_1", "oddx1", "web-01", "web-02"]),
        ("os != linux", ["win-01", "win-02"]),
        ("os in (linux)", ["db-01", "odd_1", "oddx1", "web-01", "web-02"]),
        ("transport = local", ["odd_1"]),
        ("transport not in (ssh, local)", ["win-01", "win-02"]),
        # criticality is ordered: low < medium < high < critical
        ("criticality = high", ["web-01"]),
        ("criticality >= high", ["db-01", "web-01"]),
        ("criticality > high", ["db-01"]),
        ("criticality < medium", ["win-01"]),
        ("criticality <= medium", ["odd_1", "oddx1", "web-02", "win-01", "win-02"]),
        ("criticality > critical", []),
        ("criticality != medium", ["db-01", "web-01", "win-01"]),
        ("criticality in (low, critical)", ["db-01", "win-01"]),
        # tags: key and value without regard to case; a key may hold several values
        ("tag.env = prod", ["db-01", "web-01", "win-01"]),
        ("tag.ENV = stage", ["web-02"]),
        ("tag.env != prod", ["odd_1", "oddx1", "web-02", "win-02"]),
        ("tag.group = frontend", ["web-01"]),
        ("tag.group = web and tag.group = frontend", ["web-01"]),
        ("tag.group != web", [n for n in ALL if n != "web-01"]),
        ("tag.team ~ *", ["db-01"]),  # has the tag at all
        ("tag.env ~ pr*", ["db-01", "web-01", "win-01"]),
        ("tag.env in (stage, nope)", ["web-02"]),
        ("tag.env not in (prod)", ["odd_1", "oddx1", "web-02", "win-02"]),
        ("tag.missing = x", []),
        # missing counts, from the recorded scans
        ("missing.security > 0", ["web-01", "win-01"]),
        ("missing.security = 2", ["web-01", "win-01"]),
        ("missing.other >= 1", ["web-01", "web-02"]),
        ("missing.other < 3", [n for n in ALL if n != "web-02"]),
        ("missing.other <= 1", [n for n in ALL if n != "web-02"]),
        ("missing.critical != 0", ["win-01"]),
        ("missing.update_rollup = 1", ["win-01"]),
        ("missing.total = 4", ["win-01"]),
        ("missing.total in (3, 4)", ["web-01", "web-02", "win-01"]),
        ("missing.total not in (0)", ["web-01", "web-02", "win-01"]),
        ("missing.total = 0", ["db-01", "odd_1", "oddx1", "win-02"]),
        ("missing.definition > 0", []),
        # yes/no facts: unknown is neither true nor false
        ("reboot_pending = true", ["web-02"]),
        ("reboot_pending = no", ["odd_1", "web-01"]),
        ("reboot_pending = unknown", ["db-01", "oddx1", "win-01", "win-02"]),
        ("reboot_pending != true", [n for n in ALL if n != "web-02"]),
        ("reachable = yes", ["odd_1", "web-01", "web-02", "win-01"]),
        ("reachable = false", ["win-02"]),
        ("reachable != true", ["db-01", "oddx1", "win-02"]),
        # last_scan_age: a failed scan is a scan; never scanned is infinitely old
        ("last_scan_age > 24h", ["db-01", "oddx1", "web-02"]),
        ("last_scan_age >= 24h", ["db-01", "odd_1", "oddx1", "web-02"]),
        ("last_scan_age < 30m", ["win-02"]),
        ("last_scan_age <= 30m", ["win-01", "win-02"]),
        ("last_scan_age < 1h1m", ["web-01", "win-01", "win-02"]),
        ("last_scan_age > 1d", ["db-01", "oddx1", "web-02"]),
        ("last_scan_age > 3d", ["db-01", "oddx1"]),
        ("last_scan_age < 2w", ["odd_1", "web-01", "web-02", "win-01", "win-02"]),
        ("last_scan_age > 5399s", ["db-01", "odd_1", "oddx1", "web-02"]),
    ],
)
def test_every_field_and_operator(fleet: Store, query: str, expected: list[str]) -> None:
    assert names(fleet, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # not > and > or
        ("os = windows or os = linux and tag.env = prod", ["db-01", "web-01", "win-01", "win-02"]),
        ("(os = windows or os = linux) and tag.env = prod", ["db-01", "web-01", "win-01"]),
        ("not os = windows and tag.env = prod", ["db-01", "web-01"]),
        ("not (os = windows and tag.env = prod)", [n for n in ALL if n != "win-01"]),
        ("not not os = windows", ["win-01", "win-02"]),
        ("os = linux and not reachable = true or name = win-02", ["db-01", "oddx1", "win-02"]),
        ("os = windows or (missing.total > 2 and tag.env = stage)", ["web-02", "win-01", "win-02"]),
        ("((((name = db-01))))", ["db-01"]),
        ("OS = LINUX AND TAG.ENV = PROD Or Name = win-02", ["db-01", "web-01", "win-02"]),
        ("os = linux and tag.env = prod and missing.security > 0", ["web-01"]),
        # spacing and quoting
        ("name=web-01", ["web-01"]),
        ("tag.env=prod and(missing.security>0)", ["web-01", "win-01"]),
        ('name = "web-01"', ["web-01"]),
        ("owner = 'it ops'", ["win-02"]),
        ("owner = 'it\\'s'", []),
        ("role = 'and'", []),  # a keyword, quoted, is a value
        ("name in ('web-01',\"db-01\")", ["db-01", "web-01"]),
        ("missing.total = '4'", ["win-01"]),
        ("reachable = 'false'", ["win-02"]),
    ],
)
def test_precedence_and_quoting(fleet: Store, query: str, expected: list[str]) -> None:
    assert names(fleet, query) == expected


def test_matching_machines_keep_all_their_tags_and_counts(fleet: Store) -> None:
    (web,) = machines_matching(fleet, "tag.group = frontend", now=NOW)
    assert web.tags == (("env", "prod"), ("group", "web"), ("group", "frontend"))
    assert web.missing == {"security": 2, "other": 1}
    (win,) = machines_matching(fleet, "missing.critical > 0", now=NOW)
    assert win.missing["update_rollup"] == 1 and win.tags == (("env", "prod"),)


def test_age_counts_from_now(fleet: Store) -> None:
    later = NOW + timedelta(days=10)
    found = [m.name for m in machines_matching(fleet, "last_scan_age > 7d", now=later)]
    assert found == ALL
    assert names(fleet, "last_scan_age > 7d") == ["db-01", "oddx1"]


def test_strings_take_escapes() -> None:
    node = parse(r"""owner = 'it\'s' or owner = "a\"b\\c" or owner = 'tab\there'""")
    assert [c.values[0] for c in node.operands] == ["it's", 'a"b\\c', "tab\there"]  # type: ignore[union-attr]


def test_glob_to_like_escapes_like_wildcards() -> None:
    assert glob_to_like("a*b?c%d_e/f") == "a%b_c/%d/_e//f"


ERRORS = [
    # (query, column, length, the message contains)
    ("nmae = x", 1, 4, "unknown field 'nmae' at column 1 (did you mean 'name'?); fields are name"),
    ("os = linux and nmae = x", 16, 4, "unknown field 'nmae' at column 16"),
    ("name =", 7, 1, "expected a value after '=' at column 7"),
    ("name = and os = linux", 8, 3, "found 'and' (quote it to use it as a value)"),
    ("name = (x)", 8, 1, "expected a value after '=' at column 8, found '('"),
    ("name > x", 6, 1, "'>' does not apply to name at column 6 (text has no order)"),
    ("tag.env < x", 9, 1, "'<' does not apply to tag.env"),
    ("os ~ lin*", 4, 1, "'~' does not apply to os at column 4; os takes = != in"),
    ("missing.total ~ 1*", 15, 1, "'~' does not apply to missing.total"),
    ("reachable > true", 11, 1, "'>' does not apply to reachable"),
    ("reachable in (true)", 11, 2, "'in' does not apply to reachable"),
    ("last_scan_age = 1h", 15, 1, "'=' does not apply to last_scan_age"),
    ("(name = x", 1, 1, "unclosed '(' at column 1"),
    ("((name = x) or (os = linux)", 1, 1, "unclosed '(' at column 1"),
    ("name = x)", 9, 1, "unexpected ')' at column 9: no '(' to close"),
    ("()", 1, 1, "empty parentheses at column 1"),
    ("name = 'abc", 8, 4, "unterminated string starting at column 8"),
    ('name = "a\\"', 8, 4, "unterminated string starting at column 8"),
    ("name = 'a\\qb'", 10, 2, "unknown escape '\\q' at column 10"),
    ("name == x", 6, 2, "unknown operator '==' at column 6"),
    ("name ! x", 6, 1, "unknown operator '!' at column 6"),
    ("name web", 6, 3, "expected an operator after 'name' at column 6, found 'web'"),
    ("name", 5, 1, "expected an operator after 'name' at column 5; operators are"),
    ("name = a b", 10, 1, "expected 'and' or 'or' at column 10, found 'b'"),
    ("name = a and", 13, 1, "expected a field or '(' after 'and' at column 13"),
    ("name = a or or", 13, 2, "expected a field or '(' after 'or' at column 13, found 'or'"),
    ("and name = a", 1, 3, "expected a field or '(' at column 1, found 'and'"),
    ("not", 4, 1, "expected a field or '(' after 'not' at column 4"),
    ("= x", 1, 1, "expected a field or '(' at column 1, found '='"),
    ("'name' = x", 1, 6, "expected a field or '(' at column 1, found the string \"name\""),
    ("", 1, 1, "the query is empty"),
    ("   ", 1, 1, "the query is empty"),
    ("name in x", 9, 1, "expected '(' and a list of values after 'in' at column 9"),
    ("name in ()", 10, 1, "expected a value after '(' at column 10, found ')'"),
    ("name in (a b)", 12, 1, "expected ',' or ')' in the list at column 12, found 'b'"),
    ("name in (a,", 12, 1, "expected a value after ',' at column 12"),
    ("name in (a, b", 9, 1, "unclosed '(' at column 9: the list has no ')'"),
    ("name not = x", 6, 3, "expected an operator after 'name' at column 6, found 'not'"),
    ("os = linx", 6, 4, "os is one of linux, windows, not 'linx' at column 6"),
    ("transport = telnet", 13, 6, "transport is one of ssh, winrm, local"),
    ("criticality > urgent", 15, 6, "criticality is one of low, medium, high, critical"),
    ("missing.total > many", 17, 4, "missing.total is compared with a whole number, not 'many'"),
    ("missing.total > -1", 17, 2, "not '-1' at column 17"),
    ("missing.total > 99999999999", 17, 11, "up to 1000000000"),
    ("missing.security > ²", 20, 1, "is compared with a whole number"),
    ("missing.foo > 1", 1, 11, "unknown classification 'foo' in 'missing.foo' at column 1"),
    ("missing. > 1", 1, 8, "unknown classification ''"),
    ("tag. = x", 1, 4, "'tag.' at column 1 needs a tag key after 'tag.'"),
    ("tag.a*b = x", 1, 7, "needs a tag key"),
    ("reachable = maybe", 13, 5, "reachable is true, false or unknown"),
    ("last_scan_age > 24", 17, 2, "'24' at column 17 needs a unit"),
    ("last_scan_age > soon", 17, 4, "'soon' at column 17 is not a duration"),
    ("last_scan_age > 1y", 17, 2, "is not a duration: last_scan_age takes durations like"),
    ("last_scan_age > 99999999999999d", 17, 15, "is longer than 36500 days"),
    ("last_scan_age > 36501d", 17, 6, "is longer than 36500 days"),
    ("(" * (MAX_DEPTH + 1) + "name = x" + ")" * (MAX_DEPTH + 1), MAX_DEPTH + 1, 1,
     f"nests deeper than {MAX_DEPTH} levels"),
    (" or ".join(["name = x"] * (MAX_COMPARISONS + 1)), 12 * MAX_COMPARISONS + 1, 4,
     f"too many comparisons at column {12 * MAX_COMPARISONS + 1}"),
    ("name in (" + ",".join(["a"] * 501) + ")", 9 + 2 * 500, 1, "too many values in the list"),
    ("name = " + "x" * 10_000, 10_001, 10_007, "longer than 10000 characters"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "column", "length", "message"), ERRORS)
def test_every_error_names_its_column(
    fleet: Store, query: str, column: int, length: int, message: str
) -> None:
    with pytest.raises(QueryError) as caught:
        machines_matching(fleet, query, now=NOW)
    error = caught.value
    assert message in str(error)
    assert (error.column, error.length) == (column, length), str(error)
    assert f"column {column}" in str(error) or column > 10_000
    assert error.query == query
    assert isinstance(error, InventoryError)


def test_fields_error_lists_every_field() -> None:
    with pytest.raises(QueryError) as caught:
        parse("colour = red")
    message = str(caught.value)
    for field in ("name", "address", "os", "distro", "version", "transport", "owner", "role",
                  "environment", "criticality", "tag.<key>", "missing.<classification>",
                  "missing.total", "reboot_pending", "reachable", "last_scan_age"):  # fmt: skip
        assert field in message
    with pytest.raises(QueryError) as caught:
        parse("missing.bogus > 0")
    assert all(c in str(caught.value) for c in ALL_CLASSIFICATIONS)


def test_explain_puts_carets_under_the_token() -> None:
    query = "os = linux and\ttag.env = prod and nmae = x"
    with pytest.raises(QueryError) as caught:
        parse(query)
    shown, carets, message = explain(query, caught.value)
    assert shown == query
    assert carets == " " * 14 + "\t" + " " * 19 + "^^^^"
    assert shown[carets.index("^") : carets.index("^") + 4] == "nmae"
    assert message.startswith("unknown field 'nmae' at column 35")
    # line breaks and control characters keep their place as spaces
    assert display_line("a\nb\x1b[31mc\r\n") == "a b [31mc  "
    assert caret_line("name =", 7) == "      ^"
    assert caret_line("x", 1, 50) == "^"


# -- "never a traceback": any text, and any sequence of the language's own tokens -----------

VOCABULARY = [
    "name", "address", "os", "distro", "version", "transport", "owner", "role", "environment",
    "criticality", "tag.env", "tag.", "tag.a-b.c", "missing.security", "missing.total",
    "missing.critical", "missing.nope", "reboot_pending", "reachable", "last_scan_age", "nmae",
    "=", "!=", "<", "<=", ">", ">=", "~", "==", "!", "<>", "in", "not", "and", "or", "AND",
    "(", ")", ",", "'", '"', "'quoted value'", '"x\\"y"', "'\\q'", "\\", "linux", "windows",
    "ssh", "high", "critical", "0", "3", "-1", "99999999999", "1e3", "true", "no", "unknown",
    "24h", "30m", "7d", "90s", "1h30m", "2w", "0s", "99999999999999999999d", "web-*", "?",
    "*", "%", "_", "/", "10.0.*", "é", "\x00", "\x1b[31m", "\u202e", "\n", "\t", "😀",
]  # fmt: skip


def _check(fleet: Store, query: str) -> None:
    try:
        machines_matching(fleet, query, now=NOW)  # parsed, compiled and run on SQLite
    except QueryError as error:
        assert 1 <= error.column <= len(query) + 1
        assert error.length >= 1
        assert str(error) and "\n" not in str(error)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_any_text_is_a_result_or_a_query_error(fleet: Store, query: str) -> None:
    _check(fleet, query)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(VOCABULARY), max_size=14),
    st.sampled_from([" ", "", "  "]),
)
@example(tokens=["'", "\\", "\n"], separator="")  # an escape of a newline: one-line message
@example(tokens=["'", "\n", "'"], separator=" ")  # a string holding a newline: one-line message
def test_any_token_sequence_is_a_result_or_a_query_error(
    fleet: Store, tokens: list[str], separator: str
) -> None:
    _check(fleet, separator.join(tokens))


COMPARISONS = st.one_of(
    st.builds(lambda f, o, v: f"{f} {o} {v}",
              st.sampled_from(["name", "owner", "tag.env", "distro"]),
              st.sampled_from(["=", "!=", "~"]), st.sampled_from(["web-*", "prod", "'a b'"])),
    st.builds(lambda f, o, v: f"{f} {o} {v}", st.sampled_from(["missing.total", "missing.other"]),
              st.sampled_from(["<", ">=", "=", "!="]), st.sampled_from(["0", "2"])),
    st.builds(lambda o, v: f"criticality {o} {v}", st.sampled_from(["<", ">=", "!="]),
              st.sampled_from(["low", "high"])),
    st.builds(lambda f, v: f"{f} = {v}", st.sampled_from(["reachable", "reboot_pending"]),
              st.sampled_from(["true", "false", "unknown"])),
    st.builds(lambda o, v: f"last_scan_age {o} {v}", st.sampled_from(["<", ">"]),
              st.sampled_from(["1h", "3d"])),
)  # fmt: skip


def _queries() -> st.SearchStrategy[str]:
    return st.recursive(
        COMPARISONS,
        lambda inner: st.one_of(
            st.builds(lambda a, k, b: f"{a} {k} {b}", inner, st.sampled_from(["and", "or"]), inner),
            st.builds(lambda a: f"not ({a})", inner),
            st.builds(lambda a: f"({a})", inner),
        ),
        max_leaves=8,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_queries())
def test_well_formed_queries_always_run_and_not_is_a_complement(fleet: Store, query: str) -> None:
    """Every comparison is true or false, never NULL: ``not q`` holds exactly the others."""
    found = names(fleet, query)
    negated = names(fleet, f"not ({query})")
    assert sorted(found + negated) == ALL
