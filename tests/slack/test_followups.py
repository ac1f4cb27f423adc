"""Follow-ups through the running app with an injected clock: reminders, escalation, due dates,
rating reminders, batching, working hours, and messages that stay true."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from handoff_bot.departments.models import Department, DepartmentPerson, MemberRole, PairStandard
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.models import HandoffState
from handoff_bot.handoffs.service import Draft
from handoff_bot.people import KnownProfiles
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack.conftest import INTAKE, MANAGER, MEMBER, RECIPIENT, REQUESTER, Bot
from tests.slack.test_core_loop import buttons, handoff, open_new_form, restate, submit_new
from tests.slack_requests import user_value


def set_standard(bot: Bot, **columns: object) -> None:
    with bot.runtime.db.transaction() as session:
        department = session.get(Department, bot.finance)
        for name, value in columns.items():
            setattr(department, name, value)


def tick(bot: Bot, advance: timedelta = timedelta(0)) -> int:
    """Move the clock, run one follow-up pass and deliver what it queued; returns how many fired."""
    bot.clock.advance(advance)
    fired = bot.runtime.followups.run_once()
    bot.deliver()
    return fired


def reminders_to(bot: Bot, user: str) -> list[str]:
    return [c.params["text"] for c in bot.standin.calls_to("chat.postMessage", channel=user) if c.ok
            and ("waits for you" in c.params["text"] or "needs your attention" in c.params["text"]
                 or "has not been confirmed" in c.params["text"] or "overdue" in c.params["text"]
                 or "was not confirmed in time" in c.params["text"] or "How well" in c.params["text"]
                 or "please review" in c.params["text"] or "is due" in c.params["text"])]


@pytest.fixture
def fast(make_bot: Callable[..., Bot]) -> Bot:
    """Finance answers around the clock: confirm within 1h, remind every 1h, escalate after 2 reminders."""
    bot = make_bot()
    set_standard(bot, confirm_within_s=3600, remind_every_s=3600, escalate_after=2, working_hours="always")
    return bot


def send(bot: Bot, **fields: object) -> None:
    fields.setdefault("recipient", RECIPIENT)
    assert submit_new(bot, open_new_form(bot), **fields).text == ""
    bot.deliver()


def test_reminders_then_one_escalation_then_silence(fast: Bot) -> None:
    send(fast)
    assert tick(fast, timedelta(minutes=59)) == 0
    assert tick(fast, timedelta(minutes=1)) == 1
    assert len(reminders_to(fast, RECIPIENT)) == 1
    assert tick(fast, timedelta(hours=1)) == 1
    assert len(reminders_to(fast, RECIPIENT)) == 2
    assert tick(fast, timedelta(hours=1)) == 1  # the escalation
    escalation = fast.last(MANAGER, "has not been confirmed")
    assert "after 2 reminders" in escalation["text"]
    assert buttons(escalation) == [ActionId.NUDGE, ActionId.REASSIGN]
    assert "was not confirmed in time" in fast.last(REQUESTER, "was not confirmed in time")["text"]
    assert handoff(fast).escalated
    assert tick(fast, timedelta(days=3)) == 0
    assert len(reminders_to(fast, RECIPIENT)) == 2


def test_after_downtime_an_overdue_reminder_fires_once(fast: Bot) -> None:
    send(fast)
    assert tick(fast, timedelta(hours=10)) == 1  # ten intervals missed: one reminder, not ten
    assert len(reminders_to(fast, RECIPIENT)) == 1
    assert tick(fast, timedelta(minutes=59)) == 0
    assert tick(fast, timedelta(minutes=1)) == 1


def test_a_reminder_that_no_longer_applies_is_updated_and_not_resent(fast: Bot) -> None:
    send(fast)
    tick(fast, timedelta(hours=1))
    reminder = fast.last(RECIPIENT, "waits for you")
    assert buttons(reminder) == [ActionId.CONFIRM_UNDERSTANDING]
    restate(fast, reminder, ["sum", "attach"], count=1)
    assert buttons(fast.now(reminder)) == []
    assert "Now:" in str(fast.now(reminder)["blocks"]) and "Now:" in fast.now(reminder)["text"]
    assert tick(fast, timedelta(minutes=30)) == 0
    assert len(reminders_to(fast, RECIPIENT)) == 1


def test_the_clock_pauses_while_the_requester_reviews_and_reminds_them_instead(fast: Bot) -> None:
    send(fast)
    fast.clock.advance(timedelta(minutes=40))
    restate(fast, fast.last(RECIPIENT, "New handoff"), ["sum", "attach"], count=1)
    assert tick(fast, timedelta(minutes=59)) == 0
    assert tick(fast, timedelta(minutes=1)) == 1
    review = fast.last(REQUESTER, "please review")
    assert buttons(review) == [ActionId.ACCEPT, ActionId.CLARIFY]
    fast.click(REQUESTER, ActionId.CLARIFY, review)
    form = fast.wait_view(CallbackId.CLARIFY)
    fast.slack.view_submission(REQUESTER, form, {BlockId.CLARIFICATION: {"value": {"type": "plain_text_input",
                                                                                   "value": "with VAT"}}})
    fast.deliver()
    # 40 minutes of the hour were used before the pause: the reminder comes 20 minutes after the clarification.
    assert tick(fast, timedelta(minutes=19)) == 0
    assert tick(fast, timedelta(minutes=1)) == 1
    assert "waits for you" in fast.last(RECIPIENT, "waits for you")["text"]


def test_several_reminders_for_one_person_come_as_one_message(fast: Bot) -> None:
    for title in ("First thing", "Second thing", "Third thing"):
        send(fast, title=title)
    posted = len(fast.standin.calls_to("chat.postMessage", channel=RECIPIENT))
    assert tick(fast, timedelta(hours=1)) == 3
    new = fast.standin.calls_to("chat.postMessage", channel=RECIPIENT)[posted:]
    assert len(new) == 1
    assert "3 handoffs need your attention" in new[0].params["text"]
    assert all(t in str(new[0].params["blocks"]) for t in ("First thing", "Second thing", "Third thing"))


def test_nothing_is_sent_outside_working_hours(make_bot: Callable[..., Bot]) -> None:
    """Recipient in Shanghai, Mon-Fri 09:00-18:00: 4h from Friday 16:00 is Monday 11:00."""
    bot = make_bot()
    set_standard(bot, confirm_within_s=4 * 3600)
    bot.clock.set(bot.clock.now().replace(day=6, hour=8))  # Friday 2026-03-06 16:00 in Shanghai
    send(bot)
    assert tick(bot, timedelta(hours=2)) == 0     # 18:00 Friday
    assert tick(bot, timedelta(days=2)) == 0      # Sunday evening
    bot.clock.set(bot.clock.now().replace(day=9, hour=2, minute=59))  # Monday 10:59 in Shanghai
    assert tick(bot) == 0
    assert tick(bot, timedelta(minutes=1)) == 1


def test_due_date_reminder_and_overdue_reach_everyone_concerned(fast: Bot) -> None:
    """Created Monday 18:00 in Shanghai, due Wednesday: reminded when Tuesday starts, overdue when
    Thursday starts (the recipient's midnight), told to recipient, requester and manager."""
    send(fast, due="2026-03-04")
    restate(fast, fast.last(RECIPIENT, "New handoff"), ["sum", "attach"], count=1)
    fast.click(REQUESTER, ActionId.ACCEPT, fast.last(REQUESTER, "restated"))
    fast.deliver()
    fast.clock.set(datetime(2026, 3, 2, 15, 59, tzinfo=timezone.utc))
    assert tick(fast) == 0
    assert tick(fast, timedelta(minutes=1)) == 1
    due_soon = fast.last(RECIPIENT, "is due 2026-03-04")
    assert buttons(due_soon) == [ActionId.MARK_DONE]
    fast.clock.set(datetime(2026, 3, 4, 15, 59, tzinfo=timezone.utc))
    assert tick(fast) == 0
    assert tick(fast, timedelta(minutes=1)) == 1
    assert buttons(fast.last(RECIPIENT, "is overdue")) == [ActionId.MARK_DONE]
    assert "which you handed to" in fast.last(REQUESTER, "is overdue")["text"]
    assert buttons(fast.last(MANAGER, "is overdue")) == [ActionId.NUDGE, ActionId.REASSIGN]
    assert tick(fast, timedelta(days=5)) == 0  # once


def test_done_but_not_rated_gets_one_reminder_after_two_working_days(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot()
    send(bot)
    restate(bot, bot.last(RECIPIENT, "New handoff"), ["sum", "attach"], count=1)
    bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated"))
    bot.deliver()
    bot.click(RECIPIENT, ActionId.MARK_DONE, bot.last(RECIPIENT, "confirmed your understanding"))
    bot.deliver()
    # Done Monday 05:00 in New York (the requester's zone): two working days later is Wednesday 09:00 there.
    bot.clock.set(datetime(2026, 3, 4, 13, 59, tzinfo=timezone.utc))
    assert tick(bot) == 0
    assert tick(bot, timedelta(minutes=1)) == 1
    assert buttons(bot.last(REQUESTER, "How well")) == [ActionId.RATE]
    assert tick(bot, timedelta(days=7)) == 0


def test_a_manager_nudges_or_reassigns_from_the_escalation(fast: Bot) -> None:
    send(fast)
    tick(fast, timedelta(hours=1))
    tick(fast, timedelta(hours=1))
    tick(fast, timedelta(hours=1))
    escalation = fast.last(MANAGER, "has not been confirmed")
    reminder = fast.last(RECIPIENT, "waits for you")
    assert fast.click(MANAGER, ActionId.NUDGE, escalation).status == 200
    fast.deliver()
    nudge = fast.last(RECIPIENT, "asks you to act")
    assert buttons(nudge) == [ActionId.CONFIRM_UNDERSTANDING]
    assert fast.click(REQUESTER, ActionId.NUDGE, escalation).status == 200
    assert "Only managers of Finance" in fast.ephemerals(REQUESTER)[-1]

    assert fast.click(MANAGER, ActionId.REASSIGN, escalation).status == 200
    form = fast.wait_view(CallbackId.REASSIGN)
    reply = fast.slack.view_submission(MANAGER, form, {BlockId.RECIPIENT: {"value": user_value(RECIPIENT)}})
    assert "already has it" in reply.json["errors"][BlockId.RECIPIENT]
    reply = fast.slack.view_submission(MANAGER, form, {BlockId.RECIPIENT: {"value": user_value(MEMBER)}})
    assert reply.status == 200 and not reply.text
    fast.deliver()
    assert handoff(fast).recipient_id == MEMBER and handoff(fast).state is HandoffState.SENT
    assert not handoff(fast).escalated
    assert buttons(fast.last(MEMBER, "New handoff")) == [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]
    assert buttons(fast.last(RECIPIENT, "New handoff")) == []
    # Nor do the nudge and the reminders the former recipient got: the handoff is no longer theirs;
    # nor the escalation: the new recipient has a fresh start.
    assert buttons(fast.now(nudge)) == [] and buttons(fast.now(reminder)) == []
    assert buttons(fast.now(escalation)) == []
    assert "reassigned" in fast.last(RECIPIENT, "reassigned")["text"]
    assert tick(fast, timedelta(hours=1)) == 1  # the new recipient's clock starts afresh
    assert "waits for you" in fast.last(MEMBER, "waits for you")["text"]


def test_once_the_recipient_has_restated_the_escalation_says_so_and_a_nudge_reaches_the_requester(fast: Bot) -> None:
    send(fast)
    for _ in range(3):
        tick(fast, timedelta(hours=1))  # two reminders, then the escalation
    escalation = fast.last(MANAGER, "has not been confirmed")
    shown = str(escalation["blocks"])
    assert buttons(escalation) == [ActionId.NUDGE, ActionId.REASSIGN]
    assert shown.count("Standard: confirm within 1 hour") == 1 and "the standard: Standard" not in shown

    restate(fast, fast.last(RECIPIENT, "waits for you"), ["sum", "attach"], count=1)
    fast.deliver()
    now = fast.now(escalation)
    assert buttons(now) == [] and "Now:" in now["text"] and "has not been confirmed" not in now["text"]

    h = handoff(fast)
    assert fast.slack.block_action(MANAGER, ActionId.NUDGE, str(h.id), channel_id="DMGR").status == 200
    fast.deliver()
    nudge = fast.last(REQUESTER, "asks you")
    assert nudge["text"] == f":wave: <@{MANAGER}> asks you to review how <@{RECIPIENT}> restated {h.title}."
    assert buttons(nudge) == [ActionId.ACCEPT, ActionId.CLARIFY]
    assert not [m for m in fast.posts(RECIPIENT) if "asks you" in m["text"]]
    assert fast.click(REQUESTER, ActionId.ACCEPT, nudge).status == 200
    fast.deliver()
    assert handoff(fast).state is HandoffState.CONFIRMED and buttons(fast.now(nudge)) == []


def test_a_pair_standard_overrides_the_department_standard_and_is_shown(fast: Bot) -> None:
    with fast.runtime.db.transaction() as session:
        session.add(PairStandard(from_department_id=fast.sales, to_department_id=fast.finance,
                                 confirm_within_s=2 * 3600))
    send(fast)
    assert "agreed between the two departments: confirm within 2 hours" in str(
        fast.last(REQUESTER, "You handed off")["blocks"])
    assert tick(fast, timedelta(hours=1, minutes=59)) == 0
    assert tick(fast, timedelta(minutes=1)) == 1


def test_public_holidays_and_make_up_days_of_the_department_count(make_bot: Callable[..., Bot]) -> None:
    """China, National Day 2025: 4h from Tuesday 30 September 16:00 in Shanghai is 9 October 11:00;
    Sunday 28 September is a make-up working day."""
    bot = make_bot()
    set_standard(bot, confirm_within_s=4 * 3600, holiday_country="CN")
    bot.clock.set(datetime(2025, 9, 30, 8, 0, tzinfo=timezone.utc))
    send(bot)
    bot.clock.set(datetime(2025, 10, 9, 2, 59, tzinfo=timezone.utc))
    assert tick(bot) == 0
    assert tick(bot, timedelta(minutes=1)) == 1


def test_claiming_an_escalated_handoff_keeps_the_escalation_and_clears_the_channels_buttons(fast: Bot) -> None:
    send(fast, recipient=None)  # to Finance's intake channel
    for _ in range(3):
        assert tick(fast, timedelta(hours=1)) == 1  # two reminders to the channel, then the escalation
    escalation = fast.last(MANAGER, "still unclaimed")
    assert buttons(escalation) == [ActionId.NUDGE, ActionId.REASSIGN]

    assert fast.click(MEMBER, ActionId.CLAIM, fast.last(INTAKE, "New handoff")).status == 200
    fast.deliver()
    assert (handoff(fast).recipient_id, handoff(fast).escalated) == (MEMBER, True)
    assert buttons(fast.now(escalation)) == [ActionId.NUDGE, ActionId.REASSIGN]  # still late: managers may act
    assert fast.now(escalation)["text"] == (  # it went unclaimed: the member got none of the reminders
        ":rotating_light: Prepare the Q3 invoice from <@UREQ> was still unclaimed in Finance after 2 reminders; "
        "<@UMEM> has claimed it since.")
    assert all(buttons(m) == [] for m in fast.posts(INTAKE))  # the channel's reminders are no longer its to act on


def test_reminders_heeded_by_restating_do_not_count_towards_the_next_rounds_escalation(fast: Bot) -> None:
    send(fast)
    assert tick(fast, timedelta(hours=1)) == 1 and tick(fast, timedelta(hours=1)) == 1  # two reminders
    restate(fast, fast.last(RECIPIENT, "waits for you"), ["sum", "attach"], count=1)
    fast.click(REQUESTER, ActionId.CLARIFY, fast.last(REQUESTER, "restated"))
    fast.slack.view_submission(REQUESTER, fast.wait_view(CallbackId.CLARIFY),
                               {BlockId.CLARIFICATION: {"value": {"type": "plain_text_input", "value": "with VAT"}}})
    fast.deliver()
    assert tick(fast, timedelta(hours=1)) == 1  # the hour was used up: a reminder for the new round
    assert "waits for you" in fast.posts(RECIPIENT)[-1]["text"]
    assert fast.standin.messages(MANAGER) == [] and not handoff(fast).escalated


def test_a_standard_in_days_counts_working_days(bot: Bot) -> None:
    """Finance: complete within 3d, Mon–Fri 09:00–18:00; the recipient works in Shanghai."""
    bot.clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=timezone.utc))  # Tuesday 09:00 in Shanghai
    send(bot)
    restate(bot, bot.last(RECIPIENT, "New handoff"), ["sum", "attach"], count=1)
    assert bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated")).status == 200
    # Tuesday, Wednesday, Thursday: due when Friday's work begins, not 72 working hours (8 days) later.
    assert handoff(bot).deadline_at == datetime(2026, 3, 6, 1, 0, tzinfo=timezone.utc)
    assert "complete within 3 days" in str(bot.last(REQUESTER, "You handed off")["blocks"])


