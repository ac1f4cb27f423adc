"""Crash test: `python app.py` SIGKILLed at random moments across a scripted series of handoffs.

Each handoff is made as a user makes it (`/handoff`, the form submitted); some are then cancelled
by the requester or restated by the recipient (a click, a modal, a submission). The kills are
drawn from a seeded RNG and land

- during a request (a timer fires 0.3-1.3 times the request's usual duration after it was sent:
  before, during or after the commit),
- while the outbox is delivering (right after Slack took one of the new handoff's messages; every
  `chat.postMessage` answer is held back 50 ms to widen the window between Slack's answer and
  the outbox's commit),
- right after a submission was answered (the outbox has just been woken),
- right after a submission or click was answered, which is then sent again ("answer lost"): what
  the app sees when a kill falls between its commit and its answer, a window too narrow to hit
  with a timer.

After each kill a new process starts on the same database (and the same Slack stand-in). A request
that failed because the process died is sent again as the user would: the same form submitted
again (Slack keeps the modal open and the user presses Submit again; a new trigger_id, the same
view id), a slash command typed again, a button clicked again while it is still shown.

At the end every handoff whose submission was answered 200 exists exactly once, every expected
message (recipient card, receipt, cancellation, restatement review) arrived at least once, the
outbox is empty and nothing in it is dead. A message that arrived twice is a duplicate; each one
must be explained by a kill that found its notice claimed (`sending`) by the killed process: the
only window the outbox cannot close (Slack took the message, the process died before recording
it). Duplicates are counted and printed, never more than the kills that landed during delivery.
Also printed: first copies of a duplicate that still offer stale buttons (the outbox never
learnt their `ts`, so no refresh reaches them) and what a replayed restatement was answered.

A notice claimed by a killed process is taken up again when its lease (60 s in the app) runs out,
so the test waits for that at the end; it is most of its run time.

    .venv/bin/python -m pytest tests/e2e/test_crash.py -s          # prints the summary
    CRASH_SEED=7 CRASH_KILLS=40 .venv/bin/python -m pytest tests/e2e/test_crash.py -s

`benchmarks/crash.py` runs the same series with more kills and prints a table.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff_bot.db import Database
from handoff_bot.handoffs.models import Handoff, HandoffEvent, HandoffState
from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.e2e.conftest import (
    RECIPIENT,
    REQUESTER,
    SECRET,
    AppProcess,
    add_people,
    buttons,
    department_id,
    free_port,
)
from tests.slack_requests import Reply, SlackSender, http_transport, select_value, text_value, user_value
from tests.slack_standin import SlackStandIn

pytestmark = pytest.mark.e2e

LEASE = 15.0  # Deliverer's lease: a notice claimed by a killed process is taken up again after it
SLACK_DELAY = 0.05  # every chat.postMessage answer held back this long: the window between answer and commit
REQUEST_TIMEOUT = 10.0
STEP_WAIT = 5.0  # for a form to open, or a new handoff's first message while aiming a kill at its delivery
FINAL_WAIT = LEASE + 45.0  # for the last notices after the series: the lease of the last kill, and slack

# The messages the test expects, by outbox kind: (channel, text that identifies the kind).
EXPECTED = {
    NoticeKind.RECIPIENT_CARD: (RECIPIENT, "New handoff from"),
    NoticeKind.RECEIPT: (REQUESTER, "You handed off:"),
    NoticeKind.CANCELLED: (RECIPIENT, "cancelled"),
    NoticeKind.REVIEW: (REQUESTER, "restated your key points"),
}


# --------------------------------------------------------------------------- what happened


@dataclass
class Kill:
    number: int
    mode: str  # what the kill was aimed at
    at: float  # time.monotonic()
    request_failed: bool  # the request in flight got no answer
    in_flight: list[tuple[int, str]] = field(default_factory=list)  # outbox (id, kind) claimed by the killed process
    restart_s: float = 0.0  # from the kill to /healthz of the next process


@dataclass
class Item:
    """One handoff of the series."""

    number: int
    action: str  # "none", "cancel", "restate"
    handoff_id: int | None = None
    submissions: int = 0  # times its form was submitted (more than one after a kill)
    action_done: bool = False
    notices: list[NoticeKind] = field(default_factory=list)  # what it must have produced

    @property
    def title(self) -> str:
        return f"Crash test item {self.number:03d}."

    @property
    def token(self) -> str:
        return f"item {self.number:03d}."


@dataclass
class Outcome:
    """What a run did and found (printed by `summary()`)."""

    seed: int
    backend: str
    items: list[Item]
    kills: list[Kill]
    duplicates: dict[str, int]  # "item 003. receipt" -> extra copies
    unexplained: list[str]
    refused_retries: int  # a button clicked again after a kill that had committed the first click (ephemeral)
    resubmissions: int
    committed_before_kill: int  # of them, the first submission had committed (the view id found it)
    replays_refused: list[str]  # answers to a restatement submitted again after a committed first one
    stale_copies: int  # messages still offering a button the handoff no longer has (never refreshed)
    last_kill_s: float
    series_s: float
    final_wait_s: float
    total_s: float

    @property
    def delivery_kills(self) -> int:
        return sum(1 for k in self.kills if k.in_flight)

    def summary(self) -> str:
        modes = Counter(k.mode for k in self.kills)
        landed = Counter(k.mode for k in self.kills if k.in_flight)
        failed = Counter(k.mode for k in self.kills if k.request_failed)
        restarts = sorted(k.restart_s for k in self.kills)
        lines = [
            f"crash run: seed {self.seed}, {self.backend}, {len(self.items)} handoffs, {len(self.kills)} SIGKILLs, "
            f"last kill after {self.last_kill_s:.1f}s, series {self.series_s:.1f}s + final wait "
            f"{self.final_wait_s:.1f}s = {self.total_s:.1f}s",
            f"{'kill aimed at':<22} {'kills':>5} {'request lost':>12} {'mid-delivery':>12}",
        ]
        for mode in sorted(modes):
            lines.append(f"{mode:<22} {modes[mode]:>5} {failed[mode]:>12} {landed[mode]:>12}")
        lines.append(f"{'all':<22} {len(self.kills):>5} {sum(failed.values()):>12} {self.delivery_kills:>12}")
        if restarts:
            lines.append(f"restart (kill to /healthz): median {restarts[len(restarts) // 2]:.2f}s, "
                         f"max {restarts[-1]:.2f}s")
        lines.append(f"forms submitted again after a kill: {self.resubmissions} (the first had committed: "
                     f"{self.committed_before_kill}); clicks refused because the first one had committed: "
                     f"{self.refused_retries}")
        lines.append(f"first copies of a duplicate still offering a button the handoff no longer has: "
                     f"{self.stale_copies}")
        for answer in self.replays_refused:
            lines.append(f"  a restatement submitted again after its commit was answered: {answer[:200]}")
        lines.append(f"duplicate messages: {sum(self.duplicates.values())} "
                     f"(kills that found a notice being delivered: {self.delivery_kills})")
        for what, extra in sorted(self.duplicates.items()):
            lines.append(f"  {what}: {extra} extra")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the run


class CrashRun:
    """Drives `python app.py` through the series, killing and restarting it.

    Args:
        standin: the Slack stand-in (users added); survives every restart.
        db: the app's database, read by the test.
        env: the app's environment (a new PORT is set for every process).
        start: starts a process with an environment and waits for /healthz (the `launch` fixture).
        seed: the RNG seed of the series.
        kills: at least this many SIGKILLs.
        say: where progress goes.
    """

    def __init__(self, standin: SlackStandIn, db: Database, env: dict[str, str],
                 start: Callable[[dict[str, str]], AppProcess], *, seed: int, kills: int,
                 say: Callable[[str], None] = lambda _: None) -> None:
        self.standin = standin
        self.db = db
        self.env = env
        self.start = start
        self.rng = random.Random(seed)
        self.seed = seed
        self.target_kills = kills
        self.say = say
        self.kills: list[Kill] = []
        self.items: list[Item] = []
        self.claims_seen: set[tuple[int, int]] = set()
        self.resubmissions = 0
        self.modes: list[str] = []
        self.latency = {"command": 0.01, "submission": 0.03, "click": 0.01}  # seconds, kept up to date
        self.committed_before_kill = 0  # new-handoff submissions whose commit the kill let through, answer lost
        self.replays_refused: list[str] = []  # restatements submitted again after a committed first one
        self.began = time.monotonic()
        self.app = self._start()
        self.slack = SlackSender(None, SECRET, standin, transport=self._send)

    # -- the process -------------------------------------------------------------------

    def _start(self) -> AppProcess:
        return self.start({**self.env, "PORT": str(free_port())})

    def _send(self, body: bytes, headers: dict[str, str]) -> Reply:
        return http_transport(self.app.url + "/slack/events", timeout=REQUEST_TIMEOUT)(body, headers)

    def _killed(self, mode: str, request_failed: bool) -> None:
        """The process was SIGKILLed: note what it had claimed from the outbox, start the next one."""
        killed_at = time.monotonic()
        code = self.app.kill()
        assert code == -9, f"app.py exited by itself with {code} before the kill:\n{self.app.output(tail=40)}"
        in_flight = []
        with self.db.read() as session:
            for row in session.execute(select(OutboxMessage.id, OutboxMessage.attempts, OutboxMessage.kind)
                                       .where(OutboxMessage.state == OutboxState.SENDING)):
                if (row.id, row.attempts) not in self.claims_seen:  # claimed by this process, not an earlier one
                    self.claims_seen.add((row.id, row.attempts))
                    in_flight.append((row.id, str(row.kind)))
        kill = Kill(len(self.kills) + 1, mode, killed_at, request_failed, in_flight)
        self.kills.append(kill)
        self.app = self._start()
        kill.restart_s = time.monotonic() - killed_at

    def _kill_now(self, mode: str) -> None:
        self.app.proc.kill()
        self._killed(mode, request_failed=False)

    def _request(self, send: Callable[[], Reply], kill_in: float | None, mode: str) -> Reply | None:
        """Send a request; with `kill_in`, SIGKILL the process that many seconds after sending it.
        None when the request got no answer because of the kill."""
        timer = None
        if kill_in is not None:
            timer = threading.Timer(kill_in, self.app.proc.kill)
            timer.start()
        try:
            reply: Reply | None = send()
        except OSError as error:
            if timer is None and self.app.proc.poll() is None:
                raise AssertionError(f"a request failed without a kill: {error}\n{self.app.output(tail=40)}") from None
            reply = None
        if timer is not None:
            timer.join()
            self._killed(mode, request_failed=reply is None)
        elif reply is None or self.app.proc.poll() is not None:
            raise AssertionError(f"app.py died by itself:\n{self.app.output(tail=60)}")
        return reply

    # -- what Slack shows ----------------------------------------------------------------

    def posts(self, item: Item, kind: NoticeKind) -> list[dict[str, Any]]:
        """The messages of one kind the bot posted for an item (every copy)."""
        channel, marker = EXPECTED[kind]
        return [c.params for c in self.standin.calls_to("chat.postMessage", channel=channel)
                if c.ok and marker in c.params.get("text", "") and item.token in c.params.get("text", "")]

    def message(self, item: Item, kind: NoticeKind, action_id: str) -> dict[str, Any] | None:
        """The latest version of the item's message of `kind` that offers `action_id`, if any."""
        channel, marker = EXPECTED[kind]
        for message in reversed(self.standin.messages(channel)):
            if marker in message.get("text", "") and item.token in message.get("text", "") \
                    and action_id in buttons(message):
                return {**message, "channel": channel}
        return None

    def _opened(self, callback_id: str, handoff_id: int | None = None) -> list[str]:
        """The ids of the views opened with `callback_id` (about `handoff_id`, if given), oldest first."""
        ids = []
        for call in self.standin.calls_to("views.open"):
            view = call.params.get("view") or {}
            if not call.ok or view.get("callback_id") != callback_id:
                continue
            if handoff_id is None or json.loads(view.get("private_metadata") or "{}").get("h") == handoff_id:
                assert call.response is not None
                ids.append(call.response["view"]["id"])
        return ids

    def _views(self, callback_id: str, handoff_id: int | None = None) -> int:
        return len(self._opened(callback_id, handoff_id))

    def _wait_view(self, callback_id: str, count: int, killed: bool,
                   handoff_id: int | None = None) -> dict[str, Any] | None:
        """The modal the bot opened after a click or command; None if it did not (after a kill the
        dead process cannot open it any more, so there is nothing to wait for). A kill can also land
        just after a dead process opened a modal for an earlier click, which then shows up late:
        with `handoff_id`, only a modal about that handoff counts."""
        try:
            self.standin.wait_for(lambda _: self._views(callback_id, handoff_id) >= count,
                                  0 if killed else STEP_WAIT)
        except AssertionError:
            return None
        return self.standin.view(self._opened(callback_id, handoff_id)[-1])

    # -- what users do -------------------------------------------------------------------

    def kill_delay(self, kind: str) -> float:
        """When to kill a request: 0.3-1.3 times what one took lately, so the kill lands before,
        inside or just after the commit."""
        return self.rng.uniform(0.3, 1.3) * self.latency[kind]

    def wants(self, chance: float) -> bool:
        """A kill with probability `chance`, while kills are still wanted."""
        return len(self.kills) < self.target_kills and self.rng.random() < chance

    def timed(self, kind: str, send: Callable[[], Reply], kill_in: float | None, mode: str) -> Reply | None:
        """`_request`, remembering how long an undisturbed request of `kind` takes."""
        began = time.monotonic()
        reply = self._request(send, kill_in, mode)
        if kill_in is None and reply is not None:
            self.latency[kind] = 0.7 * self.latency[kind] + 0.3 * (time.monotonic() - began)
        return reply

    def submission_mode(self) -> str:
        """Where the kill of a submission lands: every kind in each block of seven, in a random order."""
        if not self.modes:
            self.modes = ["request", "request", "after submit", "answer lost", "delivery", "delivery", "none"]
            self.rng.shuffle(self.modes)
        return self.modes.pop()

    def open_form(self) -> dict[str, Any]:
        """/handoff until the form opens (typed again when a kill ate the command or the form)."""
        kill_in = self.kill_delay("command") if self.wants(0.25) else None
        for _ in range(10):
            opened, kills = self._views(CallbackId.NEW), len(self.kills)
            reply = self.timed("command", lambda: self.slack.command(REQUESTER), kill_in, "/handoff request")
            kill_in = None
            if reply is not None:
                assert reply.status == 200 and reply.text == "", reply
            view = self._wait_view(CallbackId.NEW, opened + 1, killed=len(self.kills) > kills)
            if view is not None:
                return view
        raise AssertionError("the form did not open in 10 tries")

    def _made(self, item: Item) -> list[int]:
        with self.db.read() as session:
            return list(session.scalars(select(Handoff.id).where(Handoff.title == item.title)))

    def submit(self, item: Item, view: dict[str, Any], mode: str) -> None:
        """Submit the form until it is answered 200: after a kill the same view again, as the user
        presses Submit again in the modal Slack kept open. Then the kill planned after it, if any.

        "answer lost": the process is killed right after answering and the same view is submitted
        again, as when the kill falls between the commit and the answer (Slack never got the 200).
        """
        values = {
            BlockId.DEPARTMENT: {ActionId.INPUT: select_value(department_id(view, "Finance"), "Finance")},
            BlockId.RECIPIENT: {ActionId.INPUT: user_value(RECIPIENT)},
            BlockId.TITLE: {ActionId.INPUT: text_value(item.title)},
            BlockId.KEY_POINTS: {ActionId.INPUT: text_value("Totals per region\nAttach receipts")},
        }
        kill_in = self.kill_delay("submission") if mode == "request" else None
        lost_once = mode == "answer lost"
        while True:
            item.submissions += 1
            reply = self.timed("submission", lambda: self.slack.view_submission(REQUESTER, view, values), kill_in,
                               "submission request")
            kill_in = None
            if reply is not None:
                assert reply.status == 200 and reply.text == "", reply
                if not lost_once:
                    break
                lost_once = False
                self._kill_now("answer lost")
            self.resubmissions += 1
            self.committed_before_kill += bool(self._made(item))  # the resubmission must find it, not add one
        found = self._made(item)
        assert len(found) == 1, f"{item.title}: {len(found)} handoffs after {item.submissions} submissions"
        item.handoff_id = found[0]
        item.notices += [NoticeKind.RECIPIENT_CARD, NoticeKind.RECEIPT]
        if mode == "after submit":
            self._kill_now("after submit")
        elif mode == "delivery":
            kind = self.rng.choice([NoticeKind.RECIPIENT_CARD, NoticeKind.RECEIPT])
            with contextlib.suppress(AssertionError):  # not within STEP_WAIT: the kill lands wherever it lands
                self.standin.wait_for(lambda _: bool(self.posts(item, kind)), STEP_WAIT)
            time.sleep(self.rng.uniform(0, 0.08))
            self._kill_now("delivery")

    def click(self, item: Item, user: str, kind: NoticeKind, action_id: str) -> bool:
        """Click a button of the item's message; again while it is shown if a kill ate the answer.
        False when the message with the button is not (yet) there."""
        message = self.message(item, kind, action_id)
        if message is None:
            return False
        plan = self.rng.choices(["request", "answer lost", "none"], [4, 2, 4])[0] if self.wants(0.6) else "none"
        kill_in = self.kill_delay("click") if plan == "request" else None
        while message is not None:
            reply = self.timed("click", lambda m=message: self.slack.click(user, action_id, channel=m["channel"],
                                                                           ts=m["ts"]), kill_in, "click request")
            kill_in = None
            if reply is not None:
                assert reply.status == 200 and reply.text == "", reply
                if plan != "answer lost":
                    return True
                plan = "none"
                self._kill_now("answer lost")
            message = self.message(item, kind, action_id)  # the user clicks again if the button is still there
        return True

    def state(self, item: Item) -> HandoffState:
        with self.db.read() as session:
            handoff = session.get(Handoff, item.handoff_id)
            assert handoff is not None
            return handoff.state

    def cancel(self, item: Item) -> bool:
        if self.state(item) is HandoffState.CANCELLED:  # a click lost to a kill had committed
            item.notices.append(NoticeKind.CANCELLED)
            return True
        if not self.click(item, REQUESTER, NoticeKind.RECEIPT, ActionId.CANCEL):
            return False
        if self.state(item) is not HandoffState.CANCELLED:
            return False  # the click died before its commit and the button is gone: try later
        item.notices.append(NoticeKind.CANCELLED)
        return True

    def restate(self, item: Item) -> bool:
        if self.state(item) is not HandoffState.SENT:  # a restatement lost to a kill had committed
            item.notices.append(NoticeKind.REVIEW)
            return True
        opened, kills = self._views(CallbackId.RESTATE, item.handoff_id), len(self.kills)
        if not self.click(item, RECIPIENT, NoticeKind.RECIPIENT_CARD, ActionId.CONFIRM_UNDERSTANDING):
            return False
        view = self._wait_view(CallbackId.RESTATE, opened + 1, killed=len(self.kills) > kills,
                               handoff_id=item.handoff_id)
        if view is None:
            return False  # the modal died with the process: click again later
        values = {BlockId.point(1): {ActionId.INPUT: text_value("Sum the totals by region")},
                  BlockId.point(2): {ActionId.INPUT: text_value("Add the receipts")}}
        plan = self.rng.choice(["request", "answer lost"]) if self.wants(0.4) else "none"
        kill_in = self.kill_delay("submission") if plan == "request" else None
        while True:
            reply = self.timed("submission", lambda: self.slack.view_submission(RECIPIENT, view, values), kill_in,
                               "submission request")
            kill_in = None
            if reply is None:
                self.resubmissions += 1
                continue
            assert reply.status == 200, reply
            # The same restatement submitted again after a kill that had committed it: anything but
            # a closed modal is noted (the user sees it).
            assert reply.text == "" or self.state(item) is not HandoffState.SENT, reply
            if reply.text:
                self.replays_refused.append(reply.text)
            if plan != "answer lost":
                break
            plan = "none"
            self._kill_now("answer lost")
            self.resubmissions += 1
        assert self.state(item) is HandoffState.RESTATED, self.state(item)
        item.notices.append(NoticeKind.REVIEW)
        return True

    def act(self, item: Item) -> None:
        if item.action_done or item.action == "none":
            item.action_done = True
            return
        item.action_done = self.cancel(item) if item.action == "cancel" else self.restate(item)

    # -- the series ----------------------------------------------------------------------

    def run(self, min_items: int = 8, max_items: int = 400) -> Outcome:
        began = self.began = time.monotonic()
        self.standin.delay("chat.postMessage", SLACK_DELAY)
        while (len(self.kills) < self.target_kills or len(self.items) < min_items) and len(self.items) < max_items:
            item = Item(len(self.items) + 1, self.rng.choice(["none", "cancel", "restate"]))
            self.items.append(item)
            view = self.open_form()
            mode = self.submission_mode() if len(self.kills) < self.target_kills else "none"
            self.submit(item, view, mode)
            for earlier in self.items[:-1]:  # buttons of earlier handoffs whose messages are there now
                self.act(earlier)
            self.say(f"item {item.number}: {len(self.kills)} kills")
        deadline = time.monotonic() + FINAL_WAIT
        for item in self.items:  # the last buttons: their messages may wait for a lease to run out
            while not item.action_done:
                assert time.monotonic() < deadline, f"{item.title}: its {item.action} button never showed"
                self.act(item)
                if not item.action_done:
                    time.sleep(0.2)
        series = time.monotonic() - began
        self.wait_delivered(deadline)
        self.standin.delay("chat.postMessage", 0)
        return self.outcome(series, time.monotonic() - began)

    def missing(self) -> list[str]:
        return [f"{item.token} {kind}" for item in self.items for kind in item.notices if not self.posts(item, kind)]

    def wait_delivered(self, deadline: float) -> None:
        def delivered() -> bool:
            if self.missing():
                return False
            with self.db.read() as session:
                return not session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.SENDING])))

        while not delivered():
            if time.monotonic() > deadline:
                raise AssertionError(f"not delivered within {FINAL_WAIT:.0f}s of the series' end: {self.missing()}; "
                                     f"outbox: {self.outbox_states()}")
            time.sleep(0.1)

    def stale_copies(self) -> int:
        """Messages whose buttons the handoff's change should have taken away, still showing them.

        Only a copy whose `ts` the outbox never recorded (the first of a duplicate) is left so:
        the refresh updates the messages it knows."""
        stale = {"cancel": [(NoticeKind.RECEIPT, ActionId.CANCEL),
                            (NoticeKind.RECIPIENT_CARD, ActionId.CONFIRM_UNDERSTANDING)],
                 "restate": [(NoticeKind.RECIPIENT_CARD, ActionId.CONFIRM_UNDERSTANDING)]}
        count = 0
        for item in self.items:
            for kind, action_id in stale.get(item.action, []):
                channel, marker = EXPECTED[kind]
                count += sum(1 for m in self.standin.messages(channel) if marker in m.get("text", "")
                             and item.token in m.get("text", "") and action_id in buttons(m))
        return count

    def outbox_states(self) -> dict[str, int]:
        with self.db.read() as session:
            return {str(state): n for state, n in session.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))}

    def outcome(self, series: float, total: float) -> Outcome:
        with self.db.read() as session:
            rows = {(r.handoff_id, r.kind): r.id for r in session.execute(
                select(OutboxMessage.id, OutboxMessage.handoff_id, OutboxMessage.kind))}
        with self.db.read() as session:  # the script clicks only where it may: every one is a repeat
            refusals = int(session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind == NoticeKind.EPHEMERAL)) or 0)
        in_flight = Counter(row_id for kill in self.kills for row_id, _ in kill.in_flight)
        duplicates: dict[str, int] = {}
        unexplained: list[str] = []
        for item in self.items:
            for kind in dict.fromkeys(item.notices):
                extra = len(self.posts(item, kind)) - 1
                if extra > 0:
                    what = f"{item.token} {kind}"
                    duplicates[what] = extra
                    row = rows.get((item.handoff_id, kind))
                    if row is None or in_flight[row] < extra:
                        unexplained.append(f"{what}: {extra} extra, outbox row {row} in flight at "
                                           f"{in_flight[row] if row else 0} kills")
        return Outcome(self.seed, self.db.engine.dialect.name, self.items, self.kills, duplicates, unexplained,
                       refusals, self.resubmissions, self.committed_before_kill, self.replays_refused,
                       self.stale_copies(),
                       max((k.at for k in self.kills), default=self.began) - self.began, series, total - series, total)


