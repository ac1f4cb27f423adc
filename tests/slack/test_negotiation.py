"""Negotiation through Slack's wire format: the recipient proposes other terms or declines, the
requester accepts or counters, and a negotiation left unsettled reaches the managers of both sides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, update

from handoff_bot.departments.models import DepartmentPerson, MemberRole
from handoff_bot.handoffs.models import HandoffEvent, HandoffState, Proposal
from handoff_bot.people import SlackUser
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack.conftest import MANAGER, MEMBER, OUTSIDER, RECIPIENT, REQUESTER, Bot
from tests.slack.test_core_loop import buttons, handoff, open_new_form, reassign, restate, submit_new
from tests.slack.test_followups import set_standard, tick
from tests.slack.test_home import buttons as home_buttons
from tests.slack.test_home import click as home_click
from tests.slack.test_home import open_home, texts
from tests.slack_requests import date_value, radio_value, text_value

SALES_MANAGER = "USMGR"
CARD, RECEIPT = "New handoff", "You handed off"


def send(bot: Bot, **fields: Any) -> dict[str, Any]:
    """A handoff from the requester to the recipient, delivered; returns the recipient's card."""
    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT, **fields).text == ""
    bot.deliver()
    return bot.last(RECIPIENT, CARD)


def terms(kind: str | None = None, due: str | None = None, scope: str = "", reason: str = "") -> dict[str, Any]:
    values: dict[str, Any] = {BlockId.NEW_DUE_DATE: {"value": date_value(due)},
                              BlockId.SCOPE: {"value": text_value(scope)},
                              BlockId.REASON: {"value": text_value(reason)}}
    if kind is not None:
        values[BlockId.PROPOSAL_KIND] = {"value": radio_value(kind)}
    return values


def offer(bot: Bot, user: str, message: dict[str, Any], action: ActionId, values: dict[str, Any]) -> Any:
    """Click *Propose a change / decline* (or *Counter*) on `message` and send the form it opens."""
    callback = CallbackId.PROPOSE if action is ActionId.PROPOSE else CallbackId.COUNTER
    opened = len([c for c in bot.standin.calls_to("views.open") if c.params["view"]["callback_id"] == callback])
    assert bot.click(user, action, message).status == 200
    form = bot.wait_view(callback, count=opened + 1)
    reply = bot.slack.view_submission(user, form, values)
    bot.deliver()
    return reply


def replay(bot: Bot, user: str, action: ActionId, value: str, message: dict[str, Any]) -> None:
    """A click on a button `message` no longer shows (as a second tab or a replayed request sends it)."""
    reply = bot.slack.block_action(user, action, value, channel_id=message["channel"], message_ts=message["ts"])
    assert reply.status == 200


def proposals(bot: Bot) -> list[Proposal]:
    with bot.runtime.db.transaction() as session:
        found = list(session.scalars(select(Proposal).order_by(Proposal.id)))
        session.expunge_all()
        return found


def test_a_new_due_date_proposed_and_accepted_puts_the_handoff_back_where_it_was(bot: Bot) -> None:
    card = send(bot, due="2026-03-04")
    assert buttons(card) == [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]

    reply = offer(bot, RECIPIENT, card, ActionId.PROPOSE,
                  terms("change", due="2026-03-11", reason="Month-end close takes this week"))
    assert reply.status == 200 and reply.text == ""
    assert handoff(bot).state is HandoffState.NEGOTIATING
    assert buttons(bot.now(card)) == [ActionId.ASK]  # nothing to confirm while the terms are open
    assert "waiting for <@UREQ> to answer" in str(bot.now(card)["blocks"])
    proposal = bot.last(REQUESTER, "proposes other terms")
    assert buttons(proposal) == [ActionId.AGREE, ActionId.COUNTER]
    shown = str(proposal["blocks"])
    assert "2026-03-11 (now 2026-03-04)" in shown and "Month-end close takes this week" in shown

    assert bot.click(REQUESTER, ActionId.AGREE, proposal).status == 200
    bot.deliver()
    after = handoff(bot)
    assert (after.state, after.due_date) == (HandoffState.SENT, date(2026, 3, 11))
    assert after.negotiation_turn is None
    assert buttons(bot.now(proposal)) == [] and "Accepted" in str(bot.now(proposal)["blocks"])
    assert buttons(bot.now(card)) == [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]
    assert "2026-03-11" in str(bot.now(card)["blocks"])
    assert "2026-03-11" in str(bot.last(REQUESTER, RECEIPT)["blocks"])
    assert "accepted your proposal" in bot.last(RECIPIENT, "accepted your proposal")["text"]
    with bot.runtime.db.transaction() as session:
        actions = list(session.scalars(select(HandoffEvent.action).order_by(HandoffEvent.id)))
    assert actions == ["create", "propose", "agree"]


