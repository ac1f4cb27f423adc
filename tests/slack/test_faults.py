"""Slack failing: 429s and 500s on the bot's writes, timeouts; the outbox retries by the clock.

The outbox schedules each retry on the injected clock; `pump()` delivers, moves the clock to the next
retry and delivers again until nothing is pending, so no test sleeps through a backoff.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from handoff_bot.db import Database
from handoff_bot.departments.models import Department
from handoff_bot.handoffs.models import Handoff, HandoffState
from handoff_bot.logs import setup_logging
from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState, SlackMessage
from handoff_bot.outbox.service import enqueue, retry_dead
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack.conftest import INTAKE, MANAGER, MEMBER, OUTSIDER, RECIPIENT, REQUESTER, SECRET, Bot
from tests.slack.test_core_loop import buttons, submit_new
from tests.slack_requests import Reply, SlackSender, radio_value, select_value, text_value, user_value
from tests.slack_standin import Call, dm_channel

WRITES = ["chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.publish"]
N = NoticeKind
POSTED = frozenset({N.RECIPIENT_CARD, N.INTAKE_POST, N.RECEIPT, N.REVIEW, N.CLARIFICATION, N.CONFIRMED, N.QUESTION,
                    N.ANSWER, N.RATING_REQUEST, N.RATED, N.CANCELLED, N.REASSIGNED, N.UNDELIVERED})


# --------------------------------------------------------------------------- helpers


def outbox(bot: Bot) -> list[OutboxMessage]:
    with bot.runtime.db.transaction() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def waiting(bot: Bot) -> list[OutboxMessage]:
    return [m for m in outbox(bot) if m.state in (OutboxState.PENDING, OutboxState.SENDING)]


def posted_ephemerals(bot: Bot, user: str) -> list[str]:
    """The answers only `user` sees that came through the outbox (not beside their request)."""
    bot.deliver()
    return [c.params["text"] for c in bot.standin.calls_to("chat.postEphemeral", user=user) if c.ok]


def pump(bot: Bot, rounds: int = 500) -> None:
    """Deliver until nothing is pending, moving the clock to each retry when it is due (never past it)."""
    for _ in range(rounds):
        bot.deliver()
        left = waiting(bot)
        if not left:
            return
        assert all(m.state is OutboxState.PENDING for m in left), "a notice was left claimed"
        # The next retry; notices due already wait behind an earlier one of their handoff.
        later = [m.next_attempt_at for m in left if m.next_attempt_at > bot.clock.now()]
        assert later, f"due notices were not delivered: {[(m.id, m.kind, m.last_error) for m in left]}"
        bot.clock.set(min(later))
    raise AssertionError(f"still pending after {rounds} rounds: {[(m.kind, m.last_error) for m in waiting(bot)]}")


def views_opened(bot: Bot) -> list[Call]:
    return [c for c in bot.standin.calls if c.method == "views.open"]


def modal(bot: Bot, do: Callable[[], Reply], callback: CallbackId, tries: int = 30) -> dict[str, Any]:
    """Do what opens a modal until Slack lets it open, as a user clicks again when nothing happens."""
    for _ in range(tries):
        before = len(views_opened(bot))
        assert do().status == 200
        bot.standin.wait_for(lambda calls, seen=before: len([c for c in calls if c.method == "views.open"]) > seen)
        last = views_opened(bot)[-1]
        if last.ok:
            assert last.response is not None
            view = bot.standin.view(last.response["view"]["id"])
            assert view["callback_id"] == callback
            return view
    raise AssertionError(f"the {callback} modal never opened")


def submit(bot: Bot, user: str, view: dict[str, Any], values: dict[str, Any]) -> None:
    reply = bot.slack.view_submission(user, view, values)
    assert reply.status == 200 and reply.text == "", reply.text


def the_handoff(bot: Bot) -> Handoff:
    with bot.runtime.db.transaction() as session:
        found = session.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert found is not None
        session.expunge(found)
        return found


def posted(bot: Bot) -> list[tuple[str, NoticeKind]]:
    """Every message Slack took from chat.postMessage, in order, as (whom, what) from the bot's records."""
    with bot.runtime.db.transaction() as session:
        records = {(r.channel, r.ts): (r.target, r.kind) for r in session.scalars(select(SlackMessage))}
    found = []
    for call in bot.standin.calls_to("chat.postMessage"):
        if call.ok and call.params.get("blocks"):
            assert call.response is not None
            found.append(records.get((call.response["channel"], call.response["ts"]),
                                     (call.params["channel"], "unrecorded")))
    return found


def rerender(bot: Bot, handoff_id: int) -> list[Call]:
    """Make the bot render every message of the handoff again (Slack healthy); the chat.update calls."""
    bot.standin.fail_ratio([], 0)
    with bot.runtime.db.transaction() as session:
        session.execute(update(SlackMessage).where(SlackMessage.handoff_id == handoff_id).values(content_hash="x"))
        enqueue(session, N.REFRESH, REQUESTER, bot.clock.now(), handoff_id=handoff_id)
    start = len(bot.standin.calls)
    pump(bot)
    return [c for c in bot.standin.calls[start:] if c.method == "chat.update" and c.ok]


# --------------------------------------------------------------------------- the whole loop, 30 % failing


