"""Settings: the config file, PATCHDECK_* variables over it, and a one-line error for each fault."""

from __future__ import annotations

from pathlib import Path

import pytest

import tui.cli.scan as scan_cli
from backends.engine.defaults import SCAN_CONCURRENCY
from backends.engine.scan import ScanOptions
from backends.inventory.machines import add_machine, list_machines
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.conftest import run_cli
from tui.cli import main
from tui.settings import (
    DEFAULT_THEME,
    Settings,
    SettingsError,
    check_keys,
    check_theme,
    config_path,
    load_settings,
)

FULL = """\
# everything there is
theme = "nord"
reduced_motion = true
concurrency = 25
read_only = true

[keys]
"scan" = "S"
quit = 'ctrl+q'
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **env: str) -> Settings:
    return load_settings({"PATCHDECK_CONFIG": str(path), **env})


def error(path: Path, **env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load(path, **env)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path({}) == tmp_path / "patchdeck" / "config.toml"
    settings = load_settings({})
    assert settings == Settings(DEFAULT_THEME, False, SCAN_CONCURRENCY, {}, False)
    assert settings.concurrency == 100


def test_the_default_file_in_the_user_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "patchdeck").mkdir()
    (tmp_path / "patchdeck" / "config.toml").write_text("concurrency = 7\n")
    assert load_settings({}).concurrency == 7


def test_every_setting_from_the_file(tmp_path: Path) -> None:
    settings = load(write(tmp_path, FULL))
    assert settings == Settings(
        theme="nord",
        reduced_motion=True,
        concurrency=25,
        keys={"scan": "S", "quit": "ctrl+q"},
        read_only=True,
    )


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    settings = load(
        path,
        PATCHDECK_THEME="dracula",
        PATCHDECK_REDUCED_MOTION="off",
        PATCHDECK_CONCURRENCY="300",
    )
    assert (settings.theme, settings.reduced_motion, settings.concurrency) == (
        "dracula",
        False,
        300,
    )
    assert settings.keys == {"scan": "S", "quit": "ctrl+q"}  # not overridden
    assert load(path, PATCHDECK_REDUCED_MOTION="YES").reduced_motion is True
    assert load(path, PATCHDECK_READ_ONLY="on").read_only is True
    assert load(path, PATCHDECK_READ_ONLY="0").read_only is False
    assert load(path, PATCHDECK_CONCURRENCY="").concurrency == 25  # empty: not set


def test_unknown_setting_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "nord"\n\nconcurrancy = 5\n')
    message = error(path)
    assert message.startswith(f"{path}:3: unknown setting 'concurrancy'")
    assert "concurrency" in message  # the known ones are listed


def test_unknown_table_names_its_header_line(tmp_path: Path) -> None:
    path = write(tmp_path, "concurrency = 5\n[scan]\ntimeout = 3\n")
    assert error(path).startswith(f"{path}:2: unknown setting 'scan'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'concurrency = "ten"\n',
            ":1: concurrency: expected a whole number of at least 1, not 'ten'",
        ),
        (
            "\nconcurrency = 2.5\n",
            ":2: concurrency: expected a whole number of at least 1, not 2.5",
        ),
        ("concurrency = 0\n", ":1: concurrency: expected a whole number of at least 1, not 0"),
        (
            "concurrency = true\n",
            ":1: concurrency: expected a whole number of at least 1, not True",
        ),
        ("theme = 3\n", ":1: theme: expected a theme name, not 3"),
        ('reduced_motion = "yes"\n', ":1: reduced_motion: expected true or false, not 'yes'"),
        ("read_only = 1\n", ":1: read_only: expected true or false, not 1"),
        ('keys = "S"\n', ":1: keys: expected a table of action id = key"),
        ('[keys]\nquit = "q"\n"scan" = 5\n', ":3: keys.scan: expected a key"),
    ],
)
def test_bad_values_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert error(path).startswith(f"{path}{expected}")


def test_malformed_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "nord"\n[keys\n')
    assert error(path).startswith(f"{path}:2: not valid TOML: Expected ']'")
    path = write(tmp_path, 'theme = "nord"\nconcurrency = \n')
    assert error(path).startswith(f"{path}:2: not valid TOML: Invalid value")


def test_malformed_toml_at_the_end_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "nor')
    assert error(path) == f"{path}: not valid TOML: Unterminated string"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b'theme = "caf\xe9"\n')
    assert error(path) == f"{path}: not UTF-8 text (byte 13)"


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    assert error(path) == f"{path}: no such file (named by $PATCHDECK_CONFIG)"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"PATCHDECK_CONCURRENCY": "ten"},
            "PATCHDECK_CONCURRENCY: concurrency: expected a whole number of at least 1, not 'ten'",
        ),
        (
            {"PATCHDECK_CONCURRENCY": "-3"},
            "PATCHDECK_CONCURRENCY: concurrency: expected a whole number of at least 1, not '-3'",
        ),
        (
            {"PATCHDECK_REDUCED_MOTION": "maybe"},
            "PATCHDECK_REDUCED_MOTION: reduced_motion: expected 1/0, true/false, yes/no or "
            "on/off, not 'maybe'",
        ),
    ],
)
def test_bad_variables_name_the_variable(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    assert error(write(tmp_path, ""), **env) == expected


def test_theme_is_checked_against_textuals_themes(tmp_path: Path) -> None:
    check_theme(Settings())  # the default exists
    check_theme(load(write(tmp_path, 'theme = "gruvbox"\n')))
    path = write(tmp_path, '\ntheme = "drakula"\n')
    with pytest.raises(SettingsError) as caught:
        check_theme(load(path))
    assert str(caught.value).startswith(f"{path}:2: theme: unknown theme 'drakula' (known: ")
    assert "dracula" in str(caught.value)
    with pytest.raises(SettingsError, match=r"^PATCHDECK_THEME: theme: unknown theme 'x'"):
        check_theme(load(path, PATCHDECK_THEME="x"))
    check_theme(Settings(theme="ours"), available=["ours"])


def test_key_overrides_are_checked_against_the_actions(tmp_path: Path) -> None:
    check_keys(load(write(tmp_path, '[keys]\nquit = "ctrl+q"\nscan = "S"\n')), ["quit", "scan"])
    path = write(tmp_path, '[keys]\nquit = "ctrl+q"\n\n"sacn" = "S"\n')
    with pytest.raises(SettingsError) as caught:
        check_keys(load(path), ["quit", "scan", "help"])
    assert str(caught.value) == (
        f"{path}:4: keys.sacn: no action named 'sacn' (actions: quit, scan, help)"
    )


# -- the CLI ---------------------------------------------------------------------------------


def test_a_bad_config_is_exit_2_with_one_line(tmp_path: Path, db_path: Path) -> None:
    path = write(tmp_path, "concurrency = 'ten'\n")
    result = run_cli(db=db_path, env={"PATCHDECK_CONFIG": str(path)})  # the console
    assert result.returncode == 2
    assert result.stderr == (
        f"patchdeck: {path}:1: concurrency: expected a whole number of at least 1, not 'ten'\n"
    )
    result = run_cli("demo", env={"PATCHDECK_THEME": "nope"})
    assert result.returncode == 2
    assert result.stderr.startswith("patchdeck: PATCHDECK_THEME: theme: unknown theme 'nope'")
    keys = write(tmp_path, '[keys]\nnot_an_action = "x"\n')
    result = run_cli(db=db_path, env={"PATCHDECK_CONFIG": str(keys)})
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"patchdeck: {keys}:2: keys.not_an_action: no action named 'not_an_action' (actions: "
    )
    # a command that uses no setting does not read them
    listed = run_cli("machine", "list", db=db_path, env={"PATCHDECK_CONFIG": str(path)})
    assert listed.returncode == 0, listed.stderr


def _scanned_with(
    monkeypatch: pytest.MonkeyPatch, db_path: Path, *args: str, **env: str
) -> tuple[int, list[int]]:
    store = Store.open(str(db_path))
    if not list_machines(store):
        add_machine(store, build_spec(name="web-01", address="127.0.0.1", port=9))
    store.close()
    for name in ("PATCHDECK_CONFIG", "PATCHDECK_CONCURRENCY", "PATCHDECK_THEME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen: list[int] = []

    def fake_run_scan(
        ctx: object, machines: object, options: ScanOptions, **kw: object
    ) -> dict[str, object]:
        seen.append(options.concurrency)
        return {}

    monkeypatch.setattr(scan_cli, "run_scan", fake_run_scan)
    return main(["--db", str(db_path), "scan", *args]), seen


def test_scan_concurrency_comes_from_settings_unless_given(
    tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    assert _scanned_with(monkeypatch, db_path) == (0, [SCAN_CONCURRENCY])
    path = write(tmp_path, "concurrency = 12\n")
    assert _scanned_with(monkeypatch, db_path, PATCHDECK_CONFIG=str(path)) == (0, [12])
    assert _scanned_with(
        monkeypatch, db_path, PATCHDECK_CONFIG=str(path), PATCHDECK_CONCURRENCY="30"
    ) == (0, [30])
    assert _scanned_with(
        monkeypatch, db_path, "--concurrency", "3", PATCHDECK_CONCURRENCY="30"
    ) == (0, [3])
    # the flag wins without reading the settings, so a broken variable does not matter
    assert _scanned_with(monkeypatch, db_path, "--concurrency", "4", PATCHDECK_CONCURRENCY="x") == (
        0,
        [4],
    )
    assert _scanned_with(monkeypatch, db_path, PATCHDECK_CONCURRENCY="x") == (2, [])


def test_plan_max_age_from_the_file_and_the_environment(tmp_path: Path) -> None:
    from datetime import timedelta

    path = write(tmp_path, 'plan_max_age = "90m"\n')
    assert load(path).plan_max_age == timedelta(minutes=90)
    assert load(path, PATCHDECK_PLAN_MAX_AGE="4h").plan_max_age == timedelta(hours=4)
    assert load(write(tmp_path, "")).plan_max_age == timedelta(hours=2)  # the default
    for bad in ('"soon"', '"30s"', "90"):
        with pytest.raises(SettingsError, match=r"config.toml:1: plan_max_age: expected a dura"):
            load(write(tmp_path, f"plan_max_age = {bad}\n"))
