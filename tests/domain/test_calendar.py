"""Working-time arithmetic: weekends, holidays and make-up days, DST, and add/between as inverses."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from handoff_bot.departments.calendar import WorkingCalendar
from handoff_bot.departments.standards import WorkingHours

HOUR = 3600
OFFICE = "Mon-Fri 09:00-18:00"
EVERY_DAY = "Mon-Sun 09:00-18:00"


def at(tz: str, *parts: int, fold: int = 0) -> datetime:
    """An aware moment given in local wall-clock time."""
    return datetime(*parts, tzinfo=ZoneInfo(tz), fold=fold)  # type: ignore[misc]


def shanghai(*parts: int) -> datetime:
    return at("Asia/Shanghai", *parts)


def new_york(*parts: int, fold: int = 0) -> datetime:
    return at("America/New_York", *parts, fold=fold)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)  # type: ignore[misc]


@pytest.fixture
def office() -> WorkingCalendar:
    return WorkingCalendar.of(OFFICE, "Asia/Shanghai")


@pytest.fixture
def china() -> WorkingCalendar:
    return WorkingCalendar.of(OFFICE, "Asia/Shanghai", "CN")


# --- weekends and office hours ------------------------------------------------------------------------------------


def test_four_hours_from_friday_afternoon_skip_the_weekend(office: WorkingCalendar) -> None:
    due = office.add(shanghai(2025, 9, 5, 16), 4 * HOUR)
    assert due == shanghai(2025, 9, 8, 11)
    assert due.tzinfo is timezone.utc


def test_counting_starts_at_the_next_window(office: WorkingCalendar) -> None:
    assert office.add(shanghai(2025, 9, 8, 7), HOUR) == shanghai(2025, 9, 8, 10)  # before hours
    assert office.add(shanghai(2025, 9, 8, 20), HOUR) == shanghai(2025, 9, 9, 10)  # after hours
    assert office.add(shanghai(2025, 9, 6, 12), HOUR) == shanghai(2025, 9, 8, 10)  # Saturday


def test_window_bounds_are_start_inclusive_end_exclusive(office: WorkingCalendar) -> None:
    assert office.is_working(shanghai(2025, 9, 8, 9))
    assert office.is_working(shanghai(2025, 9, 8, 17, 59, 59))
    assert not office.is_working(shanghai(2025, 9, 8, 18))
    assert not office.is_working(shanghai(2025, 9, 8, 8, 59, 59))
    assert not office.is_working(shanghai(2025, 9, 6, 12))  # Saturday


def test_time_running_out_at_the_end_of_a_window_lands_on_the_next_start(office: WorkingCalendar) -> None:
    assert office.add(shanghai(2025, 9, 8, 17), HOUR) == shanghai(2025, 9, 9, 9)
    assert office.add(shanghai(2025, 9, 5, 9), 9 * HOUR) == shanghai(2025, 9, 8, 9)
    assert office.add(shanghai(2025, 9, 8, 17), HOUR - 1) == shanghai(2025, 9, 8, 17, 59, 59)


def test_multi_day_durations(office: WorkingCalendar) -> None:
    assert office.add(shanghai(2025, 9, 8, 10), 20 * HOUR) == shanghai(2025, 9, 10, 12)  # 8h + 9h + 3h
    assert office.add(shanghai(2025, 9, 8, 9), 72 * HOUR) == shanghai(2025, 9, 18, 9)  # eight whole days
    assert office.add(shanghai(2025, 9, 8, 9), 3 * 86400) == shanghai(2025, 9, 18, 9)


def test_a_window_may_end_at_midnight() -> None:
    late = WorkingCalendar.of("Mon-Fri 20:00-24:00", "Asia/Shanghai")
    assert late.is_working(shanghai(2025, 9, 8, 23, 59))
    assert not late.is_working(shanghai(2025, 9, 9, 0))
    assert late.add(shanghai(2025, 9, 8, 22), 3 * HOUR) == shanghai(2025, 9, 9, 21)
    assert late.between(shanghai(2025, 9, 8), shanghai(2025, 9, 10)) == 8 * HOUR


def test_add_accepts_any_time_zone_and_zero(office: WorkingCalendar) -> None:
    assert office.add(utc(2025, 9, 8, 2), HOUR) == shanghai(2025, 9, 8, 11)  # 02:00 UTC is 10:00 in Shanghai
    assert office.add(shanghai(2025, 9, 8, 10), 0) == shanghai(2025, 9, 8, 10)
    assert office.add(shanghai(2025, 9, 8, 18), 0) == shanghai(2025, 9, 9, 9)


def test_refuses_negative_durations_and_naive_times(office: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        office.add(shanghai(2025, 9, 8, 10), -1)
    with pytest.raises(ValueError):
        office.add(datetime(2025, 9, 8, 10), HOUR)
    with pytest.raises(ValueError):
        office.is_working(datetime(2025, 9, 8, 10))


def test_is_working_day(office: WorkingCalendar) -> None:
    assert [office.is_working_day(date(2025, 9, 5) + timedelta(days=n)) for n in range(4)] == [
        True, False, False, True,
    ]
    assert WorkingCalendar.of("Sat-Sun 10:00-12:00", "UTC").is_working_day(date(2025, 9, 6))


def test_next_working_moment(office: WorkingCalendar) -> None:
    now = shanghai(2025, 9, 8, 10, 30)
    moment = office.next_working_moment(now)
    assert moment == now and moment.tzinfo is timezone.utc
    assert office.next_working_moment(shanghai(2025, 9, 8, 18)) == shanghai(2025, 9, 9, 9)
    assert office.next_working_moment(shanghai(2025, 9, 6, 12)) == shanghai(2025, 9, 8, 9)
    assert office.next_working_moment(shanghai(2025, 9, 8, 8)) == shanghai(2025, 9, 8, 9)


# --- holidays and make-up days ------------------------------------------------------------------------------------


def test_china_national_day_and_make_up_days(china: WorkingCalendar) -> None:
    assert china.is_working_day(date(2025, 9, 28))  # Sunday, made up for the National Day week
    assert china.is_working_day(date(2025, 10, 11))  # Saturday, likewise
    assert not any(china.is_working_day(date(2025, 10, day)) for day in range(1, 9))
    assert china.is_working_day(date(2025, 10, 9))
    assert china.is_working(shanghai(2025, 9, 28, 10))
    assert not china.is_working(shanghai(2025, 10, 3, 10))


def test_four_hours_before_national_day_end_after_it(china: WorkingCalendar) -> None:
    assert china.add(shanghai(2025, 9, 30, 16), 4 * HOUR) == shanghai(2025, 10, 9, 11)
    assert china.between(shanghai(2025, 9, 30, 16), shanghai(2025, 10, 9, 11)) == 4 * HOUR


def test_make_up_sunday_counts(china: WorkingCalendar, office: WorkingCalendar) -> None:
    assert china.add(shanghai(2025, 9, 27, 10), HOUR) == shanghai(2025, 9, 28, 10)
    assert office.add(shanghai(2025, 9, 27, 10), HOUR) == shanghai(2025, 9, 29, 10)


def test_us_observed_independence_day() -> None:
    us = WorkingCalendar.of(OFFICE, "America/New_York", "US")
    assert not us.is_working_day(date(2026, 7, 3))  # Friday, observed for Saturday the 4th
    assert us.add(new_york(2026, 7, 2, 17), 2 * HOUR) == new_york(2026, 7, 6, 10)
    plain = WorkingCalendar.of(OFFICE, "America/New_York")
    assert plain.add(new_york(2026, 7, 2, 17), 2 * HOUR) == new_york(2026, 7, 3, 10)


def test_country_codes() -> None:
    assert not WorkingCalendar.of(OFFICE, "Asia/Shanghai", "cn").is_working_day(date(2025, 10, 1))
    assert WorkingCalendar.of(OFFICE, "Asia/Shanghai", "").is_working_day(date(2025, 10, 1))
    with pytest.raises(ValueError):
        WorkingCalendar.of(OFFICE, "Asia/Shanghai", "XX")
    with pytest.raises(ValueError):
        WorkingCalendar(WorkingHours(frozenset(range(5)), 540, 1080), "UTC", "Atlantis")


def test_always_ignores_holidays() -> None:
    always = WorkingCalendar.of("always", "Asia/Shanghai", "CN")
    assert always.is_working_day(date(2025, 10, 1))
    assert always.is_working(shanghai(2025, 10, 1, 3))
    assert always.add(shanghai(2025, 9, 30, 23), 2 * HOUR) == shanghai(2025, 10, 1, 1)


# --- time zones and daylight saving time --------------------------------------------------------------------------


def test_unknown_or_missing_time_zone_means_utc() -> None:
    for tz in ("Mars/Olympus_Mons", None, "", "../etc/passwd"):
        calendar = WorkingCalendar.of(OFFICE, tz)
        assert calendar.is_working(utc(2025, 9, 8, 9))
        assert not calendar.is_working(utc(2025, 9, 8, 8, 59))


@pytest.mark.parametrize(("tz", "spring", "autumn"), [
    ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
])
def test_dst_days(tz: str, spring: date, autumn: date) -> None:
    every_day = WorkingCalendar.of(EVERY_DAY, tz)
    always = WorkingCalendar.of("always", tz)
    for day, hours_in_day in ((spring, 23), (autumn, 25)):
        midnight, next_midnight = at(tz, day.year, day.month, day.day), at(tz, day.year, day.month, day.day + 1)
        assert always.between(midnight, next_midnight) == hours_in_day * HOUR
        assert every_day.between(midnight, next_midnight) == 9 * HOUR  # 09:00-18:00 on the wall clock
        nine = at(tz, day.year, day.month, day.day, 9)
        assert every_day.add(nine, 9 * HOUR - 1) == at(tz, day.year, day.month, day.day, 17, 59, 59)
        # an hour of "always" is an hour of real time, across the change
        assert always.add(midnight, 4 * HOUR) == midnight.astimezone(timezone.utc) + timedelta(hours=4)
    assert always.add(at(tz, spring.year, spring.month, spring.day), 4 * HOUR) == at(
        tz, spring.year, spring.month, spring.day, 5,
    )
    assert always.add(at(tz, autumn.year, autumn.month, autumn.day), 4 * HOUR) == at(
        tz, autumn.year, autumn.month, autumn.day, 3,
    )


def test_office_hours_across_dst_stay_on_the_wall_clock() -> None:
    calendar = WorkingCalendar.of(OFFICE, "America/New_York")
    # Friday 17:00 EST + 2h → Monday 10:00 EDT: UTC offset changed on Sunday.
    due = calendar.add(new_york(2026, 3, 6, 17), 2 * HOUR)
    assert due == utc(2026, 3, 9, 14) == new_york(2026, 3, 9, 10)
    due = calendar.add(new_york(2026, 10, 30, 17), 2 * HOUR)
    assert due == utc(2026, 11, 2, 15) == new_york(2026, 11, 2, 10)


def test_window_starting_in_the_gap_begins_after_it() -> None:
    calendar = WorkingCalendar.of("Mon-Sun 02:30-18:00", "America/New_York")
    assert calendar.next_working_moment(new_york(2026, 3, 8, 1)) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert calendar.between(new_york(2026, 3, 8), new_york(2026, 3, 9)) == 15 * HOUR


def test_window_starting_at_an_ambiguous_time_uses_the_first_occurrence() -> None:
    calendar = WorkingCalendar.of("Mon-Sun 01:30-18:00", "America/New_York")
    assert calendar.next_working_moment(new_york(2026, 11, 1, 0)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert calendar.is_working(new_york(2026, 11, 1, 1, 10, fold=1))  # 01:10 EST, the second time round
    assert calendar.between(new_york(2026, 11, 1), new_york(2026, 11, 2)) == int(17.5 * HOUR)


# --- between is the inverse of add --------------------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "tz", "country", "first"), [
    (OFFICE, "Asia/Shanghai", "CN", date(2025, 9, 20)),
    (OFFICE, "America/New_York", "US", date(2026, 2, 25)),
    ("Mon-Sat 08:30-12:15", "Europe/Berlin", "DE", date(2026, 10, 15)),
    ("Mon-Fri 20:00-24:00", "America/New_York", None, date(2026, 10, 25)),
    ("always", "Europe/Berlin", "DE", date(2026, 3, 25)),
])
def test_between_inverts_add(hours: str, tz: str, country: str | None, first: date) -> None:
    calendar = WorkingCalendar.of(hours, tz, country)
    rng = random.Random(f"{hours}{tz}")
    start = at(tz, first.year, first.month, first.day)
    for _ in range(500):
        start += timedelta(seconds=rng.randrange(1, 2 * HOUR))
        seconds = rng.choice([0, 1, 59, 900, HOUR, 4 * HOUR, 9 * HOUR, 3 * 86400, rng.randrange(1, 40 * HOUR)])
        due = calendar.add(start, seconds)
        assert due >= start
        assert calendar.is_working(due)
        assert calendar.between(start, due) == seconds
        assert calendar.between(due, start) == 0


def test_between_of_nothing_is_zero(office: WorkingCalendar) -> None:
    assert office.between(shanghai(2025, 9, 8, 10), shanghai(2025, 9, 8, 10)) == 0
    assert office.between(shanghai(2025, 9, 6, 10), shanghai(2025, 9, 7, 20)) == 0  # the weekend
    assert office.between(shanghai(2025, 9, 8, 10), shanghai(2025, 9, 8, 9)) == 0


# --- working days -------------------------------------------------------------------------------------------------


def test_add_working_days_keeps_the_wall_time(china: WorkingCalendar) -> None:
    assert china.add_working_days(shanghai(2025, 9, 5, 14), 2) == shanghai(2025, 9, 9, 14)
    assert china.add_working_days(shanghai(2025, 9, 30, 10), 1) == shanghai(2025, 10, 9, 10)
    assert china.add_working_days(shanghai(2025, 9, 26, 10), 1) == shanghai(2025, 9, 28, 10)  # make-up Sunday
    assert china.add_working_days(shanghai(2025, 10, 9, 10), -1) == shanghai(2025, 9, 30, 10)


def test_add_working_days_moves_into_working_hours(china: WorkingCalendar) -> None:
    assert china.add_working_days(shanghai(2025, 9, 6, 20), 1) == shanghai(2025, 9, 9, 9)  # Sat 20:00 → Mon → Tue
    assert china.add_working_days(shanghai(2025, 9, 8, 7), 1) == shanghai(2025, 9, 9, 9)
    assert china.add_working_days(shanghai(2025, 9, 6, 10), 0) == shanghai(2025, 9, 8, 9)


def test_add_working_days_across_dst() -> None:
    calendar = WorkingCalendar.of(OFFICE, "America/New_York")
    assert calendar.add_working_days(new_york(2026, 3, 6, 10), 1) == utc(2026, 3, 9, 14)  # 10:00 EDT
    always = WorkingCalendar.of("always", "America/New_York")
    # 02:30 does not exist on 2026-03-08: the first instant after the gap, 03:00 EDT.
    assert always.add_working_days(new_york(2026, 3, 7, 2, 30), 1) == utc(2026, 3, 8, 7)


def test_working_day_before(china: WorkingCalendar, office: WorkingCalendar) -> None:
    assert office.working_day_before(date(2025, 9, 8)) == date(2025, 9, 5)
    assert office.working_day_before(date(2025, 9, 9)) == date(2025, 9, 8)
    assert china.working_day_before(date(2025, 10, 9)) == date(2025, 9, 30)
    assert china.working_day_before(date(2025, 9, 29)) == date(2025, 9, 28)
    assert china.working_day_before(date(2025, 10, 12)) == date(2025, 10, 11)


def test_a_calendar_without_working_days_does_not_loop_forever() -> None:
    never = WorkingCalendar(WorkingHours(frozenset(), 540, 1080), "UTC")
    start = utc(2025, 9, 8, 10)
    for attempt in (
        lambda: never.add(start, HOUR),
        lambda: never.next_working_moment(start),
        lambda: never.add_working_days(start, 1),
        lambda: never.working_day_before(date(2025, 9, 8)),
    ):
        with pytest.raises(ValueError):
            attempt()
    assert never.between(start, start + timedelta(days=30)) == 0
    with pytest.raises(ValueError):
        never.between(start, start + timedelta(days=5 * 366))