@pytest.mark.parametrize("seed", [7, 2026])
def test_a_full_loop_completes_with_30_percent_of_writes_failing(bot: Bot, seed: int) -> None:
    standin = bot.standin
    standin.fail_ratio(WRITES, 0.3, seed=seed)
    for user in (REQUESTER, RECIPIENT):
        assert bot.slack.app_home_opened(user).status == 200

    form = modal(bot, lambda: bot.slack.command(REQUESTER, ""), CallbackId.NEW)
    assert submit_new(bot, form, recipient=RECIPIENT).text == ""
    pump(bot)
    h = the_handoff(bot).id

    card = bot.last(RECIPIENT, "New handoff")
    ask = modal(bot, lambda: bot.click(RECIPIENT, ActionId.ASK, card), CallbackId.ASK)
    submit(bot, RECIPIENT, ask, {BlockId.QUESTION_KIND: {"value": radio_value("closed")},
                                 BlockId.QUESTION: {"value": text_value("EUR or USD?")}})
    pump(bot)
    question = bot.last(REQUESTER, "asks about")
    answer = modal(bot, lambda: bot.click(REQUESTER, ActionId.ANSWER, question), CallbackId.ANSWER)
    submit(bot, REQUESTER, answer, {BlockId.ANSWER: {"value": text_value("EUR")}})
    pump(bot)

    card = bot.last(RECIPIENT, "New handoff")
    restate = modal(bot, lambda: bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card), CallbackId.RESTATE)
    submit(bot, RECIPIENT, restate, {BlockId.point(1): {"value": text_value("By region")},
                                     BlockId.point(2): {"value": text_value("Receipts")}})
    pump(bot)
    review = bot.last(REQUESTER, "restated")
    assert bot.click(OUTSIDER, ActionId.ACCEPT, review).status == 200  # refused: one ephemeral, whatever fails
    clarify = modal(bot, lambda: bot.click(REQUESTER, ActionId.CLARIFY, review), CallbackId.CLARIFY)
    submit(bot, REQUESTER, clarify, {BlockId.CLARIFICATION: {"value": text_value("With VAT")}})
    pump(bot)

    again = modal(bot, lambda: bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, bot.last(RECIPIENT, "clarified")),
                  CallbackId.RESTATE)
    submit(bot, RECIPIENT, again, {BlockId.point(1): {"value": text_value("By region, VAT included")},
                                   BlockId.point(2): {"value": text_value("Receipts")}})
    pump(bot)
    assert bot.click(REQUESTER, ActionId.ACCEPT, bot.last(REQUESTER, "restated")).status == 200
    pump(bot)
    assert bot.click(RECIPIENT, ActionId.MARK_DONE, bot.last(RECIPIENT, "confirmed your understanding")).status == 200
    pump(bot)
    rate = modal(bot, lambda: bot.click(REQUESTER, ActionId.RATE, bot.last(REQUESTER, "marked")), CallbackId.RATE)
    submit(bot, REQUESTER, rate, {BlockId.RATING: {"value": radio_value("5")}})
    pump(bot)

    final = the_handoff(bot)
    assert (final.state, final.rating, final.rounds) == (HandoffState.RATED, 5, 2)
    faults = Counter(c.fault for c in standin.calls if c.fault)
    assert faults[429] and faults[500], faults  # the stand-in did fail, both ways

    # Every notification arrived, none twice.
    assert Counter(posted(bot)) == {
        (RECIPIENT, N.RECIPIENT_CARD): 1, (RECIPIENT, N.ANSWER): 1, (RECIPIENT, N.CLARIFICATION): 1,
        (RECIPIENT, N.CONFIRMED): 1, (RECIPIENT, N.RATED): 1,
        (REQUESTER, N.RECEIPT): 1, (REQUESTER, N.QUESTION): 1, (REQUESTER, N.REVIEW): 2,
        (REQUESTER, N.RATING_REQUEST): 1,
    }
    assert len(standin.messages(RECIPIENT)) == 5 and len(standin.messages(REQUESTER)) == 5
    # Answers beside a click: through its response_url, else as an ephemeral message through the outbox.
    refused = bot.ephemerals(OUTSIDER)
    assert len(refused) == 1 and "Only <@UREQ>" in refused[0]
    # A click whose modal Slack would not open (a 500, or a 429 not taken again in a second) was
    # answered: the user clicked again.
    tried = [c for c in standin.calls_to("views.open", include_faults=True)
             if c.params["view"]["callback_id"] != CallbackId.NEW]
    unopened = {c.params["trigger_id"] for c in tried} - {c.params["trigger_id"] for c in tried if c.ok}
    assert bot.ephemerals(RECIPIENT) + bot.ephemerals(REQUESTER) == [
        "Slack could not open the form. Please click the button again."] * len(unopened)
    assert all(m.state is OutboxState.SENT for m in outbox(bot)), [(m.kind, m.state) for m in outbox(bot)]

    # Notices of the handoff went out in the order they were queued.
    queued = [(m.target, m.kind) for m in outbox(bot) if m.handoff_id == h and m.kind in POSTED]
    assert posted(bot) == queued

    # chat.update brought every message to its final state: rendering them again changes nothing.
    for user in (REQUESTER, RECIPIENT):
        assert all(buttons(m) == [] for m in bot.posts(user)), "a finished handoff keeps no buttons"
    now_in_slack = {(dm_channel(u), m["ts"]): (m["text"], m["blocks"]) for u in (REQUESTER, RECIPIENT)
                    for m in standin.messages(u)}
    updates = rerender(bot, h)
    assert len(updates) == len(now_in_slack) == 10
    for call in updates:
        assert now_in_slack[(call.params["channel"], call.params["ts"])] == (call.params["text"], call.params["blocks"])

    # The Home tabs show the end state too.
    homes = {u: standin.home(u)["blocks"] for u in (REQUESTER, RECIPIENT)}
    with bot.runtime.db.transaction() as session:
        for user in homes:
            enqueue(session, N.HOME, user, bot.clock.now())
    start = len(standin.calls)
    pump(bot)
    assert len([c for c in standin.calls[start:] if c.method == "views.publish" and c.ok]) == 2
    assert {u: standin.home(u)["blocks"] for u in homes} == homes