def test_a_decline_countered_with_a_smaller_scope_and_accepted(bot: Bot) -> None:
    card = send(bot)
    restate(bot, card, ["Totals by region", "With receipts"], count=1)
    assert bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated")).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.CONFIRMED

    reply = offer(bot, RECIPIENT, bot.now(card), ActionId.PROPOSE,
                  terms("decline", due="2026-03-20", scope="ignored", reason="We have no one free this month"))
    assert reply.text == ""
    decline = bot.last(REQUESTER, "declines")
    assert buttons(decline) == [ActionId.AGREE, ActionId.COUNTER]
    assert "We have no one free" in str(decline["blocks"]) and "ignored" not in str(decline["blocks"])
    assert proposals(bot)[0].due_date is None  # a decline proposes no terms

    reply = offer(bot, REQUESTER, decline, ActionId.COUNTER,
                  terms(scope="Only the EU regions", reason="The board needs at least the EU figures"))
    assert reply.text == ""
    assert buttons(bot.now(decline)) == []
    assert "Answered with another proposal" in str(bot.now(decline)["blocks"])
    answer = bot.last(RECIPIENT, "proposes other terms")
    assert buttons(answer) == [ActionId.AGREE, ActionId.PROPOSE]
    assert "Only the EU regions" in str(answer["blocks"])

    assert bot.click(RECIPIENT, ActionId.AGREE, answer).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.CONFIRMED  # back to the work, on the new terms
    assert buttons(bot.now(card)) == [ActionId.MARK_DONE, ActionId.ASK, ActionId.PROPOSE]
    assert "Change of scope agreed" in str(bot.now(card)["blocks"])
    assert "Only the EU regions" in str(bot.now(card)["blocks"])
    assert bot.last(REQUESTER, "accepted your proposal")
    assert [(p.proposed_by, p.outcome) for p in proposals(bot)] == [(RECIPIENT, "countered"), (REQUESTER, "accepted")]