def test_people_told_of_a_follow_up_hear_in_their_own_working_hours(bot: Bot) -> None:
    """The escalation fires at noon in Shanghai, where Finance works; the requester in New York is
    told when their morning begins, not at 23:00."""
    set_standard(bot, confirm_within_s=3600, remind_every_s=3600, escalate_after=2)  # Mon–Fri 09:00–18:00
    bot.clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=timezone.utc))  # Tuesday 09:00 Shanghai, Monday 20:00 New York
    send(bot)
    for _ in range(3):
        assert tick(bot, timedelta(hours=1)) == 1  # two reminders, then the escalation at 12:00 Shanghai
    assert "has not been confirmed" in bot.standin.messages(MANAGER)[-1]["text"]  # Shanghai: at once
    assert not any("was not confirmed in time" in m["text"] for m in bot.standin.messages(REQUESTER))
    bot.clock.set(datetime(2026, 3, 3, 13, 59, tzinfo=timezone.utc))
    bot.deliver()
    assert not any("was not confirmed in time" in m["text"] for m in bot.standin.messages(REQUESTER))
    bot.clock.set(datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc))  # Tuesday 09:00 in New York
    bot.deliver()
    assert "was not confirmed in time" in bot.standin.messages(REQUESTER)[-1]["text"]


