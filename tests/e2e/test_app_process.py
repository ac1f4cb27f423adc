"""`python app.py` as users and operators meet it: a real process, real HTTP, the Slack stand-in.

Run with `-s` to see the ack times of the whole loop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from handoff_bot.db import Database
from handoff_bot.handoffs.models import HandoffState
from handoff_bot.outbox.models import NoticeKind, OutboxState
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.e2e.conftest import (
    CARD_BUTTONS,
    E2E,
    MANAGER,
    OUTSIDER,
    RECIPIENT,
    REQUESTER,
    ROOT,
    SLACK_ACK_LIMIT,
    WAIT,
    AppProcess,
    add_people,
    buttons,
    free_port,
    http_get,
    make_e2e,
    wait_until,
)
from tests.slack_requests import Reply, radio_value, text_value
from tests.slack_standin import SlackStandIn, https_standin

pytestmark = pytest.mark.e2e


def button_value(message: dict[str, Any], action_id: str) -> str:
    return next(str(e.get("value")) for b in message["blocks"] if b.get("type") == "actions"
                for e in b["elements"] if e["action_id"] == action_id)


def ok(reply: Reply) -> None:
    """Slack's view of a good ack: 200 and an empty body (no errors shown to the user)."""
    assert reply.status == 200 and reply.text == "", reply


def submitted(e2e: E2E) -> dict[str, object]:
    """A handoff from the requester to the recipient; its card and receipt have arrived, the outbox is empty."""
    ok(e2e.submit_new(e2e.open_new_form(), recipient=RECIPIENT))
    card = e2e.wait_message(RECIPIENT, "New handoff", with_buttons=CARD_BUTTONS)
    e2e.wait_message(REQUESTER, "You handed off")
    e2e.wait_outbox_idle()
    return card


def test_the_whole_loop_through_the_real_process(e2e: E2E) -> None:
    form = e2e.open_new_form(f"Prepare the Q3 invoice <@{RECIPIENT}|rec>")
    assert next(b for b in form["blocks"] if b.get("block_id") == BlockId.RECIPIENT)["element"][
        "initial_user"] == RECIPIENT
    due = (date.today() + timedelta(days=7)).isoformat()  # the process runs on the real clock
    ok(e2e.submit_new(form, recipient=RECIPIENT, due=due))

    card = e2e.wait_message(RECIPIENT, "New handoff", with_buttons=CARD_BUTTONS)
    assert "Attach receipts" in str(card["blocks"]) and due in str(card["blocks"])
    e2e.wait_message(REQUESTER, "You handed off", with_buttons=[ActionId.CANCEL])

    ok(e2e.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card))
    restate = e2e.wait_view(CallbackId.RESTATE)
    ok(e2e.slack.view_submission(RECIPIENT, restate, {
        BlockId.point(1): {ActionId.INPUT: text_value("Sum the totals by region")},
        BlockId.point(2): {ActionId.INPUT: text_value("Add the receipts")}}))

    review = e2e.wait_message(REQUESTER, "restated", with_buttons=[ActionId.ACCEPT, ActionId.CLARIFY])
    assert "Add the receipts" in str(review["blocks"])
    ok(e2e.click(REQUESTER, ActionId.ACCEPT, review))

    confirmed = e2e.wait_message(RECIPIENT, "confirmed your understanding", with_buttons=[ActionId.MARK_DONE])
    ok(e2e.click(RECIPIENT, ActionId.MARK_DONE, confirmed))

    rating_request = e2e.wait_message(REQUESTER, "marked", with_buttons=[ActionId.RATE])
    ok(e2e.click(REQUESTER, ActionId.RATE, rating_request))
    rate = e2e.wait_view(CallbackId.RATE)
    ok(e2e.slack.view_submission(REQUESTER, rate, {
        BlockId.RATING: {ActionId.INPUT: radio_value("4")},
        BlockId.COMMENT: {ActionId.INPUT: text_value("Quick and right")}}))

    rated = e2e.wait_message(RECIPIENT, "rated")
    assert "Quick and right" in str(rated["blocks"])
    final = e2e.handoff()
    assert (final.state, final.rating, final.rating_comment) == (HandoffState.RATED, 4, "Quick and right")
    assert e2e.audit() == ["create", "restate", "accept", "mark_done", "rate"]
    e2e.wait_outbox_idle()
    assert [m.state for m in e2e.outbox()] == [OutboxState.SENT] * len(e2e.outbox())
    for user in (REQUESTER, RECIPIENT):  # every message brought up to date: no stale buttons
        assert [buttons(m) for m in e2e.standin.messages(user)] == [[]] * len(e2e.standin.messages(user))

    print(f"\nack times of `python app.py` (client wall time, loopback; Slack's limit is {SLACK_ACK_LIMIT:.0f} s)")
    print(e2e.timer.summary())
    assert e2e.timer.slowest() < SLACK_ACK_LIMIT, e2e.timer.summary()
    assert e2e.app.stop() == 0, "SIGTERM should stop the app cleanly"
    assert '"message": "stopped"' in e2e.app.output(tail=5), e2e.app.output(tail=5)


