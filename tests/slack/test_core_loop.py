"""The whole loop through Slack's wire format: /handoff → restate → clarify → confirm → done → rated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from handoff_bot.departments.models import Department
from handoff_bot.handoffs.models import Handoff, HandoffEvent, HandoffState
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack.conftest import INTAKE, MANAGER, MEMBER, RECIPIENT, REQUESTER, Bot
from tests.slack_requests import date_value, radio_value, select_value, text_value, user_value


def buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of the buttons a message offers now."""
    return [e["action_id"] for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def open_new_form(bot: Bot, text: str = "", user: str = REQUESTER) -> dict[str, Any]:
    opened = len([c for c in bot.standin.calls_to("views.open") if c.params["view"]["callback_id"] == CallbackId.NEW])
    reply = bot.slack.command(user, text)
    assert reply.status == 200
    return bot.wait_view(CallbackId.NEW, count=opened + 1)


def submit_new(bot: Bot, view: dict[str, Any], **fields: Any) -> Any:
    values = {
        BlockId.DEPARTMENT: {"value": select_value(str(fields.pop("department", bot.finance)))},
        BlockId.TITLE: {"value": text_value(fields.pop("title", "Prepare the Q3 invoice"))},
        BlockId.KEY_POINTS: {"value": text_value(fields.pop("key_points", "Totals per region\nAttach receipts"))},
    }
    if "recipient" in fields:
        values[BlockId.RECIPIENT] = {"value": user_value(fields.pop("recipient"))}
    if "due" in fields:
        values[BlockId.DUE_DATE] = {"value": date_value(fields.pop("due"))}
    if "details" in fields:
        values[BlockId.DETAILS] = {"value": text_value(fields.pop("details"))}
    assert not fields, fields
    return bot.slack.view_submission(REQUESTER, view, values)


def handoff(bot: Bot) -> Handoff:
    with bot.runtime.db.transaction() as session:
        return session.scalars(select(Handoff).order_by(Handoff.id.desc())).first()


def restate(bot: Bot, card: dict[str, Any], words: list[str], count: int) -> None:
    assert bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card).status == 200
    form = bot.wait_view(CallbackId.RESTATE, count=count)
    values = {BlockId.point(i): {"value": text_value(w)} for i, w in enumerate(words, 1)}
    reply = bot.slack.view_submission(RECIPIENT, form, values)
    assert reply.status == 200 and not reply.text, reply.text
    bot.deliver()


def reassign(bot: Bot, to: str) -> None:
    """A manager of Finance gives the handoff to `to` (the Reassign form sent); the outbox delivered."""
    assert bot.slack.block_action(MANAGER, ActionId.REASSIGN, str(handoff(bot).id), channel_id="DMGR").status == 200
    assert bot.slack.view_submission(MANAGER, bot.wait_view(CallbackId.REASSIGN), {
        BlockId.RECIPIENT: {"value": user_value(to)}}).text == ""
    bot.deliver()