# --------------------------------------------------------------------------- retries by the clock


def new_handoff(bot: Bot, **fields: Any) -> Handoff:
    form = modal(bot, lambda: bot.slack.command(REQUESTER, ""), CallbackId.NEW)
    assert submit_new(bot, form, **fields).text == ""
    return the_handoff(bot)


def attempts(bot: Bot, method: str = "chat.postMessage") -> list[Call]:
    return [c for c in bot.standin.calls if c.method == method]


def test_a_429_is_not_retried_before_its_retry_after(bot: Bot) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    bot.standin.fail("chat.postMessage", 429, retry_after=30)
    start = bot.clock.now()
    assert bot.deliver() == 0
    card, receipt = outbox(bot)
    assert (card.kind, card.state, card.attempts) == (N.RECIPIENT_CARD, OutboxState.PENDING, 0)  # 429s cost no attempt
    assert card.next_attempt_at == start + timedelta(seconds=30) and "ratelimited" in (card.last_error or "")
    assert (receipt.kind, receipt.attempts) == (N.RECEIPT, 0)  # held back: notices of a handoff go in order
    assert [c.fault for c in attempts(bot)] == [429]

    bot.clock.advance(timedelta(seconds=29.9))
    assert bot.deliver() == 0
    assert len(attempts(bot)) == 1

    bot.clock.advance(timedelta(seconds=0.1))
    assert bot.deliver() == 2
    assert [(c.params["channel"], c.fault) for c in attempts(bot)] == [
        (RECIPIENT, 429), (RECIPIENT, None), (REQUESTER, None)]


def test_tries_of_a_notice_slack_keeps_rate_limiting_are_logged_once_every_ten_seconds(
        bot: Bot, capsys: pytest.CaptureFixture[str]) -> None:
    root, retries = logging.getLogger(), logging.getLogger("handoff_bot.slack.delivery.retries")
    saved = root.handlers[:], root.level, retries.filters[:]
    try:
        setup_logging()
        new_handoff(bot, recipient=RECIPIENT)
        bot.standin.fail("chat.postMessage", 429, times=20, retry_after=1)
        pump(bot)  # twenty tries in well under ten seconds
    finally:
        root.handlers[:], root.level, retries.filters[:] = saved
    tries = [line for line in capsys.readouterr().err.splitlines() if "failed: " in line]
    assert len(tries) == 1 and "ratelimited" in tries[0]
    assert len([c for c in bot.standin.calls_to("chat.postMessage", include_faults=True) if c.fault]) == 20
    assert {m.state for m in outbox(bot)} == {OutboxState.SENT}


def test_server_errors_back_off_with_growing_waits(bot: Bot) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    bot.standin.fail("chat.postMessage", 500, times=3)
    for attempt in (1, 2, 3):
        failed_at = bot.clock.now()
        assert bot.deliver() == 0
        card = outbox(bot)[0]
        assert (card.state, card.attempts, card.last_error) == (OutboxState.PENDING, attempt, "HTTP 500")
        wait = (card.next_attempt_at - failed_at).total_seconds()
        assert 0.5 * 2 ** attempt <= wait <= 1.5 * 2 ** attempt, (attempt, wait)
        bot.clock.set(card.next_attempt_at - timedelta(milliseconds=100))
        assert bot.deliver() == 0 and len(attempts(bot)) == attempt  # not a moment early
        bot.clock.set(card.next_attempt_at)
    assert bot.deliver() == 2
    assert [c.fault for c in attempts(bot)] == [500, 500, 500, None, None]
    assert [m.state for m in outbox(bot)] == [OutboxState.SENT, OutboxState.SENT]


def test_readiness_answers_while_another_process_holds_the_sqlite_write_lock(bot: Bot) -> None:
    url = bot.runtime.db.engine.url
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite's single writer lock")
    writer = sqlite3.connect(str(url.database), isolation_level=None)  # as the worker in a long write
    writer.execute("BEGIN IMMEDIATE")
    try:
        with ThreadPoolExecutor(1) as pool:
            report = pool.submit(bot.runtime.readiness).result(timeout=5)  # not the 30 s busy timeout
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert report["ready"] is True and report["database"] == "ok"