def test_over_https_as_to_slack_the_process_keeps_its_connections(
        tls_certificate: Path, app_env: dict[str, str], launch: Callable[..., AppProcess], app_db: Database) -> None:
    with https_standin(tls_certificate) as slack:  # trusted through SSL_CERT_FILE, as a company's own CA would be
        add_people(slack)
        e2e = make_e2e(launch({**app_env, "SLACK_API_URL": slack.api_url, "SSL_CERT_FILE": str(tls_certificate)}),
                       slack, app_db)
        ok(e2e.submit_new(e2e.open_new_form(), recipient=RECIPIENT))
        card = e2e.wait_message(RECIPIENT, "New handoff", with_buttons=CARD_BUTTONS)
        ok(e2e.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card))
        e2e.wait_view(CallbackId.RESTATE)
        e2e.wait_message(REQUESTER, "You handed off", with_buttons=[ActionId.CANCEL])
        calls = slack.calls  # auth.test at start, users.info, views.open twice, card and receipt …
        assert len(calls) >= 6 and len({c.peer for c in calls}) < len(calls), [(c.method, c.peer) for c in calls]
        assert slack.violations == []
        assert e2e.app.stop() == 0


def test_an_outsiders_click_and_a_double_click_are_answered_privately_and_change_nothing(e2e: E2E) -> None:
    card = submitted(e2e)
    before, forms = e2e.snapshot(), e2e.views_opened()
    ok(e2e.click(OUTSIDER, ActionId.CONFIRM_UNDERSTANDING, card))
    [answer] = e2e.wait_ephemerals(OUTSIDER, 1)
    assert f"Only <@{RECIPIENT}>" in answer
    assert e2e.snapshot() == before and e2e.views_opened() == forms  # no form opened, nothing recorded

    ok(e2e.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card))
    ok(e2e.slack.view_submission(RECIPIENT, e2e.wait_view(CallbackId.RESTATE), {
        BlockId.point(1): {ActionId.INPUT: text_value("a")}, BlockId.point(2): {ActionId.INPUT: text_value("b")}}))
    review = e2e.wait_message(REQUESTER, "restated", with_buttons=[ActionId.ACCEPT, ActionId.CLARIFY])

    # A double click: the same payload twice, at the same moment.
    start = threading.Barrier(2)
    replies: list[Reply] = []
    value = button_value(review, ActionId.ACCEPT)

    def click() -> None:
        start.wait()
        replies.append(e2e.slack.block_action(REQUESTER, ActionId.ACCEPT, value, channel_id=REQUESTER,
                                              message_ts=review["ts"]))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(WAIT)
    assert [r.status for r in replies] == [200, 200] and all(r.text == "" for r in replies), replies
    [answer] = e2e.wait_ephemerals(REQUESTER, 1)
    assert "Nothing to do here any more" in answer, answer
    e2e.wait_message(RECIPIENT, "confirmed your understanding", with_buttons=[ActionId.MARK_DONE])
    e2e.wait_outbox_idle()
    assert e2e.audit() == ["create", "restate", "accept"]
    assert len([m for m in e2e.standin.messages(RECIPIENT) if "confirmed your understanding" in m["text"]]) == 1
    assert len(e2e.ephemerals(REQUESTER)) == 1 and len(e2e.ephemerals(OUTSIDER)) == 1


def test_forged_and_stale_requests_are_refused_and_change_nothing(e2e: E2E) -> None:
    submitted(e2e)
    before, calls = e2e.snapshot(), len(e2e.standin.calls)
    command = b"command=%2Fhandoff&text=&user_id=" + REQUESTER.encode() + b"&trigger_id=t&team_id=T0TEAM"

    forged = e2e.slack.raw(command, {"X-Slack-Request-Timestamp": str(int(time.time())),
                                     "X-Slack-Signature": "v0=" + "0" * 64})
    assert forged.status == 401, forged
    assert e2e.slack.raw(command, sign=False).status == 401
    stale = e2e.slack.raw(command, timestamp=int(time.time()) - 6 * 60)  # correctly signed, 6 minutes old
    assert stale.status == 401, stale
    future = e2e.slack.raw(command, timestamp=int(time.time()) + 6 * 60)
    assert future.status == 401, future

    assert http_get(e2e.app.url + "/healthz")[0] == 200
    assert http_get(e2e.app.url + "/nope")[0] == 404
    assert http_get(e2e.app.url + "/slack/events")[0] == 405
    assert e2e.snapshot() == before
    # Nothing reached Slack either (a manager's scheduled digest, should one fall due, does not count).
    caused = [c for c in e2e.standin.calls[calls:] if MANAGER not in (c.params.get("channel"), c.params.get("user"))]
    assert caused == [], e2e.standin.dump()