def review_escalated(fast: Bot) -> dict[str, Any]:
    """Sales has a manager, USMGR; a handoff restated, left unreviewed through two reminders, and escalated to
    USMGR: that message."""
    fast.standin.add_user("USMGR", tz="Europe/London")
    with fast.runtime.db.transaction() as session:
        session.add(DepartmentPerson(department_id=fast.sales, user_id="USMGR", role=MemberRole.MANAGER,
                                     added_at=fast.clock.now()))
    send(fast)
    restate(fast, fast.last(RECIPIENT, "New handoff"), ["sum", "attach"], count=1)
    assert [tick(fast, timedelta(hours=1)) for _ in range(3)] == [1, 1, 1]  # two reminders, then the managers
    return fast.last("USMGR", "has not reviewed")


def test_unheeded_review_reminders_stop_and_reach_the_requesters_managers_once(fast: Bot) -> None:
    escalation = review_escalated(fast)
    assert len([m for m in fast.posts(REQUESTER) if "please review" in m["text"]]) == 2
    assert "<@UREQ> (Sales) has not reviewed how <@UREC> restated *Prepare the Q3 invoice* after 2 reminders" in (
        str(escalation["blocks"]))
    assert buttons(escalation) == []
    assert tick(fast, timedelta(days=3)) == 0  # then silence: the Home tab still lists the review
    assert not [m for m in fast.posts(MANAGER) if "has not reviewed" in m["text"]]  # Finance is not late here