def get_json(bot: Bot, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(bot.base_url + path, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def database_down(db: Database, url: str = "sqlite:////nonexistent-dir/handoff-down.db") -> Iterator[None]:
    """The app's database replaced by one at `url` (by default one that cannot be opened) meanwhile."""
    other = Database(url)
    saved = db.engine, db._sessions, db._readers
    db.engine, db._sessions, db._readers = other.engine, other._sessions, other._readers
    try:
        yield
    finally:
        db.engine, db._sessions, db._readers = saved
        other.dispose()


def test_with_the_database_down_a_request_is_still_answered_and_the_metrics_still_scraped(bot: Bot) -> None:
    with database_down(bot.runtime.db):
        reply = bot.slack.command(OUTSIDER, "list")  # nobody the app has looked up yet: no profile in memory
        scrape = urllib.request.urlopen(bot.base_url + "/metrics", timeout=5)
        ready = get_json(bot, "/readyz")
    assert reply.status == 200 and reply.json["text"].startswith("Something went wrong on our side")
    text = scrape.read().decode()
    assert scrape.status == 200 and "handoff_database_up 0.0" in text
    assert 'handoff_slack_requests_total{kind="command"} 1.0' in text
    assert ready == (503, {"ready": False, "database": "unreachable"})
    assert "handoff_database_up 1.0" in urllib.request.urlopen(bot.base_url + "/metrics", timeout=5).read().decode()


def test_a_form_that_cannot_open_with_the_database_down_is_explained_through_the_response_url(bot: Bot) -> None:
    with database_down(bot.runtime.db):
        reply = bot.slack.command(REQUESTER, "Renew the licence")
    assert reply.status == 200 and reply.text == ""  # acked before any database work
    answers = bot.standin.calls_to("response_url")
    assert [a.params["text"] for a in answers] == [
        "Something went wrong on our side and nothing was changed. Please try again in a moment."]
    assert answers[0].params["response_type"] == "ephemeral" and not views_opened(bot)


def test_a_database_without_handoffs_tables_is_not_ready(bot: Bot, tmp_path: Path) -> None:
    with database_down(bot.runtime.db, f"sqlite:///{tmp_path / 'empty.db'}"):  # answers, but was never migrated
        assert get_json(bot, "/readyz") == (503, {"ready": False, "database": "error (OperationalError)"})


def test_after_max_attempts_a_notice_is_dead_and_left_alone(bot: Bot) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    pump(bot)
    maximum = bot.runtime.deliverer.max_attempts
    bot.standin.fail("chat.postEphemeral", 500, times=maximum + 5)
    bot.standin.fail("response_url", 500)  # not taken beside the click: the answer goes through the outbox
    assert bot.click(OUTSIDER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off")).status == 200
    pump(bot)
    answer = outbox(bot)[-1]
    assert (answer.kind, answer.state, answer.attempts, answer.last_error) == (
        N.EPHEMERAL, OutboxState.DEAD, maximum, "HTTP 500")
    assert bot.runtime.readiness()["dead_notices"] == 1
    bot.clock.advance(timedelta(days=1))
    assert bot.deliver() == 0
    assert len(attempts(bot, "chat.postEphemeral")) == maximum  # a dead notice is not tried again


def test_after_max_attempts_the_card_is_dead_and_the_requester_is_told(bot: Bot) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    maximum = bot.runtime.deliverer.max_attempts
    bot.standin.fail("chat.postMessage", 500, times=maximum)
    pump(bot)
    card = outbox(bot)[0]
    assert (card.kind, card.state, card.attempts, card.last_error) == (
        N.RECIPIENT_CARD, OutboxState.DEAD, maximum, "HTTP 500")
    assert len(attempts(bot)) == maximum + 2  # the card's tries, then the receipt and the notice of failure
    assert bot.runtime.readiness()["dead_notices"] == 1
    assert bot.standin.messages(RECIPIENT) == []
    assert [m["text"] for m in bot.standin.messages(REQUESTER)] == [
        "You handed off: Prepare the Q3 invoice", "Could not deliver Prepare the Q3 invoice"]
    told = str(bot.last(REQUESTER, "Could not deliver")["blocks"])
    assert f"<@{RECIPIENT}>" in told and "HTTP 500" in told
    assert "ask a manager of Finance to reassign it" in told and "private channel" not in told  # a person


def test_an_error_slack_will_repeat_kills_the_post_at_once(bot: Bot, dept: Callable[..., int]) -> None:
    legal = dept("Legal", members=[MEMBER], intake_channel="legal-requests")  # a name, not a channel id
    new_handoff(bot, department=legal)
    pump(bot)
    post = outbox(bot)[0]
    assert (post.kind, post.state, post.attempts, post.last_error) == (
        N.INTAKE_POST, OutboxState.DEAD, 1, "channel_not_found")
    told = str(bot.last(REQUESTER, "Could not deliver")["blocks"])
    assert "<#legal-requests>" in told and "channel_not_found" in told and "invite @handoff to it" in told
    assert "it is not posted in <#legal-requests> yet" in str(bot.last(REQUESTER, "You handed off")["blocks"])
    assert Counter(kind for _, kind in posted(bot)) == {N.RECEIPT: 1, N.UNDELIVERED: 1}


def test_a_post_that_dies_in_the_intake_channel_an_import_moved_it_to_names_that_channel(
        bot: Bot, dept: Callable[..., int]) -> None:
    legal = dept("Legal", members=[MEMBER], intake_channel="C0LEGAL")
    new_handoff(bot, department=legal)
    with bot.runtime.db.transaction() as session:  # moved before the post went out, to a channel name
        session.get(Department, legal).intake_channel = "legal-requests"
    pump(bot)
    told = str(bot.last(REQUESTER, "Could not deliver")["blocks"])
    assert "<#legal-requests>" in told and "C0LEGAL" not in told
    assert "it is not posted in <#legal-requests> yet" in str(bot.last(REQUESTER, "You handed off")["blocks"])


def test_failed_updates_are_retried_until_no_stale_button_is_left(bot: Bot) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    pump(bot)
    bot.standin.fail("chat.update", 500, times=3)
    bot.standin.fail("chat.update", 429, times=2, retry_after=5)
    assert bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off")).status == 200
    pump(bot)
    assert the_handoff(bot).state is HandoffState.CANCELLED
    assert all(buttons(m) == [] for m in bot.posts(RECIPIENT) + bot.posts(REQUESTER))
    assert Counter(c.fault for c in attempts(bot, "chat.update")) == {500: 3, 429: 2, None: 2}
    assert Counter(kind for _, kind in posted(bot)) == {N.RECIPIENT_CARD: 1, N.RECEIPT: 1, N.CANCELLED: 1}


@pytest.mark.parametrize(("retry_after", "wait"), [
    ("1.5", 1.5), ("Mon, 02 Mar 2026 10:00:30 GMT", 30.0), ("soon", None)])
def test_a_retry_after_in_decimal_seconds_or_as_a_date_is_waited_for_and_one_unreadable_backs_off(
        bot: Bot, retry_after: str, wait: float | None) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    bot.standin.fail("chat.postMessage", 429, retry_after=retry_after)
    start = bot.clock.now()
    assert bot.deliver() == 0
    card = outbox(bot)[0]
    assert (card.state, card.attempts) == (OutboxState.PENDING, 0) and "ratelimited" in (card.last_error or "")
    if wait is not None:
        assert card.next_attempt_at == start + timedelta(seconds=wait)
    else:  # the backoff of a first failure
        assert 0.5 <= (card.next_attempt_at - start).total_seconds() <= 1.5
    pump(bot)
    assert bot.last(RECIPIENT, "New handoff")
    assert {m.state for m in outbox(bot)} == {OutboxState.SENT}


def claimed_and_cancelled(bot: Bot) -> tuple[dict[str, Any], dict[str, Any]]:
    """A handoff posted in Finance's intake channel, claimed there by a member, then cancelled by the
    requester; returns the intake post and the requester's receipt, as first posted."""
    new_handoff(bot)
    pump(bot)
    post, receipt = bot.last(INTAKE, "New handoff for Finance"), bot.last(REQUESTER, "You handed off")
    assert buttons(post) == [ActionId.CLAIM] and buttons(receipt) == [ActionId.CANCEL]
    assert bot.click(MEMBER, ActionId.CLAIM, post).status == 200
    pump(bot)
    assert f"<@{MEMBER}>" in str(bot.now(receipt)["blocks"])  # the claim reached the requester's copy
    assert bot.click(REQUESTER, ActionId.CANCEL, bot.now(receipt)).status == 200
    pump(bot)
    assert the_handoff(bot).state is HandoffState.CANCELLED
    assert all(buttons(m) == [] for m in bot.posts(REQUESTER) + bot.posts(MEMBER))
    assert {m.state for m in outbox(bot)} == {OutboxState.SENT}
    return post, receipt


@pytest.mark.parametrize("error", ["not_in_channel", "cant_update_message", "edit_window_closed", "is_archived"])
def test_a_message_slack_will_not_let_the_bot_change_is_left_and_the_handoffs_others_still_change(
        bot: Bot, error: str, caplog: pytest.LogCaptureFixture) -> None:
    """Say the bot was removed from the private intake channel: its post there keeps its Claim button,
    but the receipt, the card and every later update still go out, and the operator is told which channel."""
    bot.standin.refuse("chat.update", error, channel=INTAKE)
    with caplog.at_level(logging.WARNING, "handoff_bot.slack.delivery"):
        post, _receipt = claimed_and_cancelled(bot)
    assert buttons(bot.now(post)) == [ActionId.CLAIM]  # what Slack would not change
    assert len(bot.standin.calls_to("chat.update", include_faults=True, channel=INTAKE)) == 1  # not tried again
    told = [r.getMessage() for r in caplog.records if r.name == "handoff_bot.slack.delivery"]
    assert len(told) == 1 and INTAKE in told[0] and error in told[0], told


def test_a_cancelled_handoff_whose_intake_post_the_bot_was_removed_from_still_updates_the_receipt(bot: Bot) -> None:
    new_handoff(bot)
    pump(bot)
    receipt = bot.last(REQUESTER, "You handed off")
    bot.standin.refuse("chat.update", "not_in_channel", channel=INTAKE)
    assert bot.click(REQUESTER, ActionId.CANCEL, receipt).status == 200
    pump(bot)
    assert buttons(bot.now(receipt)) == []
    assert "it was posted in <#C0FININTAKE>" in str(bot.now(receipt)["blocks"])  # it was, though it stays stale
    assert {m.state for m in outbox(bot)} == {OutboxState.SENT}


def test_an_update_slack_refuses_for_its_content_is_skipped_and_the_next_change_updates_that_message(
        bot: Bot) -> None:
    bot.standin.refuse("chat.update", "invalid_blocks", times=1, channel=INTAKE)
    post, receipt = claimed_and_cancelled(bot)
    assert "Cancelled by <@UREQ>" in str(bot.now(post)["blocks"]) and buttons(bot.now(post)) == []
    assert "it was posted in <#C0FININTAKE>" not in str(bot.now(receipt)["blocks"])  # claimed: "to <@UMEM>"


def test_a_refused_token_is_not_blamed_on_the_message_it_failed_on(bot: Bot) -> None:
    """The bot's token refused (the app uninstalled, say) as a message is updated: the refresh waits for
    the token to work again, and then that message is updated like the others."""
    new_handoff(bot)
    pump(bot)
    post, receipt = bot.last(INTAKE, "New handoff for Finance"), bot.last(REQUESTER, "You handed off")
    bot.standin.refuse("chat.update", "account_inactive", times=1, channel=INTAKE)
    assert bot.click(REQUESTER, ActionId.CANCEL, receipt).status == 200
    pump(bot)
    assert all(m.state is OutboxState.SENT for m in outbox(bot))
    assert buttons(bot.now(post)) == [] and buttons(bot.now(receipt)) == []


def test_a_refusal_slack_fails_to_show_holds_up_none_of_the_handoffs_notices(bot: Bot) -> None:
    new_handoff(bot)
    pump(bot)
    post = bot.last(INTAKE, "New handoff for Finance")
    bot.standin.refuse("chat.postEphemeral", "fatal_error", times=2, user=OUTSIDER)
    bot.standin.fail("response_url", 500)  # not taken beside the click: the answer goes through the outbox
    assert bot.click(OUTSIDER, ActionId.CLAIM, post).status == 200
    assert bot.click(MEMBER, ActionId.CLAIM, post).status == 200
    bot.deliver()  # the clock has not moved: the refusal waits for its retry, and nothing else does
    assert buttons(bot.now(post)) == [] and buttons(bot.last(MEMBER, "New handoff"))
    assert bot.standin.calls_to("chat.postEphemeral", user=OUTSIDER) == []
    pump(bot)  # then it goes out too
    [answer] = bot.standin.calls_to("chat.postEphemeral", user=OUTSIDER)
    assert "Only members of Finance" in answer.params["text"]


def test_a_refusal_is_shown_beside_the_click_even_where_the_bot_is_not_a_member(bot: Bot) -> None:
    """An intake channel the bot posts in without being invited (chat:write.public) takes no ephemeral
    message from it; the click's response_url answers there all the same, with nothing queued."""
    new_handoff(bot)
    pump(bot)
    post = bot.last(INTAKE, "New handoff for Finance")
    bot.standin.refuse("chat.postEphemeral", "not_in_channel", channel=INTAKE)
    assert bot.click(OUTSIDER, ActionId.CLAIM, post).status == 200
    [answer] = [c for c in bot.standin.calls_to("response_url") if c.ok and c.user == OUTSIDER]
    assert "Only members of Finance" in answer.params["text"]
    assert (answer.params["response_type"], answer.params["replace_original"]) == ("ephemeral", False)
    assert bot.standin.calls_to("chat.postEphemeral", include_faults=True) == []
    assert not [m for m in outbox(bot) if m.kind is N.EPHEMERAL]


@pytest.mark.parametrize("error", ["user_not_in_channel", "channel_not_found"])
def test_a_refusal_slack_will_not_show_beside_the_message_comes_as_a_direct_message(bot: Bot, error: str) -> None:
    new_handoff(bot)
    pump(bot)
    post = bot.last(INTAKE, "New handoff for Finance")
    bot.standin.refuse("chat.postEphemeral", error, user=OUTSIDER)
    bot.standin.fail("response_url", 500)  # not taken beside the click: the answer goes through the outbox
    assert bot.click(OUTSIDER, ActionId.CLAIM, post).status == 200
    assert bot.deliver() == 1
    assert "Only members of Finance" in bot.last(OUTSIDER)["text"]
    assert len(bot.standin.calls_to("chat.postEphemeral", include_faults=True, user=OUTSIDER)) == 1
    assert {m.state for m in outbox(bot)} == {OutboxState.SENT}


# --------------------------------------------------------------------------- timeouts


def timed_out_card(bot: Bot) -> None:
    """The first post of the card reaches Slack, but its answer comes after the bot stopped waiting."""
    new_handoff(bot, recipient=RECIPIENT)
    bot.runtime.deliverer.client.timeout = 0.3
    bot.standin.delay("chat.postMessage", 0.8)
    assert bot.deliver() == 0
    card = outbox(bot)[0]
    assert (card.state, card.attempts) == (OutboxState.PENDING, 1)
    assert "timed out" in (card.last_error or "").lower() or "timeout" in (card.last_error or "").lower()
    bot.standin.delay("chat.postMessage", 0)
    pump(bot)


def test_a_timed_out_post_is_retried_and_the_card_arrives(bot: Bot) -> None:
    timed_out_card(bot)
    assert all(m.state is OutboxState.SENT for m in outbox(bot))
    assert len([m for m in bot.standin.messages(RECIPIENT) if "New handoff" in m["text"]]) >= 1


def test_a_slow_users_info_does_not_hold_an_ack_past_slacks_3_seconds(bot: Bot) -> None:
    """Acks that need profiles Slack is slow to give use what is known instead of waiting."""
    form = modal(bot, lambda: bot.slack.command(REQUESTER, ""), CallbackId.NEW)
    for user in ("UNEW", "UNEWER"):  # never looked up yet, nor is MEMBER
        bot.standin.add_user(user, locale="zh-CN")
    bot.standin.delay("users.info", 4.0)

    began = time.monotonic()
    reply = bot.slack.command("UNEW", "help")
    assert time.monotonic() - began < 3.0
    assert reply.status == 200 and reply.json and reply.json["text"] == "How to use Handoff"  # language unknown

    began = time.monotonic()  # the submitter and the recipient, both unknown
    assert bot.slack.view_submission("UNEWER", form, {
        BlockId.DEPARTMENT: {ActionId.INPUT: select_value(str(bot.finance))},
        BlockId.RECIPIENT: {ActionId.INPUT: user_value(MEMBER)},
        BlockId.TITLE: {ActionId.INPUT: text_value("Prepare the Q3 invoice")},
    }).text == ""
    assert time.monotonic() - began < 3.0
    assert (the_handoff(bot).requester_id, the_handoff(bot).recipient_id) == ("UNEWER", MEMBER)

    began = time.monotonic()  # Slack is asked again only a minute later
    assert bot.slack.command("UNEW", "help").status == 200
    assert time.monotonic() - began < 0.5
    bot.standin.delay("users.info", 0)
    bot.clock.advance(timedelta(minutes=1))
    assert bot.slack.command("UNEW", "help").json["text"] == "Handoff 使用说明"


def test_a_form_slack_would_not_open_is_explained_to_whoever_asked(bot: Bot) -> None:
    form = modal(bot, lambda: bot.slack.command(REQUESTER, ""), CallbackId.NEW)
    assert submit_new(bot, form, recipient=RECIPIENT).text == ""
    pump(bot)
    card = bot.last(RECIPIENT, "New handoff")
    bot.standin.trigger_ttl = 0  # every trigger_id has expired by the time the form is opened

    assert bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card).status == 200
    assert bot.slack.command(REQUESTER, "").status == 200
    answers = [c.params.get("text") for c in bot.standin.calls_to("response_url") if c.ok]
    assert answers == ["Slack could not open the form. Please click the button again.",
                       "Slack could not open the form (expired_trigger_id). Please type /handoff again."]
    assert the_handoff(bot).state is HandoffState.SENT

    bot.standin.fail("response_url", 500)  # Slack does not take the answer there: it comes through the outbox
    assert bot.slack.command(REQUESTER, "").status == 200
    pump(bot)
    assert posted_ephemerals(bot, REQUESTER) == answers[1:]  # the same answer


def test_a_click_that_comes_without_a_trigger_id_is_asked_again(bot: Bot) -> None:
    form = modal(bot, lambda: bot.slack.command(REQUESTER, ""), CallbackId.NEW)
    assert submit_new(bot, form, recipient=RECIPIENT).text == ""
    pump(bot)
    card = bot.last(RECIPIENT, "New handoff")
    assert bot.slack.block_action(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, str(the_handoff(bot).id),
                                  channel_id=RECIPIENT, message_ts=card["ts"], without=("trigger_id",)).status == 200
    answers = [c.params.get("text") for c in bot.standin.calls_to("response_url")]
    assert answers == ["Slack could not open the form. Please click the button again."]  # not "went wrong"
    assert len(bot.standin.calls_to("views.open")) == 1  # the /handoff form's: Slack was not asked without one


def delayed_work(bot: Bot, delay: timedelta) -> SlackSender:
    """A sender whose requests go to the app as a WSGI server hands them over, and `delay` passes on
    the app's clock between the answer and the work the request started (queued behind others)."""
    def send(body: bytes, headers: dict[str, str]) -> Reply:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "QUERY_STRING": "",
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                   **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()
                      if k.lower() not in ("content-type", "content-length")},
                   "CONTENT_TYPE": headers.get("Content-Type", "")}
        started: list[Any] = []
        answer = bot.runtime.wsgi(environ, lambda status, head, *_: started.append((int(status[:3]), dict(head))))
        text = b"".join(answer).decode()
        bot.clock.advance(delay)
        answer.close()  # the answer is out: the work starts
        assert bot.runtime.after_response.wait_idle(10)
        return Reply(started[0][0], started[0][1], text, None)

    return SlackSender(None, SECRET, bot.standin, transport=send)


