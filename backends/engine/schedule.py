"""Schedules: reading ``--at``, ``--every``, ``--offset`` and ``--tz``, and when they fall.

Pure: no inventory, no clock of its own (every function takes ``now`` or ``after``).

* ``--at TIME`` runs once: ISO 8601 with an offset (``2026-03-10T22:00+01:00``, ``…Z``), or a
  local time (``2026-03-10T22:00``, ``2026-03-10 22:00``) in ``--tz``.
* ``--every RRULE`` recurs: an RFC 5545 rule (``FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22``), counted
  in ``--tz``'s wall time from midnight of the day the schedule was set (so a rule without
  ``BYHOUR``/``BYMINUTE`` falls at 00:00), then moved by ``--offset`` (``+3d``, ``-12h``), also
  in wall time: Patch Tuesday 22:00 ``+3d`` is Friday 22:00 whatever the clocks did between.
* Daylight saving: a wall time that does not exist (the hour skipped in spring) starts at the
  first time that exists after the gap (02:30 on a 02:00 -> 03:00 night starts at 03:00); a
  wall time that happens twice (the hour repeated in autumn) runs once, at its first
  occurrence.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from backends.inventory.durations import DurationError, parse_duration
from backends.inventory.schedules import Schedule
from backends.inventory.validation import FieldError

# The parts of an RFC 5545 RRULE and what each takes.
_PARTS = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
)
# Sub-hourly rules are not patch schedules (and every minute would start a run).
FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_INT = re.compile(r"^[+-]?\d{1,4}$")
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
# Ranges of the numeric BY parts: (lowest, highest, negative allowed).
_RANGES: dict[str, tuple[int, int, bool]] = {
    "BYSECOND": (0, 59, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# How many occurrences one look at a span of a schedule gives at most (the newest): an hourly
# rule over six weeks.
MAX_OCCURRENCES = 1000
# Wall time moves against UTC by at most a day at a zone change (Samoa skipped 2011-12-30).
_MARGIN = timedelta(days=2)
AT_EXAMPLE = "2026-03-10T22:00+01:00, or 2026-03-10T22:00 with --tz"
EVERY_EXAMPLE = "FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22"


# -- zones --------------------------------------------------------------------------------------


def check_zone(name: str, option: str = "tz") -> str:
    """An IANA zone name that this machine's zone data knows (``Europe/Berlin``)."""
    clean = name.strip()
    try:
        if not clean or clean.startswith(("/", ".")) or ".." in clean:
            raise ValueError(clean)
        ZoneInfo(clean)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise FieldError(
            option, name, "is not a time zone: give an IANA name such as Europe/Berlin or UTC"
        ) from None
    return clean


def _zone_from_path(path: str) -> str | None:
    marker = "zoneinfo/"
    if marker not in path:
        return None
    candidate = path.rsplit(marker, 1)[1]
    try:
        return check_zone(candidate)
    except FieldError:
        return None


def machine_zone(
    environ: Mapping[str, str] | None = None,
    localtime: Path = Path("/etc/localtime"),
    timezone_file: Path = Path("/etc/timezone"),
) -> str:
    """This machine's zone as an IANA name: ``$TZ`` (a name, or ``:`` and a name or a path
    into the zone database), else the zone ``/etc/localtime`` links to, else the name in
    ``/etc/timezone``, else ``UTC``."""
    env = os.environ if environ is None else environ
    tz = env.get("TZ", "").strip().removeprefix(":")
    if tz:
        found = _zone_from_path(tz) if "/" in tz and tz.startswith("/") else None
        if found is None:
            try:
                found = check_zone(tz)
            except FieldError:
                found = None
        if found is not None:
            return found
    try:
        found = _zone_from_path(str(localtime.resolve(strict=True)))
    except OSError:
        found = None
    if found is not None:
        return found
    try:
        return check_zone(timezone_file.read_text().strip())
    except (OSError, FieldError, UnicodeDecodeError):
        return "UTC"


