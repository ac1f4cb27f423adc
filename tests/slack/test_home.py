"""The App Home tab as requester, recipient and manager see it: what waits on them with buttons that
work from the tab, their requests with the standard's clock, the department's open work, and pages."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from handoff_bot.digests import service as digests
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.models import HandoffState
from handoff_bot.handoffs.service import Draft
from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState, SlackEvent
from handoff_bot.people import KnownProfiles, Profile
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack.conftest import INTAKE, MANAGER, MEMBER, RECIPIENT, REQUESTER, Bot
from tests.slack.test_core_loop import handoff, open_new_form, submit_new
from tests.slack_requests import date_value, radio_value, text_value

S = HandoffState


def texts(view: dict[str, Any]) -> str:
    """Every text of a view, one a line, as the user reads it."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(view.get("blocks", []))
    return "\n".join(found)


def buttons(view: dict[str, Any]) -> list[tuple[str, str]]:
    """(action id, value) of every button in the view, top to bottom."""
    return [(e["action_id"], e.get("value", "")) for b in view.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]]


def open_home(bot: Bot, user: str) -> dict[str, Any]:
    """Open the Home tab as `user` and return what Slack then shows."""
    assert bot.slack.app_home_opened(user).status == 200
    bot.deliver()
    return bot.standin.home(user)


def publishes(bot: Bot, user: str) -> int:
    return len(bot.standin.calls_to("views.publish", user_id=user))


def click(bot: Bot, user: str, action_id: str, view: dict[str, Any]) -> None:
    """Click a button on a Home tab as Slack sends it: from a view, with no channel."""
    assert bot.slack.click(user, action_id, view=view).status == 200


def item_buttons(view: dict[str, Any]) -> list[str]:
    """Every button of the tab's items (not the page or digest buttons), whole, as sorted JSON."""
    return sorted({json.dumps(e, sort_keys=True) for b in view.get("blocks", []) if b["type"] == "actions"
                   and b["block_id"].startswith(("home_item_", "home_request_", "home_held_")) for e in b["elements"]})


def dm_buttons(bot: Bot, user: str) -> list[str]:
    """Every button the user's direct messages from the bot carry now, whole, as sorted JSON."""
    return sorted({json.dumps(e, sort_keys=True) for m in bot.posts(user) for b in m.get("blocks", [])
                   if b["type"] == "actions" for e in b["elements"]})


def dm_answers(bot: Bot, user: str) -> list[str]:
    """The short answers the bot sent the user as direct messages (no blocks), oldest first."""
    return [c.params["text"] for c in bot.standin.calls_to("chat.postMessage", channel=user)
            if c.ok and not c.params.get("blocks")]


def item_text(view: dict[str, Any], containing: str) -> str:
    """The text of the section of the tab that contains `containing`."""
    found = [b["text"]["text"] for b in view.get("blocks", []) if b["type"] == "section" and "text" in b
             and containing in b["text"]["text"]]
    assert len(found) == 1, (containing, texts(view))
    return found[0]


def propose_values(reason: str, due: str | None = None, kind: str = "change") -> dict[str, Any]:
    return {BlockId.PROPOSAL_KIND: {"value": radio_value(kind)}, BlockId.NEW_DUE_DATE: {"value": date_value(due)},
            BlockId.REASON: {"value": text_value(reason)}}