def test_a_form_whose_trigger_expired_while_its_job_waited_is_not_asked_of_slack(bot: Bot) -> None:
    """In a burst a form's job can wait past the trigger's 3 s: Slack would refuse it, so it is not
    asked, and the user is told at once to type /handoff again; a click's modal likewise."""
    late = delayed_work(bot, timedelta(seconds=3.5))
    assert late.command(REQUESTER, "").status == 200
    answers = [c.params.get("text") for c in bot.standin.calls_to("response_url")]
    assert answers == ["Slack could not open the form (expired_trigger_id). Please type /handoff again."]
    assert bot.standin.calls_to("views.open") == []

    form = modal(bot, lambda: delayed_work(bot, timedelta(seconds=2.5)).command(REQUESTER, ""), CallbackId.NEW)
    assert submit_new(bot, form, recipient=RECIPIENT).text == ""
    pump(bot)
    card = bot.last(RECIPIENT, "New handoff")
    assert late.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, channel=RECIPIENT, ts=card["ts"]).status == 200
    answers = [c.params.get("text") for c in bot.standin.calls_to("response_url")]
    assert answers[1:] == ["Slack could not open the form. Please click the button again."]
    assert len(bot.standin.calls_to("views.open")) == 1  # the form's
    bot.standin.fail("response_url", 500)  # then it comes through the outbox, as a message only they see
    assert late.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, channel=RECIPIENT, ts=card["ts"]).status == 200
    pump(bot)
    assert posted_ephemerals(bot, RECIPIENT) == ["Slack could not open the form. Please click the button again."]
    restate = modal(bot, lambda: bot.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card), CallbackId.RESTATE)
    assert restate["callback_id"] == CallbackId.RESTATE


