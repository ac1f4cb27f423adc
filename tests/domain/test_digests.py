"""The weekly digest's figures against hand-computed expectations, on SQLite and PostgreSQL.

The fixture week is ISO 2026-W10 (Monday 2 March to Sunday 8 March 2026). Handoffs are written
straight into the tables with the figures the lifecycle fixes when things happen (confirmation
time in working seconds, within the standard or not, rounds, completion time, rating), so each
expected number below can be checked by hand from the rows.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from handoff_bot.db import Database
from handoff_bot.departments import config_file
from handoff_bot.departments.models import Department, DepartmentPerson, MemberRole
from handoff_bot.digests import service
from handoff_bot.digests.models import DigestSent
from handoff_bot.digests.service import Digest, Figures, window
from handoff_bot.handoffs.models import (
    Handoff,
    HandoffEvent,
    HandoffState,
    Priority,
    Question,
    QuestionKind,
    Relationship,
)
from handoff_bot.i18n import translator
from handoff_bot.outbox.models import NoticeKind, OutboxMessage
from handoff_bot.people import SlackUser
from handoff_bot.slack.blocks import digest as blocks
from tests.blockkit import check_blocks, check_message_text

UTC = timezone.utc
S = HandoffState
MANAGER, EAST, WEST, REQUESTER, RECIPIENT = "UMGR", "UEAST", "UWEST", "UREQ", "UREC"
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)          # W10 starts (UTC)
NEXT_MONDAY = datetime(2026, 3, 9, tzinfo=UTC)     # W11 starts (UTC)
SENT_AT = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # when the W10 digest is built


def at(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def person(db: Database, user_id: str, tz: str, locale: str = "en-US") -> None:
    with db.transaction() as session:
        session.merge(SlackUser(user_id=user_id, name=user_id.lower(), tz=tz, locale=locale, is_bot=False,
                                deleted=False, fetched_at=MONDAY))


def add(db: Database, to: int, sender: int | None, created: datetime, **values: Any) -> int:
    """A handoff to department `to` from `sender`, created at `created`; `values` set any other column.

    `updated_at` is the latest of its events unless given, as the lifecycle keeps it.
    """
    events = [created, *(values[k] for k in ("confirmed_at", "done_at", "rated_at") if values.get(k))]
    row: dict[str, Any] = {
        "created_at": created, "updated_at": values.pop("updated_at", max(events)), "requester_id": REQUESTER,
        "from_department_id": sender, "to_department_id": to, "recipient_id": RECIPIENT,
        "title": values.pop("title", "Work"), "relation": Relationship.FUNCTIONAL, "priority": Priority.NORMAL,
        "state": values.pop("state", S.SENT), "standard": {}, "rounds": values.pop("rounds", 0),
    }
    row.update(values)
    with db.transaction() as session:
        handoff = Handoff(**row)
        session.add(handoff)
        session.flush()
        return handoff.id


def confirmed(db: Database, to: int, sender: int | None, created: datetime, when: datetime, seconds: int,
              *, within: bool, rounds: int = 1, **values: Any) -> int:
    """A handoff confirmed at `when` after `seconds` of working time, in `rounds` restatements by one
    recipient (so clarified `rounds - 1` times)."""
    return add(db, to, sender, created, state=values.pop("state", S.CONFIRMED), confirmed_at=when,
               first_confirmed_at=when, confirm_working_s=seconds, confirmed_in_standard=within, rounds=rounds,
               clarifications=rounds - 1, **values)


def touch(session: Any, handoff_id: int, when: datetime) -> None:
    """Every action moves `updated_at`, as `lifecycle.apply` does."""
    handoff = session.get(Handoff, handoff_id)
    handoff.updated_at = max(handoff.updated_at, when)


def ask(db: Database, handoff_id: int, when: datetime) -> None:
    with db.transaction() as session:
        session.add(Question(handoff_id=handoff_id, asked_by=RECIPIENT, asked_at=when, kind=QuestionKind.OPEN,
                             text="Which region?"))
        touch(session, handoff_id, when)


def escalate(db: Database, handoff_id: int, when: datetime) -> None:
    with db.transaction() as session:
        session.add(HandoffEvent(handoff_id=handoff_id, at=when, actor_id="handoff", action="escalate",
                                 from_state=S.SENT, to_state=S.SENT, payload={}))
        touch(session, handoff_id, when)


def build(db: Database, manager: str = MANAGER, now: datetime = SENT_AT, period: str = "last") -> Digest:
    with db.transaction() as session:
        return service.build(session, manager, now, period=period)  # type: ignore[arg-type]


@pytest.fixture
def org(db: Database, dept: Callable[..., int]) -> dict[str, int]:
    """Finance (managed by UMGR, in UTC), Sales and Legal."""
    person(db, MANAGER, "UTC")
    return {
        "finance": dept("Finance", members=[RECIPIENT], managers=[MANAGER]),
        "sales": dept("Sales", members=[REQUESTER]),
        "legal": dept("Legal"),
    }


# --------------------------------------------------------------------------- the fixture week


@pytest.fixture
def week(db: Database, org: dict[str, int]) -> dict[str, int]:
    """W10 and W09 for Finance, hand-made. The expectations are in the tests."""
    fin, sales, legal = org["finance"], org["sales"], org["legal"]
    ids = {
        # Received in W10 (created 2–8 March).
        "a": confirmed(db, fin, sales, at(2), at(2, 12), 7200, within=True, rounds=1, state=S.RATED,
                       done_at=at(4), complete_working_s=18000, rated_at=at(5), rating=5, rating_comment="Spot on"),
        "b": confirmed(db, fin, sales, at(3), at(3, 15), 3600, within=True, rounds=2),
        "c": confirmed(db, fin, sales, at(4), at(5), 20000, within=False, rounds=3, state=S.RATED,
                       done_at=at(6), complete_working_s=1800, rated_at=at(7), rating=2, rating_comment="Late, wrong"),
        "d": add(db, fin, legal, at(5)),
        "last_second": add(db, fin, sales, datetime(2026, 3, 8, 23, 59, 59, tzinfo=UTC)),
        # Received in W09 (23 February – 1 March).
        "e": confirmed(db, fin, sales, at(24, month=2), at(24, 11, month=2), 1800, within=True, state=S.RATED,
                       done_at=at(25, month=2), complete_working_s=7200, rated_at=at(26, month=2), rating=4),
        "e2": confirmed(db, fin, sales, at(24, month=2), at(26, month=2), 600, within=True),
        "e3": confirmed(db, fin, legal, at(25, month=2), at(27, month=2), 9000, within=False, rounds=2),
        # Created in W09, confirmed in W10: counts as received in W09, confirmed in W10.
        "f": confirmed(db, fin, sales, at(25, month=2), at(2, 9), 50000, within=False),
        "sunday_night": add(db, fin, sales, datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)),
        # The next week (W11) does not count.
        "monday_midnight": add(db, fin, sales, NEXT_MONDAY),
        # Sent by Finance.
        "g": confirmed(db, sales, fin, at(3), at(4), 90000, within=False, rounds=1),
        "h": add(db, legal, fin, at(27, month=2)),
        "i": confirmed(db, legal, fin, at(2), at(3), 4000, within=True, rounds=3),
        # Between two other departments: never Finance's.
        "other": confirmed(db, legal, sales, at(3), at(3, 12), 100, within=True),
    }
    ask(db, ids["b"], at(3, 16))
    ask(db, ids["b"], at(4, 9))
    ask(db, ids["e"], at(24, 12, month=2))
    ask(db, ids["other"], at(3, 13))
    escalate(db, ids["d"], at(6))
    return ids


def test_the_figures_of_a_week_against_the_week_before(db: Database, week: dict[str, int]) -> None:
    digest = build(db)
    assert digest.week == "2026-W10"
    assert (digest.start, digest.end) == (MONDAY, NEXT_MONDAY)
    assert (digest.before_start, digest.before_end) == (MONDAY - timedelta(days=7), MONDAY)
    [finance] = digest.departments
    assert finance.this == Figures(
        received=5,                # a b c d last_second
        sent=2,                    # g i
        confirmed=4,               # a b c f (f was created the week before)
        in_standard=2,             # a b
        median_confirm_s=13600.0,  # 3600 7200 | 20000 50000: (7200 + 20000) / 2
        done=2,                    # a c
        median_complete_s=9900.0,  # (1800 + 18000) / 2
        clarified=2,               # b (clarified once) c (twice)
        rounds=3,                  # clarification rounds: 1 + 2
        questions=2,               # both on b
        escalations=1,             # d
        rated=2, rating_avg=3.5,   # 5 and 2
        low_ratings=1,             # c
    )
    assert finance.this.in_standard_share == 0.5
    assert finance.before == Figures(
        received=5,                # e e2 e3 f sunday_night
        sent=1,                    # h
        confirmed=3,               # e e2 e3
        in_standard=2,             # e e2
        median_confirm_s=1800.0,   # 600 | 1800 | 9000
        done=1, median_complete_s=7200.0,
        clarified=1, rounds=1,     # e3 (clarified once)
        questions=1, escalations=0, rated=1, rating_avg=4.0, low_ratings=0,
    )


def test_bottleneck_partners_in_both_directions(db: Database, week: dict[str, int]) -> None:
    [finance] = build(db).departments
    # As provider (received, confirmed in W10): from Sales a b c f; nothing from Legal was confirmed in W10.
    assert [(p.partner, p.confirmed, p.clarified, p.median_confirm_s) for p in finance.slow_providing] == [
        ("Sales", 4, 2, 13600.0)]
    assert [(p.partner, p.clarified) for p in finance.unclear_providing] == [("Sales", 2)]
    # As internal customer (sent, confirmed in W10): Sales took 90000 s for g; Legal 4000 s for i, in 3 rounds.
    assert [(p.partner, p.median_confirm_s) for p in finance.slow_receiving] == [("Sales", 90000.0),
                                                                                ("Legal", 4000.0)]
    assert [(p.partner, p.confirmed, p.clarified) for p in finance.unclear_receiving] == [("Legal", 1, 1)]


def test_what_needs_a_decision_and_what_requesters_said(db: Database, week: dict[str, int], org: dict[str, int]
                                                       ) -> None:
    fin = org["finance"]
    escalated = add(db, fin, org["sales"], at(1), escalated=True, title="Escalated one")
    quiet = add(db, fin, org["sales"], at(3), state=S.RESTATED, title="Waiting on a review")
    add(db, fin, org["sales"], at(8), state=S.RESTATED, title="Recent, not stalled")
    add(db, fin, org["sales"], at(3), state=S.CONFIRMED, title="Being worked on")  # no answer owed: not stalled
    [finance] = build(db).departments
    assert [i.id for i in finance.escalated.items] == [escalated]
    assert finance.escalated.items[0].partner == "Sales"
    # Owing an answer, quiet since before Friday 6 March 10:00 (three days before the digest), not escalated
    # (d's escalation on 6 March 10:00 was activity).
    assert [i.id for i in finance.stalled.items] == [week["sunday_night"], quiet]
    assert [(i.id, i.rating, i.comment) for i in finance.low_ratings.items] == [(week["c"], 2, "Late, wrong")]
    assert [(i.id, i.comment) for i in finance.comments.items] == [(week["c"], "Late, wrong"), (week["a"], "Spot on")]
    assert finance.needs_decision


def test_overdue_open_handoffs_longest_late_first_and_how_many_more(db: Database, org: dict[str, int]) -> None:
    fin = org["finance"]
    late = [add(db, fin, org["sales"], at(1), state=S.CONFIRMED, deadline_at=at(9, 9) - timedelta(hours=h),
                title=f"Late {h}") for h in range(1, 8)]
    add(db, fin, org["sales"], at(1), state=S.CONFIRMED, deadline_at=at(9, 11), title="Not yet late")
    add(db, fin, org["sales"], at(1), state=S.DONE, deadline_at=at(1, 12), title="Done, not open")
    [finance] = build(db).departments
    assert finance.overdue.total == 7
    assert [i.id for i in finance.overdue.items] == late[::-1][:5]
    assert finance.overdue.more == 2
    assert finance.overdue.items[0].at == at(9, 2)


def test_the_trend_covers_eight_weeks_oldest_first(db: Database, org: dict[str, int]) -> None:
    fin = org["finance"]
    for weeks_ago, count in ((0, 3), (1, 1), (7, 2), (8, 5)):  # 8 weeks ago is outside the trend
        for n in range(count):
            add(db, fin, None, MONDAY - timedelta(weeks=weeks_ago) + timedelta(hours=n))
    [finance] = build(db).departments
    assert [f.received for f in finance.trend] == [2, 0, 0, 0, 0, 0, 1, 3]
    assert finance.trend[-1] == finance.this and finance.trend[-2] == finance.before


def test_an_empty_week(db: Database, org: dict[str, int]) -> None:
    [finance] = build(db).departments
    assert finance.this == Figures() and finance.before == Figures()
    assert finance.this.in_standard_share is None
    assert finance.quiet and not finance.needs_decision
    assert [f.received for f in finance.trend] == [0] * 8
    assert "Nothing to report for Finance" in blocks.text(translator("en"), build(db))


def test_someone_who_manages_nothing_has_no_departments(db: Database, org: dict[str, int]) -> None:
    assert build(db, REQUESTER).departments == []


# --------------------------------------------------------------------------- time zones and DST


def test_weeks_run_monday_to_monday_in_the_managers_time_zone(db: Database, org: dict[str, int]) -> None:
    """East (Shanghai, UTC+8) and west (Los Angeles, UTC-8 until 8 March, then UTC-7) of UTC."""
    fin = org["finance"]
    for user, tz in ((EAST, "Asia/Shanghai"), (WEST, "America/Los_Angeles")):
        person(db, user, tz)
        with db.transaction() as session:
            session.add(DepartmentPerson(department_id=fin, user_id=user, role=MemberRole.MANAGER, added_at=MONDAY))
    #              UTC                  Shanghai (UTC+8)     Los Angeles            UTC week
    moments = [
        datetime(2026, 3, 1, 17, 0, tzinfo=UTC),   # Mon 2 Mar 01:00 W10   Sun 1 Mar 09:00 PST W09   W09
        datetime(2026, 3, 2, 7, 30, tzinfo=UTC),   # Mon 15:30 W10         Sun 1 Mar 23:30 PST W09   W10
        datetime(2026, 3, 4, 12, 0, tzinfo=UTC),   # Wed W10               Wed W10                   W10
        datetime(2026, 3, 8, 17, 0, tzinfo=UTC),   # Mon 9 Mar 01:00 W11   Sun 8 Mar 10:00 PDT W10   W10
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),   # Mon 14:30 W11         Sun 8 Mar 23:30 PDT W10   W11
        # Monday 00:30 PDT: W11 in Los Angeles, though within 7 × 24 hours of its W10's start (the DST week).
        datetime(2026, 3, 9, 7, 30, tzinfo=UTC),   # Mon 15:30 W11         Mon 9 Mar 00:30 PDT W11   W11
    ]
    for moment in moments:
        add(db, fin, None, moment)
    now = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)  # Tuesday 04:00 in Shanghai, Monday 13:00 in LA
    east, west, utc = build(db, EAST, now), build(db, WEST, now), build(db, MANAGER, now)
    assert east.week == west.week == utc.week == "2026-W10"
    assert (east.start, east.end) == (datetime(2026, 3, 1, 16, tzinfo=UTC), datetime(2026, 3, 8, 16, tzinfo=UTC))
    assert (west.start, west.end) == (datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 9, 7, tzinfo=UTC))
    assert [(d.departments[0].this.received, d.departments[0].before.received) for d in (east, west, utc)] == [
        (3, 0), (3, 2), (3, 1)]


def test_a_week_with_the_us_dst_change_is_167_hours_long() -> None:
    la = ZoneInfo("America/Los_Angeles")
    monday_after = datetime(2026, 3, 9, 9, 0, tzinfo=la)
    spans = window(monday_after.astimezone(UTC), la, "last")
    start, end = spans.this
    assert end - start == timedelta(hours=167)
    assert spans.before[1] - spans.before[0] == timedelta(hours=168)
    assert spans.week == "2026-W10" and len(spans.trend) == 8
    # This week so far, on Monday 9 March 10:00 PDT, against last week up to Monday 2 March 10:00 PST.
    current = window(datetime(2026, 3, 9, 17, 0, tzinfo=UTC), la, "current")
    assert current.week == "2026-W11"
    assert current.this == (datetime(2026, 3, 9, 7, tzinfo=UTC), datetime(2026, 3, 9, 17, tzinfo=UTC))
    assert current.before == (datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 18, tzinfo=UTC))
    # The autumn change: the week of Sunday 1 November 2026 has 169 hours.
    autumn = window(datetime(2026, 11, 2, 17, 0, tzinfo=UTC), la, "last")
    assert autumn.this[1] - autumn.this[0] == timedelta(hours=169)


def test_the_current_week_so_far_against_the_same_part_of_last_week(db: Database, org: dict[str, int]) -> None:
    fin = org["finance"]
    add(db, fin, None, at(2, 9))    # last week, before Monday 10:00
    add(db, fin, None, at(2, 11))   # last week, after Monday 10:00: not in the comparison
    add(db, fin, None, at(9, 1))
    add(db, fin, None, at(9, 9, 59))
    digest = build(db, now=at(9, 10), period="current")
    assert digest.week == "2026-W11"
    [finance] = digest.departments
    assert (finance.this.received, finance.before.received) == (2, 1)
    assert [f.received for f in finance.trend][-2:] == [2, 2]  # the whole of W10, then W11 so far


# --------------------------------------------------------------------------- due, and exactly once


def due(db: Database, now: datetime, **kwargs: Any) -> list[tuple[str, str]]:
    with db.transaction() as session:
        return [(d.manager_id, d.week) for d in service.due_managers(session, now, **kwargs)]


def send(db: Database, now: datetime, **kwargs: Any) -> int:
    with db.transaction() as session:
        return service.send_due(session, now, **kwargs)


def digests_queued(db: Database) -> list[tuple[str, str]]:
    with db.transaction() as session:
        return [(m.target, m.params["week"]) for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == NoticeKind.DIGEST).order_by(OutboxMessage.id))]


def test_due_at_monday_0900_in_the_managers_zone_then_never_again(db: Database, org: dict[str, int]) -> None:
    person(db, MANAGER, "Asia/Shanghai")
    monday_0859 = datetime(2026, 3, 9, 0, 59, tzinfo=UTC)  # 08:59 in Shanghai
    assert due(db, monday_0859) == []
    assert due(db, monday_0859 + timedelta(minutes=1)) == [(MANAGER, "2026-W10")]
    assert send(db, monday_0859 + timedelta(minutes=1)) == 1
    assert send(db, monday_0859 + timedelta(minutes=2)) == 0
    assert send(db, monday_0859 + timedelta(days=6, hours=14)) == 0  # Sunday 23:59 in Shanghai
    assert due(db, datetime(2026, 3, 16, 1, 0, tzinfo=UTC)) == [(MANAGER, "2026-W11")]
    assert digests_queued(db) == [(MANAGER, "2026-W10")]


def test_after_downtime_the_digest_is_sent_the_same_week(db: Database, org: dict[str, int]) -> None:
    thursday = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
    assert send(db, thursday) == 1
    assert digests_queued(db) == [(MANAGER, "2026-W10")]
    # Down from Monday 16 March to Monday 23 March 08:00: W11's digest is skipped, W12's comes at 09:00.
    assert send(db, datetime(2026, 3, 23, 8, 0, tzinfo=UTC)) == 0
    assert send(db, datetime(2026, 3, 23, 9, 0, tzinfo=UTC)) == 1
    assert digests_queued(db)[-1] == (MANAGER, "2026-W12")


def test_sending_now_ignores_the_schedule_but_not_what_was_sent(db: Database, org: dict[str, int]) -> None:
    monday_early = datetime(2026, 3, 9, 3, 0, tzinfo=UTC)
    assert send(db, monday_early) == 0
    assert send(db, monday_early, on_schedule=False) == 1
    assert send(db, monday_early, on_schedule=False) == 0
    assert send(db, monday_early + timedelta(hours=7)) == 0


def test_the_departments_day_and_time_and_the_earliest_of_several(db: Database, org: dict[str, int],
                                                                 dept: Callable[..., int]) -> None:
    with db.transaction() as session:
        finance = session.get(Department, org["finance"])
        finance.digest_day, finance.digest_time = "wed", "17:30"
    assert due(db, datetime(2026, 3, 11, 17, 29, tzinfo=UTC)) == []
    assert due(db, datetime(2026, 3, 11, 17, 30, tzinfo=UTC)) == [(MANAGER, "2026-W10")]
    second = dept("Procurement", managers=[MANAGER])
    with db.transaction() as session:
        procurement = session.get(Department, second)
        procurement.digest_day, procurement.digest_time = "tue", "08:00"
    assert due(db, datetime(2026, 3, 10, 7, 59, tzinfo=UTC)) == []
    assert due(db, datetime(2026, 3, 10, 8, 0, tzinfo=UTC)) == [(MANAGER, "2026-W10")]
    assert send(db, datetime(2026, 3, 10, 8, 0, tzinfo=UTC)) == 1
    with db.transaction() as session:
        notice = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == NoticeKind.DIGEST,
                                                             OutboxMessage.target == MANAGER)).one()
        assert [d["name"] for d in notice.params["departments"]] == ["Finance", "Procurement"]


def imported(db: Database, text: str, now: datetime) -> None:
    """`departments import` of a file's text at `now`."""
    with db.transaction() as session:
        config_file.apply(session, config_file.load(text), now)