def check(run: CrashRun, outcome: Outcome) -> None:
    """What must hold after a crash run (see the module docstring)."""
    assert len(outcome.kills) >= run.target_kills
    with run.db.read() as session:
        titles = Counter(session.scalars(select(Handoff.title)))
        creations = session.scalar(select(func.count()).select_from(HandoffEvent).where(
            HandoffEvent.action == "create"))
    for item in outcome.items:
        assert titles[item.title] == 1, f"{item.title}: {titles[item.title]} handoffs"
    assert len(titles) == len(outcome.items) == creations, (len(titles), len(outcome.items), creations)
    assert run.missing() == []
    assert run.outbox_states() == {"sent": sum(run.outbox_states().values())}, run.outbox_states()
    # Every message the outbox recorded was brought up to date; only unrecorded first copies may be stale.
    assert outcome.stale_copies <= sum(outcome.duplicates.values()), outcome.stale_copies
    assert outcome.unexplained == [], outcome.unexplained
    assert sum(outcome.duplicates.values()) <= outcome.delivery_kills


# --------------------------------------------------------------------------- the test


def test_sigkill_at_random_moments_loses_no_handoff_and_no_notice(
    standin: SlackStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess], app_db: Database
) -> None:
    add_people(standin)
    seed = int(os.environ.get("CRASH_SEED", "20261126"))
    kills = int(os.environ.get("CRASH_KILLS", "20"))
    run = CrashRun(standin, app_db, app_env, launch, seed=seed, kills=kills)
    outcome = run.run()
    print("\n" + outcome.summary())
    check(run, outcome)