PROBLEMS = ["no Slack credentials", "invalid departments file", "another kind of database",
            "database unreachable", "port taken", "bad PORT in the .env of the working directory",
            "Slack's address without a scheme"]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_bad_configuration_stops_the_start_with_a_message_saying_what_to_fix(
    problem: str, standin: SlackStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess], tmp_path: Path
) -> None:
    env, cwd, code = dict(app_env), ROOT, 2
    if problem == "no Slack credentials":
        env.update(SLACK_BOT_TOKEN="", SLACK_SIGNING_SECRET="")  # "": a .env cannot fill them in
        expected = ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "manifest.yml"]
    elif problem == "invalid departments file":
        config = tmp_path / "broken.yml"
        config.write_text("departments:\n  - name: Finance\n    standard:\n      confirm_within: 4 hours\n", "utf-8")
        env["HANDOFF_CONFIG"] = str(config)
        expected = [f"{config}:4:", "confirm_within", "4 hours"]
    elif problem == "another kind of database":
        env["DATABASE_URL"] = "mysql://handoff@127.0.0.1/handoff"
        expected = ["DATABASE_URL must be SQLite", "postgresql+psycopg://", "not mysql"]
    elif problem == "database unreachable":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env["DATABASE_URL"], code = f"postgresql://handoff:secret@127.0.0.1:{port}/handoff", 1
        expected = [f"Cannot use the database postgresql+psycopg://handoff:***@127.0.0.1:{port}/handoff",
                    "Connection refused"]
    elif problem == "port taken":
        taken = socket.socket()
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        env["PORT"] = str(taken.getsockname()[1])
        expected = [f"Cannot listen on 0.0.0.0:{env['PORT']}", "Set PORT to a free port"]
    elif problem == "Slack's address without a scheme":
        env["SLACK_API_URL"] = "slack.example.com/api"
        expected = ["SLACK_API_URL must be an http(s) address", "'slack.example.com/api'"]
    else:
        (tmp_path / ".env").write_text("PORT=eighty\n", "utf-8")
        env.pop("PORT")
        cwd, expected = tmp_path, ["PORT must be a number from 1 to 65535, not 'eighty'"]
    began = time.monotonic()
    app = launch(env, wait=False, cwd=cwd)
    assert app.wait_exit(timeout=15) == code, app.output()
    assert time.monotonic() - began < 15
    output = app.output()
    for text in expected:
        assert text in output, f"{text!r} not in:\n{output}"
    assert "Traceback" not in output and "secret" not in output, output
    if problem != "port taken":
        assert standin.calls_to("auth.test") == []  # refused before talking to Slack


def test_a_notice_queued_when_the_process_is_killed_arrives_exactly_once_after_a_restart(
    standin: SlackStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess], app_db: Database
) -> None:
    """Slack is down (every chat.postMessage fails with 500): the card stays queued. The process is
    killed with SIGKILL; a new one starts on the same database once Slack is back (a fresh stand-in)."""
    add_people(standin)
    standin.fail("chat.postMessage", status=500, times=10_000)
    first = make_e2e(launch(app_env), standin, app_db)
    ok(first.submit_new(first.open_new_form(), recipient=RECIPIENT))
    handoff_id = first.handoff().id

    def card_waits_for_retry() -> bool:
        card = [m for m in first.outbox() if m.kind is NoticeKind.RECIPIENT_CARD]
        return bool(card) and card[0].state is OutboxState.PENDING and card[0].attempts == 1
    wait_until(card_waits_for_retry, what="the card queued for a retry")  # tried once (HTTP 500), again in 1-3 s
    assert first.app.kill() == -9
    assert standin.calls_to("chat.postMessage", channel=RECIPIENT) == []  # only the failed try
    assert len(standin.calls_to("chat.postMessage", channel=RECIPIENT, include_faults=True)) == 1

    with SlackStandIn() as slack_back:
        add_people(slack_back)
        second = make_e2e(launch({**app_env, "PORT": str(free_port()), "SLACK_API_URL": slack_back.api_url}),
                          slack_back, first.db)
        card = second.wait_message(RECIPIENT, "New handoff",
                                   with_buttons=CARD_BUTTONS)
        second.wait_message(REQUESTER, "You handed off")
        second.wait_outbox_idle()
        assert len(slack_back.calls_to("chat.postMessage", channel=RECIPIENT)) == 1, slack_back.dump()
        assert len(slack_back.messages(RECIPIENT)) == 1
        assert second.handoffs() == 1
        assert button_value(card, ActionId.CONFIRM_UNDERSTANDING) == str(handoff_id)  # the one made before the kill
        ok(second.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card))  # and it works in the new process
        second.wait_view(CallbackId.RESTATE)
        assert slack_back.violations == []