def test_review_reminders_go_on_when_the_requester_has_no_manager_to_tell(fast: Bot) -> None:
    send(fast)
    restate(fast, fast.last(RECIPIENT, "New handoff"), ["sum", "attach"], count=1)
    assert [tick(fast, timedelta(hours=1)) for _ in range(4)] == [1, 1, 1, 1]
    assert len([m for m in fast.posts(REQUESTER) if "please review" in m["text"]]) == 4


def test_a_requester_who_manages_their_department_is_reminded_not_escalated_to(fast: Bot) -> None:
    with fast.runtime.db.transaction() as session:
        session.add(DepartmentPerson(department_id=fast.sales, user_id=REQUESTER, role=MemberRole.MANAGER,
                                     added_at=fast.clock.now()))
    send(fast)
    restate(fast, fast.last(RECIPIENT, "New handoff"), ["sum", "attach"], count=1)
    assert [tick(fast, timedelta(hours=1)) for _ in range(4)] == [1, 1, 1, 1]
    assert len([m for m in fast.posts(REQUESTER) if "please review" in m["text"]]) == 4
    assert not [m for m in fast.posts(REQUESTER) if "has not reviewed" in m["text"]]


def clarify(bot: Bot, text: str = "with VAT") -> None:
    """The requester asks for a clarification of the latest restatement; the outbox delivered."""
    assert bot.click(REQUESTER, ActionId.CLARIFY, bot.last(REQUESTER, "restated")).status == 200
    bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.CLARIFY),
                              {BlockId.CLARIFICATION: {"value": {"type": "plain_text_input", "value": text}}})
    bot.deliver()