def test_a_new_department_sends_its_manager_no_digest_of_the_week_before_it(db: Database,
                                                                           org: dict[str, int]) -> None:
    """Imported on Wednesday of W11: Finance's manager still gets W10's digest (due since Monday), the new
    department's manager nothing of W10, a week it did not exist in; both get W11's on its Monday."""
    wednesday = at(11)
    imported(db, "departments:\n  - name: Procurement\n    managers: [UNEW]\n", wednesday)
    assert due(db, wednesday) == [(MANAGER, "2026-W10")]
    assert send(db, wednesday) == 1
    assert send(db, at(15, 23, 59)) == 0  # Sunday
    assert due(db, at(16, 9)) == [(MANAGER, "2026-W11"), ("UNEW", "2026-W11")]
    assert digests_queued(db) == [(MANAGER, "2026-W10")]


def test_a_manager_new_to_a_department_waits_for_the_week_they_came_in(db: Database) -> None:
    """The departments file is imported again at every start: a manager it keeps keeps the week they came
    in, so the digest missed while the app was down still goes out; one it adds gets none of the week before."""
    finance = "departments:\n  - name: Finance\n    managers: [{}]\n"
    imported(db, finance.format("UOLD"), at(2))  # Monday of W10
    restart = at(9, 12)  # Monday of W11, 12:00: the app was down at 09:00
    imported(db, finance.format("UOLD, UNEW"), restart)
    assert due(db, restart) == [("UOLD", "2026-W10")]
    assert due(db, at(16, 9)) == [("UNEW", "2026-W11"), ("UOLD", "2026-W11")]