def test_an_accepted_decline_closes_the_handoff(bot: Bot) -> None:
    card = send(bot)
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("decline", reason="Not our department's work"))
    decline = bot.last(REQUESTER, "declines")
    confirm = next(e for b in decline["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == ActionId.AGREE)["confirm"]
    assert "closed as declined" in str(confirm)

    assert bot.click(REQUESTER, ActionId.AGREE, decline).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.DECLINED
    assert buttons(bot.now(card)) == [] and "Declined by <@UREC>" in str(bot.now(card)["blocks"])
    assert buttons(bot.last(REQUESTER, RECEIPT)) == []  # nothing left to cancel
    assert "it is closed" in str(bot.last(RECIPIENT, "accepted your proposal")["blocks"])
    # Finished: a click replayed from the card's old buttons changes nothing and says why.
    replay(bot, RECIPIENT, ActionId.PROPOSE, str(handoff(bot).id), card)
    assert any("Declined by" in text for text in bot.ephemerals(RECIPIENT))


@pytest.mark.parametrize(("values", "field", "message"), [
    (terms("change", reason="Busy"), BlockId.SCOPE, "Say what would change"),
    (terms("change", due="2026-03-20"), BlockId.REASON, "Please fill this in."),
    (terms("change", due="2026-02-20", reason="Busy"), BlockId.NEW_DUE_DATE, "The due date is in the past."),
    (terms("decline", reason="x" * 3001), BlockId.REASON, "Too long: 3001 characters"),
    (terms("change", due="2026-02-31", reason="Busy"), BlockId.NEW_DUE_DATE, "This is not a date"),
    (terms("change", due="9999-12-31", reason="Busy"), BlockId.NEW_DUE_DATE, "Pick a date within 5 years."),
    (terms("change", due="2031-03-03", reason="Busy"), BlockId.NEW_DUE_DATE, "Pick a date within 5 years."),
])
def test_a_proposal_form_with_a_mistake_is_answered_on_its_field_and_changes_nothing(
        bot: Bot, values: dict[str, Any], field: str, message: str) -> None:
    card = send(bot)
    reply = offer(bot, RECIPIENT, card, ActionId.PROPOSE, values)
    assert reply.status == 200 and reply.json["response_action"] == "errors"
    assert list(reply.json["errors"]) == [field] and message in reply.json["errors"][field]
    assert handoff(bot).state is HandoffState.SENT and proposals(bot) == []


def test_the_sides_take_turns_and_an_old_proposal_cannot_be_accepted(bot: Bot) -> None:
    card = send(bot)
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2026-03-13", reason="Busy"))
    first = bot.last(REQUESTER, "proposes other terms")
    # The recipient cannot answer their own proposal, nor propose again before the requester answers.
    replay(bot, RECIPIENT, ActionId.PROPOSE, str(handoff(bot).id), card)
    assert bot.ephemerals(RECIPIENT)[-1] == "You made the latest proposal; it is up to <@UREQ> to answer it."
    assert bot.slack.click(OUTSIDER, ActionId.AGREE, channel=first["channel"], ts=first["ts"]).status == 200
    assert bot.ephemerals(OUTSIDER)[-1] == "Only <@UREQ> and <@UREC> can do that."

    offer(bot, REQUESTER, first, ActionId.COUNTER, terms(due="2026-03-09", reason="The 9th is the latest"))
    second = bot.last(RECIPIENT, "proposes other terms")
    offer(bot, RECIPIENT, second, ActionId.PROPOSE, terms("change", due="2026-03-10", reason="The 10th, then"))
    # The requester's first proposal message was answered already: its buttons are gone, and a replayed
    # click on it is refused rather than accepting terms that were replaced.
    assert buttons(bot.now(first)) == []
    replay(bot, REQUESTER, ActionId.AGREE, f"{handoff(bot).id}:1", first)
    assert "already answered or replaced" in bot.ephemerals(REQUESTER)[-1]
    third = bot.last(REQUESTER, "proposes other terms")
    assert bot.click(REQUESTER, ActionId.AGREE, third).status == 200
    bot.deliver()
    assert handoff(bot).due_date == date(2026, 3, 10) and handoff(bot).state is HandoffState.SENT
    assert len(proposals(bot)) == 3


def test_the_same_proposal_form_sent_twice_records_one_proposal(bot: Bot) -> None:
    card = send(bot)
    assert bot.click(RECIPIENT, ActionId.PROPOSE, card).status == 200
    form = bot.wait_view(CallbackId.PROPOSE)
    values = terms("change", due="2026-03-13", reason="Busy")
    first = bot.slack.view_submission(RECIPIENT, form, values)
    again = bot.slack.view_submission(RECIPIENT, form, values)
    assert (first.status, first.text, again.status, again.text) == (200, "", 200, "")
    bot.deliver()
    assert len(proposals(bot)) == 1
    assert len([m for m in bot.posts(REQUESTER) if "proposes other terms" in m["text"]]) == 1


@pytest.fixture
def both_managed(make_bot: Callable[..., Bot]) -> Bot:
    """Sales has a manager too; Finance answers around the clock and must confirm within an hour."""
    bot = make_bot()
    bot.standin.add_user(SALES_MANAGER, tz="Europe/London")
    with bot.runtime.db.transaction() as session:
        session.add(DepartmentPerson(department_id=bot.sales, user_id=SALES_MANAGER, role=MemberRole.MANAGER,
                                     added_at=bot.clock.now()))
    set_standard(bot, confirm_within_s=3600, remind_every_s=3600, working_hours="always")
    return bot


def test_a_stalled_negotiation_goes_once_to_the_managers_of_both_sides_with_each_position(both_managed: Bot) -> None:
    bot = both_managed
    card = send(bot)
    bot.clock.advance(timedelta(minutes=20))  # of the hour to confirm in
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", scope="Half the regions", reason="Two people out"))
    assert tick(bot, timedelta(minutes=30)) == 0
    offer(bot, REQUESTER, bot.last(REQUESTER, "proposes other terms"), ActionId.COUNTER,
          terms(reason="All regions are needed for the audit"))
    assert tick(bot, timedelta(minutes=29)) == 0
    assert tick(bot, timedelta(minutes=1)) == 1  # an hour after the negotiation began

    stalled = {manager: bot.last(manager, "has stalled") for manager in (MANAGER, SALES_MANAGER)}
    for manager in (MANAGER, SALES_MANAGER):
        shown = str(stalled[manager]["blocks"])
        assert "Half the regions" in shown and "All regions are needed for the audit" in shown
        assert "waiting for <@UREC> to answer" in shown
    assert tick(bot, timedelta(days=2)) == 0  # once per negotiation
    assert len([m for m in bot.posts(MANAGER) if "has stalled" in m["text"]]) == 1
    # No confirm reminders while the terms are negotiated.
    assert not [m for m in bot.posts(RECIPIENT) if "waits for you to confirm" in m["text"]]

    assert bot.click(RECIPIENT, ActionId.AGREE, bot.last(RECIPIENT, "proposes other terms")).status == 200
    bot.deliver()
    settled = str(bot.now(stalled[MANAGER])["blocks"])
    assert "is over. Now: Waiting for <@UREC> to confirm" in settled and "Half the regions" not in settled
    # Settled, the recipient's clock runs on: the 20 minutes used before the negotiation still count.
    assert tick(bot, timedelta(minutes=39)) == 0
    assert tick(bot, timedelta(minutes=1)) == 1
    assert bot.last(RECIPIENT, "waits for you to confirm")


def test_a_proposal_waits_on_the_home_tab_of_the_side_that_must_answer_and_is_answered_there(bot: Bot) -> None:
    card = send(bot, due="2026-03-04")
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2026-03-11", reason="Month-end close"))
    home = open_home(bot, REQUESTER)
    assert "proposes other terms for *Prepare the Q3 invoice*" in texts(home)
    assert "Month-end close" in texts(home)
    h = handoff(bot).id
    assert home_buttons(home)[:2] == [(ActionId.AGREE, f"{h}:1"), (ActionId.COUNTER, f"{h}:1")]
    assert ActionId.AGREE not in [a for a, _ in home_buttons(open_home(bot, RECIPIENT))]  # not theirs to answer

    home_click(bot, REQUESTER, ActionId.AGREE, home)
    bot.deliver()
    assert handoff(bot).state is HandoffState.SENT and handoff(bot).due_date == date(2026, 3, 11)
    assert "proposes other terms" not in texts(bot.standin.home(REQUESTER))


def test_a_due_date_moved_by_agreement_is_kept_anew(both_managed: Bot) -> None:
    bot = both_managed
    card = send(bot, due="2026-03-03")
    restate(bot, card, ["Totals by region", "With receipts"], count=1)
    assert bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated")).status == 200
    bot.deliver()
    tick(bot, timedelta(hours=30))  # past the end of 3 March in Shanghai
    assert len([m for m in bot.posts(RECIPIENT) if "is overdue" in m["text"]]) == 1

    offer(bot, RECIPIENT, bot.now(card), ActionId.PROPOSE, terms("change", due="2026-03-06", reason="Auditors late"))
    assert bot.click(REQUESTER, ActionId.AGREE, bot.last(REQUESTER, "proposes other terms")).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.CONFIRMED
    tick(bot, timedelta(days=1))
    assert not [m for m in bot.posts(RECIPIENT) if "is overdue" in m["text"]]  # not late any more, nor yet again
    assert bot.last(RECIPIENT, "is due 2026-03-06")  # the new date is announced the day before
    tick(bot, timedelta(days=2))
    assert len([m for m in bot.posts(RECIPIENT) if "is overdue" in m["text"]]) == 1


def test_proposing_the_due_date_it_already_has_changes_nothing(bot: Bot) -> None:
    card = send(bot, due="2026-03-04")
    reply = offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2026-03-04", reason="Same"))
    assert list(reply.json["errors"]) == [BlockId.SCOPE]
    assert handoff(bot).state is HandoffState.SENT and proposals(bot) == []


def test_a_cancel_during_a_negotiation_withdraws_the_open_proposal(bot: Bot) -> None:
    card = send(bot)
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("decline", reason="Not ours"))
    decline = bot.last(REQUESTER, "declines")
    assert bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, RECEIPT)).status == 200
    bot.deliver()
    after = handoff(bot)
    assert (after.state, after.negotiation_turn, after.resume_state) == (HandoffState.CANCELLED, None, None)
    assert [p.outcome for p in proposals(bot)] == ["withdrawn"]
    assert buttons(bot.now(decline)) == [] and "Cancelled by <@UREQ>" in str(bot.now(decline)["blocks"])
    assert "proposes other terms" not in texts(open_home(bot, REQUESTER))


