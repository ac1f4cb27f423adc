"""Weekly digests through the running app, with an injected clock: the scheduled DM at Monday 09:00 in
the manager's own time zone (Finance's manager is in Shanghai), exactly once, caught up after downtime,
and `/handoff digest` for managers (everyone else is told why not)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff_bot.clock import FakeClock
from handoff_bot.config import Settings
from handoff_bot.db import Database
from handoff_bot.departments.models import Department, DepartmentPerson, MemberRole
from handoff_bot.digests.models import DigestSent
from handoff_bot.handoffs.models import HandoffState
from handoff_bot.runtime import Runtime
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.domain.test_digests import add, at, confirmed
from tests.slack.conftest import INTAKE, MANAGER, MEMBER, RECIPIENT, REQUESTER, SECRET, Bot
from tests.slack.test_core_loop import open_new_form, reassign, submit_new
from tests.slack.test_followups import set_standard, tick
from tests.slack.test_negotiation import offer, terms
from tests.slack_requests import text_value
from tests.slack_standin import SlackStandIn

UTC = timezone.utc
MONDAY_0859_SHANGHAI = datetime(2026, 3, 9, 0, 59, tzinfo=UTC)


def digests_to(bot: Bot, user: str) -> list[dict[str, Any]]:
    """The digest messages posted to a user's DM."""
    return [c.params for c in bot.standin.calls_to("chat.postMessage", channel=user)
            if c.ok and "digest" in c.params.get("text", "").lower()]


def run(bot: Bot, advance: timedelta = timedelta(0), **kwargs: Any) -> int:
    """Move the clock, run one digest pass and deliver what it queued; returns how many were queued."""
    bot.clock.advance(advance)
    queued = bot.runtime.digests.run_once(**kwargs)
    bot.deliver()
    return queued


def blocks_text(message: dict[str, Any]) -> str:
    return str(message["blocks"])


@pytest.fixture
def busy(bot: Bot) -> Bot:
    """One handoff from Sales to Finance on Monday 2 March (W10 in Shanghai too)."""
    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT).text == ""
    bot.deliver()
    return bot


def test_the_digest_arrives_once_at_monday_0900_in_the_managers_zone(busy: Bot) -> None:
    busy.clock.set(MONDAY_0859_SHANGHAI)
    assert run(busy) == 0
    assert digests_to(busy, MANAGER) == []
    assert run(busy, timedelta(minutes=1)) == 1
    [digest] = digests_to(busy, MANAGER)
    assert digest["text"] == "Weekly digest for 2026-W10"
    assert "From 2026-03-02 to 2026-03-08, in your time zone (Asia/Shanghai)" in blocks_text(digest)
    assert "*Received*\\n1 (week before: 0)" in blocks_text(digest)
    assert {"type": "header", "text": {"type": "plain_text", "text": "Finance", "emoji": True}} in digest["blocks"]
    for advance in (timedelta(minutes=1), timedelta(hours=5), timedelta(days=3)):
        assert run(busy, advance) == 0
    assert len(digests_to(busy, MANAGER)) == 1
    assert digests_to(busy, REQUESTER) == [] and digests_to(busy, RECIPIENT) == []


def test_after_downtime_the_digest_comes_the_same_week(busy: Bot) -> None:
    busy.clock.set(datetime(2026, 3, 11, 6, 30, tzinfo=UTC))  # the app was down from Sunday to Wednesday
    assert run(busy) == 1
    [digest] = digests_to(busy, MANAGER)
    assert digest["text"] == "Weekly digest for 2026-W10"
    assert run(busy, timedelta(hours=1)) == 0
    # The next week's comes on its Monday at 09:00 in Shanghai.
    busy.clock.set(datetime(2026, 3, 16, 0, 59, tzinfo=UTC))
    assert run(busy) == 0
    assert run(busy, timedelta(minutes=1)) == 1
    assert [d["text"] for d in digests_to(busy, MANAGER)] == ["Weekly digest for 2026-W10",
                                                             "Weekly digest for 2026-W11"]


