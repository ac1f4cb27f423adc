"""A whole Handoff app in-process, served over real HTTP, talking to the Slack stand-in.

Requests are signed as Slack signs them and go through waitress and Bolt exactly as in
`python app.py`; the outbox is delivered on demand (`bot.deliver()`), so tests are deterministic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from waitress import create_server

from handoff_bot.clock import FakeClock
from handoff_bot.config import Settings
from handoff_bot.db import Database
from handoff_bot.runtime import Runtime
from tests.slack_requests import Reply, SlackSender, http_transport
from tests.slack_standin import SlackStandIn

SECRET = "test-signing-secret"
REQUESTER, RECIPIENT, MEMBER, MANAGER, OUTSIDER = "UREQ", "UREC", "UMEM", "UMGR", "UOUT"
BOT_USER, DEACTIVATED = "UROBOT", "UGONE"
INTAKE = "C0FININTAKE"


def serve(app: Any) -> tuple[int, Callable[[], None]]:
    """Serve a WSGI app with waitress on a free loopback port; returns the port and a stop function."""
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    stopping = threading.Event()

    def loop() -> None:
        # waitress's own run() loop cannot be stopped from another thread; this one stops between polls.
        while not stopping.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)
        server.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(5)

    return server.effective_port, stop


def settled_sender(base_url: str, standin: SlackStandIn, runtime: Runtime) -> SlackSender:
    """A sender whose every request returns once the work it started after its ack is done.

    Clicks and `/handoff` are acked first; their state changes, modals and answers follow (see
    `handoff_bot.slack.after_response`). Waiting here keeps the tests deterministic.
    """
    http = http_transport(base_url + "/slack/events")

    def send(body: bytes, headers: dict[str, str]) -> Reply:
        reply = http(body, headers)
        assert runtime.after_response.wait_idle(10), "the work after the ack did not finish within 10 s"
        return reply

    return SlackSender(base_url, SECRET, standin, transport=send)


@dataclass
class Bot:
    runtime: Runtime
    standin: SlackStandIn
    slack: SlackSender
    clock: FakeClock
    finance: int
    sales: int
    base_url: str  # where the app is served

    def deliver(self) -> int:
        """Deliver every queued notice now; returns how many went out."""
        return self.runtime.deliverer.drain()

    def posts(self, channel: str) -> list[dict[str, Any]]:
        """The bot's messages in a channel (or the DM with a user id), oldest first, as they look now."""
        return [{**m, "channel": channel} for m in self.standin.messages(channel)]

    def last(self, channel: str, containing: str = "") -> dict[str, Any]:
        """The latest message in `channel` whose text contains `containing`."""
        found = [m for m in self.posts(channel) if containing in m.get("text", "")]
        assert found, f"no message with {containing!r} in {channel}: {[m.get('text') for m in self.posts(channel)]}"
        return found[-1]

    def now(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message posted earlier as it looks now, after any updates."""
        return next(m for m in self.posts(message["channel"]) if m["ts"] == message["ts"])

    def click(self, user: str, action_id: str, message: dict[str, Any]) -> Reply:
        """Click a button of a posted message as `user` (the button must be there)."""
        return self.slack.click(user, action_id, channel=message["channel"], ts=message["ts"])

    def wait_view(self, callback_id: str, count: int = 1) -> dict[str, Any]:
        """The modal the bot opened (lazily, right after the ack) with this callback id."""
        self.standin.wait_for(lambda calls: len([
            c for c in calls if c.method == "views.open" and c.ok
            and (c.params.get("view") or {}).get("callback_id") == callback_id]) >= count)
        return self.standin.last_view(callback_id)

    def ephemerals(self, user: str) -> list[str]:
        """The texts of the answers only `user` sees that the bot sent (after delivering the outbox): beside
        their request through its response_url, or with chat.postEphemeral; in the order sent."""
        self.deliver()
        return self.standin.private_answers(user)


@pytest.fixture
def make_bot(db: Database, standin: SlackStandIn, clock: FakeClock, dept: Callable[..., int]) -> Iterator[
        Callable[..., Bot]]:
    """Build and serve the app; departments Finance (with intake channel) and Sales are set up."""
    started: list[tuple[Runtime, Callable[[], None]]] = []

    def build(**settings: Any) -> Bot:
        for user, tz in ((REQUESTER, "America/New_York"), (RECIPIENT, "Asia/Shanghai"), (MEMBER, "Europe/Berlin"),
                         (MANAGER, "Asia/Shanghai"), (OUTSIDER, "America/Los_Angeles")):
            standin.add_user(user, tz=tz)
        standin.add_user(BOT_USER, is_bot=True)
        standin.add_user(DEACTIVATED, deleted=True)
        finance = dept("Finance", members=[RECIPIENT, MEMBER, BOT_USER, DEACTIVATED], managers=[MANAGER],
                       intake_channel=INTAKE)
        sales = dept("Sales", members=[REQUESTER])
        config = Settings(bot_token="xoxb-test", signing_secret=SECRET, database_url=db.url,
                          slack_api_url=standin.api_url, **settings)
        runtime = Runtime(config, clock=clock)
        port, stop = serve(runtime.wsgi)
        started.append((runtime, stop))
        base_url = f"http://127.0.0.1:{port}"
        return Bot(runtime, standin, settled_sender(base_url, standin, runtime), clock, finance, sales, base_url)

    yield build
    for runtime, stop in started:
        stop()
        runtime.close()


@pytest.fixture
def bot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot()