def test_the_whole_loop_with_one_clarification(bot: Bot) -> None:
    form = open_new_form(bot, f"Prepare the Q3 invoice <@{RECIPIENT}|rec>")
    title_input = next(b for b in form["blocks"] if b.get("block_id") == BlockId.TITLE)
    person_input = next(b for b in form["blocks"] if b.get("block_id") == BlockId.RECIPIENT)
    assert title_input["element"]["initial_value"] == "Prepare the Q3 invoice"
    assert person_input["element"]["initial_user"] == RECIPIENT

    reply = submit_new(bot, form, recipient=RECIPIENT, due="2026-03-06")
    assert reply.status == 200 and reply.text == ""
    assert handoff(bot).state is HandoffState.SENT  # recorded before any message went out
    bot.deliver()

    card = bot.last(RECIPIENT, "New handoff")
    assert buttons(card) == [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]
    card_text = str(card["blocks"])
    assert "Totals per region" in card_text and "Attach receipts" in card_text and "2026-03-06" in card_text
    receipt = bot.last(REQUESTER, "You handed off")
    assert buttons(receipt) == [ActionId.CANCEL]
    assert "confirm within 4 hours, complete within 3 days, Mon–Fri 09:00–18:00" in str(receipt["blocks"])

    restate(bot, card, ["Sum the totals by region", "Add the receipts"], count=1)
    review = bot.last(REQUESTER, "restated")
    assert buttons(review) == [ActionId.ACCEPT, ActionId.CLARIFY]
    assert "Add the receipts" in str(review["blocks"])
    assert buttons(bot.last(RECIPIENT, "New handoff")) == [ActionId.ASK, ActionId.PROPOSE]  # none to restate in review

    assert bot.click(REQUESTER, ActionId.CLARIFY, review).status == 200
    clarify_form = bot.wait_view(CallbackId.CLARIFY)
    reply = bot.slack.view_submission(REQUESTER, clarify_form, {
        BlockId.CLARIFICATION: {"value": text_value("Totals must include VAT")}})
    assert reply.status == 200 and not reply.text
    bot.deliver()
    assert buttons(bot.last(REQUESTER, "restated")) == []  # round 1 decided: no stale buttons
    clarification = bot.last(RECIPIENT, "clarified")
    assert "Totals must include VAT" in str(clarification["blocks"])
    assert buttons(clarification) == [ActionId.CONFIRM_UNDERSTANDING]

    restate(bot, clarification, ["Totals by region, VAT included", "Add the receipts"], count=2)
    assert buttons(bot.last(RECIPIENT, "clarified")) == []
    review2 = bot.last(REQUESTER, "restated")
    assert "VAT included" in str(review2["blocks"]) and "round 2" in str(review2["blocks"])

    assert bot.click(REQUESTER, ActionId.ACCEPT, review2).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.CONFIRMED and handoff(bot).rounds == 2
    assert buttons(bot.last(REQUESTER, "restated")) == []
    assert "You confirmed" in str(bot.last(REQUESTER, "restated")["blocks"])
    confirmed = bot.last(RECIPIENT, "confirmed your understanding")
    assert buttons(confirmed) == [ActionId.MARK_DONE]
    assert buttons(bot.last(RECIPIENT, "New handoff")) == [ActionId.MARK_DONE, ActionId.ASK, ActionId.PROPOSE]

    assert bot.click(RECIPIENT, ActionId.MARK_DONE, confirmed).status == 200
    bot.deliver()
    assert buttons(bot.last(RECIPIENT, "New handoff")) == []
    rating_request = bot.last(REQUESTER, "marked")
    assert bot.click(REQUESTER, ActionId.RATE, rating_request).status == 200
    rate_form = bot.wait_view(CallbackId.RATE)
    reply = bot.slack.view_submission(REQUESTER, rate_form, {
        BlockId.RATING: {"value": radio_value("4")}, BlockId.COMMENT: {"value": text_value("Quick and right")}})
    assert reply.status == 200 and not reply.text
    bot.deliver()

    final = handoff(bot)
    assert final.state is HandoffState.RATED and final.rating == 4 and final.rating_comment == "Quick and right"
    rated = bot.last(RECIPIENT, "rated")
    assert "Quick and right" in str(rated["blocks"])
    for user in (REQUESTER, RECIPIENT):
        assert all(buttons(m) == [] for m in bot.posts(user)), "a finished handoff keeps no buttons"
    with bot.runtime.db.transaction() as session:
        actions = [e.action for e in session.scalars(select(HandoffEvent).order_by(HandoffEvent.id))]
    assert actions == ["create", "restate", "clarify", "restate", "accept", "mark_done", "rate"]