def test_a_review_escalation_of_an_earlier_round_stays_settled(fast: Bot) -> None:
    escalation = review_escalated(fast)
    review_reminders = [m for m in fast.posts(REQUESTER) if "please review" in m["text"]]
    clarify(fast)
    was = ":white_check_mark: ~Prepare the Q3 invoice~ Now: "
    assert fast.now(escalation)["text"] == was + "<@UREQ> clarified; waiting for <@UREC> to restate again."

    restate(fast, fast.last(RECIPIENT, "clarified"), ["sum with VAT", "attach"], count=2)
    round_two = was + "Waiting for <@UREQ> to review the restatement (round 2)."
    assert fast.now(escalation)["text"] == round_two  # round 2 is new: no reminder went out for it yet
    assert [fast.now(m)["text"] for m in review_reminders] == [round_two, round_two]
    assert [buttons(fast.now(m)) for m in review_reminders] == [[], []]


def test_a_nudge_or_a_reminder_of_an_earlier_round_stays_settled(fast: Bot) -> None:
    send(fast, title="One")
    assert tick(fast, timedelta(hours=1)) == 1
    reminder = fast.last(RECIPIENT, "waits for you")
    assert fast.slack.block_action(MANAGER, ActionId.NUDGE, str(handoff(fast).id), channel_id="DMGR").status == 200
    fast.deliver()
    nudge = fast.last(RECIPIENT, "asks you to act")
    assert buttons(nudge) == [ActionId.CONFIRM_UNDERSTANDING]
    restate(fast, nudge, ["sum", "attach"], count=1)
    clarify(fast)
    settled = ":white_check_mark: ~One~ Now: <@UREQ> clarified; waiting for <@UREC> to restate again."
    assert [fast.now(m)["text"] for m in (nudge, reminder)] == [settled, settled]
    assert [buttons(fast.now(m)) for m in (nudge, reminder)] == [[], []]