def test_the_recipient_confirms_and_finishes_from_the_home_tab(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, due="2026-03-06")
    home = open_home(bot, RECIPIENT)
    shown = texts(home)
    assert "Waiting on me" in shown and "1 waiting on you" in shown
    assert "*Prepare the Q3 invoice* from <@UREQ>: confirm your understanding" in shown
    assert "confirm due in 19 hours" in shown  # 4 working hours from Tuesday 09:00 in Shanghai
    assert "due 2026-03-06" in shown
    number = str(handoff(bot).id)
    assert buttons(home) == [(ActionId.CONFIRM_UNDERSTANDING, number), (ActionId.ASK, number),
                             (ActionId.PROPOSE, number)]  # as on the recipient's card

    click(bot, RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, home)
    form = bot.wait_view(CallbackId.RESTATE)
    reply = bot.slack.view_submission(RECIPIENT, form, {
        BlockId.point(1): {"value": text_value("Sum by region")}, BlockId.point(2): {"value": text_value("Receipts")}})
    assert reply.status == 200 and not reply.text
    bot.deliver()
    assert handoff(bot).state is S.RESTATED
    home = bot.standin.home(RECIPIENT)  # published again after the change, without opening it
    assert "Nothing waits on you right now." in texts(home)
    # Still theirs, waiting on the requester: shown apart, with what their card offers meanwhile.
    assert "With me, waiting on others" in texts(home) and "1 with you, waiting on others" in texts(home)
    assert "Waiting for <@UREQ> to review the restatement (round 1)" in item_text(home, "Prepare the Q3 invoice* from")
    assert buttons(home) == [(ActionId.ASK, number), (ActionId.PROPOSE, number)]

    # The requester accepts (from their DM); the recipient's tab offers the work to finish.
    bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated"))
    bot.deliver()
    home = bot.standin.home(RECIPIENT)
    assert "understanding agreed; do the work and mark it done" in texts(home)
    assert [a for a, _ in buttons(home)] == [ActionId.MARK_DONE, ActionId.ASK, ActionId.PROPOSE]
    click(bot, RECIPIENT, ActionId.MARK_DONE, home)
    bot.deliver()
    assert handoff(bot).state is S.DONE
    assert buttons(bot.standin.home(RECIPIENT)) == []


def test_a_handoff_no_one_has_claimed_waits_on_everyone_in_the_department_until_one_claims_it(bot: Bot) -> None:
    open_home(bot, MEMBER)
    open_home(bot, RECIPIENT)
    submit_new(bot, open_new_form(bot))  # to Finance's intake channel, no one named
    bot.deliver()
    number = str(handoff(bot).id)
    for user in (MEMBER, RECIPIENT):  # published again for both, without opening it
        home = bot.standin.home(user)
        assert "*Prepare the Q3 invoice* from <@UREQ> to Finance: no one has claimed it yet." in texts(home)
        assert "1 waiting on you" in texts(home) and buttons(home) == [(ActionId.CLAIM, number)]

    click(bot, MEMBER, ActionId.CLAIM, bot.standin.home(MEMBER))
    bot.deliver()
    assert handoff(bot).recipient_id == MEMBER
    assert "confirm your understanding" in texts(bot.standin.home(MEMBER))
    assert "Nothing waits on you right now." in texts(bot.standin.home(RECIPIENT))  # taken off the others' tabs
    assert buttons(bot.standin.home(RECIPIENT)) == []


def test_the_requester_reviews_answers_and_rates_from_the_home_tab(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    home = open_home(bot, REQUESTER)
    assert "Nothing waits on you right now." in texts(home)
    assert "*Prepare the Q3 invoice* to <@UREC> in Finance" in texts(home)
    assert "Waiting for <@UREC> to confirm their understanding" in texts(home)

    # A question from the recipient: the requester answers it from the tab.
    bot.click(RECIPIENT, ActionId.ASK, bot.last(RECIPIENT, "New handoff"))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION_KIND: {"value": radio_value("closed")},
        BlockId.QUESTION: {"value": text_value("EUR or USD?")}})
    bot.deliver()
    home = bot.standin.home(REQUESTER)
    assert "<@UREC> asks about *Prepare the Q3 invoice* (Closed question):\n&gt; EUR or USD?" in texts(home)
    assert [a for a, _ in buttons(home)] == [ActionId.ANSWER, ActionId.CANCEL]  # the request's Cancel below
    click(bot, REQUESTER, ActionId.ANSWER, home)
    bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.ANSWER), {
        BlockId.ANSWER: {"value": text_value("EUR")}})
    bot.deliver()
    assert "EUR" in str(bot.last(RECIPIENT, "answered")["blocks"])
    assert buttons(bot.standin.home(REQUESTER)) == [(ActionId.CANCEL, str(handoff(bot).id))]

    # A restatement: shown on the tab beside the key points, accepted from there.
    bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, bot.last(RECIPIENT, "New handoff"))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.RESTATE), {
        BlockId.point(1): {"value": text_value("Totals by region, in EUR")},
        BlockId.point(2): {"value": text_value("Attach every receipt")}})
    bot.deliver()
    home = bot.standin.home(REQUESTER)
    shown = texts(home)
    assert "restated the key points of *Prepare the Q3 invoice*" in shown
    assert "*1. Totals per region*\n&gt; Totals by region, in EUR" in shown
    assert "*2. Attach receipts*\n&gt; Attach every receipt" in shown
    assert buttons(home) == [(ActionId.ACCEPT, f"{handoff(bot).id}:1"), (ActionId.CLARIFY, f"{handoff(bot).id}:1"),
                             (ActionId.CANCEL, str(handoff(bot).id))]
    click(bot, REQUESTER, ActionId.ACCEPT, home)
    bot.deliver()
    assert handoff(bot).state is S.CONFIRMED
    assert "Understanding confirmed; <@UREC> is on it" in texts(bot.standin.home(REQUESTER))
    assert ":date: due in " in texts(bot.standin.home(REQUESTER))  # no due date: complete_within after confirming

    bot.click(RECIPIENT, ActionId.MARK_DONE, bot.last(RECIPIENT, "confirmed your understanding"))
    bot.deliver()
    home = bot.standin.home(REQUESTER)
    assert "<@UREC> marked *Prepare the Q3 invoice* done. How well was it handled?" in texts(home)
    click(bot, REQUESTER, ActionId.RATE, home)
    bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.RATE), {
        BlockId.RATING: {"value": radio_value("5")}, BlockId.COMMENT: {"value": text_value("")}})
    bot.deliver()
    assert handoff(bot).state is S.RATED
    home = bot.standin.home(REQUESTER)
    assert "Nothing waits on you right now." in texts(home) and "You have no open requests." in texts(home)