def test_the_week_a_manager_came_in_is_their_own_zones(db: Database, org: dict[str, int],
                                                       dept: Callable[..., int]) -> None:
    """Sunday 8 March 20:00 UTC is still W10 in Los Angeles (13:00) but Monday of W11 in Shanghai (04:00)."""
    person(db, EAST, "Asia/Shanghai")
    person(db, WEST, "America/Los_Angeles")
    dept("Procurement", managers=[EAST, WEST], now=datetime(2026, 3, 8, 20, 0, tzinfo=UTC))
    monday_0900_la = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # Tuesday 00:00 in Shanghai
    assert due(db, monday_0900_la) == [(MANAGER, "2026-W10"), (WEST, "2026-W10")]
    assert send(db, monday_0900_la) == 2
    assert due(db, datetime(2026, 3, 16, 1, 0, tzinfo=UTC)) == [(EAST, "2026-W11")]  # 09:00 in Shanghai


def test_a_deactivated_manager_gets_no_digest(db: Database, org: dict[str, int]) -> None:
    with db.transaction() as session:
        session.get(SlackUser, MANAGER).deleted = True
    assert due(db, datetime(2026, 3, 9, 10, 0, tzinfo=UTC)) == []


def test_the_notice_keeps_the_figures_of_the_week(db: Database, week: dict[str, int], org: dict[str, int]) -> None:
    assert send(db, SENT_AT) == 1
    add(db, org["finance"], None, at(3))  # recorded after the digest went out, in W10
    with db.transaction() as session:
        notice = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == NoticeKind.DIGEST,
                                                             OutboxMessage.target == MANAGER)).one()
        stored = Digest.from_params(notice.params)
        assert session.scalar(select(func.count()).select_from(DigestSent)) == 1
    assert stored.week == "2026-W10" and stored.manager_id == MANAGER
    assert stored.departments[0].this.received == 5
    assert build(db).departments[0].this.received == 6