def test_during_a_negotiation_questions_go_on_and_a_manager_nudges_the_side_it_waits_on(bot: Bot) -> None:
    card = send(bot)
    assert bot.click(RECIPIENT, ActionId.ASK, card).status == 200
    assert bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION: {"value": text_value("EUR or USD?")}}).text == ""
    bot.deliver()
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2026-03-20", reason="Busy"))
    question = bot.last(REQUESTER, "asks about")
    assert buttons(question) == [ActionId.ANSWER]  # still answerable: the answer may settle the terms
    assert bot.click(REQUESTER, ActionId.ANSWER, question).status == 200
    assert bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.ANSWER), {
        BlockId.ANSWER: {"value": text_value("EUR")}}).text == ""
    bot.deliver()
    assert bot.last(RECIPIENT, "answered your question")

    h = handoff(bot).id
    assert bot.slack.block_action(MANAGER, ActionId.NUDGE, str(h), channel_id="DMGR").status == 200
    bot.deliver()
    nudge = bot.last(REQUESTER, "asks you")
    assert nudge["text"] == ":wave: <@UMGR> asks you to answer <@UREC>'s proposal on Prepare the Q3 invoice."
    assert not [m for m in bot.posts(RECIPIENT) if "asks you to act" in m["text"]]


def test_a_reassignment_ends_the_negotiation_with_the_former_recipient(bot: Bot) -> None:
    card = send(bot)
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("decline", reason="No time"))
    decline = bot.last(REQUESTER, "declines")
    reassign(bot, MEMBER)
    after = handoff(bot)
    assert (after.state, after.recipient_id, after.negotiation_turn) == (HandoffState.SENT, MEMBER, None)
    assert [p.outcome for p in proposals(bot)] == ["withdrawn"]
    assert buttons(bot.now(decline)) == []
    assert buttons(bot.last(MEMBER, CARD)) == [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]