def test_a_stale_click_on_the_home_tab_is_answered_by_dm(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    old = open_home(bot, RECIPIENT)
    bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off"))
    bot.deliver()
    assert "Nothing waits on you right now." in texts(bot.standin.home(RECIPIENT))

    click(bot, RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, old)  # the tab as it was before the refresh
    bot.deliver()
    dms = [c.params["text"] for c in bot.standin.calls_to("chat.postMessage", channel=RECIPIENT) if not c.params.get(
        "blocks")]
    assert dms == ["Nothing to do here any more. Now: Cancelled by <@UREQ>."]
    assert bot.standin.calls_to("chat.postEphemeral") == []
    assert handoff(bot).state is S.CANCELLED


def test_the_manager_sees_open_overdue_and_escalated_work(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, title="Close the books", due="2026-03-03")
    submit_new(bot, open_new_form(bot), recipient=MEMBER, title="Renew the licence")
    bot.deliver()
    bot.click(MEMBER, ActionId.CONFIRM_UNDERSTANDING, bot.last(MEMBER, "New handoff"))
    bot.slack.view_submission(MEMBER, bot.wait_view(CallbackId.RESTATE), {
        BlockId.point(1): {"value": text_value("Totals")}, BlockId.point(2): {"value": text_value("Receipts")}})
    bot.deliver()
    bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated"))
    bot.deliver()
    for _hour in range(48):  # two days: reminders unheeded, then the escalation; Tuesday's due date passes
        bot.clock.advance(timedelta(hours=1))
        bot.runtime.followups.run_once()
    bot.deliver()

    home = open_home(bot, MANAGER)
    shown = texts(home)
    assert "Finance: 2 open, 1 overdue, 1 escalated" in shown
    assert "My department: Finance" in shown
    assert "*Open*\n2" in shown and "*Overdue*\n1" in shown and "*Escalated*\n1" in shown
    pressing = shown[shown.index("*Most pressing*"):]
    assert pressing.index("Close the books") < pressing.index("Renew the licence")
    assert ":rotating_light: escalated to the managers" in pressing
    assert ":warning: overdue, was due 2026-03-03" in pressing
    assert "`/handoff list dept`" in shown

    # Neither the requester nor the recipient sees the department part.
    assert "My department" not in texts(open_home(bot, RECIPIENT))
    assert "My department" not in texts(open_home(bot, REQUESTER))


def test_a_retried_visit_publishes_once_and_the_visits_kept_for_that_are_forgotten_after_a_day(bot: Bot) -> None:
    def seen() -> list[str]:
        with bot.runtime.db.read() as session:
            return sorted(session.scalars(select(SlackEvent.event_id)))

    assert bot.slack.app_home_opened(REQUESTER, event_id="Ev1").status == 200
    assert bot.slack.app_home_opened(REQUESTER, event_id="Ev1").status == 200  # Slack's retry
    bot.deliver()
    assert publishes(bot, REQUESTER) == 1
    bot.clock.advance(timedelta(hours=23))
    assert bot.slack.app_home_opened(REQUESTER, event_id="Ev2").status == 200
    bot.clock.advance(timedelta(hours=2))
    bot.runtime.forget_events()  # the hourly job
    assert seen() == ["Ev2"]  # a visit a day old is no longer kept; one an hour old still is
    assert bot.slack.app_home_opened(REQUESTER, event_id="Ev2").status == 200
    bot.deliver()
    assert publishes(bot, REQUESTER) == 2


def test_the_tab_is_published_again_only_for_people_who_opened_it(bot: Bot) -> None:
    open_home(bot, REQUESTER)
    before = publishes(bot, REQUESTER)
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    with bot.runtime.db.transaction() as session:
        pending = session.scalars(select(OutboxMessage.target).where(
            OutboxMessage.kind == NoticeKind.HOME, OutboxMessage.state == OutboxState.PENDING)).all()
    assert pending == [REQUESTER]
    bot.deliver()
    assert publishes(bot, REQUESTER) == before + 1
    assert "Prepare the Q3 invoice" in texts(bot.standin.home(REQUESTER))
    assert publishes(bot, RECIPIENT) == 0 and publishes(bot, MANAGER) == 0

    # Several changes before the outbox runs: one publication, showing the latest state.
    bot.click(RECIPIENT, ActionId.ASK, bot.last(RECIPIENT, "New handoff"))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION_KIND: {"value": radio_value("open")}, BlockId.QUESTION: {"value": text_value("Which?")}})
    bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, bot.last(RECIPIENT, "New handoff"))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.RESTATE), {
        BlockId.point(1): {"value": text_value("a")}, BlockId.point(2): {"value": text_value("b")}})
    with bot.runtime.db.transaction() as session:
        waiting = session.scalar(select(func.count()).where(
            OutboxMessage.kind == NoticeKind.HOME, OutboxMessage.state == OutboxState.PENDING))
    assert waiting == 1
    before = publishes(bot, REQUESTER)
    bot.deliver()
    assert publishes(bot, REQUESTER) == before + 1
    assert [a for a, _ in buttons(bot.standin.home(REQUESTER))] == [ActionId.ACCEPT, ActionId.CLARIFY, ActionId.ANSWER,
                                                                     ActionId.CANCEL]
    assert publishes(bot, RECIPIENT) == 0