# -- wall time and instants --------------------------------------------------------------------


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant (aware, UTC) at which the naive wall time ``wall`` falls in ``zone``.

    A wall time that happens twice gives the first; one that does not exist gives the first
    instant after the gap (when the clocks jump, e.g. 03:00)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return first
    # In a gap: fold=1 reads the wall time with the offset after the jump (an instant before
    # it), fold=0 with the one before (an instant after it). The jump lies between.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high, after = first, first.astimezone(zone).utcoffset()
    low, high = min(low, high), max(low, high)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def wall_time(instant: datetime, zone: ZoneInfo) -> datetime:
    """``instant`` as a naive wall time in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


# -- reading the options -----------------------------------------------------------------------


def parse_at(text: str, zone: str) -> datetime:
    """``--at``: an instant (aware, UTC). A local time is read in ``zone``."""
    clean = text.strip()
    try:
        when = datetime.fromisoformat(clean.replace(" ", "T", 1) if " " in clean else clean)
    except ValueError:
        raise FieldError("at", text, f"is not a time: write it like {AT_EXAMPLE}") from None
    if when.tzinfo is None:
        return local_instant(when, ZoneInfo(zone))
    return when.astimezone(UTC)


def parse_offset(text: str) -> timedelta:
    """``--offset``: a signed duration of any size (``+3d``, ``-12h``, ``1d12h``, ``0``)."""
    clean = text.strip()
    sign = -1 if clean.startswith("-") else 1
    body = clean[1:] if clean[:1] in "+-" else clean
    if body.strip() == "0":
        return timedelta(0)
    try:
        return sign * parse_duration(body)
    except DurationError as exc:
        raise FieldError("offset", text, f"{exc}: write it like +3d, -12h or 1d12h") from None


def format_offset(offset: timedelta) -> str:
    """``+3d``, ``-12h``, ``+1d2h30m``: what :func:`parse_offset` reads back."""
    seconds = int(offset.total_seconds())
    if not seconds:
        return "0"
    sign = "-" if seconds < 0 else "+"
    rest = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def _fail(text: str, part: str, why: str) -> FieldError:
    return FieldError("every", text, f"{part}: {why} (e.g. {EVERY_EXAMPLE})")


def _check_numbers(text: str, name: str, value: str) -> list[int]:
    low, high, negative = _RANGES[name]
    numbers = []
    for item in value.split(","):
        if not _INT.match(item):
            raise _fail(text, f"{name}={value}", f"{item!r} is not a whole number")
        number = int(item)
        if not (low <= abs(number) <= high) or (number < 0 and not negative):
            span = f"{'±' if negative else ''}{low} to {high}"
            raise _fail(text, f"{name}={value}", f"{item} is not {span}")
        numbers.append(number)
    return numbers


def _parts(text: str) -> dict[str, str]:
    """The rule's parts by name, each checked; :class:`FieldError` names the part at fault."""
    body = text.strip().upper()
    body = body.removeprefix("RRULE:")
    if not body:
        raise FieldError("every", text, f"is empty: write a rule like {EVERY_EXAMPLE}")
    parts: dict[str, str] = {}
    for item in body.split(";"):
        if not item:
            continue
        name, equals, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not value:
            raise _fail(text, item, "is not NAME=VALUE")
        if name == "DTSTART":
            raise _fail(text, item, "is not taken here: a rule counts from the day it is set")
        if name not in _PARTS:
            raise _fail(text, item, f"{name} is not an RRULE part ({', '.join(_PARTS)})")
        if name in parts:
            raise _fail(text, item, f"{name} is given twice")
        parts[name] = value
    freq = parts.get("FREQ")
    if freq is None:
        raise _fail(text, "FREQ", "is missing")
    if freq not in FREQUENCIES:
        raise _fail(text, f"FREQ={freq}", f"is not one of {', '.join(FREQUENCIES)}")
    for name in ("INTERVAL", "COUNT"):
        if name in parts and not (parts[name].isdigit() and 1 <= int(parts[name]) <= 10_000):
            raise _fail(text, f"{name}={parts[name]}", "is not a whole number from 1 to 10000")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _fail(text, "COUNT", "cannot be combined with UNTIL")
    if "UNTIL" in parts and not _UNTIL.match(parts["UNTIL"]):
        raise _fail(
            text, f"UNTIL={parts['UNTIL']}", "is not a date (20261231) or time (20261231T220000Z)"
        )
    for name in _RANGES:
        if name in parts:
            _check_numbers(text, name, parts[name])
    for name in ("BYDAY", "WKST"):
        items = parts[name].split(",") if name in parts else []
        for item in items:
            found = _BYDAY.match(item)
            if found is None or (name == "WKST" and found.group(1)):
                raise _fail(
                    text, f"{name}={parts[name]}", f"{item!r} is not a day ({' '.join(_DAYS)})"
                )
            if found.group(1):
                _check_ordinal(text, parts, item, int(found.group(1)))
    _check_possible(text, parts)
    return parts