def test_the_first_start_sends_no_digest_of_the_week_before(db: Database, standin: SlackStandIn, clock: FakeClock,
                                                            tmp_path: Path) -> None:
    """A fresh database and a departments file loaded at start-up on a Friday: nothing goes out at once
    (the week that ended is from before the app's first run); the first digest is of that week."""
    config = tmp_path / "departments.yml"
    config.write_text("departments:\n  - name: Finance\n    managers: [U0MGR1]\n", encoding="utf-8")
    standin.add_user("U0MGR1", tz="Asia/Shanghai")
    clock.set(datetime(2026, 3, 13, 6, 0, tzinfo=UTC))  # Friday 14:00 in Shanghai, in W11
    runtime = Runtime(Settings(bot_token="xoxb-test", signing_secret=SECRET, database_url=db.url,
                               slack_api_url=standin.api_url, handoff_config=str(config)), clock=clock)
    try:
        runtime.prepare()
        assert runtime.digests.run_once() == 0  # the pass at start-up
        clock.set(datetime(2026, 3, 16, 0, 59, tzinfo=UTC))  # Monday 08:59 in Shanghai
        assert runtime.digests.run_once() == 0
        clock.advance(timedelta(minutes=1))
        assert runtime.digests.run_once() == 1
        runtime.deliverer.drain()
    finally:
        runtime.close()
    posted = [c.params["text"] for c in standin.calls_to("chat.postMessage", channel="U0MGR1") if c.ok]
    assert posted == ["Weekly digest for 2026-W11"]


def test_sending_now_twice_sends_once(busy: Bot) -> None:
    busy.clock.set(datetime(2026, 3, 8, 12, 0, tzinfo=UTC))  # Sunday: W09 ended a week ago, W10 has not
    assert run(busy, on_schedule=False) == 1
    assert run(busy, on_schedule=False) == 0
    assert [d["text"] for d in digests_to(busy, MANAGER)] == ["Weekly digest for 2026-W09"]


def test_slash_digest_shows_a_manager_this_week_so_far(busy: Bot) -> None:
    busy.clock.set(datetime(2026, 3, 4, 2, 0, tzinfo=UTC))  # Wednesday 10:00 in Shanghai
    forms = len(busy.standin.calls_to("views.open"))
    reply = busy.slack.command(MANAGER, "digest")
    assert reply.status == 200
    assert reply.json["response_type"] == "ephemeral"
    assert reply.json["text"] == "This week so far (2026-W10)"
    shown = str(reply.json["blocks"])
    assert "*Received*\\n1 (same time last week: 0)" in shown
    assert "compared with the same part of last week" in shown
    busy.deliver()
    assert digests_to(busy, MANAGER) == []  # it fitted in the answer: no DM
    assert len(busy.standin.calls_to("views.open")) == forms  # no form opened
    with busy.runtime.db.transaction() as session:  # this week so far is not the week's digest
        assert session.scalar(select(func.count()).select_from(DigestSent)) == 0


def test_slash_digest_tells_everyone_else_it_is_for_managers(bot: Bot) -> None:
    for user in (REQUESTER, RECIPIENT):
        reply = bot.slack.command(user, "digest")
        assert reply.status == 200
        assert reply.json["text"].startswith("The digest is for department managers")
        assert "blocks" not in reply.json or not reply.json["blocks"]
    assert not bot.standin.calls_to("views.open")