def sixty_handoffs(bot: Bot) -> list[str]:
    """60 handoffs from the requester to the recipient (2 blocks each on a tab: more than 100 blocks); their titles."""
    profiles = KnownProfiles({REQUESTER: Profile(REQUESTER, "req", "America/New_York"),
                              RECIPIENT: Profile(RECIPIENT, "rec", "Asia/Shanghai")})
    titles = [f"Task {n:02d}" for n in range(1, 61)]
    with bot.runtime.db.transaction() as session:
        for title in titles:
            handoffs.create(session, Draft(REQUESTER, bot.finance, title, recipient_id=RECIPIENT), directory=profiles,
                            now=bot.clock.now())
    return titles


def test_more_than_a_tab_holds_is_paged(bot: Bot) -> None:
    titles = sixty_handoffs(bot)
    first = open_home(bot, RECIPIENT)
    assert len(first["blocks"]) <= 100
    assert "60 waiting on you" in texts(first) and "Page 1 of 2" in texts(first)
    assert (ActionId.HOME_NEXT, "1") in buttons(first)
    assert ActionId.HOME_PREVIOUS not in [a for a, _ in buttons(first)]

    click(bot, RECIPIENT, ActionId.HOME_NEXT, first)
    bot.deliver()
    second = bot.standin.home(RECIPIENT)
    assert len(second["blocks"]) <= 100
    assert "Page 2 of 2" in texts(second) and "Waiting on me (continued)" in texts(second)
    assert (ActionId.HOME_PREVIOUS, "0") in buttons(second)
    assert ActionId.HOME_NEXT not in [a for a, _ in buttons(second)]
    assert "My requests" in texts(second)  # the parts after the long one are on the last page

    shown = [t for t in titles if f"*{t}*" in texts(first)] + [t for t in titles if f"*{t}*" in texts(second)]
    assert sorted(shown) == titles  # every item once, none lost between pages

    # A change keeps the user on their page; going back shows the first page again.
    with bot.runtime.db.transaction() as session:
        handoffs.cancel(session, 1, REQUESTER, bot.clock.now())
    bot.deliver()
    assert "Page 2 of 2" in texts(bot.standin.home(RECIPIENT))
    click(bot, RECIPIENT, ActionId.HOME_PREVIOUS, bot.standin.home(RECIPIENT))
    bot.deliver()
    again = bot.standin.home(RECIPIENT)
    assert "Page 1 of 2" in texts(again) and "59 waiting on you" in texts(again) and "*Task 01*" not in texts(again)