def test_questions_are_answered_from_the_dm_and_kept_on_the_handoff(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    card = bot.last(RECIPIENT, "New handoff")
    assert bot.click(RECIPIENT, ActionId.ASK, card).status == 200
    ask_form = bot.wait_view(CallbackId.ASK)
    kinds = next(b for b in ask_form["blocks"] if b.get("block_id") == BlockId.QUESTION_KIND)
    assert [o["value"] for o in kinds["element"]["options"]] == ["open", "closed", "reflective"]
    reply = bot.slack.view_submission(RECIPIENT, ask_form, {
        BlockId.QUESTION_KIND: {"value": radio_value("closed")},
        BlockId.QUESTION: {"value": text_value("Do you need EUR or USD?")}})
    assert reply.status == 200 and not reply.text
    bot.deliver()

    question = bot.last(REQUESTER, "asks about")
    assert "Closed question" in str(question["blocks"]) and buttons(question) == [ActionId.ANSWER]
    assert bot.click(REQUESTER, ActionId.ANSWER, question).status == 200
    answer_form = bot.wait_view(CallbackId.ANSWER)
    reply = bot.slack.view_submission(REQUESTER, answer_form, {BlockId.ANSWER: {"value": text_value("EUR")}})
    assert reply.status == 200 and not reply.text
    bot.deliver()

    assert buttons(bot.last(REQUESTER, "asks about")) == []
    assert "EUR" in str(bot.last(RECIPIENT, "answered")["blocks"])
    card_now = str(bot.last(RECIPIENT, "New handoff")["blocks"])
    assert "Do you need EUR or USD?" in card_now and "EUR" in card_now


def test_long_restatements_questions_and_answers_are_shown_whole(bot: Bot) -> None:
    """Forms take 3,000 characters; a section shows at most 3,000 (escaped and quoted): the text goes on
    in the next section rather than being cut."""
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, key_points="Totals per region")
    bot.deliver()
    card = bot.last(RECIPIENT, "New handoff")
    restate(bot, card, ["R&D " * 748 + "FINAL"], count=1)
    review = bot.last(REQUESTER, "restated")
    heading, first, *more = [b["text"]["text"] for b in review["blocks"] if b["type"] == "section"][1:]
    assert heading == "*1. Totals per region*" and all(part.startswith("&gt; ") for part in [first, *more])
    shown = first + "".join(part.removeprefix("&gt; ") for part in more)  # a line split in two goes on quoted
    assert shown.count("R&amp;D") == 748 and shown.endswith("FINAL")

    assert bot.click(RECIPIENT, ActionId.ASK, card).status == 200
    assert bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION_KIND: {"value": radio_value("open")},
        BlockId.QUESTION: {"value": text_value("Which? " * 427 + "END?")}}).text == ""
    bot.deliver()
    question = bot.last(REQUESTER, "asks about")
    assert "END?" in str(question["blocks"])
    assert bot.click(REQUESTER, ActionId.ANSWER, question).status == 200
    assert "END?" in str(bot.wait_view(CallbackId.ANSWER)["blocks"])
    assert bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.ANSWER), {
        BlockId.ANSWER: {"value": text_value("That one. " * 299 + "DONE")}}).text == ""
    bot.deliver()
    assert "DONE" in str(bot.last(RECIPIENT, "answered")["blocks"])
    assert "DONE" in str(bot.last(REQUESTER, "asks about")["blocks"])


def test_ten_restatements_of_nothing_but_ampersands_still_make_a_message_slack_takes(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, key_points="\n".join(f"Point {i}" for i in range(10)))
    bot.deliver()
    restate(bot, bot.last(RECIPIENT, "New handoff"), ["&" * 3000] * 10, count=1)
    review = bot.last(REQUESTER, "restated")  # the stand-in refuses a message over Slack's limits
    assert len(review["blocks"]) <= 50 and buttons(review) == [ActionId.ACCEPT, ActionId.CLARIFY]
    shown = [b["text"]["text"] for b in review["blocks"] if b["type"] == "section"][1:]
    assert sum(text.endswith("…") for text in shown) == 10  # each cut, and says so


def test_an_unassigned_handoff_is_claimed_from_the_intake_channel(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot))
    bot.deliver()
    post = bot.last(INTAKE, "New handoff for Finance")
    assert buttons(post) == [ActionId.CLAIM]
    assert "it was posted in <#C0FININTAKE>" in str(bot.last(REQUESTER, "You handed off")["blocks"])

    assert bot.click(MEMBER, ActionId.CLAIM, post).status == 200
    bot.deliver()
    assert handoff(bot).recipient_id == MEMBER
    post_now = bot.last(INTAKE, "New handoff for Finance")
    assert buttons(post_now) == [] and f"Now with <@{MEMBER}>" in str(post_now["blocks"])
    assert "can claim it" not in str(post_now["blocks"])
    assert buttons(bot.last(MEMBER, "New handoff")) == [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]


def test_a_reassignment_changes_no_one_elses_past_in_earlier_messages(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot))
    bot.deliver()
    assert bot.click(MEMBER, ActionId.CLAIM, bot.last(INTAKE, "New handoff for Finance")).status == 200
    bot.deliver()
    assert bot.click(MEMBER, ActionId.CONFIRM_UNDERSTANDING, bot.last(MEMBER, "New handoff")).status == 200
    assert bot.slack.view_submission(MEMBER, bot.wait_view(CallbackId.RESTATE), {
        BlockId.point(1): {"value": text_value("sum")}, BlockId.point(2): {"value": text_value("attach")}}).text == ""
    bot.deliver()
    review = bot.last(REQUESTER, "restated")
    assert review["text"].startswith(f"<@{MEMBER}> restated")

    reassign(bot, RECIPIENT)
    assert handoff(bot).recipient_id == RECIPIENT
    now = bot.now(review)
    assert now["text"].startswith(f"<@{MEMBER}> restated") and f"<@{RECIPIENT}> restated" not in str(now["blocks"])
    assert f"Now with <@{RECIPIENT}>" in str(bot.last(INTAKE, "New handoff for Finance")["blocks"])


