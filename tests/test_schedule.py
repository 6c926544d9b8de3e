"""Schedule arithmetic with fixed clocks: Patch Tuesday and offsets across months, two zones'
daylight-saving edges (the skipped hour starts at the first time that exists, the repeated hour
runs once), rules checked part by part, and the machine's zone found from TZ or the system."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backends.engine.schedule import (
    build_schedule,
    check_rrule,
    describe,
    format_offset,
    local_instant,
    machine_zone,
    next_occurrences,
    occurrences_between,
    parse_at,
    parse_offset,
)
from backends.inventory.schedules import Schedule
from backends.inventory.validation import FieldError

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def every(rule: str, tz: str = "UTC", offset: str | None = None, now: datetime = NOW) -> Schedule:
    schedule = build_schedule(None, every=rule, offset=offset, tz=tz, now=now)
    assert schedule is not None
    return schedule


def local(instants: list[datetime], tz: str) -> list[str]:
    return [i.astimezone(ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z") for i in instants]


# -- Patch Tuesday and offsets -----------------------------------------------------------------


def test_patch_tuesday_is_the_second_tuesday_of_each_month() -> None:
    schedule = every("FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22", tz=BERLIN)
    assert local(next_occurrences(schedule, NOW, 5), BERLIN) == [
        "Tue 2026-01-13 22:00 CET",
        "Tue 2026-02-10 22:00 CET",
        "Tue 2026-03-10 22:00 CET",
        "Tue 2026-04-14 22:00 CEST",
        "Tue 2026-05-12 22:00 CEST",
    ]
    # 22:00 in Berlin is 21:00 UTC in winter and 20:00 in summer: wall time is kept
    first, *_, fifth = next_occurrences(schedule, NOW, 5)
    assert (first.hour, fifth.hour) == (21, 20)


def test_offsets_move_wall_time_across_month_ends() -> None:
    # 2nd Tuesday of June 2026 is the 9th; of September the 8th; December the 8th.
    plus = every("FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22", tz=BERLIN, offset="+3d")
    assert local(next_occurrences(plus, NOW, 2), BERLIN) == [
        "Fri 2026-01-16 22:00 CET",
        "Fri 2026-02-13 22:00 CET",
    ]
    # the last Friday of a month + 3 days is the Monday of the next month
    month_end = every("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=6", tz=BERLIN, offset="+3d")
    assert local(next_occurrences(month_end, NOW, 3), BERLIN) == [
        "Mon 2026-02-02 06:00 CET",
        "Mon 2026-03-02 06:00 CET",
        "Mon 2026-03-30 06:00 CEST",  # +3d across the clock change keeps 06:00
    ]
    minus = every("FREQ=MONTHLY;BYDAY=2TU", tz=NEW_YORK, offset="-12h")
    assert local(next_occurrences(minus, NOW, 3), NEW_YORK) == [
        "Mon 2026-01-12 12:00 EST",
        "Mon 2026-02-09 12:00 EST",
        "Mon 2026-03-09 12:00 EDT",
    ]
    big = every("FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1", offset="+400d")
    assert next_occurrences(big, NOW, 1) == [datetime(2027, 2, 5, tzinfo=UTC)]


def test_a_rule_without_a_time_of_day_falls_at_midnight() -> None:
    saturday = every("FREQ=WEEKLY;BYDAY=SA", tz=NEW_YORK)
    assert local(next_occurrences(saturday, NOW, 2), NEW_YORK) == [
        "Sat 2026-01-03 00:00 EST",
        "Sat 2026-01-10 00:00 EST",
    ]


def test_nothing_falls_before_the_schedule_was_set() -> None:
    # set at 12:00 UTC on Tuesday 2026-01-13: that day's 06:00 is not an occurrence
    set_at = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)
    schedule = every("FREQ=DAILY;BYHOUR=6", now=set_at)
    assert next_occurrences(schedule, set_at - timedelta(days=3), 1) == [
        datetime(2026, 1, 14, 6, 0, tzinfo=UTC)
    ]
    assert occurrences_between(schedule, set_at - timedelta(days=3), set_at) == []


# -- daylight saving ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        # Berlin springs forward 2026-03-29 02:00 -> 03:00: 02:30 does not exist
        (BERLIN, 29, "Sun 2026-03-29 03:00 CEST"),
        # New York springs forward 2026-03-08 02:00 -> 03:00
        (NEW_YORK, 8, "Sun 2026-03-08 03:00 EDT"),
    ],
)
def test_a_time_the_clocks_skip_starts_at_the_first_time_that_exists(
    tz: str, day: int, expected: str
) -> None:
    schedule = every("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", tz=tz)
    start = datetime(2026, 3, day - 2, tzinfo=UTC)
    found = local(next_occurrences(schedule, start, 4), tz)
    assert found[1].endswith("02:30 " + ("CET" if tz == BERLIN else "EST"))
    assert expected in found  # the day without 02:30
    assert found[found.index(expected) + 1].endswith("02:30 " + expected[-4:].strip())
    assert len(set(found)) == 4


@pytest.mark.parametrize(
    ("tz", "rule", "day", "expected"),
    [
        # Berlin falls back 2026-10-25 03:00 -> 02:00: 02:30 happens twice
        (BERLIN, "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", 25, "2026-10-25T00:30:00+00:00"),
        # New York falls back 2026-11-01 02:00 -> 01:00: 01:30 happens twice
        (NEW_YORK, "FREQ=DAILY;BYHOUR=1;BYMINUTE=30", 1, "2026-11-01T05:30:00+00:00"),
    ],
)
def test_a_time_that_happens_twice_runs_once_at_the_first(
    tz: str, rule: str, day: int, expected: str
) -> None:
    schedule = every(rule, tz=tz)
    month = 10 if tz == BERLIN else 11
    start = datetime(2026, month, day, tzinfo=UTC) - timedelta(days=1)
    found = occurrences_between(schedule, start, start + timedelta(days=2, hours=12))
    on_the_day = [i for i in found if i.astimezone(ZoneInfo(tz)).day == day]
    assert [i.isoformat() for i in on_the_day] == [expected]
    assert on_the_day[0].astimezone(ZoneInfo(tz)).fold == 0  # the summer-time one


def test_hourly_rules_across_both_edges_in_new_york() -> None:
    hourly = every("FREQ=HOURLY", tz=NEW_YORK)
    spring = occurrences_between(
        hourly, datetime(2026, 3, 8, 5, 30, tzinfo=UTC), datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    )
    # 01:00 EST, then 02:00 does not exist and starts at 03:00 EDT, which is not run twice
    assert local(spring, NEW_YORK) == [
        "Sun 2026-03-08 01:00 EST",
        "Sun 2026-03-08 03:00 EDT",
        "Sun 2026-03-08 04:00 EDT",
    ]
    autumn = occurrences_between(
        hourly, datetime(2026, 11, 1, 4, 30, tzinfo=UTC), datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    )
    # 01:00 happens twice; it runs at the first only
    assert [i.strftime("%H:%M") for i in autumn] == ["05:00", "07:00", "08:00"]


def test_local_instant_in_the_gap_and_in_the_fold() -> None:
    berlin = ZoneInfo(BERLIN)
    gap = local_instant(datetime(2026, 3, 29, 2, 30), berlin)  # noqa: DTZ001
    assert gap == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    fold = local_instant(datetime(2026, 10, 25, 2, 30), berlin)  # noqa: DTZ001
    assert fold == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first


# -- reading the options -----------------------------------------------------------------------


def test_at_with_an_offset_or_as_local_time() -> None:
    assert parse_at("2026-03-10T22:00+01:00", NEW_YORK) == datetime(2026, 3, 10, 21, tzinfo=UTC)
    assert parse_at("2026-03-10T22:00Z", BERLIN) == datetime(2026, 3, 10, 22, tzinfo=UTC)
    assert parse_at("2026-03-10 22:00", BERLIN) == datetime(2026, 3, 10, 21, tzinfo=UTC)
    assert parse_at("2026-03-29T02:30", BERLIN) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    with pytest.raises(FieldError, match=r"^at: 'next tuesday' is not a time"):
        parse_at("next tuesday", BERLIN)


def test_once_schedules() -> None:
    once = build_schedule(None, at="2026-02-01T03:00", tz=BERLIN, now=NOW)
    assert once is not None and once.at == datetime(2026, 2, 1, 2, tzinfo=UTC)
    assert next_occurrences(once, NOW) == [once.at]
    assert next_occurrences(once, once.at) == []
    assert describe(once) == "once at 2026-02-01 03:00 CET (Europe/Berlin)"
    with pytest.raises(FieldError, match=r"^at: '2025-12-31T00:00Z' is in the past"):
        build_schedule(None, at="2025-12-31T00:00Z", tz="UTC", now=NOW)
    with pytest.raises(FieldError, match=r"^offset: '\+1d' applies to --every, not to --at"):
        build_schedule(None, at="2026-02-01T03:00", offset="+1d", tz="UTC", now=NOW)
    with pytest.raises(FieldError, match=r"^at: .* and --every: give one"):
        build_schedule(None, at="2026-02-01T03:00", every="FREQ=DAILY", now=NOW)


def test_editing_a_schedule_keeps_what_is_not_given() -> None:
    current = every("FREQ=MONTHLY;BYDAY=2TU;BYHOUR=22", tz=BERLIN, offset="+3d")
    later = NOW + timedelta(days=1)
    moved = build_schedule(current, offset="-1d", now=later)
    assert moved is not None
    assert (moved.rrule, moved.tz, moved.offset, moved.since) == (
        current.rrule,
        BERLIN,
        timedelta(days=-1),
        later,
    )
    rezoned = build_schedule(current, tz=NEW_YORK, now=later)
    assert rezoned is not None and (rezoned.tz, rezoned.offset) == (NEW_YORK, timedelta(days=3))
    assert build_schedule(current, now=later) == current  # nothing given: unchanged
    assert build_schedule(None, now=later) is None
    with pytest.raises(FieldError, match=r"^offset: '\+1d' needs a schedule"):
        build_schedule(None, offset="+1d", now=later)


def test_offsets_read_and_written_back() -> None:
    for text, value in (
        ("+3d", timedelta(days=3)),
        ("-12h", timedelta(hours=-12)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("0", timedelta(0)),
        ("+400d", timedelta(days=400)),
    ):
        assert parse_offset(text) == value
        assert parse_offset(format_offset(value)) == value
    assert format_offset(timedelta(hours=-36)) == "-1d12h"
    with pytest.raises(FieldError, match=r"^offset: '3' needs a unit"):
        parse_offset("3")
    with pytest.raises(FieldError, match=r"^offset: '\+3x' is not a duration"):
        parse_offset("+3x")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "is empty"),
        ("BYDAY=SA", "FREQ: is missing"),
        ("FREQ=MINUTELY", "FREQ=MINUTELY: is not one of HOURLY"),
        ("FREQ=WEEKLY;BYDAY=SX", "BYDAY=SX: 'SX' is not a day"),
        ("FREQ=MONTHLY;BYDAY=9TU", "BYDAY=9TU: '9TU': the number is not ±1 to 5"),
        ("FREQ=WEEKLY;BYDAY=2TU", "a numbered day needs FREQ=MONTHLY or YEARLY"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR=24: 24 is not 0 to 23"),
        ("FREQ=DAILY;BYMINUTE=x", "BYMINUTE=X: 'X' is not a whole number"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL=0: is not a whole number from 1 to 10000"),
        ("FREQ=DAILY;COLOR=red", "COLOR=RED: COLOR is not an RRULE part"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ=WEEKLY: FREQ is given twice"),
        ("FREQ=DAILY;BYHOUR", "BYHOUR: is not NAME=VALUE"),
        ("FREQ=DAILY;DTSTART=20260101T000000", "DTSTART=20260101T000000: is not taken here"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20270101", "COUNT: cannot be combined with UNTIL"),
        ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL=TOMORROW: is not a date"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "BYMONTHDAY=30: no month in the rule has"),
        ("FREQ=DAILY;UNTIL=20251231", "has no occurrence after now"),
    ],
)
def test_a_bad_rule_names_the_part_at_fault(rule: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        build_schedule(None, every=rule, tz="UTC", now=NOW)
    text = str(caught.value)
    assert text.startswith("every: ")
    assert message in text
    assert "\n" not in text


def test_rules_are_stored_clean() -> None:
    assert check_rrule("rrule:freq=weekly;byday=sa;") == "FREQ=WEEKLY;BYDAY=SA"
    until = every("FREQ=DAILY;BYHOUR=23;UNTIL=20260103T220000Z", tz=BERLIN)
    # UNTIL in UTC is read in the rule's zone: 22:00Z is 23:00 in Berlin, so the 2nd and 3rd
    assert local(next_occurrences(until, NOW, 5), BERLIN) == [
        "Thu 2026-01-01 23:00 CET",
        "Fri 2026-01-02 23:00 CET",
        "Sat 2026-01-03 23:00 CET",
    ]


# -- zones -------------------------------------------------------------------------------------


def test_the_machine_zone_from_tz_the_localtime_link_or_utc(tmp_path: Path) -> None:
    nothing = tmp_path / "missing"
    assert machine_zone({"TZ": BERLIN}, nothing, nothing) == BERLIN
    assert machine_zone({"TZ": ":America/New_York"}, nothing, nothing) == NEW_YORK
    zoneinfo_dir = tmp_path / "usr/share/zoneinfo/Europe"
    zoneinfo_dir.mkdir(parents=True)
    (zoneinfo_dir / "Berlin").write_bytes(b"TZif")
    link = tmp_path / "localtime"
    link.symlink_to(zoneinfo_dir / "Berlin")
    assert machine_zone({"TZ": f":{zoneinfo_dir / 'Berlin'}"}, nothing, nothing) == BERLIN
    assert machine_zone({}, link, nothing) == BERLIN
    assert machine_zone({"TZ": "Not/AZone"}, link, nothing) == BERLIN
    timezone_file = tmp_path / "timezone"
    timezone_file.write_text("America/New_York\n")
    assert machine_zone({}, nothing, timezone_file) == NEW_YORK
    assert machine_zone({}, nothing, nothing) == "UTC"
    with pytest.raises(FieldError, match=r"^tz: 'Mars/Olympus' is not a time zone"):
        build_schedule(None, every="FREQ=DAILY", tz="Mars/Olympus", now=NOW)


def test_the_default_zone_is_stored_by_name() -> None:
    schedule = build_schedule(None, every="FREQ=DAILY", now=NOW, default_zone=NEW_YORK)
    assert schedule is not None and schedule.tz == NEW_YORK
    assert describe(schedule) == "every FREQ=DAILY (America/New_York)"