def test_the_manager_finds_the_digest_from_the_home_tab(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    home = open_home(bot, MANAGER)
    assert "Your weekly digest arrives in your messages with Handoff." in texts(home)
    click(bot, MANAGER, ActionId.HOME_DIGEST, home)
    bot.deliver()
    [sent] = [c for c in bot.standin.calls_to("chat.postMessage", channel=MANAGER) if c.ok]
    assert sent.params["text"].startswith("This week so far (2026-W10)")
    assert "Finance" in str(sent.params["blocks"])

    bot.clock.advance(timedelta(days=7))  # Monday 2026-03-09 10:00 UTC: last week's digest is due
    with bot.runtime.db.transaction() as session:
        assert digests.send_due(session, bot.clock.now()) == 1
    bot.deliver()
    home = open_home(bot, MANAGER)
    assert "Your latest weekly digest (2026-W10) was sent to your messages with Handoff on" in texts(home)
    assert ActionId.HOME_DIGEST in [a for a, _ in buttons(home)]

    # Not a manager (a forged click): told so by DM, nothing sent.
    assert bot.slack.block_action(RECIPIENT, ActionId.HOME_DIGEST, "current", view=home).status == 200
    bot.deliver()
    assert [c.params["text"] for c in bot.standin.calls_to("chat.postMessage", channel=RECIPIENT)
            if not c.params.get("blocks")] == ["You manage no department, so there is nothing to report."]


def test_a_review_on_the_home_tab_shows_every_key_point(bot: Bot) -> None:
    """"That's right" accepts every point: each is shown, shortened if need be, however many there are."""
    points = "\n".join(f"Point {n}: " + "check the R&D figures " * 4 for n in range(1, 11))
    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT, key_points=points).text == ""
    with bot.runtime.db.transaction() as session:
        handoffs.restate(session, handoff(bot).id, RECIPIENT, ["In my words: " + "the R&D <figures> " * 20] * 10,
                         bot.clock.now())
    home = open_home(bot, REQUESTER)
    shown = texts(home)
    assert all(f"*{n}. Point {n}: check the R&amp;D" in shown for n in range(1, 11)), shown
    assert (ActionId.ACCEPT, f"{handoff(bot).id}:1") in buttons(home)
    assert bot.standin.violations == []


