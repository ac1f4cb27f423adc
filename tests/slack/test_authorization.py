"""The authorization matrix: every button and every form × every role, asserted.

Roles: the requester, the recipient, another member of the receiving department, its manager,
an admin of the set-up and an outsider. For each action a fresh handoff is put in the state where
the action is valid; the role clicks (or submits the form, forged from the bot's own modal) and
the action is either allowed (the state changed, or the modal opened) or refused (a clear private
answer, and nothing in the database changed).

One app serves the whole module (`World`); `test_hostile.py` uses it too.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update

from handoff_bot.clock import FakeClock
from handoff_bot.config import Settings
from handoff_bot.db import Database
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.models import Handoff, HandoffEvent, HandoffState, ProposalKind, Question, QuestionKind
from handoff_bot.i18n import translator
from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState
from handoff_bot.people import KnownProfiles
from handoff_bot.runtime import Runtime
from handoff_bot.slack.blocks import modals
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.conftest import START, make_admin, make_department
from tests.slack.conftest import (
    BOT_USER,
    DEACTIVATED,
    INTAKE,
    MANAGER,
    MEMBER,
    OUTSIDER,
    RECIPIENT,
    REQUESTER,
    SECRET,
    Bot,
    serve,
    settled_sender,
)
from tests.slack_requests import Reply, SlackSender, radio_value, text_value, user_value
from tests.slack_standin import Call, SlackStandIn, dm_channel

ADMIN = "UADMIN"
CHINESE = "UZHREQ"  # a Sales member whose Slack speaks Simplified Chinese
ROLES = {
    "requester": REQUESTER, "recipient": RECIPIENT, "member": MEMBER, "manager": MANAGER, "admin": ADMIN,
    "outsider": OUTSIDER,
}
# Rows that legitimately change without any state change: the profile cache.
VOLATILE_TABLES = frozenset({"slack_user", "alembic_version"})


# --------------------------------------------------------------------------- one app for a module


@dataclass
class Staged:
    """A handoff put in a state for a test: its id, its question (if any) and its round."""

    state: str
    id: int
    rounds: int = 0
    question: int | None = None
    proposal: int = 0

    def values(self) -> dict[str, str]:
        """What `$h`, `$q`, `$r`, `$p` stand for in button values and metadata."""
        return {"h": str(self.id), "q": str(self.question or 0), "r": str(self.rounds), "p": str(self.proposal)}


@dataclass
class World:
    """A served app with Finance (members UREC, UMEM; manager UMGR; intake channel) and Sales (UREQ)."""

    bot: Bot
    db: Database
    _cache: dict[str, tuple[Staged, tuple[Any, ...]]] = field(default_factory=dict)
    _serial: Iterator[int] = field(default_factory=itertools.count)

    @property
    def standin(self) -> SlackStandIn:
        return self.bot.standin

    @property
    def slack(self) -> SlackSender:
        return self.bot.slack

    # -- putting handoffs in a state -------------------------------------------------------

    def stage(self, state: str, *, reuse: bool = False, post: bool = False) -> Staged:
        """A new handoff in `state` (`intake`, `sent`, `restated`, `clarifying`, `question`, `answered`,
        `confirmed`, `done`, `rated`, `cancelled`, `negotiating`: the recipient proposed a change).

        Its notices are posted to Slack with `post=True`; otherwise they are marked sent unposted (the
        tests click with payloads of their own, and delivering costs a few commits per notice). With
        `reuse=True` a handoff staged so before may be given again, if it is still as it was staged
        (for requests that must change nothing).
        """
        if reuse and state in self._cache:
            staged, fingerprint = self._cache[state]
            if self._fingerprint(staged.id) == fingerprint:
                return staged
        runtime = self.bot.runtime
        profiles = KnownProfiles({u: runtime.directory.profile(u) for u in (REQUESTER, RECIPIENT)})
        now = self.bot.clock.now()
        number = next(self._serial)
        draft = handoffs.Draft(
            requester_id=REQUESTER, department_id=self.bot.finance, title=f"Staged {state} #{number}",
            recipient_id=None if state == "intake" else RECIPIENT, key_points="First point\nSecond point",
        )
        run = runtime.ctx.run
        staged = Staged(state, run(lambda s: handoffs.create(s, draft, directory=profiles, now=now).id))
        h = staged.id
        if state in ("question", "answered"):
            staged.question = run(lambda s: handoffs.ask(s, h, RECIPIENT, QuestionKind.OPEN, "Which format?", now).id)
        if state == "answered":
            run(lambda s: handoffs.answer(s, staged.question, REQUESTER, "PDF", now))
        if state in ("restated", "clarifying", "confirmed", "done", "rated"):
            run(lambda s: handoffs.restate(s, h, RECIPIENT, ["one", "two"], now))
            staged.rounds = 1
        if state == "clarifying":
            run(lambda s: handoffs.clarify(s, h, 1, REQUESTER, "Not quite", now))
        if state in ("confirmed", "done", "rated"):
            run(lambda s: handoffs.accept(s, h, 1, REQUESTER, now))
        if state in ("done", "rated"):
            run(lambda s: handoffs.mark_done(s, h, RECIPIENT, now))
        if state == "rated":
            run(lambda s: handoffs.rate(s, h, REQUESTER, 4, "", now))
        if state == "cancelled":
            run(lambda s: handoffs.cancel(s, h, REQUESTER, now))
        if state == "negotiating":
            terms = handoffs.Terms(ProposalKind.CHANGE, "Two people out", scope="Half the regions")
            staged.proposal = run(lambda s: handoffs.propose(s, h, RECIPIENT, terms, now, directory=profiles).number)
        if post:
            self.settle()
        else:
            with self.db.transaction() as session:
                session.execute(update(OutboxMessage).where(
                    OutboxMessage.handoff_id == h, OutboxMessage.state == OutboxState.PENDING,
                ).values(state=OutboxState.SENT, sent_at=now))
        if reuse:
            self._cache[state] = (staged, self._fingerprint(h))
        return staged

    def _fingerprint(self, handoff_id: int) -> tuple[Any, ...]:
        h = self.handoff(handoff_id)
        return h.state, h.recipient_id, h.version, h.rounds, len(self.events(handoff_id))

    def handoff(self, handoff_id: int) -> Handoff:
        with self.db.transaction() as session:
            found = session.get(Handoff, handoff_id)
            assert found is not None
            session.expunge(found)
            return found

    def state_of(self, handoff_id: int) -> HandoffState:
        return self.handoff(handoff_id).state

    def events(self, handoff_id: int) -> list[str]:
        with self.db.transaction() as session:
            return list(session.scalars(select(HandoffEvent.action).where(HandoffEvent.handoff_id == handoff_id)
                                        .order_by(HandoffEvent.id)))

    def notices(self, handoff_id: int) -> list[tuple[NoticeKind, str]]:
        with self.db.transaction() as session:
            return [(m.kind, m.target) for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.handoff_id == handoff_id).order_by(OutboxMessage.id))]

    # -- observing ------------------------------------------------------------------------

    def settle(self) -> None:
        """Deliver everything that is due (the clock stands still, so nothing waits for it)."""
        self.bot.deliver()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (but the profile cache and the ephemeral answers in the outbox)."""
        with self.db.engine.connect() as conn:
            tables = sorted(set(inspect(conn).get_table_names()) - VOLATILE_TABLES)
            found: dict[str, list[tuple[Any, ...]]] = {}
            for table in tables:
                query = f'SELECT * FROM "{table}"'
                if table == "outbox":
                    query += f" WHERE kind != '{NoticeKind.EPHEMERAL.value}'"
                found[table] = sorted(tuple(map(repr, row)) for row in conn.execute(text(query)))
        return found

    def mark(self) -> int:
        """Where the stand-in's call log is now: `answers(user, mark)` reads what came after."""
        return len(self.standin.calls)

    def answers(self, user: str, since: int) -> list[str]:
        """The private answers (ephemeral messages, or plain DMs without blocks) `user` got since `since`."""
        return [c.params.get("text", "") for c in self.standin.calls[since:] if _is_answer(c, user)]

    def opened_views(self, since: int, callback_id: str | None = None) -> list[dict[str, Any]]:
        return [c.params["view"] for c in self.standin.calls[since:]
                if c.method == "views.open" and c.ok and (callback_id is None
                                                          or c.params["view"].get("callback_id") == callback_id)]

    def wait_view(self, since: int, callback_id: str, timeout: float = 3.0) -> dict[str, Any]:
        """The modal the lazy listener opened after `since` (it runs right after the ack)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            views = self.opened_views(since, callback_id)
            if views:
                return views[-1]
            time.sleep(0.005)
        raise AssertionError(f"no {callback_id} modal was opened; calls:\n{self.standin.dump()}")

    # -- acting ---------------------------------------------------------------------------

    def press(self, user: str, action_id: str, value: str | None, **extra: Any) -> Reply:
        """A click on a button with `value` in the user's DM with the bot (the message need not exist)."""
        return self.slack.block_action(user, action_id, value, channel_id=dm_channel(user),
                                       message_ts=extra.pop("message_ts", "1700000000.000001"), **extra)

    def form(self, callback: CallbackId, staged: Staged) -> dict[str, Any]:
        """The modal the bot would open for `staged` (built by the bot's own builders)."""
        tr = translator("en-US")
        with self.db.transaction() as session:
            h = session.get(Handoff, staged.id)
            assert h is not None
            if callback is CallbackId.RESTATE:
                return modals.restate(tr, h, None)
            if callback is CallbackId.CLARIFY:
                return modals.clarify(tr, h, staged.rounds)
            if callback is CallbackId.ASK:
                return modals.ask(tr, h)
            if callback is CallbackId.ANSWER:
                q = session.get(Question, staged.question)
                assert q is not None
                return modals.answer(tr, h, q)
            if callback is CallbackId.RATE:
                return modals.rate(tr, h)
            if callback is CallbackId.REASSIGN:
                return modals.reassign(tr, h)
            latest = handoffs.latest_proposal(session, h.id)
            if callback is CallbackId.PROPOSE:
                return modals.propose(tr, h, latest)
            if callback is CallbackId.COUNTER:
                assert latest is not None
                return modals.counter(tr, h, latest)
        raise AssertionError(callback)