def test_a_form_slack_rate_limits_for_a_second_still_opens_and_a_longer_limit_is_explained(bot: Bot) -> None:
    bot.standin.fail("views.open", status=429, times=1, retry_after=1)
    assert bot.slack.command(REQUESTER, "").status == 200
    tries = bot.standin.calls_to("views.open", include_faults=True)
    assert [c.fault for c in tries] == [429, None] and tries[0].params["trigger_id"] == tries[1].params["trigger_id"]
    assert tries[1].ok and bot.standin.calls_to("response_url") == []

    bot.standin.fail("views.open", status=429, times=1, retry_after=30)  # beyond the trigger's 3 s
    assert bot.slack.command(REQUESTER, "").status == 200
    assert len(bot.standin.calls_to("views.open", include_faults=True)) == 3
    answers = [c.params.get("text") for c in bot.standin.calls_to("response_url")]
    assert answers == ["Slack could not open the form (ratelimited). Please type /handoff again."]


def test_the_outbox_waits_longer_for_a_slow_users_info_than_an_ack_does(bot: Bot) -> None:
    """A notice answers nobody waiting: it is worth two seconds to get the person's language right."""
    bot.standin.add_user("UZH", locale="zh-CN")
    bot.standin.delay("users.info", 2.0)
    with bot.runtime.db.transaction() as session:
        enqueue(session, N.EPHEMERAL, "UZH", bot.clock.now(), text="That button is no longer in use.")
    assert bot.deliver() == 1
    posted = bot.standin.calls_to("chat.postMessage", channel="UZH")
    assert [c.params["text"] for c in posted] == ["这个按钮已不再使用。"]