def test_the_home_tab_carries_the_buttons_the_dms_carry_in_every_state(bot: Bot) -> None:
    """Through the whole lifecycle, a negotiation included, each side's items offer exactly the buttons their
    direct messages offer at that moment (same action ids, values, labels and confirm dialogs), and every
    step is taken from the tab."""
    def same(*users: str) -> None:
        bot.deliver()
        for user in users:
            assert item_buttons(bot.standin.home(user)) == dm_buttons(bot, user), user

    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, due="2026-03-13")
    bot.deliver()
    open_home(bot, REQUESTER)
    open_home(bot, RECIPIENT)
    h = str(handoff(bot).id)
    same(REQUESTER, RECIPIENT)  # sent: Cancel; Confirm, Ask and Propose
    assert buttons(bot.standin.home(REQUESTER)) == [(ActionId.CANCEL, h)]

    click(bot, RECIPIENT, ActionId.ASK, bot.standin.home(RECIPIENT))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION_KIND: {"value": radio_value("closed")}, BlockId.QUESTION: {"value": text_value("EUR?")}})
    same(REQUESTER, RECIPIENT)  # a question: Answer beside Cancel
    click(bot, REQUESTER, ActionId.ANSWER, bot.standin.home(REQUESTER))
    bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.ANSWER), {
        BlockId.ANSWER: {"value": text_value("Yes")}})
    same(REQUESTER, RECIPIENT)

    click(bot, RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, bot.standin.home(RECIPIENT))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.RESTATE), {
        BlockId.point(1): {"value": text_value("By region")}, BlockId.point(2): {"value": text_value("Receipts")}})
    same(REQUESTER, RECIPIENT)  # restated: That's right and Clarify beside Cancel; Ask and Propose
    click(bot, REQUESTER, ActionId.CLARIFY, bot.standin.home(REQUESTER))
    bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.CLARIFY), {
        BlockId.CLARIFICATION: {"value": text_value("By country")}})
    same(REQUESTER, RECIPIENT)  # clarifying: Restate again, Ask and Propose
    click(bot, RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, bot.standin.home(RECIPIENT))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.RESTATE, count=2), {
        BlockId.point(1): {"value": text_value("By country")}, BlockId.point(2): {"value": text_value("Receipts")}})
    bot.deliver()
    click(bot, REQUESTER, ActionId.ACCEPT, bot.standin.home(REQUESTER))
    same(REQUESTER, RECIPIENT)  # confirmed: Mark done, Ask and Propose
    assert handoff(bot).state is S.CONFIRMED

    # The recipient proposes another date from the tab; the requester counters from theirs.
    click(bot, RECIPIENT, ActionId.PROPOSE, bot.standin.home(RECIPIENT))
    assert bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.PROPOSE), propose_values(
        "Auditors are late", due="2026-03-20")).text == ""
    same(REQUESTER, RECIPIENT)  # Accept and Counter beside Cancel; Ask
    assert handoff(bot).state is S.NEGOTIATING
    assert "Nothing waits on you right now." in texts(bot.standin.home(RECIPIENT))
    assert "Negotiating other terms; waiting for <@UREQ> to answer" in texts(bot.standin.home(RECIPIENT))
    click(bot, REQUESTER, ActionId.COUNTER, bot.standin.home(REQUESTER))
    assert bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.COUNTER), {
        BlockId.NEW_DUE_DATE: {"value": date_value("2026-03-17")},
        BlockId.REASON: {"value": text_value("The board meets on the 18th")}}).text == ""
    same(REQUESTER, RECIPIENT)  # the recipient's turn: Accept and Propose, and Ask as on their card
    assert [a for a, _ in buttons(bot.standin.home(RECIPIENT))] == [ActionId.AGREE, ActionId.PROPOSE, ActionId.ASK]
    click(bot, RECIPIENT, ActionId.AGREE, bot.standin.home(RECIPIENT))
    same(REQUESTER, RECIPIENT)
    assert handoff(bot).state is S.CONFIRMED and str(handoff(bot).due_date) == "2026-03-17"

    click(bot, RECIPIENT, ActionId.MARK_DONE, bot.standin.home(RECIPIENT))
    same(REQUESTER, RECIPIENT)  # done: Rate it, and no Cancel any more
    assert [a for a, _ in buttons(bot.standin.home(REQUESTER))] == [ActionId.RATE]
    click(bot, REQUESTER, ActionId.RATE, bot.standin.home(REQUESTER))
    bot.slack.view_submission(REQUESTER, bot.wait_view(CallbackId.RATE), {
        BlockId.RATING: {"value": radio_value("4")}, BlockId.COMMENT: {"value": text_value("")}})
    same(REQUESTER, RECIPIENT)
    assert handoff(bot).state is S.RATED and buttons(bot.standin.home(REQUESTER)) == []
    # Every click came from the tab, with no channel: nothing was answered as an ephemeral message.
    assert bot.standin.calls_to("chat.postEphemeral") == [] and dm_answers(bot, REQUESTER) == []