def _check_ordinal(text: str, parts: Mapping[str, str], item: str, number: int) -> None:
    """``2TU``, ``-1FR``: the n-th weekday of a month (FREQ=MONTHLY, or YEARLY with BYMONTH:
    1 to 5) or of a year (YEARLY: 1 to 53)."""
    freq = parts["FREQ"]
    where = f"BYDAY={parts['BYDAY']}"
    if freq not in ("MONTHLY", "YEARLY") or "BYWEEKNO" in parts:
        raise _fail(text, where, f"{item!r}: a numbered day needs FREQ=MONTHLY or YEARLY")
    highest = 5 if freq == "MONTHLY" or "BYMONTH" in parts else 53
    if not 1 <= abs(number) <= highest:
        raise _fail(text, where, f"{item!r}: the number is not ±1 to {highest}")


def _check_possible(text: str, parts: Mapping[str, str]) -> None:
    """Refuse the one impossible rule an operator writes by mistake: days a month never has
    (``BYMONTH=2;BYMONTHDAY=30``). The rule library would search to the year 9999 for it."""
    if "BYMONTHDAY" not in parts:
        return
    days = _check_numbers(text, "BYMONTHDAY", parts["BYMONTHDAY"])
    months = _check_numbers(text, "BYMONTH", parts["BYMONTH"]) if "BYMONTH" in parts else []
    for month in months or range(1, 13):
        if any(abs(day) <= _DAYS_IN_MONTH[month - 1] for day in days):
            return
    raise _fail(text, f"BYMONTHDAY={parts['BYMONTHDAY']}", "no month in the rule has that day")


def check_rrule(text: str) -> str:
    """``--every``: an RFC 5545 rule, checked part by part, as stored (upper case, parts in
    the order given, no ``RRULE:``)."""
    parts = _parts(text)
    clean = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        rrulestr(_wall_rule(parts, ZoneInfo("UTC")), dtstart=datetime(2000, 1, 1))  # noqa: DTZ001
    except (ValueError, TypeError) as exc:
        raise FieldError("every", text, f"is not a rule: {exc}") from None
    return clean


def _wall_rule(parts: Mapping[str, str], zone: ZoneInfo) -> str:
    """The rule as the rule library takes it with a wall-time start: ``UNTIL`` as a wall time
    in ``zone`` (one given in UTC, with ``Z``, converted; a date alone is its last second)."""
    wall = dict(parts)
    until = parts.get("UNTIL")
    if until is not None:
        day, clock, utc = _UNTIL.match(until).groups()  # type: ignore[union-attr]
        limit = datetime.strptime(day + (clock or "235959"), "%Y%m%d%H%M%S")  # noqa: DTZ007
        if utc:
            limit = wall_time(limit.replace(tzinfo=UTC), zone)
        wall["UNTIL"] = limit.strftime("%Y%m%dT%H%M%S")
    return ";".join(f"{name}={value}" for name, value in wall.items())


def _rule(schedule: Schedule, zone: ZoneInfo) -> rrule:
    parts = _parts(schedule.rrule or "")
    since = schedule.since or datetime(2000, 1, 1, tzinfo=UTC)
    start = datetime.combine(wall_time(since, zone).date(), datetime.min.time())
    return rrulestr(_wall_rule(parts, zone), dtstart=start)  # type: ignore[return-value]