def test_a_dead_card_retried_later_updates_the_requesters_could_not_deliver_message(bot: Bot) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    bot.standin.fail("chat.postMessage", 500, times=bot.runtime.deliverer.max_attempts)
    pump(bot)
    told = bot.last(REQUESTER, "Could not deliver")
    with bot.runtime.db.transaction() as session:
        assert retry_dead(session, None, bot.clock.now()) == 1  # what `python -m handoff_bot outbox retry` does
    pump(bot)
    assert bot.last(RECIPIENT, "New handoff")
    assert "reached <@UREC> after all" in str(bot.now(told)["blocks"])
    assert bot.now(told)["text"] == "Delivered Prepare the Q3 invoice"


def test_a_dead_card_retried_after_the_handoff_was_cancelled_is_not_posted(bot: Bot) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    bot.standin.fail("chat.postMessage", 500, times=bot.runtime.deliverer.max_attempts)
    pump(bot)
    told = bot.last(REQUESTER, "Could not deliver")
    assert bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off")).status == 200
    pump(bot)
    with bot.runtime.db.transaction() as session:
        assert retry_dead(session, None, bot.clock.now()) == 1
    pump(bot)
    assert not [m for m in bot.posts(RECIPIENT) if "New handoff" in m["text"]]  # a card for nothing to do
    assert bot.now(told)["text"] == "Could not deliver Prepare the Q3 invoice"
    assert all(m.state is OutboxState.SENT for m in outbox(bot))