def test_two_processes_send_each_digest_once(db: Database, org: dict[str, int], dept: Callable[..., int]) -> None:
    """Two engines (as two app processes would have) run the same pass at the same moment."""
    for n in range(6):
        dept(f"Team {n}", managers=[f"UTEAM{n}"])
    managers = 7  # UMGR and the six teams'
    engines = [Database(db.url), Database(db.url)]
    start = threading.Barrier(2)
    counts: list[int] = []
    failures: list[BaseException] = []

    def run(database: Database) -> None:
        try:
            start.wait(10)
            with database.transaction() as session:
                counts.append(service.send_due(session, SENT_AT))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert not failures, failures
    assert sum(counts) == managers
    assert len(digests_queued(db)) == managers
    assert len(set(digests_queued(db))) == managers
    assert send(db, SENT_AT) == 0


def test_a_racing_process_fails_on_the_unique_row_and_skips(db: Database, org: dict[str, int]) -> None:
    """PostgreSQL: the second process found the digest due before the first committed; its insert waits for
    the first, then fails on the unique constraint, and it skips that manager without sending."""
    if not db.url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE: the second pass sees the first one's row")
    first, second = Database(db.url), Database(db.url)
    results: dict[str, Any] = {}

    def racing() -> None:
        try:
            with second.transaction() as session:
                results["second"] = service.send_due(session, SENT_AT)
        except BaseException as error:  # noqa: BLE001 - reported below
            results["error"] = error

    try:
        with first.transaction() as session:
            assert service.send_due(session, SENT_AT) == 1  # not committed yet
            thread = threading.Thread(target=racing)
            thread.start()
            waiting_for_lock(db)
        thread.join(30)
    finally:
        first.dispose()
        second.dispose()
    assert "error" not in results, results.get("error")
    assert results["second"] == 0
    assert digests_queued(db) == [(MANAGER, "2026-W10")]