def test_who_accepted_a_counter_stays_named_after_a_reassignment(bot: Bot) -> None:
    card = send(bot)
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2026-03-20", reason="Busy"))
    offer(bot, REQUESTER, bot.last(REQUESTER, "proposes other terms"), ActionId.COUNTER,
          terms(due="2026-03-10", reason="The audit starts on the 11th"))
    assert bot.click(RECIPIENT, ActionId.AGREE, bot.last(RECIPIENT, "proposes other terms")).status == 200
    bot.deliver()
    agreed = bot.last(REQUESTER, "accepted your proposal")
    assert agreed["text"].startswith(f"<@{RECIPIENT}> accepted")

    reassign(bot, MEMBER)
    assert handoff(bot).recipient_id == MEMBER
    now = bot.now(agreed)
    assert now["text"].startswith(f"<@{RECIPIENT}> accepted") and f"<@{MEMBER}> accepted" not in str(now["blocks"])


def test_terms_whose_due_date_has_passed_cannot_be_accepted(bot: Bot) -> None:
    card = send(bot)
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2026-03-03", reason="Tomorrow"))
    proposal = bot.last(REQUESTER, "proposes other terms")
    bot.clock.advance(timedelta(days=3))
    assert bot.click(REQUESTER, ActionId.AGREE, proposal).status == 200
    assert "asks for has passed; answer it with another one" in bot.ephemerals(REQUESTER)[-1]
    assert handoff(bot).state is HandoffState.NEGOTIATING and handoff(bot).due_date is None
    assert buttons(bot.now(proposal)) == [ActionId.AGREE, ActionId.COUNTER]  # Counter is the way on