def test_a_long_digest_is_split_and_a_failed_part_is_not_posted_twice(
    bot: Bot, dept: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(9):
        team = dept(f"Team {n}", managers=[MANAGER])
        add(bot.runtime.db, team, bot.sales, at(3), escalated=True)
        confirmed(bot.runtime.db, team, bot.sales, at(3), at(4), 3600, within=True, rating=4,
                  rating_comment="Fine", rated_at=at(5), state=HandoffState.RATED)
    bot.clock.set(datetime(2026, 3, 9, 1, 0, tzinfo=UTC))
    client = bot.runtime.deliverer.client
    real, posts = client.api_call, []

    def second_post_fails_once(method: str, **kwargs: Any) -> Any:
        if method == "chat.postMessage":
            posts.append(kwargs)
            if len(posts) == 2:
                bot.standin.fail("chat.postMessage", status=500)
        return real(method, **kwargs)

    monkeypatch.setattr(client, "api_call", second_post_fails_once)
    assert bot.runtime.digests.run_once() == 1
    assert bot.deliver() == 0  # part 1 posted, part 2 failed: retried later
    bot.clock.advance(timedelta(minutes=10))
    assert bot.deliver() == 1
    texts = [d["text"] for d in digests_to(bot, MANAGER)]
    assert texts == ["Weekly digest for 2026-W10 (1 of 2)", "Weekly digest for 2026-W10 (2 of 2)"]
    for message in digests_to(bot, MANAGER):
        assert len(message["blocks"]) <= 50


def test_the_departments_file_sets_the_day_and_time(bot: Bot) -> None:
    with bot.runtime.db.transaction() as session:
        finance = session.get(Department, bot.finance)
        finance.digest_day, finance.digest_time = "fri", "17:00"
    bot.clock.set(datetime(2026, 3, 13, 8, 59, tzinfo=UTC))  # Friday 16:59 in Shanghai
    assert run(bot) == 0
    assert run(bot, timedelta(minutes=1)) == 1
    assert [d["text"] for d in digests_to(bot, MANAGER)] == ["Weekly digest for 2026-W10"]


# --------------------------------------------------------------------------- reassignment, claims, escalations

SALES_MANAGER = "USMGR"


def send(bot: Bot, title: str, **fields: Any) -> None:
    assert submit_new(bot, open_new_form(bot), title=title, **fields).text == ""
    bot.deliver()


def restate_as(bot: Bot, user: str, title: str) -> None:
    """`user` restates the key points of the handoff titled `title` from its card."""
    opened = len([c for c in bot.standin.calls_to("views.open")
                  if c.params["view"]["callback_id"] == CallbackId.RESTATE])
    assert bot.click(user, ActionId.CONFIRM_UNDERSTANDING, bot.last(user, title)).status == 200
    form = bot.wait_view(CallbackId.RESTATE, count=opened + 1)
    values = {BlockId.point(i): {"value": text_value(w)} for i, w in enumerate(["sum", "attach"], 1)}
    assert bot.slack.view_submission(user, form, values).text == ""
    bot.deliver()


def accept(bot: Bot, title: str) -> None:
    review = [m for m in bot.posts(REQUESTER) if "restated" in m["text"] and title in m["text"]][-1]
    assert bot.click(REQUESTER, ActionId.ACCEPT, review).status == 200
    bot.deliver()


def weekly(bot: Bot, monday_0900_shanghai: datetime) -> str:
    """The Finance manager's digest sent on that Monday, as Block Kit text."""
    bot.clock.set(monday_0900_shanghai)
    assert run(bot) == 1
    return blocks_text(digests_to(bot, MANAGER)[-1])


def test_a_handoff_confirmed_again_after_a_reassignment_counts_once_in_its_first_week(bot: Bot) -> None:
    bot.clock.set(datetime(2026, 3, 5, 2, 0, tzinfo=UTC))  # Thursday 10:00 in Shanghai
    send(bot, "Invoice", recipient=RECIPIENT)
    bot.clock.advance(timedelta(hours=1))
    restate_as(bot, RECIPIENT, "Invoice")
    accept(bot, "Invoice")
    w10 = weekly(bot, datetime(2026, 3, 9, 1, 0, tzinfo=UTC))
    assert "*Confirmed within the standard*\\n100% (1 of 1) (week before: –)" in w10
    assert "*Median time to confirm*\\n1.0 h (week before: –)" in w10

    bot.clock.set(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))  # Tuesday 10:00 in Berlin
    reassign(bot, MEMBER)
    bot.clock.advance(timedelta(hours=1))
    restate_as(bot, MEMBER, "Invoice")
    accept(bot, "Invoice")
    w11 = weekly(bot, datetime(2026, 3, 16, 1, 0, tzinfo=UTC))
    # Nobody clarified anything, and W10's figures stay as that week's digest gave them.
    assert "*Confirmed within the standard*\\n– (week before: 100% (1 of 1))" in w11
    assert "*Median time to confirm*\\n– (week before: 1.0 h)" in w11
    assert "*Needed clarification*\\n– (week before: 0 of 1 (0 rounds))" in w11
    assert "most clarification" not in w11