@pytest.mark.parametrize("ending", ["cancel", "reassign"])
def test_a_recipient_whose_card_never_arrived_hears_nothing_when_the_handoff_ends_for_them(
        bot: Bot, ending: str) -> None:
    new_handoff(bot, recipient=RECIPIENT)
    bot.standin.fail("chat.postMessage", 500, times=1)
    bot.deliver()  # the card's first try fails; it waits for its retry
    h = str(outbox(bot)[0].handoff_id)
    if ending == "cancel":
        assert bot.slack.block_action(REQUESTER, ActionId.CANCEL, h, channel_id="DREQ").status == 200
    else:
        assert bot.slack.block_action(MANAGER, ActionId.REASSIGN, h, channel_id="DMGR").status == 200
        assert bot.slack.view_submission(MANAGER, bot.wait_view(CallbackId.REASSIGN), {
            BlockId.RECIPIENT: {"value": user_value(MEMBER)}}).text == ""
    pump(bot)
    assert bot.standin.messages(RECIPIENT) == []  # neither the card nor "cancelled" / "reassigned"
    assert all(m.state is OutboxState.SENT for m in outbox(bot))


def test_a_notice_that_cannot_be_rendered_ends_dead_and_holds_up_nothing_after_it(bot: Bot) -> None:
    """A notice the code fails on (here one about a question that is not there) counts its tries like a
    Slack error and ends dead, visible; the handoff's later notices still go out."""
    form = modal(bot, lambda: bot.slack.command(REQUESTER, ""), CallbackId.NEW)
    assert submit_new(bot, form, recipient=RECIPIENT).text == ""
    pump(bot)
    with bot.runtime.db.transaction() as session:
        broken = enqueue(session, NoticeKind.QUESTION, REQUESTER, bot.clock.now(),
                         handoff_id=the_handoff(bot).id, question=999999)
        session.flush()
        broken_id = broken.id
    assert bot.click(REQUESTER, ActionId.CANCEL, bot.last(REQUESTER, "You handed off")).status == 200
    pump(bot)
    [dead] = [m for m in outbox(bot) if m.id == broken_id]
    assert dead.state is OutboxState.DEAD and dead.attempts == 8 and "AssertionError" in dead.last_error
    assert bot.last(RECIPIENT, "cancelled")["text"] == "<@UREQ> cancelled Prepare the Q3 invoice"


def test_a_refused_token_gives_up_no_notice_and_everything_goes_out_once_it_works(bot: Bot) -> None:
    """A revoked token is no notice's fault: delivery waits (the process not ready, saying why) instead of
    declaring every notice dead and telling each requester their handoff did not arrive."""
    form = modal(bot, lambda: bot.slack.command(REQUESTER, ""), CallbackId.NEW)
    bot.standin.refuse("chat.postMessage", "token_revoked", times=3)
    assert submit_new(bot, form, recipient=RECIPIENT).text == ""
    for _ in range(3):  # a minute apart: one call each time, not one per notice
        bot.deliver()
        assert get_json(bot, "/readyz")[1]["slack"] == "token refused (token_revoked)"
        bot.clock.advance(timedelta(minutes=1))
    assert len(bot.standin.calls_to("chat.postMessage", include_faults=True)) == 3
    assert all(m.state is OutboxState.PENDING for m in outbox(bot))

    pump(bot)  # the token works again
    assert [m.state for m in outbox(bot)] == [OutboxState.SENT] * len(outbox(bot))
    assert bot.last(RECIPIENT, "New handoff") and bot.last(REQUESTER, "You handed off")
    assert not [m for m in outbox(bot) if m.kind is NoticeKind.UNDELIVERED]  # no "could not deliver"
    status, ready = get_json(bot, "/readyz")
    assert status == 200 and ready["ready"] and "slack" not in ready