def test_the_former_recipients_confirmation_offers_no_mark_done_once_the_new_one_is_confirmed(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    restate(bot, bot.last(RECIPIENT, "New handoff"), ["sum", "attach"], 1)
    assert bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated")).status == 200
    bot.deliver()
    confirmed = bot.last(RECIPIENT, "confirmed your understanding")
    assert ActionId.MARK_DONE in str(confirmed["blocks"])

    reassign(bot, MEMBER)
    assert bot.click(MEMBER, ActionId.CONFIRM_UNDERSTANDING, bot.last(MEMBER, "New handoff")).status == 200
    assert bot.slack.view_submission(MEMBER, bot.wait_view(CallbackId.RESTATE, count=2), {
        BlockId.point(1): {"value": text_value("sum")}, BlockId.point(2): {"value": text_value("attach")}}).text == ""
    bot.deliver()
    assert bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated")).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.CONFIRMED and handoff(bot).recipient_id == MEMBER
    now = bot.now(confirmed)  # the former recipient's copy: no button that would only be refused
    assert ActionId.MARK_DONE not in str(now["blocks"]) and f"Reassigned to <@{MEMBER}>" in str(now["blocks"])
    assert ActionId.MARK_DONE in str(bot.last(MEMBER, "confirmed your understanding")["blocks"])


def test_an_answer_after_a_reassignment_goes_to_whoever_has_the_handoff_now(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    assert bot.click(RECIPIENT, ActionId.ASK, bot.last(RECIPIENT, "New handoff")).status == 200
    assert bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION_KIND: {"value": radio_value("closed")},
        BlockId.QUESTION: {"value": text_value("EUR or USD?")}}).text == ""
    bot.deliver()
    reassign(bot, MEMBER)
    assert bot.click(REQUESTER, ActionId.ANSWER, bot.last(REQUESTER, "asks about")).status == 200
    assert bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.ANSWER), {
        BlockId.ANSWER: {"value": text_value("EUR")}}).text == ""
    bot.deliver()
    told = bot.last(MEMBER, "answered")
    assert told["text"] == "<@UREQ> answered a question about Prepare the Q3 invoice"
    assert f"answered the question <@{RECIPIENT}> asked" in str(told["blocks"]) and "EUR" in str(told["blocks"])
    assert not [m for m in bot.posts(RECIPIENT) if "answered" in m["text"]]  # told nothing more is needed


def test_a_reassign_form_opened_before_another_reassignment_is_out_of_date(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    number = str(handoff(bot).id)
    assert bot.slack.block_action(MANAGER, ActionId.REASSIGN, number, channel_id="DMGR").status == 200
    first = bot.wait_view(CallbackId.REASSIGN)
    assert bot.slack.block_action(MANAGER, ActionId.REASSIGN, number, channel_id="DMGR").status == 200
    second = bot.wait_view(CallbackId.REASSIGN, count=2)  # another manager, or another window
    assert bot.slack.view_submission(MANAGER, first, {BlockId.RECIPIENT: {"value": user_value(MEMBER)}}).text == ""
    reply = bot.slack.view_submission(MANAGER, second, {BlockId.RECIPIENT: {"value": user_value(RECIPIENT)}})
    assert "out of date" in reply.json["errors"][BlockId.RECIPIENT]  # not silently undoing the first
    assert handoff(bot).recipient_id == MEMBER


def test_an_intake_post_waiting_when_the_intake_channel_changes_goes_to_the_new_channel(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot))
    with bot.runtime.db.transaction() as session:  # an import moves Finance's intake before the post goes out
        session.get(Department, bot.finance).intake_channel = "C0NEWINTAKE"
    bot.deliver()
    assert not bot.posts(INTAKE)
    post = bot.last("C0NEWINTAKE", "New handoff for Finance")
    assert "it was posted in <#C0NEWINTAKE>" in str(bot.last(REQUESTER, "You handed off")["blocks"])
    assert bot.click(MEMBER, ActionId.CLAIM, post).status == 200
    bot.deliver()
    assert handoff(bot).recipient_id == MEMBER
    assert f"Now with <@{MEMBER}>" in str(bot.last("C0NEWINTAKE", "New handoff for Finance")["blocks"])


