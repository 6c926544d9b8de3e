"""A deployment's options and their checks: what to install (classifications, include and
exclude patterns), the reboot option, the maintenance window, concurrency, the failure
threshold, the gate between stages and the per-machine pre and post commands.

Each check returns the clean value or raises :class:`FieldError` naming the option and the
value at fault (the CLI's exit code 2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from backends.inventory.durations import DurationError, format_minutes, parse_duration
from backends.inventory.records import CLASSIFICATIONS
from backends.inventory.validation import FieldError, check_text

# Every classification any OS family has, in display order.
ALL_CLASSIFICATIONS: tuple[str, ...] = tuple(
    dict.fromkeys(c for family in CLASSIFICATIONS.values() for c in family)
)
# ``--classification none``: no classification at all, only what --include names.
NO_CLASSIFICATION = "none"
REBOOT_OPTIONS = ("if-required", "never", "always", "reboot-only")
GATES = ("auto", "manual")
DEFAULT_CLASSIFICATIONS = ("security", "critical")
WINDOW_MIN_MINUTES = 30
WINDOW_MAX_MINUTES = 6 * 60
MAX_CONCURRENCY = 10_000
MAX_PATTERN = 255
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_COUNT = re.compile(r"^\d{1,9}$")
_PERCENT = re.compile(r"^(\d{1,3})%$")


@dataclass(frozen=True, slots=True)
class DeploymentOptions:
    """What a deployment installs and how. ``classifications`` empty means only what
    ``include`` names; ``max_failures`` is ``N`` (machines) or ``P%`` (of the targets)."""

    classifications: tuple[str, ...] = DEFAULT_CLASSIFICATIONS
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    reboot: str = "if-required"
    window_minutes: int = 120
    concurrency: int = 10
    max_failures: str = "0"
    gate: str = "auto"
    pre_command: str | None = None
    post_command: str | None = None

    @property
    def window(self) -> str:
        return format_minutes(self.window_minutes)


DEFAULTS = DeploymentOptions()


def check_deployment_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise FieldError("name", value, "is empty")
    if len(value) > 255 or not _NAME.match(value):
        raise FieldError(
            "name", value, "is not a valid deployment name (letters, digits and . _ - only)"
        )
    return value


def check_classifications(values: Sequence[str]) -> tuple[str, ...]:
    """Known classifications, in display order, each once; ``none`` alone means none."""
    clean = [v.strip().lower() for v in values]
    if NO_CLASSIFICATION in clean:
        if len(set(clean)) > 1:
            raise FieldError(
                "classification", NO_CLASSIFICATION, "cannot be combined with a classification"
            )
        return ()
    for value, original in zip(clean, values, strict=True):
        if value not in ALL_CLASSIFICATIONS:
            raise FieldError(
                "classification",
                original,
                f"is not one of {', '.join(ALL_CLASSIFICATIONS)} (or {NO_CLASSIFICATION})",
            )
    if not clean:
        raise FieldError("classification", "", "names no classification (use none for none)")
    return tuple(c for c in ALL_CLASSIFICATIONS if c in clean)


def check_patterns(option: str, values: Sequence[str]) -> tuple[str, ...]:
    """Glob patterns (``*`` and ``?``), each once; an empty value clears the list."""
    patterns: list[str] = []
    for value in values:
        clean = value.strip()
        if not clean:
            continue
        if len(clean) > MAX_PATTERN or any(c.isspace() for c in clean):
            raise FieldError(option, value, f"is not a pattern (no spaces, at most {MAX_PATTERN})")
        check_text(option, clean)  # no control characters
        if clean not in patterns:
            patterns.append(clean)
    return tuple(patterns)


def check_reboot(value: str) -> str:
    clean = value.strip().lower()
    if clean not in REBOOT_OPTIONS:
        raise FieldError("reboot", value, f"is not one of {', '.join(REBOOT_OPTIONS)}")
    return clean


def check_gate(value: str) -> str:
    clean = value.strip().lower()
    if clean not in GATES:
        raise FieldError("gate", value, f"is not one of {', '.join(GATES)}")
    return clean


def check_window(value: str | int) -> int:
    """A maintenance window from 30 minutes to 6 hours, in whole minutes (``90m``, ``2h``,
    ``1h30m``; a number alone is minutes)."""
    if isinstance(value, int):
        minutes, text = value, str(value)
    else:
        text = value.strip()
        try:
            duration = parse_duration(text + "m" if text.isdigit() else text)
        except DurationError as exc:
            raise FieldError("window", value, f"{exc}: write it like 90m, 2h or 1h30m") from None
        seconds = int(duration.total_seconds())
        if seconds % 60:
            raise FieldError("window", value, "is not a whole number of minutes")
        minutes = seconds // 60
    if not WINDOW_MIN_MINUTES <= minutes <= WINDOW_MAX_MINUTES:
        raise FieldError(
            "window",
            text,
            f"is not between {format_minutes(WINDOW_MIN_MINUTES)} and "
            f"{format_minutes(WINDOW_MAX_MINUTES)}",
        )
    return minutes


def check_concurrency(value: str | int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FieldError("concurrency", str(value), "is not a whole number") from None
    if not 1 <= number <= MAX_CONCURRENCY:
        raise FieldError("concurrency", str(value), f"is not between 1 and {MAX_CONCURRENCY}")
    return number


def check_max_failures(value: str | int) -> str:
    """``N`` machines (0: stop at the first failure) or ``P%`` of the targets (0–100)."""
    text = str(value).strip()
    if _COUNT.match(text):
        return str(int(text))
    percent = _PERCENT.match(text)
    if percent is None:
        raise FieldError("max-failures", text, "is not a number of machines (N) or a share (P%)")
    if int(percent.group(1)) > 100:
        raise FieldError("max-failures", text, "is more than 100%")
    return f"{int(percent.group(1))}%"


def allowed_failures(max_failures: str, machines: int) -> int:
    """How many of ``machines`` may fail before no new machine is started: ``N`` as it is,
    ``P%`` of the machines rounded down."""
    if max_failures.endswith("%"):
        return machines * int(max_failures[:-1]) // 100
    return int(max_failures)


def check_command(option: str, value: str | None) -> str | None:
    """A pre or post command (run on each machine by ``sh -c``); empty means none."""
    clean = check_text(option, value)
    if clean is not None and "\n" in clean:
        raise FieldError(option, clean, "is more than one line")
    return clean


def build_options(
    base: DeploymentOptions = DEFAULTS,
    *,
    classifications: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    reboot: str | None = None,
    window: str | int | None = None,
    concurrency: str | int | None = None,
    max_failures: str | int | None = None,
    gate: str | None = None,
    pre_command: str | None = None,
    post_command: str | None = None,
) -> DeploymentOptions:
    """``base`` with every option given (not ``None``) checked and put in its place. A list
    given replaces the base's (an empty pattern clears it); ``""`` clears a command."""
    changes: dict[str, object] = {}
    if classifications is not None:
        changes["classifications"] = check_classifications(classifications)
    if include is not None:
        changes["include"] = check_patterns("include", include)
    if exclude is not None:
        changes["exclude"] = check_patterns("exclude", exclude)
    if reboot is not None:
        changes["reboot"] = check_reboot(reboot)
    if window is not None:
        changes["window_minutes"] = check_window(window)
    if concurrency is not None:
        changes["concurrency"] = check_concurrency(concurrency)
    if max_failures is not None:
        changes["max_failures"] = check_max_failures(max_failures)
    if gate is not None:
        changes["gate"] = check_gate(gate)
    if pre_command is not None:
        changes["pre_command"] = check_command("pre", pre_command)
    if post_command is not None:
        changes["post_command"] = check_command("post", post_command)
    options = replace(base, **changes)  # type: ignore[arg-type]
    if not options.classifications and not options.include and options.reboot != "reboot-only":
        raise FieldError(
            "classification", NO_CLASSIFICATION, "selects nothing: add --include patterns"
        )
    return options