def _is_answer(call: Call, user: str) -> bool:
    if not call.ok:
        return False
    if call.method == "chat.postEphemeral":
        return call.params.get("user") == user
    if call.method == "response_url":  # beside the click
        return call.user == user and call.params.get("response_type") == "ephemeral"
    return call.method == "chat.postMessage" and call.params.get("channel") == user and not call.params.get("blocks")


def _empty(database: Database) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        tables = [f'"{t}"' for t in inspect(conn).get_table_names() if t != "alembic_version"]
        if tables:
            conn.execute(text(f"TRUNCATE TABLE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@contextlib.contextmanager
def open_world(template: Path | Database, workdir: Path) -> Iterator[World]:
    """One app for a whole module, on a fresh database (a copy of the SQLite template, or the emptied
    PostgreSQL test database), talking to its own Slack stand-in."""
    if isinstance(template, Database):
        db, own = template, False
        _empty(db)
    else:
        path = workdir / "handoff.db"
        shutil.copyfile(template, path)
        db, own = Database(f"sqlite:///{path}"), True
    clock = FakeClock(START)
    standin = SlackStandIn().start()
    try:
        for user, tz in ((REQUESTER, "America/New_York"), (RECIPIENT, "Asia/Shanghai"), (MEMBER, "Europe/Berlin"),
                         (MANAGER, "Asia/Shanghai"), (OUTSIDER, "America/Los_Angeles"), (ADMIN, "UTC")):
            standin.add_user(user, tz=tz)
        standin.add_user(CHINESE, tz="Asia/Shanghai", locale="zh-CN")
        standin.add_user(BOT_USER, is_bot=True)
        standin.add_user(DEACTIVATED, deleted=True)
        finance = make_department(db, "Finance", members=[RECIPIENT, MEMBER, BOT_USER, DEACTIVATED],
                                  managers=[MANAGER], intake_channel=INTAKE)
        sales = make_department(db, "Sales", members=[REQUESTER, CHINESE])
        make_admin(db, ADMIN)
        config = Settings(bot_token="xoxb-test", signing_secret=SECRET, database_url=db.url,
                          slack_api_url=standin.api_url)
        runtime = Runtime(config, clock=clock)
        port, stop = serve(runtime.wsgi)
        try:
            base_url = f"http://127.0.0.1:{port}"
            sender = settled_sender(base_url, standin, runtime)
            yield World(Bot(runtime, standin, sender, clock, finance, sales, base_url), db)
        finally:
            stop()
            runtime.close()
        assert standin.violations == [], "Slack would refuse these payloads:\n" + "\n".join(standin.violations)
    finally:
        standin.stop()
        if own:
            db.dispose()


@pytest.fixture(scope="module")
def world(_database_template: Path | Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(_database_template, tmp_path_factory.mktemp("world")) as opened:
        yield opened


# --------------------------------------------------------------------------- the rules


ONLY_REQUESTER = f"Only <@{REQUESTER}>, who asked for this handoff, can do that."
ONLY_RECIPIENT = f"Only <@{RECIPIENT}>, who is handling this handoff, can do that."
ONLY_MANAGERS = "Only managers of Finance can do that."
ONLY_MEMBERS = "Only members of Finance can claim this handoff."
ONLY_SIDES = f"Only <@{REQUESTER}> and <@{RECIPIENT}> can do that."


@dataclass(frozen=True)
class Rule:
    """Who may press a button, in which state, what it does, and what everybody else is told."""

    action: ActionId
    state: str
    allowed: frozenset[str]
    refusal: str
    value: str = "$h"
    modal: CallbackId | None = None
    refusals: dict[str, str] = field(default_factory=dict)  # per-role answers other than `refusal`
    states: dict[str, str] = field(default_factory=dict)    # per-role states other than `state`


RULES = [
    Rule(ActionId.CLAIM, "intake", frozenset({"member", "manager"}), ONLY_MEMBERS,
         refusals={"requester": "You asked for this handoff; someone in Finance has to claim it.",
                   "recipient": "You already claimed this handoff; its card is in your direct messages with Handoff."},
         # Unassigned, nobody is the recipient yet: the recipient's claim is a click on a handoff they hold.
         states={"recipient": "sent"}),
    Rule(ActionId.CONFIRM_UNDERSTANDING, "sent", frozenset({"recipient"}), ONLY_RECIPIENT,
         modal=CallbackId.RESTATE),
    Rule(ActionId.ASK, "sent", frozenset({"recipient"}), ONLY_RECIPIENT, modal=CallbackId.ASK),
    Rule(ActionId.ACCEPT, "restated", frozenset({"requester"}), ONLY_REQUESTER, value="$h:$r"),
    Rule(ActionId.CLARIFY, "restated", frozenset({"requester"}), ONLY_REQUESTER, value="$h:$r",
         modal=CallbackId.CLARIFY),
    Rule(ActionId.ANSWER, "question", frozenset({"requester"}), ONLY_REQUESTER, value="$q",
         modal=CallbackId.ANSWER),
    Rule(ActionId.MARK_DONE, "confirmed", frozenset({"recipient"}), ONLY_RECIPIENT),
    Rule(ActionId.RATE, "done", frozenset({"requester"}), ONLY_REQUESTER, modal=CallbackId.RATE),
    Rule(ActionId.CANCEL, "sent", frozenset({"requester"}), ONLY_REQUESTER),
    Rule(ActionId.NUDGE, "sent", frozenset({"manager"}), ONLY_MANAGERS),
    Rule(ActionId.REASSIGN, "sent", frozenset({"manager"}), ONLY_MANAGERS, modal=CallbackId.REASSIGN),
    Rule(ActionId.PROPOSE, "sent", frozenset({"recipient"}), ONLY_RECIPIENT, modal=CallbackId.PROPOSE),
    Rule(ActionId.COUNTER, "negotiating", frozenset({"requester"}), ONLY_REQUESTER, value="$h:$p",
         modal=CallbackId.COUNTER),
    Rule(ActionId.AGREE, "negotiating", frozenset({"requester"}), ONLY_SIDES, value="$h:$p",
         refusals={"recipient": f"You made the latest proposal; it is up to <@{REQUESTER}> to answer it."}),
]


def fill(template: str, staged: Staged) -> str:
    for key, value in staged.values().items():
        template = template.replace(f"${key}", value)
    return template


def _short(action: ActionId) -> str:
    return action.value.removeprefix("handoff_")


CLICKS = [
    pytest.param(rule, role, id=f"{_short(rule.action)}-by-{role}-{'allowed' if role in rule.allowed else 'refused'}")
    for rule in RULES for role in ROLES
]


def test_every_button_action_has_a_rule() -> None:
    buttons = {a for a in ActionId if not a.name.startswith(("HOME_", "INPUT"))}
    assert {r.action for r in RULES} == buttons


# --------------------------------------------------------------------------- clicks


def assert_refused(world: World, user: str, staged: Staged, do: Callable[[], Reply], expected: str) -> Reply:
    """`do` is answered 200 at once, `user` is told `expected` privately, and no row changed."""
    world.settle()
    before, since = world.snapshot(), world.mark()
    reply = do()
    assert reply.status == 200, reply
    world.settle()
    answers = world.answers(user, since)
    assert answers == [expected], world.standin.dump()
    assert world.snapshot() == before
    return reply


def assert_allowed_click(world: World, rule: Rule, role: str, staged: Staged) -> None:
    user = ROLES[role]
    h = staged.id
    before_events, before_state = world.events(h), world.state_of(h)
    since = world.mark()
    reply = world.press(user, rule.action, fill(rule.value, staged))
    assert reply.status == 200 and reply.text == "", reply
    after = world.handoff(h)
    if rule.modal is not None:
        view = world.wait_view(since, rule.modal)
        meta = json.loads(view["private_metadata"])
        assert meta.get("h", meta.get("q")) in (h, staged.question), meta
        assert after.state is before_state and world.events(h) == before_events  # a modal changes nothing
    elif rule.action is ActionId.CLAIM:
        assert (after.state, after.recipient_id) == (HandoffState.SENT, user)
        assert world.events(h) == [*before_events, "claim"]
    elif rule.action is ActionId.ACCEPT:
        assert after.state is HandoffState.CONFIRMED
    elif rule.action is ActionId.MARK_DONE:
        assert after.state is HandoffState.DONE
    elif rule.action is ActionId.CANCEL:
        assert after.state is HandoffState.CANCELLED
    elif rule.action is ActionId.AGREE:
        assert (after.state, after.negotiation_turn) == (HandoffState.SENT, None)  # back where it was
    elif rule.action is ActionId.NUDGE:
        assert after.state is HandoffState.SENT
        assert world.events(h) == [*before_events, "nudge"]
        world.settle()
        nudges = [c for c in world.standin.calls[since:] if c.ok and c.method == "chat.postMessage"
                  and c.params.get("channel") == RECIPIENT and "asks you to act" in c.params.get("text", "")]
        assert len(nudges) == 1, world.standin.dump()
    if rule.action is not ActionId.NUDGE and rule.modal is None:
        assert world.events(h)[-1] == rule.action.value.removeprefix("handoff_")
    world.settle()
    assert world.answers(user, since) == []  # no refusal was sent


@pytest.mark.parametrize(("rule", "role"), CLICKS)
def test_click(world: World, rule: Rule, role: str) -> None:
    user = ROLES[role]
    staged = world.stage(rule.states.get(role, rule.state), reuse=role not in rule.allowed)
    if role in rule.allowed:
        assert_allowed_click(world, rule, role, staged)
        return
    since = world.mark()
    assert_refused(world, user, staged, lambda: world.press(user, rule.action, fill(rule.value, staged)),
                   rule.refusals.get(role, rule.refusal))
    if rule.modal is not None:
        assert world.opened_views(since) == [], "a refused click opened a modal"


# --------------------------------------------------------------------------- forms


@dataclass(frozen=True)
class FormRule:
    """Who may submit a modal (forged from the bot's own builder), in which state, with which values."""

    callback: CallbackId
    state: str
    allowed: str
    refusal: str
    values: dict[str, dict[str, Any]]


FORM_RULES = [
    FormRule(CallbackId.RESTATE, "sent", "recipient", "Only @urec, who is handling this handoff, can do that.",
             {BlockId.point(1): {"value": text_value("Mine")}, BlockId.point(2): {"value": text_value("Also")}}),
    FormRule(CallbackId.CLARIFY, "restated", "requester", "Only @ureq, who asked for this handoff, can do that.",
             {BlockId.CLARIFICATION: {"value": text_value("Include VAT")}}),
    FormRule(CallbackId.ASK, "sent", "recipient", "Only @urec, who is handling this handoff, can do that.",
             {BlockId.QUESTION_KIND: {"value": radio_value("closed")},
              BlockId.QUESTION: {"value": text_value("EUR or USD?")}}),
    FormRule(CallbackId.ANSWER, "question", "requester", "Only @ureq, who asked for this handoff, can do that.",
             {BlockId.ANSWER: {"value": text_value("EUR")}}),
    FormRule(CallbackId.RATE, "done", "requester", "Only @ureq, who asked for this handoff, can do that.",
             {BlockId.RATING: {"value": radio_value("5")}}),
    FormRule(CallbackId.REASSIGN, "sent", "manager", "Only managers of Finance can do that.",
             {BlockId.RECIPIENT: {"value": user_value(MEMBER)}}),
    FormRule(CallbackId.PROPOSE, "sent", "recipient", "Only @urec, who is handling this handoff, can do that.",
             {BlockId.PROPOSAL_KIND: {"value": radio_value("decline")},
              BlockId.REASON: {"value": text_value("Not our work")}}),
    FormRule(CallbackId.COUNTER, "negotiating", "requester", "Only @ureq, who asked for this handoff, can do that.",
             {BlockId.SCOPE: {"value": text_value("Three regions")}, BlockId.REASON: {"value": text_value("Audit")}}),
]

FORMS = [
    pytest.param(rule, role, id=f"{rule.callback.value.removeprefix('handoff_')}-form-by-{role}-"
                                f"{'allowed' if role == rule.allowed else 'refused'}")
    for rule in FORM_RULES for role in ROLES
]


def _form_effect(world: World, rule: FormRule, staged: Staged) -> None:
    after = world.handoff(staged.id)
    if rule.callback is CallbackId.RESTATE:
        assert after.state is HandoffState.RESTATED and after.rounds == 1
    elif rule.callback is CallbackId.CLARIFY:
        assert after.state is HandoffState.CLARIFYING
    elif rule.callback is CallbackId.RATE:
        assert after.state is HandoffState.RATED and after.rating == 5
    elif rule.callback is CallbackId.REASSIGN:
        assert after.recipient_id == MEMBER
    elif rule.callback is CallbackId.PROPOSE:
        assert (after.state, after.negotiation_turn) == (HandoffState.NEGOTIATING, REQUESTER)
    elif rule.callback is CallbackId.COUNTER:
        assert (after.state, after.negotiation_turn) == (HandoffState.NEGOTIATING, RECIPIENT)
    else:
        with world.db.transaction() as session:
            questions = session.scalars(select(Question).where(Question.handoff_id == staged.id)).all()
            if rule.callback is CallbackId.ASK:
                assert [q.text for q in questions] == ["EUR or USD?"]
            else:
                assert [q.answer for q in questions] == ["EUR"]


@pytest.mark.parametrize(("rule", "role"), FORMS)
def test_form(world: World, rule: FormRule, role: str) -> None:
    staged = world.stage(rule.state, reuse=role != rule.allowed)
    view = world.form(rule.callback, staged)
    user = ROLES[role]
    if role == rule.allowed:
        reply = world.slack.view_submission(user, view, rule.values)
        assert reply.status == 200 and reply.text == "", reply.text
        _form_effect(world, rule, staged)
        return
    world.settle()
    before = world.snapshot()
    reply = world.slack.view_submission(user, view, rule.values)
    assert reply.status == 200, reply
    assert reply.json["response_action"] == "errors", reply.text
    assert list(reply.json["errors"].values()) == [rule.refusal]
    world.settle()
    assert world.snapshot() == before
