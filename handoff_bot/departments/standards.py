"""Service standards: how fast a department confirms and completes, and when it works."""

from __future__ import annotations

import re
from dataclasses import dataclass

DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in a duration such as `30s`, `15m`, `4h`, `2d`.

    Args:
        text: the duration as written in the departments YAML.

    Raises:
        ValueError: the text is not such a duration, or is zero.
    """
    match = DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 4h or 2d")
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return seconds


def working_span(seconds: int, working_hours: str) -> int:
    """The working seconds a standard's duration stands for: a whole number of days is that many
    working days of `working_hours` (9 hours each for `Mon-Fri 09:00-18:00`, 24 for `always`), so
    `complete_within: 3d` means three working days; any other duration counts as written."""
    days, rest = divmod(seconds, UNIT_SECONDS["d"])
    if not days or rest:
        return seconds
    hours = parse_working_hours(working_hours)
    return days * (hours.end_minute - hours.start_minute) * 60


def format_duration(seconds: int) -> str:
    """The shortest exact form of a duration: 14400 → `4h`."""
    for unit in ("d", "h", "m"):
        if seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WORKING_HOURS = re.compile(
    r"^\s*(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s*(?:-\s*(Mon|Tue|Wed|Thu|Fri|Sat|Sun))?\s+"
    r"([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)\s*$",
    re.IGNORECASE,  # `mon-fri` as well as `Mon-Fri`, as `digest_day` is read
)


@dataclass(frozen=True)
class WorkingHours:
    """Days of the week (0 = Monday) and a daily window in minutes, or always."""

    days: frozenset[int]
    start_minute: int
    end_minute: int

    @property
    def always(self) -> bool:
        return len(self.days) == 7 and self.start_minute == 0 and self.end_minute == 24 * 60


def parse_working_hours(text: str) -> WorkingHours:
    """Parse `Mon-Fri 09:00-18:00` or `always`.

    Raises:
        ValueError: the text has another form, or the window is empty.
    """
    if str(text).strip().lower() == "always":
        return WorkingHours(frozenset(range(7)), 0, 24 * 60)
    match = WORKING_HOURS.match(str(text))
    if not match:
        raise ValueError(f'{text!r} is not working hours like "Mon-Fri 09:00-18:00" or "always"')
    first, last, sh, sm, eh, em = match.groups()
    a, b = DAYS.index(first.title()), DAYS.index((last or first).title())
    days = frozenset(range(a, b + 1)) if a <= b else frozenset([*range(a, 7), *range(0, b + 1)])
    start, end = int(sh) * 60 + int(sm), int(eh) * 60 + int(em)
    if end > 24 * 60 or start >= end:
        raise ValueError(f"{text!r}: the day must end after it starts")
    return WorkingHours(days, start, end)


@dataclass(frozen=True)
class Standard:
    """A service standard as it applies to a handoff; `dataclasses.asdict` of it is stored as JSON on each one.

    `holiday_country` is the ISO code (known to the `holidays` package) whose public holidays and
    make-up working days the working hours follow, or None for none.
    """

    confirm_within_s: int = 4 * 3600
    remind_every_s: int = 4 * 3600
    escalate_after: int = 2
    complete_within_s: int = 3 * 86400
    working_hours: str = "Mon-Fri 09:00-18:00"
    holiday_country: str | None = None
