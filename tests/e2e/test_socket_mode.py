"""`python app.py` with SLACK_APP_TOKEN: Socket Mode through `apps.connections.open` and a WebSocket.

The Web API stand-in answers `apps.connections.open` with the URL of a local WebSocket server
(`tests/socket_mode_standin.py`, stdlib only); commands and interactions arrive as envelopes and
the app's acks come back over the same connection, as with Slack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from handoff_bot.db import Database
from handoff_bot.handoffs.models import HandoffState
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.e2e.conftest import (
    CARD_BUTTONS,
    E2E,
    RECIPIENT,
    REQUESTER,
    SLACK_ACK_LIMIT,
    AppProcess,
    add_people,
    http_get,
    make_e2e,
    wait_until,
)
from tests.slack_requests import text_value
from tests.socket_mode_standin import SocketModeServer, SocketModeStandIn, socket_transport

pytestmark = pytest.mark.e2e

APP_TOKEN = "xapp-1-A0HANDOFF-1-e2e"


@pytest.fixture
def socket_server() -> Iterator[SocketModeServer]:
    with SocketModeServer() as server:
        yield server


@pytest.fixture
def standin(socket_server: SocketModeServer) -> Iterator[SocketModeStandIn]:
    """The Web API stand-in, answering apps.connections.open with `socket_server`'s URLs."""
    with SocketModeStandIn(socket_server) as running:
        yield running
        assert running.violations == [], "Slack would refuse these payloads:\n" + "\n".join(running.violations)


@pytest.fixture
def socket_e2e(standin: SocketModeStandIn, socket_server: SocketModeServer, app_env: dict[str, str],
               launch: Callable[..., AppProcess], app_db: Database) -> E2E:
    """`python app.py` in Socket Mode, connected; requests go to it as envelopes."""
    add_people(standin)
    app = launch({**app_env, "SLACK_APP_TOKEN": APP_TOKEN})
    socket_server.wait_connected()
    return make_e2e(app, standin, app_db, socket_transport(socket_server))


def test_help_over_socket_mode_is_acked_with_the_help_payload(socket_e2e: E2E, socket_server: SocketModeServer) -> None:
    [opened] = socket_e2e.standin.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN  # the app-level token, not the bot token

    reply = socket_e2e.slack.command(REQUESTER, "help")
    assert reply.status == 200 and reply.json is not None, reply
    assert reply.json["response_type"] == "ephemeral" and reply.json["text"] == "How to use Handoff"
    assert "/handoff" in str(reply.json["blocks"])
    assert socket_server.connections[0].unmasked_frames == 0  # the client masks its frames, as it must

    # Slack refreshes connections every few hours: the app opens a new URL and goes on answering.
    socket_server.refresh()
    assert len(socket_e2e.standin.calls_to("apps.connections.open")) == 2
    reply = socket_e2e.slack.command(REQUESTER, "help")
    assert reply.status == 200 and reply.json and reply.json["text"] == "How to use Handoff", reply

    assert socket_e2e.timer.slowest() < SLACK_ACK_LIMIT, socket_e2e.timer.summary()
    assert socket_e2e.app.stop() == 0, "SIGTERM should stop the app cleanly in Socket Mode too"


def test_a_view_submission_over_socket_mode_creates_a_handoff_and_the_card_arrives(socket_e2e: E2E) -> None:
    form = socket_e2e.open_new_form()  # the command's ack carries no payload; the form opens right after
    reply = socket_e2e.submit_new(form, recipient=RECIPIENT)
    assert reply.status == 200 and reply.text == "", reply  # an ack without payload closes the modal
    assert socket_e2e.handoff().state is HandoffState.SENT

    card = socket_e2e.wait_message(RECIPIENT, "New handoff",
                                   with_buttons=CARD_BUTTONS)
    socket_e2e.wait_message(REQUESTER, "You handed off")

    assert socket_e2e.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card).status == 200
    restate = socket_e2e.wait_view(CallbackId.RESTATE)
    errors = socket_e2e.slack.view_submission(RECIPIENT, restate, {
        BlockId.point(1): {ActionId.INPUT: text_value("Sum the totals by region")}})  # point 2 left empty
    assert errors.status == 200 and errors.json and errors.json["response_action"] == "errors", errors
    assert socket_e2e.handoff().state is HandoffState.SENT

    print("\nack times over Socket Mode (envelope sent → ack received)")
    print(socket_e2e.timer.summary())
    assert socket_e2e.timer.slowest() < SLACK_ACK_LIMIT, socket_e2e.timer.summary()


def test_a_refused_app_token_stops_the_start_with_exit_code_2(
    standin: SocketModeStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess]
) -> None:
    app = launch({**app_env, "SLACK_APP_TOKEN": "xoxb-pasted-by-mistake"}, wait=False)  # not an app-level token
    assert app.wait_exit(timeout=15) == 2, app.output()
    output = app.output()
    assert "SLACK_APP_TOKEN" in output and "Traceback" not in output, output


def test_an_app_token_slack_refuses_stops_the_start_with_exit_code_2(
    standin: SocketModeStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess]
) -> None:
    standin.valid_tokens = {app_env["SLACK_BOT_TOKEN"]}  # a revoked xapp- token: apps.connections.open refuses it
    app = launch({**app_env, "SLACK_APP_TOKEN": "xapp-1-revoked"}, wait=False)
    assert app.wait_exit(timeout=15) == 2, app.output()
    output = app.output()
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in output and "Traceback" not in output, output


def test_a_rate_limited_connection_at_start_does_not_hold_up_the_http_server(
    standin: SocketModeStandIn, socket_server: SocketModeServer, app_env: dict[str, str],
    launch: Callable[..., AppProcess],
) -> None:
    standin.fail("apps.connections.open", 429, times=1, retry_after=120)  # slack_sdk sleeps it out, then tries again
    app = launch({**app_env, "SLACK_APP_TOKEN": APP_TOKEN})  # /healthz answers (within START_TIMEOUT, not 120 s)
    assert len(standin.calls_to("apps.connections.open", include_faults=True)) == 1  # still sleeping it out
    status, body = http_get(app.url + "/readyz")
    assert (status, json.loads(body)["socket_mode"]) == (503, "disconnected")
    assert "Socket Mode is not connected yet; retrying in the background" in app.output()


def test_slack_failing_to_open_a_connection_at_start_is_retried_not_taken_for_a_bad_token(
    standin: SocketModeStandIn, socket_server: SocketModeServer, app_env: dict[str, str],
    launch: Callable[..., AppProcess], app_db: Database,
) -> None:
    add_people(standin)
    standin.fail("apps.connections.open", 500, times=2)
    app = launch({**app_env, "SLACK_APP_TOKEN": APP_TOKEN})  # up: /healthz answers
    socket_server.wait_connected(timeout=15)  # after 1 s and 2 s more
    assert len(standin.calls_to("apps.connections.open", include_faults=True)) == 3
    wait_until(lambda: http_get(app.url + "/readyz")[0] == 200, 5, "/readyz 200")
    reply = make_e2e(app, standin, app_db, socket_transport(socket_server)).slack.command(REQUESTER, "help")
    assert reply.status == 200 and reply.json and reply.json["text"] == "How to use Handoff", reply
    assert "Traceback" not in app.output() and "refused" not in app.output(), app.output()
