"""The settings: defaults, then the config file, then ``PATCHDECK_*`` variables (env wins).

The file is TOML, ``config.toml`` in the platform's user config dir
(``~/.config/patchdeck/config.toml`` on Linux), or the file ``$PATCHDECK_CONFIG`` names::

    theme = "nord"              # a Textual theme name
    reduced_motion = true       # no animations
    concurrency = 50            # machines scanned at once unless --concurrency is given
    read_only = false           # the console without actions that change things
    notify = "mail -s patchdeck ops@example.com"   # told about runs and missed schedules
    plan_max_age = "2h"         # an older plan is made again before a run

    [keys]                      # action id = key (the ids are in tui/actions.py)
    scan = "ctrl+s"

Variables: ``PATCHDECK_THEME``, ``PATCHDECK_REDUCED_MOTION`` and ``PATCHDECK_READ_ONLY`` (1/0,
true/false, yes/no, on/off), ``PATCHDECK_CONCURRENCY``, ``PATCHDECK_NOTIFY``,
``PATCHDECK_PLAN_MAX_AGE``. Anything wrong is a :class:`SettingsError` whose message is one line
naming the file and line (or the variable) and the setting at fault.

Nothing here imports Textual: ``patchdeck scan`` reads its concurrency from here, and Textual
loads only when the console opens (:func:`check_theme` imports it then).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import platformdirs

from backends.engine.defaults import SCAN_CONCURRENCY
from backends.inventory.durations import DurationError, parse_duration
from backends.inventory.plans import PLAN_MAX_AGE

APP = "patchdeck"
DEFAULT_THEME = "textual-dark"
CONFIG_VARIABLE = "PATCHDECK_CONFIG"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(Exception):
    """A setting that cannot be used; ``str()`` is one line naming where and which."""


@dataclass(frozen=True)
class Settings:
    theme: str = DEFAULT_THEME
    reduced_motion: bool = False
    concurrency: int = SCAN_CONCURRENCY  # the default for scans: machines at once
    keys: dict[str, str] = field(default_factory=dict)  # action id -> key
    read_only: bool = False
    # The command told about runs and missed occurrences when a deployment has no --notify.
    notify: str | None = None
    # A plan older than this is made again before a run (deployment run, run-due).
    plan_max_age: timedelta = PLAN_MAX_AGE
    # Where each value that is not a default came from ("FILE:LINE", "FILE" or the variable),
    # so that a later check (the theme, at console start) can say where to fix it.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


FIELDS = ("theme", "reduced_motion", "concurrency", "read_only", "notify", "plan_max_age", "keys")


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$PATCHDECK_CONFIG``, else ``config.toml`` in the user config dir."""
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_VARIABLE)
    if explicit:
        return Path(explicit).expanduser()
    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the config file (if there is one), then the environment."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    values, sources = _from_file(path, required=bool(env.get(CONFIG_VARIABLE)))
    env_values, env_sources = _from_env(env)
    values.update(env_values)
    sources.update(env_sources)
    return Settings(**values, sources=sources)


def check_keys(settings: Settings, actions: Iterable[str]) -> None:
    """Refuse a key override for an action the console does not have."""
    known = list(actions)
    for action in settings.keys:
        if action not in known:
            where = settings.sources.get(f"keys.{action}", "keys")
            raise SettingsError(
                f"{where}: keys.{action}: no action named {action!r} (actions: {', '.join(known)})"
            )


def check_theme(settings: Settings, available: Iterable[str] | None = None) -> None:
    """Refuse a theme Textual does not have (``available`` defaults to its built-in themes)."""
    if available is None:
        from textual.theme import BUILTIN_THEMES

        available = BUILTIN_THEMES
    names = sorted(available)
    if settings.theme not in names:
        where = settings.sources.get("theme", "theme")
        raise SettingsError(
            f"{where}: theme: unknown theme {settings.theme!r} (known: {', '.join(names)})"
        )


# -- the file ---------------------------------------------------------------------------------


def _from_file(path: Path, required: bool) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise SettingsError(f"{path}: no such file (named by ${CONFIG_VARIABLE})") from None
        return {}, {}
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(_toml_error(path, exc)) from None
    return _check_document(path, text, document)


