"""Point 7: clicks by anyone who may not act, double clicks and clicks on finished handoffs
get a clear ephemeral answer and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff_bot.handoffs.models import HandoffEvent, HandoffState
from handoff_bot.outbox.models import OutboxMessage
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack.conftest import INTAKE, MANAGER, MEMBER, OUTSIDER, RECIPIENT, REQUESTER, Bot
from tests.slack.test_core_loop import buttons, handoff, open_new_form, restate, submit_new
from tests.slack_requests import text_value


def audit(bot: Bot) -> int:
    with bot.runtime.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(HandoffEvent))


def notices(bot: Bot) -> int:
    with bot.runtime.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage))


def refused(bot: Bot, user: str, do: Callable[[], Any], expected: str) -> None:
    """`do` as `user` answers 200, tells them `expected` privately, and changes nothing."""
    before = (audit(bot), handoff(bot).state, handoff(bot).version)
    seen = len(bot.ephemerals(user))
    reply = do()
    assert reply.status == 200, reply
    texts = bot.ephemerals(user)
    assert len(texts) == seen + 1, texts
    assert expected in texts[-1], texts[-1]
    after = handoff(bot)
    assert (audit(bot), after.state, after.version) == before


@pytest.fixture
def sent(bot: Bot) -> Bot:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    return bot


@pytest.mark.parametrize("user", [REQUESTER, MEMBER, MANAGER, OUTSIDER])
def test_only_the_recipient_confirms_asks_or_marks_done(sent: Bot, user: str) -> None:
    card = sent.last(RECIPIENT, "New handoff")
    for action in (ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK):
        refused(sent, user, lambda a=action: sent.click(user, a, card), f"Only <@{RECIPIENT}>")
    assert sent.standin.calls_to("views.open", include_faults=True)[1:] == []  # only the new-handoff form


@pytest.mark.parametrize("user", [RECIPIENT, MEMBER, OUTSIDER])
def test_only_the_requester_accepts_clarifies_or_cancels(sent: Bot, user: str) -> None:
    restate(sent, sent.last(RECIPIENT, "New handoff"), ["mine", "also mine"], count=1)
    review = sent.last(REQUESTER, "restated")
    receipt = sent.last(REQUESTER, "You handed off")
    refused(sent, user, lambda: sent.click(user, ActionId.ACCEPT, review), f"Only <@{REQUESTER}>")
    refused(sent, user, lambda: sent.click(user, ActionId.CLARIFY, review), f"Only <@{REQUESTER}>")
    refused(sent, user, lambda: sent.click(user, ActionId.CANCEL, receipt), f"Only <@{REQUESTER}>")
    assert handoff(sent).state is HandoffState.RESTATED


def test_a_double_click_changes_state_once(sent: Bot) -> None:
    restate(sent, sent.last(RECIPIENT, "New handoff"), ["a", "b"], count=1)
    review = sent.last(REQUESTER, "restated")
    assert sent.click(REQUESTER, ActionId.ACCEPT, review).status == 200
    events = audit(sent)
    # The second click carries the same (now stale) payload, as a double click does.
    refused(sent, REQUESTER, lambda: sent.slack.block_action(
        REQUESTER, ActionId.ACCEPT, f"{handoff(sent).id}:1", channel_id=REQUESTER, message_ts=review["ts"]),
        "Nothing to do here any more")
    assert audit(sent) == events
    sent.deliver()
    assert len(sent.standin.calls_to("chat.postMessage", channel=RECIPIENT)) == 2  # card + one "confirmed"


def test_an_old_round_cannot_be_accepted(sent: Bot) -> None:
    restate(sent, sent.last(RECIPIENT, "New handoff"), ["a", "b"], count=1)
    review = sent.last(REQUESTER, "restated")
    sent.click(REQUESTER, ActionId.CLARIFY, review)
    form = sent.wait_view(CallbackId.CLARIFY)
    sent.slack.view_submission(REQUESTER, form, {BlockId.CLARIFICATION: {"value": text_value("no")}})
    sent.deliver()
    restate(sent, sent.last(RECIPIENT, "clarified"), ["c", "d"], count=2)
    refused(sent, REQUESTER, lambda: sent.slack.block_action(
        REQUESTER, ActionId.ACCEPT, f"{handoff(sent).id}:1", channel_id=REQUESTER, message_ts=review["ts"]),
        "replaced by a newer one")


def test_clicks_on_a_cancelled_handoff_change_nothing(sent: Bot) -> None:
    card = sent.last(RECIPIENT, "New handoff")
    sent.click(REQUESTER, ActionId.CANCEL, sent.last(REQUESTER, "You handed off"))
    sent.deliver()
    assert buttons(sent.last(RECIPIENT, "New handoff")) == []
    # A click that raced the update still carries the old button.
    refused(sent, RECIPIENT, lambda: sent.slack.block_action(
        RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, str(handoff(sent).id), channel_id=RECIPIENT,
        message_ts=card["ts"]), "Cancelled by")
    refused(sent, REQUESTER, lambda: sent.slack.block_action(
        REQUESTER, ActionId.CANCEL, str(handoff(sent).id), channel_id=REQUESTER,
        message_ts=sent.last(REQUESTER, "You handed off")["ts"]), "Cancelled by")


def test_claim_is_for_members_of_the_department_only_and_only_once(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot))
    bot.deliver()
    post = bot.last(INTAKE, "New handoff for Finance")
    refused(bot, OUTSIDER, lambda: bot.click(OUTSIDER, ActionId.CLAIM, post), "Only members of Finance")
    refused(bot, REQUESTER, lambda: bot.click(REQUESTER, ActionId.CLAIM, post), "You asked for this handoff")
    assert bot.click(MANAGER, ActionId.CLAIM, post).status == 200
    refused(bot, MEMBER, lambda: bot.slack.block_action(
        MEMBER, ActionId.CLAIM, str(handoff(bot).id), channel_id=INTAKE, message_ts=post["ts"]),
        f"<@{MANAGER}> already claimed")
    refused(bot, MANAGER, lambda: bot.slack.block_action(  # the claimer's second click, before the post changed
        MANAGER, ActionId.CLAIM, str(handoff(bot).id), channel_id=INTAKE, message_ts=post["ts"]),
        "You already claimed this handoff")
    assert handoff(bot).recipient_id == MANAGER


def test_a_claim_on_the_post_of_a_handoff_claimed_and_then_cancelled_says_it_was_cancelled(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot))
    bot.deliver()
    post = bot.last(INTAKE, "New handoff for Finance")
    assert bot.click(MEMBER, ActionId.CLAIM, post).status == 200
    bot.deliver()
    assert bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off")).status == 200
    bot.deliver()
    refused(bot, MEMBER, lambda: bot.slack.block_action(  # a click on the post as it was before
        MEMBER, ActionId.CLAIM, str(handoff(bot).id), channel_id=INTAKE, message_ts=post["ts"]),
        "Nothing to do here any more. Now: Cancelled by <@UREQ>")


def test_an_unknown_or_malformed_button_is_answered(sent: Bot) -> None:
    before = notices(sent)
    for action, value in (("handoff_teleport", "1"), (ActionId.MARK_DONE, "1;DROP TABLE handoff"),
                          (ActionId.ACCEPT, "999999:1"), (ActionId.CLAIM, "")):
        reply = sent.slack.block_action(OUTSIDER, action, value, channel_id=INTAKE, message_ts="1.000001")
        assert reply.status == 200
    texts = sent.ephemerals(OUTSIDER)
    assert texts[0] == "That button is no longer in use."
    assert texts[1:] == ["This handoff no longer exists."] * 3
    assert notices(sent) == before  # answered beside the clicks: nothing queued
    assert handoff(sent).state is HandoffState.SENT