def test_the_requester_can_cancel_and_the_recipient_is_told(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    assert bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off")).status == 200
    bot.deliver()
    assert handoff(bot).state is HandoffState.CANCELLED
    assert "cancelled" in bot.last(RECIPIENT, "cancelled")["text"]
    assert all(buttons(m) == [] for m in bot.posts(RECIPIENT) + bot.posts(REQUESTER))



def test_a_restatement_written_before_a_clarification_is_refused_as_out_of_date(bot: Bot) -> None:
    """The recipient opened the form twice (two devices) and sent one; the requester clarified; the
    other form never showed the clarification."""
    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT).text == ""
    bot.deliver()
    card = bot.last(RECIPIENT, "New handoff")
    for count in (1, 2):
        assert bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card).status == 200
        bot.wait_view(CallbackId.RESTATE, count=count)
    first, second = [bot.standin.view(c.response["view"]["id"]) for c in bot.standin.calls_to("views.open")
                     if c.ok and c.response][-2:]
    words = {BlockId.point(i): {"value": text_value(w)} for i, w in enumerate(["By region", "Receipts"], 1)}
    assert bot.slack.view_submission(RECIPIENT, first, words).text == ""
    bot.deliver()
    assert bot.click(REQUESTER, ActionId.CLARIFY, bot.last(REQUESTER, "restated")).status == 200
    reply = bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.CLARIFY), {
        BlockId.CLARIFICATION: {"value": text_value("Totals must include VAT")}})
    assert reply.status == 200 and not reply.text

    reply = bot.slack.view_submission(RECIPIENT, second, words)
    assert reply.json == {"response_action": "errors", "errors": {
        BlockId.point(1): "This form is out of date; close it and open it again."}}
    assert (handoff(bot).state, handoff(bot).rounds) == (HandoffState.CLARIFYING, 1)


def test_a_restatement_sent_twice_is_taken_once_and_the_second_answered_as_the_first(bot: Bot) -> None:
    """The recipient pressed Send again when the first answer was slow: Slack sends the same form twice."""
    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT).text == ""
    bot.deliver()
    assert bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, bot.last(RECIPIENT, "New handoff")).status == 200
    form = bot.wait_view(CallbackId.RESTATE)
    words = {BlockId.point(i): {"value": text_value(w)} for i, w in enumerate(["By region", "Receipts"], 1)}
    for _ in range(2):
        reply = bot.slack.view_submission(RECIPIENT, form, words)
        assert (reply.status, reply.text) == (200, "")
    bot.deliver()
    assert (handoff(bot).state, handoff(bot).rounds) == (HandoffState.RESTATED, 1)
    assert len([m for m in bot.posts(REQUESTER) if "restated" in m["text"]]) == 1
    other = {BlockId.point(1): {"value": text_value("Something else")}, BlockId.point(2): words[BlockId.point(2)]}
    assert bot.slack.view_submission(RECIPIENT, form, other).json["response_action"] == "errors"  # not the same


def test_the_card_shows_the_longest_details_and_key_points_whole(bot: Bot) -> None:
    details = "\n".join(f"R&D line {n:02}: " + "P&L <q3> " * 30 for n in range(1, 12))[:3000]
    points = "\n".join(f"Point {n}: " + "R&D & P&L " * 29 for n in range(1, 11))
    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT, details=details, key_points=points).text == ""
    bot.deliver()
    card = bot.last(RECIPIENT, "New handoff")
    shown = "\n".join(b["text"]["text"] for b in card["blocks"] if b["type"] == "section" and "text" in b)
    escaped = details.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in shown  # all of it, though it is far longer than one section holds
    assert all(f"{n}. Point {n}: " + "R&amp;D &amp; P&amp;L " * 28 in shown for n in range(1, 11))
    assert bot.standin.violations == []


def test_a_handoff_reassigned_back_to_its_first_recipient_has_one_card_with_buttons(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    first_card = bot.last(RECIPIENT, "New handoff")
    reassign(bot, MEMBER)
    told = bot.last(RECIPIENT, "reassigned")
    assert "nothing more is needed from you" in str(told["blocks"])

    reassign(bot, RECIPIENT)
    assert "nothing more is needed" not in str(bot.now(told)["blocks"])
    assert f"*Prepare the Q3 invoice* was reassigned to <@{MEMBER}>, then back to you." in str(
        bot.now(told)["blocks"])
    cards = [m for m in bot.posts(RECIPIENT) if "New handoff" in m["text"]]
    assert [buttons(m) for m in cards] == [[], [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]]
    assert "the newer card below" in str(bot.now(first_card)["blocks"])
    assert buttons(bot.last(MEMBER, "New handoff")) == []