def test_an_intake_channels_reminder_speaks_the_requesters_language_posted_and_updated(fast: Bot) -> None:
    """A channel has no language of its own: its reminder speaks the requester's, as the intake post above it."""
    fast.standin.add_user(REQUESTER, locale="zh-CN")
    send(fast, recipient=None)  # to Finance's intake channel
    assert fast.last(INTAKE)["text"] == "Finance 有新的交接：Prepare the Q3 invoice"
    assert tick(fast, timedelta(hours=1)) == 1
    reminder = fast.last(INTAKE)
    assert reminder["text"] == ":alarm_clock: 来自 <@UREQ> 的 Prepare the Q3 invoice 在 Finance 仍无人认领。"
    assert [e["text"]["text"] for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]] == ["认领"]

    assert fast.click(MEMBER, ActionId.CLAIM, reminder).status == 200
    fast.deliver()
    assert fast.now(reminder)["text"] == ":white_check_mark: ~Prepare the Q3 invoice~ 当前状态：等待 <@UMEM> 确认理解。"


def test_an_intake_channels_reminder_of_several_handoffs_speaks_the_language_most_of_their_requesters_use(
        fast: Bot) -> None:
    fast.standin.add_user(REQUESTER, locale="zh-CN")  # MEMBER's Slack is in English
    profiles = KnownProfiles({})
    for requester, title in ((MEMBER, "First thing"), (REQUESTER, "Second thing"), (REQUESTER, "Third thing")):
        with fast.runtime.db.transaction() as session:
            handoffs.create(session, Draft(requester, fast.finance, title), directory=profiles, now=fast.clock.now())
    fast.deliver()
    assert tick(fast, timedelta(hours=1)) == 3
    reminder = fast.last(INTAKE)
    assert reminder["text"] == "有 3 项交接需要你处理"
    assert "来自 <@UMEM> 的 *First thing* 在 Finance 仍无人认领" in str(reminder["blocks"])

    assert fast.click(RECIPIENT, ActionId.CLAIM, reminder).status == 200  # the first one listed
    fast.deliver()
    assert fast.now(reminder)["text"] == "有 3 项交接需要你处理"  # updated, in the same language
    assert "~First thing~ 当前状态：等待 <@UREC> 确认理解" in str(fast.now(reminder)["blocks"])
