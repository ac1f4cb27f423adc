"""Working-time arithmetic: when a department works, and how much working time lies between two moments.

A department works in a daily window of local wall-clock time (its Slack time zone) on its working
days. Public holidays and make-up working days (China's 调休) come from the `holidays` package.
Window bounds are built per local date with zoneinfo, so on DST change days a 09:00–18:00 window
stays nine wall-clock hours while an `always` day is 23 or 25 real hours. All results are in UTC.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from handoff_bot.departments.standards import WorkingHours, parse_working_hours

UTC = timezone.utc
MAX_DAYS = 3 * 366  # how far any walk over days may go before the calendar is declared unworkable
ONE_DAY = timedelta(days=1)
MINUTES_PER_DAY = 24 * 60


@functools.lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> holidays.HolidayBase:
    """The public holidays (and make-up working days) of one country in one year."""
    try:
        return holidays.country_holidays(country, years=year)
    except NotImplementedError as error:
        raise ValueError(f"no holiday calendar for country {country!r}") from error


def zone_named(tz: str | None) -> ZoneInfo:
    """The named time zone, or UTC when the name is missing or unknown."""
    if not tz:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _as_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone")
    return at.astimezone(UTC)


class WorkingCalendar:
    """The working time of one department as seen from one person's time zone.

    Args:
        hours: the working days and the daily window.
        tz: an IANA time zone name such as `Asia/Shanghai`; unknown names mean UTC.
        country: an ISO 3166 country code such as `CN` or `US` whose public holidays and make-up
            working days apply, or None for no holidays.

    Raises:
        ValueError: the `holidays` package does not know the country.
    """

    def __init__(self, hours: WorkingHours, tz: str, country: str | None = None) -> None:
        self.hours = hours
        self.zone = zone_named(tz)
        self.country = country.strip().upper() if country and country.strip() else None
        if self.country:
            _holidays(self.country, date.today().year)  # fail now, not at the first follow-up
        self._windows: dict[date, tuple[datetime, datetime] | None] = {}

    @classmethod
    def of(cls, working_hours: str, tz: str | None, country: str | None = None) -> WorkingCalendar:
        """A calendar from the service standard's text.

        Args:
            working_hours: `Mon-Fri 09:00-18:00` or `always`.
            tz: the person's Slack time zone; None or an unknown name means UTC.
            country: the country whose holidays apply, or None.

        Raises:
            ValueError: the working hours cannot be parsed or the country is unknown.
        """
        return cls(parse_working_hours(working_hours), tz or "UTC", country)

    def is_working_day(self, day: date) -> bool:
        """Whether the department works on a local date at all.

        Args:
            day: a date in the calendar's time zone.
        """
        if self.hours.always:
            return True
        if self.country:
            known = _holidays(self.country, day.year)
            if day in known.weekend_workdays:
                return True
            if day in known:
                return False
        return day.weekday() in self.hours.days

    def is_working(self, at: datetime) -> bool:
        """Whether a moment lies inside a working window (its start included, its end not).

        Args:
            at: an aware datetime.
        """
        at = _as_utc(at)
        window = self._window(self._local_date(at))
        return window is not None and window[0] <= at < window[1]

    def next_working_moment(self, at: datetime) -> datetime:
        """`at` itself (in UTC) when it is working time, else the start of the next working window.

        Args:
            at: an aware datetime.

        Raises:
            ValueError: no working window within three years.
        """
        return self.add(at, 0)

    def add(self, start: datetime, seconds: int) -> datetime:
        """The moment when `seconds` of working time have passed after `start`.

        Counting begins at the next working window when `start` is outside working hours. The
        result is always a working moment: time that runs out exactly at the end of a window
        lands on the start of the next one.

        Args:
            start: an aware datetime.
            seconds: working seconds to add, zero or more.

        Raises:
            ValueError: `seconds` is negative, or the walk passes three years.
        """
        if seconds < 0:
            raise ValueError("cannot add negative working time")
        at = _as_utc(start)
        remaining = timedelta(seconds=seconds)
        day = self._local_date(at)
        for _ in range(MAX_DAYS):
            window = self._window(day)
            if window is not None and at < window[1]:
                at = max(at, window[0])
                if remaining < window[1] - at:
                    return at + remaining
                remaining -= window[1] - at
            day += ONE_DAY
        raise ValueError(f"no working time found within {MAX_DAYS} days of {start.isoformat()}")

    def between(self, start: datetime, end: datetime) -> int:
        """Working seconds from `start` to `end`; 0 when `end` is not after `start`.

        Args:
            start: an aware datetime.
            end: an aware datetime.

        Raises:
            ValueError: the two moments are more than three years apart.
        """
        start, end = _as_utc(start), _as_utc(end)
        if end <= start:
            return 0
        day, last = self._local_date(start), self._local_date(end)
        if (last - day).days > MAX_DAYS:
            raise ValueError(f"cannot count working time over more than {MAX_DAYS} days")
        total = timedelta()
        while day <= last:
            window = self._window(day)
            if window is not None:
                total += max(timedelta(), min(end, window[1]) - max(start, window[0]))
            day += ONE_DAY
        return int(total.total_seconds())

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local wall time `days` working days later (earlier when negative), in working hours.

        A result outside working hours moves forward to the next working moment.

        Args:
            start: an aware datetime.
            days: working days to move; negative moves back.

        Raises:
            ValueError: the walk passes three years.
        """
        local = _as_utc(start).astimezone(self.zone)
        day = local.date()
        step = ONE_DAY if days >= 0 else -ONE_DAY
        for _ in range(abs(days)):
            day = self._working_day_after(day, step)
        return self.next_working_moment(self._to_utc(datetime.combine(day, local.time())))

    def working_day_before(self, day: date) -> date:
        """The last working day strictly before `day`.

        Args:
            day: a date in the calendar's time zone.

        Raises:
            ValueError: no working day within three years before.
        """
        return self._working_day_after(day, -ONE_DAY)

    def _working_day_after(self, day: date, step: timedelta) -> date:
        """The first working day after `day` in the direction of `step` (one day either way)."""
        for _ in range(MAX_DAYS):
            day += step
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {MAX_DAYS} days of {day.isoformat()}")

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC bounds of a local date's working window, or None when the day does not work."""
        if day not in self._windows:
            window = None
            if self.is_working_day(day):
                start = self._wall(day, self.hours.start_minute)
                end = self._wall(day, self.hours.end_minute)
                window = (start, end) if start < end else None
            self._windows[day] = window
        return self._windows[day]

    def _wall(self, day: date, minute: int) -> datetime:
        """A local wall-clock minute of a date (24:00 being the next midnight) as a UTC moment."""
        if minute == MINUTES_PER_DAY:
            day, minute = day + ONE_DAY, 0
        return self._to_utc(datetime.combine(day, time(minute // 60, minute % 60)))

    def _to_utc(self, wall: datetime) -> datetime:
        """A naive local wall time as a UTC moment.

        An ambiguous time (clocks going back) means its first occurrence; a time that does not exist
        (clocks going forward) means the first instant after the gap.
        """
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first
        # In a gap fold=0 reads the wall time with the offset before the change, fold=1 with the one after;
        # the change itself lies between the two readings: bisect down to the microsecond.
        before, after = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC), first
        while after - before > timedelta(microseconds=1):
            middle = before + (after - before) // 2
            if middle.astimezone(self.zone).replace(tzinfo=None) > wall:
                after = middle
            else:
                before = middle
        return after
