"""Service standards as written in the departments YAML: durations and working hours."""

from __future__ import annotations

import pytest

from handoff_bot.db import Database
from handoff_bot.departments import service as departments
from handoff_bot.departments.models import Department
from handoff_bot.departments.standards import (
    Standard,
    WorkingHours,
    format_duration,
    parse_duration,
    parse_working_hours,
)
from tests.conftest import make_department


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("4h", 14400), ("2d", 172800), (" 4 h ", 14400), ("999999s", 999999),
])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    "", "4", "h", "4x", "4H", "-4h", "1.5h", "4hours", "4 h 30m", "1234567s", "0s", "0d", "four hours", None, 30,
])
def test_parse_duration_refuses_other_forms(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(("seconds", "text"), [
    (30, "30s"), (90, "90s"), (900, "15m"), (5400, "90m"), (14400, "4h"), (86400, "1d"), (90000, "25h"),
    (172800, "2d"),
])
def test_format_duration_is_the_shortest_exact_form(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == seconds


WEEKDAYS = frozenset(range(5))


@pytest.mark.parametrize(("text", "expected"), [
    ("Mon-Fri 09:00-18:00", WorkingHours(WEEKDAYS, 9 * 60, 18 * 60)),
    ("  Mon - Fri  09:00 - 18:00 ", WorkingHours(WEEKDAYS, 9 * 60, 18 * 60)),
    ("Sat 10:00-14:30", WorkingHours(frozenset({5}), 10 * 60, 14 * 60 + 30)),
    ("Fri-Mon 08:00-20:00", WorkingHours(frozenset({4, 5, 6, 0}), 8 * 60, 20 * 60)),
    ("Sun-Thu 08:00-17:00", WorkingHours(frozenset({6, 0, 1, 2, 3}), 8 * 60, 17 * 60)),
    ("Mon-Sun 00:00-24:00", WorkingHours(frozenset(range(7)), 0, 24 * 60)),
    ("always", WorkingHours(frozenset(range(7)), 0, 24 * 60)),
    (" ALWAYS ", WorkingHours(frozenset(range(7)), 0, 24 * 60)),
    ("mon-fri 09:00-18:00", WorkingHours(WEEKDAYS, 9 * 60, 18 * 60)),
    ("SAT 10:00-14:30", WorkingHours(frozenset({5}), 10 * 60, 14 * 60 + 30)),
])
def test_parse_working_hours(text: str, expected: WorkingHours) -> None:
    assert parse_working_hours(text) == expected


def test_only_the_whole_week_around_the_clock_is_always() -> None:
    assert parse_working_hours("always").always and parse_working_hours("Mon-Sun 00:00-24:00").always
    assert not parse_working_hours("Mon-Sun 00:00-23:59").always
    assert not parse_working_hours("Mon-Fri 00:00-24:00").always


@pytest.mark.parametrize("text", [
    "", "Mon-Fri", "09:00-18:00", "Monday-Friday 09:00-18:00", "Mon-Fri 9:00-18:00", "Mon-Fri 09:00-18",
    "Mon-Fri 18:00-09:00", "Mon-Fri 09:00-09:00", "Mon-Fri 09:00-24:30", "Mon-Fri 25:00-26:00", "Mon-Fri 09:60-18:00",
    "Mon-Xyz 09:00-18:00", "Mon-Fri 09:00-18:00 UTC", "never",
])
def test_parse_working_hours_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValueError):
        parse_working_hours(text)


def test_the_default_standard_is_the_departments_default(db: Database) -> None:
    department_id = make_department(db, "Finance")
    with db.transaction() as session:
        department = session.get(Department, department_id)
        assert department is not None
        assert departments.standard_of(department) == Standard()
        parse_working_hours(department.working_hours)


def test_a_departments_own_standard(db: Database) -> None:
    department_id = make_department(db, "Legal", confirm_within="1d", remind_every="2h", complete_within=3600,
                                    escalate_after=3, working_hours="always")
    with db.transaction() as session:
        department = session.get(Department, department_id)
        assert department is not None
        assert departments.standard_of(department) == Standard(86400, 7200, 3, 3600, "always")