def waiting_for_lock(db: Database, timeout: float = 10.0) -> None:
    """Return once some session of this database waits for a lock (the racing insert)."""
    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the racing process never waited for the first one's row")


# --------------------------------------------------------------------------- rendering


def test_the_digest_fits_slack_and_reads_as_text(db: Database, week: dict[str, int]) -> None:
    digest = build(db)
    [message] = blocks.messages(translator("en"), digest)
    assert check_message_text(message.text) == [] and check_blocks(message.blocks) == []
    assert message.text == "Weekly digest for 2026-W10"
    texts = str(message.blocks)
    assert "*Received*\\n5 (week before: 5)" in texts
    assert "*Median time to confirm*\\n3.8 h (week before: 30 min)" in texts
    assert "*Confirmed within the standard*\\n50% (2 of 4) (week before: 67% (2 of 3))" in texts
    plain = blocks.text(translator("en"), digest)
    assert "Received: 5 (week before: 5)" in plain
    assert "*" not in plain and "<@" not in plain and ":rotating_light:" not in plain
    assert f"#{week['c']} Work was rated 2 out of 5 by @UREQ: “Late, wrong”" in plain
    chinese = blocks.messages(translator("zh-CN"), digest)[0]
    assert check_blocks(chinese.blocks) == []
    assert chinese.text == "2026-W10 周报"
    # The trend's bars line up in Slack's monospaced block, where a Chinese character takes two columns.
    trend = next(b["text"]["text"] for b in chinese.blocks if "```" in b.get("text", {}).get("text", ""))
    rows = trend.split("```")[1].split("\n")
    bars = re.compile("[▁▂▃▄▅▆▇█·]")
    columns = {sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in row[:bars.search(row).start()]) for row in rows}
    assert len(rows) == 4 and len(columns) == 1, rows