def _toml_error(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    at = re.search(r"\s*\(at line (\d+), column \d+\)$", message)
    if at is not None:
        return f"{path}:{at.group(1)}: not valid TOML: {message[: at.start()]}"
    message = re.sub(r"\s*\(at end of document\)$", "", message)
    return f"{path}: not valid TOML: {message}"


def _line_of(text: str, key: str, table: str | None = None) -> int | None:
    """The 1-based line where ``key`` is set (in ``[table]``, else at the top level)."""
    current: str | None = None
    quoted = re.escape(key)
    assignment = re.compile(rf"""\s*(?:{quoted}|"{quoted}"|'{quoted}')\s*=""")
    header = re.compile(r"""\s*\[\s*("?)([^\]"]+)\1\s*\]""")
    for number, line in enumerate(text.splitlines(), 1):
        opened = header.match(line)
        if opened is not None:
            current = opened.group(2).strip()
            if table is None and current == key:
                return number
            continue
        if current == table and assignment.match(line):
            return number
    return None


def _where(path: Path, text: str, key: str, table: str | None = None) -> str:
    line = _line_of(text, key, table)
    return f"{path}:{line}" if line is not None else str(path)


def _check_document(
    path: Path, text: str, document: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value in document.items():
        where = _where(path, text, key)
        if key not in FIELDS:
            raise SettingsError(
                f"{where}: unknown setting {key!r} (known: {', '.join(sorted(FIELDS))})"
            )
        if key == "keys":
            values[key] = _check_keys(path, text, value, where)
            for action in values[key]:
                sources[f"keys.{action}"] = _where(path, text, action, "keys")
        else:
            values[key] = _check_value(key, value, where)
        sources[key] = where
    return values, sources


def _check_value(key: str, value: object, where: str) -> object:
    if key == "theme":
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where}: theme: expected a theme name, not {value!r}")
        return value.strip()
    if key == "notify":
        return _check_notify(value, where)
    if key == "plan_max_age":
        return _check_age(value, where)
    if key == "concurrency":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SettingsError(
                f"{where}: concurrency: expected a whole number of at least 1, not {value!r}"
            )
        return value
    if not isinstance(value, bool):  # reduced_motion, read_only
        raise SettingsError(f"{where}: {key}: expected true or false, not {value!r}")
    return value


def _check_age(value: object, where: str) -> timedelta:
    """A duration such as "2h" or "90m", at least a minute."""
    try:
        age = parse_duration(value) if isinstance(value, str) else None
    except DurationError:
        age = None
    if age is None or age < timedelta(minutes=1):
        raise SettingsError(
            f'{where}: plan_max_age: expected a duration of at least 1m such as "2h", not {value!r}'
        )
    return age


def _check_notify(value: object, where: str) -> str | None:
    """A one-line command (run by ``sh -c``); empty means none."""
    if not isinstance(value, str) or "\n" in value or re.search(r"[\x00-\x1f\x7f]", value):
        raise SettingsError(f"{where}: notify: expected a one-line command, not {value!r}")
    return value.strip() or None


def _check_keys(path: Path, text: str, value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise SettingsError(
            f'{where}: keys: expected a table of action id = key, such as [keys] scan = "ctrl+s"'
        )
    keys: dict[str, str] = {}
    for action, key in value.items():
        if not isinstance(key, str) or not key.strip():
            at = _where(path, text, action, "keys")
            raise SettingsError(f"{at}: keys.{action}: expected a key such as 'S', not {key!r}")
        keys[action] = key.strip()
    return keys


# -- the environment --------------------------------------------------------------------------


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    theme = env.get("PATCHDECK_THEME", "").strip()
    if theme:
        values["theme"], sources["theme"] = theme, "PATCHDECK_THEME"
    for name, variable in (
        ("reduced_motion", "PATCHDECK_REDUCED_MOTION"),
        ("read_only", "PATCHDECK_READ_ONLY"),
    ):
        flag = env.get(variable, "").strip()
        if flag:
            if flag.lower() not in _TRUE + _FALSE:
                raise SettingsError(
                    f"{variable}: {name}: expected 1/0, true/false, yes/no or on/off, not {flag!r}"
                )
            values[name], sources[name] = flag.lower() in _TRUE, variable
    concurrency = env.get("PATCHDECK_CONCURRENCY", "").strip()
    if concurrency:
        try:
            number = int(concurrency)
        except ValueError:
            number = 0
        if number < 1:
            raise SettingsError(
                f"PATCHDECK_CONCURRENCY: concurrency: expected a whole number of at least 1, "
                f"not {concurrency!r}"
            )
        values["concurrency"], sources["concurrency"] = number, "PATCHDECK_CONCURRENCY"
    if "PATCHDECK_NOTIFY" in env:
        values["notify"] = _check_notify(env["PATCHDECK_NOTIFY"], "PATCHDECK_NOTIFY")
        sources["notify"] = "PATCHDECK_NOTIFY"
    if env.get("PATCHDECK_PLAN_MAX_AGE", "").strip():
        age = _check_age(env["PATCHDECK_PLAN_MAX_AGE"], "PATCHDECK_PLAN_MAX_AGE")
        values["plan_max_age"], sources["plan_max_age"] = age, "PATCHDECK_PLAN_MAX_AGE"
    return values, sources
