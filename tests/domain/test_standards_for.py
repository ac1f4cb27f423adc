"""`standard_for`: the standard a handoff gets, from the receiving department and any pair standard."""

from __future__ import annotations

import json
from dataclasses import asdict

from handoff_bot.departments import service as departments
from handoff_bot.departments.models import Department, PairStandard
from handoff_bot.departments.standards import Standard

FINANCE = Standard(confirm_within_s=4 * 3600, remind_every_s=3600, escalate_after=3, complete_within_s=2 * 86400,
                   working_hours="Mon-Fri 09:00-17:00", holiday_country="CN")


def finance_and_sales(db, dept) -> tuple[int, int]:
    """Finance (with the FINANCE standard, holidays of CN) and Sales (the defaults); their ids."""
    finance = dept("Finance", confirm_within="4h", remind_every="1h", escalate_after=3, complete_within="2d",
                   working_hours="Mon-Fri 09:00-17:00")
    sales = dept("Sales", confirm_within="30m", working_hours="always")
    with db.transaction() as session:
        session.get(Department, finance).holiday_country = "CN"
    return finance, sales


def add_pair(db, from_id: int, to_id: int, **overrides: object) -> None:
    with db.transaction() as session:
        session.add(PairStandard(from_department_id=from_id, to_department_id=to_id, **overrides))


def standard_for(db, from_id: int | None, to_id: int) -> tuple[Standard, bool]:
    with db.transaction() as session:
        return departments.standard_for(session, from_id, session.get(Department, to_id))


def test_without_a_pair_standard_the_receiving_departments_standard_applies(db, dept):
    finance, sales = finance_and_sales(db, dept)

    assert standard_for(db, sales, finance) == (FINANCE, False)
    with db.transaction() as session:
        assert departments.standard_of(session.get(Department, finance)) == FINANCE


def test_without_a_sending_department_the_receiving_departments_standard_applies(db, dept):
    finance, sales = finance_and_sales(db, dept)
    add_pair(db, sales, finance, confirm_within_s=7200)

    assert standard_for(db, None, finance) == (FINANCE, False)


def test_a_pair_standard_overrides_only_the_values_it_gives(db, dept):
    finance, sales = finance_and_sales(db, dept)
    add_pair(db, sales, finance, confirm_within_s=7200, escalate_after=0)

    standard, paired = standard_for(db, sales, finance)

    assert paired is True
    assert standard == Standard(confirm_within_s=7200, remind_every_s=3600, escalate_after=0,
                                complete_within_s=2 * 86400, working_hours="Mon-Fri 09:00-17:00", holiday_country="CN")


def test_every_value_may_be_overridden_but_the_holiday_country_stays_the_receivers(db, dept):
    finance, sales = finance_and_sales(db, dept)
    add_pair(db, sales, finance, confirm_within_s=60, remind_every_s=120, escalate_after=1, complete_within_s=3600,
             working_hours="always")

    assert standard_for(db, sales, finance) == (Standard(60, 120, 1, 3600, "always", "CN"), True)


def test_a_pair_standard_applies_in_its_own_direction_only(db, dept):
    finance, sales = finance_and_sales(db, dept)
    add_pair(db, sales, finance, confirm_within_s=7200)

    standard, paired = standard_for(db, finance, sales)

    assert paired is False
    assert standard == Standard(confirm_within_s=1800, working_hours="always")
    assert standard.holiday_country is None  # the receiving department's: Sales keeps no holidays


def test_a_pair_standard_that_overrides_nothing_does_not_count_as_applied(db, dept):
    finance, sales = finance_and_sales(db, dept)
    add_pair(db, sales, finance)

    assert standard_for(db, sales, finance) == (FINANCE, False)


def test_a_pair_standard_of_another_sender_does_not_apply(db, dept):
    finance, sales = finance_and_sales(db, dept)
    legal = dept("Legal")
    add_pair(db, legal, finance, complete_within_s=86400)

    assert standard_for(db, sales, finance) == (FINANCE, False)
    assert standard_for(db, legal, finance)[0].complete_within_s == 86400


def test_the_standard_is_json_friendly_and_round_trips(db, dept):
    finance, sales = finance_and_sales(db, dept)
    add_pair(db, sales, finance, confirm_within_s=7200)
    standard, _ = standard_for(db, sales, finance)

    stored = json.loads(json.dumps(asdict(standard)))

    assert stored["holiday_country"] == "CN"
    assert Standard(**stored) == standard
    # A standard stored before holiday_country existed still reads back, with no holidays.
    del stored["holiday_country"]
    assert Standard(**stored).holiday_country is None


def test_pair_standards_are_listed_by_sender_then_receiver(db, dept):
    finance, sales = finance_and_sales(db, dept)
    legal = dept("Legal")
    add_pair(db, sales, legal, confirm_within_s=60)
    add_pair(db, sales, finance, confirm_within_s=60)
    add_pair(db, legal, finance, confirm_within_s=60)

    with db.transaction() as session:
        pairs = [(p.from_department.name, p.to_department.name) for p in departments.all_pair_standards(session)]
        assert departments.pair_standard(session, sales, legal).confirm_within_s == 60
        assert departments.pair_standard(session, legal, sales) is None

    assert pairs == [("Legal", "Finance"), ("Sales", "Finance"), ("Sales", "Legal")]