def test_the_text_shows_what_requesters_typed_as_they_typed_it(db: Database, org: dict[str, int]) -> None:
    confirmed(db, org["finance"], org["sales"], at(3), at(3, 12), 60, within=True, state=S.RATED, rated_at=at(5),
              rating=3, title="Q3 *final* figures", rating_comment="Needs *more* detail & <care>")
    plain = blocks.text(translator("en"), build(db))
    assert "Q3 *final* figures: “Needs *more* detail & <care>”" in plain
    assert "What requesters said" in plain and "*What requesters said*" not in plain  # the digest's own bold
    [message] = blocks.messages(translator("en"), build(db))
    assert "*Q3 *final* figures*: “Needs *more* detail &amp; &lt;care&gt;”" in str(message.blocks)


def test_many_departments_are_split_into_messages_of_at_most_50_blocks(db: Database, org: dict[str, int],
                                                                       dept: Callable[..., int]) -> None:
    for n in range(9):
        team = dept(f"Team {n}", managers=[MANAGER])
        add(db, team, org["sales"], at(3), escalated=True)
        confirmed(db, team, org["sales"], at(3), at(4), 3600, within=True, rating=4, rating_comment="Fine",
                  rated_at=at(5), state=S.RATED)
        add(db, team, org["sales"], at(3), state=S.CONFIRMED, deadline_at=at(6))
    digest = build(db)
    assert len(digest.departments) == 10
    parts = blocks.messages(translator("en"), digest)
    assert len(parts) > 1
    for part in parts:
        assert len(part.blocks) <= 50 and check_blocks(part.blocks) == []
    assert parts[1].text == f"Weekly digest for 2026-W10 (2 of {len(parts)})"
    headers = [b["text"]["text"] for p in parts for b in p.blocks if b["type"] == "header"]
    assert headers == ["Weekly digest for 2026-W10", "Finance", *(f"Team {n}" for n in range(9))]