def test_a_proposal_form_opened_to_answer_a_counter_is_out_of_date_once_the_counter_is_accepted(bot: Bot) -> None:
    card = send(bot)
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2026-03-13", reason="Busy"))
    offer(bot, REQUESTER, bot.last(REQUESTER, "proposes other terms"), ActionId.COUNTER,
          terms(due="2026-03-09", reason="The 9th"))
    counter_message = bot.last(RECIPIENT, "proposes other terms")
    assert bot.click(RECIPIENT, ActionId.PROPOSE, counter_message).status == 200
    left_open = bot.wait_view(CallbackId.PROPOSE)
    assert bot.click(RECIPIENT, ActionId.AGREE, counter_message).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.SENT
    reply = bot.slack.view_submission(RECIPIENT, left_open, terms("change", due="2026-03-16", reason="Later"))
    assert reply.json["errors"] == {BlockId.REASON: "This form is out of date; close it and open it again."}
    assert handoff(bot).state is HandoffState.SENT and len(proposals(bot)) == 2


def test_a_side_whose_time_zone_slack_names_oddly_can_still_accept(bot: Bot) -> None:
    card = send(bot)
    with bot.runtime.db.transaction() as session:  # a zone this machine's time zone database does not know
        session.execute(update(SlackUser).where(SlackUser.user_id == REQUESTER).values(tz="Mars/Olympus_Mons"))
    offer(bot, RECIPIENT, card, ActionId.PROPOSE, terms("change", due="2031-03-02", reason="Much later"))
    assert bot.click(REQUESTER, ActionId.AGREE, bot.last(REQUESTER, "proposes other terms")).status == 200
    bot.deliver()
    assert (handoff(bot).state, handoff(bot).due_date) == (HandoffState.SENT, date(2031, 3, 2))


def test_a_stalled_negotiation_ended_by_a_reassignment_says_who_had_negotiated(both_managed: Bot) -> None:
    bot = both_managed
    offer(bot, RECIPIENT, send(bot), ActionId.PROPOSE, terms("decline", reason="Not ours"))
    assert tick(bot, timedelta(hours=1)) == 1
    stalled = bot.last(MANAGER, "has stalled")
    reassign(bot, MEMBER)
    assert "between <@UREC> and <@UREQ> is over" in str(bot.now(stalled)["blocks"])


def test_the_overdue_notices_are_settled_once_a_later_due_date_is_agreed(bot: Bot) -> None:
    set_standard(bot, working_hours="always")
    card = send(bot, due="2026-03-04")
    restate(bot, card, ["Totals by region", "With receipts"], count=1)
    assert bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated")).status == 200
    bot.deliver()
    bot.clock.set(datetime(2026, 3, 3, 16, 0, tzinfo=timezone.utc))  # Wednesday 00:00 in Shanghai
    assert tick(bot) == 1  # due tomorrow
    bot.clock.set(datetime(2026, 3, 4, 16, 0, tzinfo=timezone.utc))  # Thursday 00:00 in Shanghai
    assert tick(bot) == 1
    overdue = [bot.last(user, "is overdue") for user in (RECIPIENT, REQUESTER, MANAGER)]
    assert [buttons(m) for m in overdue] == [[ActionId.MARK_DONE], [], [ActionId.NUDGE, ActionId.REASSIGN]]

    offer(bot, RECIPIENT, bot.now(card), ActionId.PROPOSE, terms("change", due="2026-03-12", reason="Auditors late"))
    assert bot.click(REQUESTER, ActionId.AGREE, bot.last(REQUESTER, "proposes other terms")).status == 200
    bot.deliver()
    settled = (":white_check_mark: ~Prepare the Q3 invoice~ Now: Understanding confirmed; <@UREC> is on it, "
               "due 2026-03-12.")
    assert [bot.now(m)["text"] for m in overdue] == [settled.replace("*", "")] * 3
    assert all(settled in str(bot.now(m)["blocks"]) for m in overdue)  # what Slack shows, not only the fallback
    assert [buttons(bot.now(m)) for m in overdue] == [[], [], []]