def test_the_requester_cancels_from_the_home_tab(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, title="Close the books")
    submit_new(bot, open_new_form(bot), title="Renew the licence")  # to Finance's intake channel, unclaimed
    bot.deliver()
    open_home(bot, RECIPIENT)
    home = open_home(bot, REQUESTER)
    assert item_buttons(home) == dm_buttons(bot, REQUESTER)  # each request's Cancel, with the receipt's dialog
    first, second = 1, 2
    assert buttons(home) == [(ActionId.CANCEL, str(second)), (ActionId.CANCEL, str(first))]  # newest first
    [cancel] = [e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"] if e["value"] == "1"]
    assert cancel["style"] == "danger" and cancel["confirm"]["title"]["text"] == "Cancel this handoff?"

    assert bot.slack.block_action(REQUESTER, ActionId.CANCEL, str(first), view=home).status == 200
    bot.deliver()
    with bot.runtime.db.transaction() as session:
        assert handoffs.load(session, first).state is S.CANCELLED
        assert handoffs.load(session, second).state is S.SENT
    assert "cancelled *Close the books*" in str(bot.last(RECIPIENT, "cancelled")["blocks"])
    recipients = bot.standin.home(RECIPIENT)  # both tabs published again: the other one is still to claim
    assert "Close the books" not in texts(recipients) and buttons(recipients) == [(ActionId.CLAIM, str(second))]
    after = bot.standin.home(REQUESTER)
    assert "Close the books" not in texts(after) and buttons(after) == [(ActionId.CANCEL, str(second))]
    assert dm_buttons(bot, REQUESTER) == item_buttons(after)  # the receipt lost its Cancel too

    # The unclaimed one is cancelled from the tab as well; its intake post loses its Claim button.
    click(bot, REQUESTER, ActionId.CANCEL, after)
    bot.deliver()
    assert handoff(bot).state is S.CANCELLED
    assert "You have no open requests." in texts(bot.standin.home(REQUESTER))
    assert all(b["type"] != "actions" for m in bot.posts(INTAKE) for b in m["blocks"])

    # A second click on the tab as it was (another device): answered by DM, as there is no channel.
    assert bot.slack.block_action(REQUESTER, ActionId.CANCEL, str(first), view=home).status == 200
    bot.deliver()
    assert dm_answers(bot, REQUESTER) == ["Nothing to do here any more. Now: Cancelled by <@UREQ>."]
    assert bot.standin.calls_to("chat.postEphemeral") == []


def test_a_proposal_from_the_home_tab_is_answered_by_dm_when_slack_will_not_open_the_form(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    home = open_home(bot, RECIPIENT)
    bot.standin.trigger_ttl = 0  # Slack refuses the form: the trigger has expired
    click(bot, RECIPIENT, ActionId.PROPOSE, home)
    bot.deliver()
    assert dm_answers(bot, RECIPIENT) == ["Slack could not open the form. Please click the button again."]
    assert bot.standin.calls_to("chat.postEphemeral") == []
    assert handoff(bot).state is S.SENT

    # The recipient may not propose once the requester cancelled: told by DM, from a tab that is out of date.
    bot.standin.trigger_ttl = 60
    bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off"))
    bot.deliver()
    click(bot, RECIPIENT, ActionId.PROPOSE, home)
    bot.deliver()
    assert dm_answers(bot, RECIPIENT)[-1] == "Nothing to do here any more. Now: Cancelled by <@UREQ>."
    assert [c for c in bot.standin.calls_to("views.open")
            if c.ok and c.params["view"]["callback_id"] == CallbackId.PROPOSE] == []


def test_a_question_on_the_requesters_tab_shows_how_long_it_has_waited_not_the_recipients_clock(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    bot.click(RECIPIENT, ActionId.ASK, bot.last(RECIPIENT, "New handoff"))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION_KIND: {"value": radio_value("open")}, BlockId.QUESTION: {"value": text_value("Which?")}})
    bot.deliver()
    bot.clock.advance(timedelta(hours=2))
    home = open_home(bot, REQUESTER)
    question = item_text(home, "asks about")
    assert ":speech_balloon: asked 2 hours ago (<!date^" in question
    assert "confirm" not in question and "Handoff #1" in question
    # The request itself still shows the standard's clock, and so does the recipient's item.
    assert "confirm due in" in item_text(home, "to <@UREC> in Finance")
    assert "confirm due in" in item_text(open_home(bot, RECIPIENT), "confirm your understanding")


def test_requests_with_their_buttons_are_paged(bot: Bot) -> None:
    sixty_handoffs(bot)
    first = open_home(bot, REQUESTER)
    click(bot, REQUESTER, ActionId.HOME_NEXT, first)
    bot.deliver()
    second = bot.standin.home(REQUESTER)
    assert "Page 1 of 2" in texts(first) and "Page 2 of 2" in texts(second)
    assert len(first["blocks"]) <= 100 and len(second["blocks"]) <= 100
    cancels = [v for page in (first, second) for a, v in buttons(page) if a == ActionId.CANCEL]
    assert sorted(cancels, key=int) == [str(n) for n in range(1, 61)]  # each request with its Cancel, once
    for page in (first, second):  # an item and its buttons stay on one page
        blocks = page["blocks"]
        for number, block in enumerate(blocks):
            if block["type"] == "actions" and block["block_id"].startswith("home_request_"):
                assert f"Handoff #{block['elements'][0]['value']}" in blocks[number - 1]["text"]["text"]