def test_the_params_round_trip(db: Database, week: dict[str, int]) -> None:
    digest = build(db)
    assert Digest.from_params(digest.to_params()) == digest
    assert digest.to_params()["manager"] == MANAGER


def test_sparklines() -> None:
    assert blocks.spark([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert blocks.spark([None, 2, 2]) == "·▄▄"
    assert blocks.spark([0, 0]) == "▁▁"
    assert blocks.spark([None, None]) == "··"


def test_long_lists_fit_a_section_without_cutting_a_mention(db: Database, org: dict[str, int]) -> None:
    fin, sales = org["finance"], org["sales"]
    for n in range(7):
        add(db, fin, sales, at(1), escalated=True, title="E" * 150)
        add(db, fin, sales, at(2), state=S.RESTATED, title="S" * 150)
        confirmed(db, fin, sales, at(3), at(3, 12), 60, within=True, state=S.RATED, rated_at=at(5, 10 + n),
                  rating=1, rating_comment="<@U0EVIL> " + "x" * 2990)
    digest = build(db)
    [message] = blocks.messages(translator("en"), digest)
    assert check_blocks(message.blocks) == []
    decisions = next(b["text"]["text"] for b in message.blocks if "Needs a decision*" in str(b))
    assert len(decisions) <= 3000 and decisions.endswith("…")
    assert "<@U0EVIL>" not in str(message.blocks) and "&lt;@U0EVIL&gt;" in decisions
    assert all(line.count("<") == line.count(">") for line in decisions.split("\n"))


def test_building_many_at_once_gives_each_managers_own_digest(db: Database, week: dict[str, int],
                                                             dept: Callable[..., int]) -> None:
    """Managers in one time zone share the queries; each still gets their own departments and weeks."""
    person(db, EAST, "Asia/Shanghai")
    person(db, WEST, "America/Los_Angeles")
    dept("Procurement", managers=[EAST, MANAGER])
    with db.transaction() as session:
        session.add(DepartmentPerson(department_id=1, user_id=WEST, role=MemberRole.MANAGER, added_at=MONDAY))
    managers = [MANAGER, EAST, WEST, REQUESTER]
    with db.transaction() as session:
        together = service.build_many(session, managers, SENT_AT)
    assert together == {m: build(db, m) for m in managers}
    assert [[d.name for d in together[m].departments] for m in managers] == [
        ["Finance", "Procurement"], ["Procurement"], ["Finance"], []]
    assert (together[WEST].start, together[EAST].start) == (datetime(2026, 3, 2, 8, tzinfo=UTC),
                                                            datetime(2026, 3, 1, 16, tzinfo=UTC))