def test_a_second_recipients_restatement_is_not_a_clarification(bot: Bot) -> None:
    bot.clock.set(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))  # Tuesday 09:00 in Shanghai
    send(bot, "Invoice", recipient=RECIPIENT)
    bot.clock.advance(timedelta(hours=1))
    restate_as(bot, RECIPIENT, "Invoice")  # one working hour in Shanghai
    bot.clock.advance(timedelta(hours=1))
    reassign(bot, MEMBER)  # while the restatement waits for review: nobody's clock runs
    bot.clock.set(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    restate_as(bot, MEMBER, "Invoice")  # one working hour in Berlin (09:00 to 10:00)
    accept(bot, "Invoice")
    w11 = weekly(bot, datetime(2026, 3, 16, 1, 0, tzinfo=UTC))
    assert "*Needed clarification*\\n0 of 1 (0 rounds) (week before: –)" in w11
    assert "*Median time to confirm*\\n2.0 h (week before: –)" in w11


def test_time_to_confirm_runs_from_the_sending_whether_reassigned_or_claimed(bot: Bot) -> None:
    """Both handoffs reach Finance on Tuesday 10 March 09:00 Berlin and are restated five working hours
    later; one changed hands by a reassignment at 11:00 Berlin, the other was claimed from the intake
    channel then. The standard is four hours: both are late."""
    bot.clock.set(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))  # 09:00 in Berlin, 16:00 in Shanghai
    send(bot, "Claimed work")
    send(bot, "Reassigned work", recipient=RECIPIENT)
    bot.clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))  # 18:00 in Shanghai: two working hours for UREC
    reassign(bot, MEMBER)
    assert bot.click(MEMBER, ActionId.CLAIM, bot.last(INTAKE, "Claimed work")).status == 200
    bot.deliver()
    bot.clock.set(datetime(2026, 3, 10, 13, 0, tzinfo=UTC))  # 14:00 in Berlin
    for title in ("Claimed work", "Reassigned work"):
        restate_as(bot, MEMBER, title)
        accept(bot, title)
    w11 = weekly(bot, datetime(2026, 3, 16, 1, 0, tzinfo=UTC))
    assert "*Median time to confirm*\\n5.0 h (week before: –)" in w11
    assert "*Confirmed within the standard*\\n0% (0 of 2) (week before: –)" in w11


@pytest.fixture
def sales_managed(bot: Bot) -> Bot:
    """Sales has a manager of its own; Finance answers around the clock: confirm within 1h, remind every 1h,
    escalate after 2 reminders."""
    bot.standin.add_user(SALES_MANAGER, tz="Europe/London")
    with bot.runtime.db.transaction() as session:
        session.add(DepartmentPerson(department_id=bot.sales, user_id=SALES_MANAGER, role=MemberRole.MANAGER,
                                     added_at=bot.clock.now()))
    set_standard(bot, confirm_within_s=3600, remind_every_s=3600, escalate_after=2, working_hours="always")
    return bot


def test_escalations_count_for_the_side_whose_managers_were_told(sales_managed: Bot) -> None:
    bot = sales_managed
    send(bot, "Not reviewed", recipient=RECIPIENT)
    restate_as(bot, RECIPIENT, "Not reviewed")
    send(bot, "Negotiated", recipient=RECIPIENT)
    offer(bot, RECIPIENT, bot.last(RECIPIENT, "Negotiated"), ActionId.PROPOSE,
          terms("change", scope="Half the regions", reason="Two people out"))
    assert [tick(bot, timedelta(hours=1)) for _ in range(3)] == [2, 1, 1]  # reminder + stalled, reminder, escalation
    assert bot.last(SALES_MANAGER, "has not reviewed") and bot.last(SALES_MANAGER, "has stalled")
    bot.clock.advance(timedelta(days=4))  # Friday 6 March: both quiet for days, in the same week

    sales = str(bot.slack.command(SALES_MANAGER, "digest").json["blocks"])
    assert "*Escalations*\\n2 (same time last week: 0)" in sales
    assert "*Not reviewed*" in sales and "*Negotiated*" in sales  # needing their decision
    finance = str(bot.slack.command(MANAGER, "digest").json["blocks"])
    assert "*Escalations*\\n1 (same time last week: 0)" in finance  # the stalled negotiation
    assert "*Negotiated*" in finance and ":rotating_light:" in finance
    assert "no activity" not in finance  # not Finance's to answer: Sales's managers were told