def build_schedule(
    current: Schedule | None,
    *,
    at: str | None = None,
    every: str | None = None,
    offset: str | None = None,
    tz: str | None = None,
    now: datetime,
    default_zone: str | None = None,
) -> Schedule | None:
    """``current`` (``None``: no schedule) with the options given put in their place, each
    checked (:class:`FieldError` naming the option). ``--at`` makes a one-off schedule and
    ``--every`` a recurring one; ``--offset`` and ``--tz`` alone change the current one. A
    one-off time must be in the future, and a recurring rule must still fall after ``now``."""
    if at is not None and every is not None:
        raise FieldError(
            "at",
            at,
            "and --every: give one (--at once, --every recurring); a rule's time of "
            "day is its BYHOUR and BYMINUTE",
        )
    if at is None and every is None and offset is None and tz is None:
        return current
    if at is None and every is None and current is None:
        if offset is not None:
            raise FieldError("offset", offset, "needs a schedule: give --every")
        if tz is not None:
            raise FieldError("tz", tz, "needs a schedule: give --at or --every")
        return None
    zone = (
        check_zone(tz)
        if tz is not None
        else (current.tz if current is not None else default_zone or machine_zone())
    )
    shift = parse_offset(offset) if offset is not None else None
    if at is not None:
        if shift:
            raise FieldError("offset", offset or "", "applies to --every, not to --at")
        when = parse_at(at, zone)
        if when <= now:
            raise FieldError(
                "at", at, f"is in the past (now is {now.isoformat(timespec='seconds')})"
            )
        return Schedule(tz=zone, at=when, since=now)
    if every is not None:
        rule = check_rrule(every)
        kept = current.offset if current is not None and current.recurring else timedelta(0)
        schedule = Schedule(tz=zone, rrule=rule, offset=shift if shift is not None else kept,
                            since=now)  # fmt: skip
    else:
        assert current is not None
        if current.at is not None:
            if shift:
                raise FieldError("offset", offset or "", "applies to --every, not to --at")
            return Schedule(tz=zone, at=current.at, since=current.since)
        schedule = Schedule(
            tz=zone,
            rrule=current.rrule,
            offset=shift if shift is not None else current.offset,
            since=now,
        )
    try:
        upcoming = next_occurrences(schedule, now, 1)
    except (ValueError, IndexError, OverflowError) as exc:  # what the rule library refuses
        raise FieldError("every", schedule.rrule or "", f"cannot be computed: {exc}") from None
    if not upcoming:
        raise FieldError("every", schedule.rrule or "", "has no occurrence after now")
    return schedule


# -- occurrences -------------------------------------------------------------------------------


def _instants(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Occurrences (aware UTC) from about ``after`` on, in order, each instant once, none
    before the schedule was set."""
    if schedule.at is not None:
        yield schedule.at
        return
    zone = ZoneInfo(schedule.tz)
    rule = _rule(schedule, zone)
    start = wall_time(after, zone) - schedule.offset - _MARGIN
    floor = schedule.since
    last: datetime | None = None
    for wall in rule.xafter(start, inc=True):
        instant = local_instant(wall + schedule.offset, zone)
        if instant == last or (floor is not None and instant < floor):
            continue
        last = instant
        yield instant


def next_occurrences(schedule: Schedule, after: datetime, n: int = 5) -> list[datetime]:
    """The next ``n`` occurrences strictly after ``after`` (aware UTC datetimes)."""
    found: list[datetime] = []
    if n <= 0:
        return found
    for instant in _instants(schedule, after):
        if instant > after:
            found.append(instant)
            if len(found) >= n:
                break
    return found


def occurrences_between(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Occurrences in ``(start, end]``, oldest first, at most :data:`MAX_OCCURRENCES` (the
    newest ones)."""
    found: deque[datetime] = deque(maxlen=MAX_OCCURRENCES)
    for instant in _instants(schedule, start):
        if instant > end:
            break
        if instant > start:
            found.append(instant)
    return list(found)


def describe(schedule: Schedule) -> str:
    """``once at 2026-03-10 22:00 CET (Europe/Berlin)``, ``every FREQ=…;… +3d (Europe/Berlin)``."""
    if schedule.at is not None:
        local = schedule.at.astimezone(ZoneInfo(schedule.tz))
        return f"once at {local.strftime('%Y-%m-%d %H:%M %Z')} ({schedule.tz})"
    shift = f" {format_offset(schedule.offset)}" if schedule.offset else ""
    return f"every {schedule.rrule}{shift} ({schedule.tz})"


def local_text(instant: datetime, zone: str) -> str:
    """``Tue 2026-03-10 22:00 CET``: an occurrence as the operator's calendar shows it."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")
