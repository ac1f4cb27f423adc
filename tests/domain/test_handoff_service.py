"""Handoff use cases on a real database: what a requester, a recipient and a bystander would notice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import NullPool

from handoff_bot.clock import FakeClock
from handoff_bot.db import Database
from handoff_bot.handoffs import lifecycle
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.lifecycle import Action, ActionRefused, Refusal
from handoff_bot.handoffs.models import (
    Handoff,
    HandoffEvent,
    HandoffState,
    KeyPoint,
    Priority,
    Question,
    QuestionKind,
    Relationship,
    UnderstandingRound,
    Verdict,
)
from handoff_bot.handoffs.service import Draft, FieldError, InvalidInput
from handoff_bot.outbox.models import NoticeKind, OutboxMessage
from tests.conftest import StubDirectory

T = TypeVar("T")
S = HandoffState
N = NoticeKind

REQUESTER = "USAL1"  # in Sales, New York
FIN1, FIN2, FIN_MANAGER = "UFIN1", "UFIN2", "UFINMGR"  # Finance: no intake channel
OPS1, OPS2 = "UOPS1", "UOPS2"  # Ops: intake channel C0OPS
MULTI = "UMULTI"  # in Sales and in Ops
KIWI = "UKIWI"  # in no department, in Auckland
OUTSIDER, BOT, GONE, NOBODY = "UOUT", "UBOT", "UGONE", "UNOBODY"


@dataclass
class Desk:
    """The test's workspace: departments, people, the clock, and one transaction per action."""

    db: Database
    directory: StubDirectory
    clock: FakeClock
    finance: int
    sales: int
    ops: int

    def draft(self, **fields: Any) -> Draft:
        values: dict[str, Any] = {
            "requester_id": REQUESTER, "department_id": self.finance, "title": "Fix the March invoice",
            "recipient_id": FIN1,
        }
        return Draft(**(values | fields))

    def create(self, **fields: Any) -> int:
        with self.db.transaction() as session:
            return handoffs.create(session, self.draft(**fields), directory=self.directory, now=self.clock.now()).id

    def run(self, action: Callable[..., T], *args: Any) -> T:
        """One service call in its own transaction, at the clock's time."""
        with self.db.transaction() as session:
            return action(session, *args, now=self.clock.now())

    def refusal(self, action: Callable[..., Any], *args: Any) -> Refusal:
        """The refusal of a service call; the transaction is committed, so anything it changed would stay."""
        with self.db.transaction() as session, pytest.raises(ActionRefused) as raised:
            action(session, *args, now=self.clock.now())
        return raised.value.refusal

    def errors(self, action: Callable[..., Any], *args: Any) -> list[tuple[str, str]]:
        """The field errors of a service call; the transaction is committed, as in `refusal`."""
        with self.db.transaction() as session, pytest.raises(InvalidInput) as raised:
            action(session, *args, now=self.clock.now())
        return [(e.field, e.code) for e in raised.value.errors]

    def handoff(self, handoff_id: int) -> Handoff:
        with self.db.transaction() as session:
            return handoffs.load(session, handoff_id)

    def trail(self, handoff_id: int) -> list[tuple[str, str, S | None, S]]:
        """The audit events: (action, actor, from state, to state)."""
        with self.db.transaction() as session:
            events = session.scalars(select(HandoffEvent).where(HandoffEvent.handoff_id == handoff_id)
                                     .order_by(HandoffEvent.id))
            return [(e.action, e.actor_id, e.from_state, e.to_state) for e in events]

    def notices(self, handoff_id: int) -> list[tuple[N, str, dict[str, Any]]]:
        """The queued notices: (kind, target, params)."""
        with self.db.transaction() as session:
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.handoff_id == handoff_id)
                                   .order_by(OutboxMessage.id))
            return [(m.kind, m.target, m.params) for m in rows]

    def counts(self) -> dict[str, int]:
        with self.db.transaction() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Handoff, KeyPoint, HandoffEvent, OutboxMessage, UnderstandingRound, Question)
            }

    # ---- handoffs in a given state

    def restated(self, **fields: Any) -> int:
        handoff_id = self.create(**fields)
        self.run(handoffs.restate, handoff_id, FIN1, ["They need the March invoice fixed"])
        return handoff_id

    def confirmed(self) -> int:
        handoff_id = self.restated()
        self.run(handoffs.accept, handoff_id, 1, REQUESTER)
        return handoff_id

    def done(self) -> int:
        handoff_id = self.confirmed()
        self.run(handoffs.mark_done, handoff_id, FIN1)
        return handoff_id


@pytest.fixture
def desk(db: Database, directory: StubDirectory, clock: FakeClock, dept: Callable[..., int]) -> Desk:
    directory.add(REQUESTER, "sam", tz="America/New_York")
    for user_id in (FIN1, FIN2, FIN_MANAGER, OPS1, OPS2, MULTI, OUTSIDER):
        directory.add(user_id)
    directory.add(KIWI, "aroha", tz="Pacific/Auckland")
    directory.add(BOT, "handoff", is_bot=True)
    directory.add(GONE, "left", deleted=True)
    return Desk(
        db, directory, clock,
        finance=dept("Finance", members=[FIN1, FIN2, GONE], managers=[FIN_MANAGER], confirm_within="2h"),
        sales=dept("Sales", members=[REQUESTER, MULTI]),
        ops=dept("Ops", members=[OPS1, OPS2, MULTI], intake_channel="C0OPS"),
    )


# --------------------------------------------------------------------------- create


def test_a_valid_draft_is_sent_to_the_person(desk: Desk) -> None:
    handoff_id = desk.create(
        details="The total is off by 100.", key_points="- Use the new VAT rate\n\n• Resend to the client\n* 发票抬头",
        due_date=date(2026, 3, 6), relation=Relationship.PROCESS, priority=Priority.URGENT,
    )
    handoff = desk.handoff(handoff_id)
    assert handoff.state is S.SENT and handoff.rounds == 0
    assert (handoff.requester_id, handoff.recipient_id) == (REQUESTER, FIN1)
    assert (handoff.from_department_id, handoff.to_department_id) == (desk.sales, desk.finance)
    assert handoff.title == "Fix the March invoice" and handoff.details == "The total is off by 100."
    assert (handoff.due_date, handoff.relation, handoff.priority) == (date(2026, 3, 6), Relationship.PROCESS,
                                                                      Priority.URGENT)
    assert [(p.position, p.text) for p in handoff.key_points] == [
        (1, "Use the new VAT rate"), (2, "Resend to the client"), (3, "发票抬头"),
    ]
    assert handoff.standard["confirm_within_s"] == 2 * 3600  # the standard it was sent under, kept
    assert handoff.created_at == desk.clock.now()
    assert desk.notices(handoff_id) == [(N.RECIPIENT_CARD, FIN1, {}), (N.RECEIPT, REQUESTER, {})]
    assert desk.trail(handoff_id) == [("create", REQUESTER, None, S.SENT)]


def test_without_a_person_it_goes_to_the_intake_channel(desk: Desk) -> None:
    handoff_id = desk.create(department_id=desk.ops, recipient_id=None)
    assert desk.handoff(handoff_id).recipient_id is None
    assert desk.notices(handoff_id) == [(N.INTAKE_POST, "C0OPS", {}), (N.RECEIPT, REQUESTER, {})]


def test_without_key_points_the_title_is_the_one_key_point(desk: Desk) -> None:
    handoff_id = desk.create(key_points=" \n\n ")
    assert [p.text for p in desk.handoff(handoff_id).key_points] == ["Fix the March invoice"]


def test_a_line_holding_only_a_bullet_is_not_a_key_point(desk: Desk) -> None:
    handoff_id = desk.create(key_points="- first\n-\n•\n- second")
    assert [p.text for p in desk.handoff(handoff_id).key_points] == ["first", "second"]


def test_user_text_is_cleaned_before_it_is_stored(desk: Desk) -> None:
    handoff_id = desk.create(title="  Fix\u202e the\tinvoice \x07", details="line one\r\nline two\u0000")
    handoff = desk.handoff(handoff_id)
    assert (handoff.title, handoff.details) == ("Fix the invoice", "line one\nline two")


def test_a_requester_in_several_departments_says_which_one_it_comes_from(desk: Desk) -> None:
    assert desk.handoff(desk.create(requester_id=MULTI, from_department_id=desk.ops)).from_department_id == desk.ops


def test_a_requester_in_no_department_sends_from_none(desk: Desk) -> None:
    assert desk.handoff(desk.create(requester_id=OUTSIDER)).from_department_id is None


def test_a_due_date_today_in_the_requesters_zone_is_fine(desk: Desk) -> None:
    desk.clock.set(datetime(2026, 3, 2, 11, 30, tzinfo=timezone.utc))  # 06:30 in New York
    assert desk.handoff(desk.create(due_date=date(2026, 3, 2))).due_date == date(2026, 3, 2)


FIELD_ERRORS: dict[str, tuple[dict[str, Any], tuple[str, str]]] = {
    "no department": ({"department_id": None}, ("department", "required")),
    "unknown department": ({"department_id": 9999}, ("department", "unknown")),
    "missing title": ({"title": " \u202e\n "}, ("title", "required")),
    "title over 150": ({"title": "t" * 151}, ("title", "too_long")),
    "details over 3000": ({"details": "d" * 3001}, ("details", "too_long")),
    "11 key points": ({"key_points": "\n".join(f"point {i}" for i in range(11))}, ("key_points", "too_many")),
    "a key point over 300": ({"key_points": "ok\n" + "p" * 301}, ("key_points", "point_too_long")),
    "due yesterday": ({"due_date": date(2026, 3, 1)}, ("due_date", "past")),
    "due today in UTC but tomorrow already in Auckland": (
        {"requester_id": KIWI, "due_date": date(2026, 3, 2)}, ("due_date", "past"),
    ),
    "to oneself": ({"recipient_id": REQUESTER}, ("recipient", "self")),
    "to a bot": ({"recipient_id": BOT}, ("recipient", "bot")),
    "to a deactivated user": ({"recipient_id": GONE}, ("recipient", "deactivated")),
    "to an unknown user": ({"recipient_id": NOBODY}, ("recipient", "unknown_user")),
    "to someone outside the department": ({"recipient_id": OPS1}, ("recipient", "not_in_department")),
    "no person and no intake channel": ({"recipient_id": None}, ("recipient", "no_intake")),
    "several departments, none chosen": ({"requester_id": MULTI}, ("from_department", "required")),
    "from a department not one's own": ({"from_department_id": -1}, ("from_department", "not_yours")),
}


@pytest.mark.parametrize("case", FIELD_ERRORS)
def test_an_invalid_draft_is_refused_and_writes_nothing(desk: Desk, case: str) -> None:
    fields, expected = FIELD_ERRORS[case]
    desk.clock.set(datetime(2026, 3, 2, 11, 30, tzinfo=timezone.utc))  # Tuesday 00:30 in Auckland
    before = desk.counts()
    # The transaction commits: whatever create() wrote before refusing would stay.
    with desk.db.transaction() as session, pytest.raises(InvalidInput) as raised:
        handoffs.create(session, desk.draft(**fields), directory=desk.directory, now=desk.clock.now())
    assert [(e.field, e.code) for e in raised.value.errors] == [expected]
    assert desk.counts() == before == dict.fromkeys(before, 0)


def test_every_problem_is_reported_at_once(desk: Desk) -> None:
    with desk.db.transaction() as session, pytest.raises(InvalidInput) as raised:
        handoffs.create(session, desk.draft(title="", details="d" * 3001, recipient_id=BOT, due_date=date(2020, 1, 1)),
                        directory=desk.directory, now=desk.clock.now())
    assert [(e.field, e.code) for e in raised.value.errors] == [
        ("title", "required"), ("details", "too_long"), ("recipient", "bot"), ("due_date", "past"),
    ]
    assert raised.value.errors[1] == FieldError("details", "too_long", {"limit": 3000, "length": 3001})


# --------------------------------------------------------------------------- claim


def test_a_member_claims_an_unassigned_handoff(desk: Desk) -> None:
    handoff_id = desk.create(department_id=desk.ops, recipient_id=None)
    assert desk.refusal(handoffs.restate, handoff_id, OPS1, ["x"]) is Refusal.UNCLAIMED
    desk.run(handoffs.claim, handoff_id, OPS1)
    assert desk.handoff(handoff_id).recipient_id == OPS1
    assert desk.handoff(handoff_id).state is S.SENT
    assert desk.notices(handoff_id)[2:] == [(N.RECIPIENT_CARD, OPS1, {}), (N.REFRESH, REQUESTER, {})]
    assert desk.trail(handoff_id)[1:] == [("claim", OPS1, S.SENT, S.SENT)]


@pytest.mark.parametrize(("who", "refusal"), [
    (REQUESTER, Refusal.OWN_HANDOFF),
    (FIN1, Refusal.NOT_MEMBER),
    (OUTSIDER, Refusal.NOT_MEMBER),
])
def test_only_a_member_other_than_the_requester_may_claim(desk: Desk, who: str, refusal: Refusal) -> None:
    handoff_id = desk.create(department_id=desk.ops, recipient_id=None)
    assert desk.refusal(handoffs.claim, handoff_id, who) is refusal
    assert desk.handoff(handoff_id).recipient_id is None and len(desk.trail(handoff_id)) == 1


def test_the_requester_may_not_claim_even_as_a_member(desk: Desk) -> None:
    handoff_id = desk.create(requester_id=MULTI, from_department_id=desk.sales, department_id=desk.ops,
                             recipient_id=None)
    assert desk.refusal(handoffs.claim, handoff_id, MULTI) is Refusal.OWN_HANDOFF


def test_a_second_claim_is_refused(desk: Desk) -> None:
    handoff_id = desk.create(department_id=desk.ops, recipient_id=None)
    desk.run(handoffs.claim, handoff_id, OPS1)
    assert desk.refusal(handoffs.claim, handoff_id, OPS2) is Refusal.ALREADY_CLAIMED
    assert desk.refusal(handoffs.claim, handoff_id, OPS1) is Refusal.ALREADY_CLAIMED
    assert desk.handoff(handoff_id).recipient_id == OPS1


def test_an_unknown_handoff_is_not_found(desk: Desk) -> None:
    assert desk.refusal(handoffs.claim, 404, OPS1) is Refusal.NOT_FOUND


# --------------------------------------------------------------------------- understanding rounds


def test_restate_accept_done_rate(desk: Desk) -> None:
    handoff_id = desk.create(key_points="VAT rate\nResend")
    desk.clock.advance(timedelta(hours=1))
    desk.run(handoffs.restate, handoff_id, FIN1, ["Use 13% VAT", "Send it to the client again"])
    assert desk.handoff(handoff_id).state is S.RESTATED
    desk.clock.advance(timedelta(hours=1))
    desk.run(handoffs.accept, handoff_id, 1, REQUESTER)
    confirmed_at = desk.clock.now()
    desk.clock.advance(timedelta(days=1))
    desk.run(handoffs.mark_done, handoff_id, FIN1)
    desk.clock.advance(timedelta(hours=2))
    desk.run(handoffs.rate, handoff_id, REQUESTER, 5, " Quick and right ")

    handoff = desk.handoff(handoff_id)
    assert handoff.state is S.RATED and handoff.rounds == 1
    assert (handoff.confirmed_at, handoff.done_at, handoff.rated_at) == (
        confirmed_at, confirmed_at + timedelta(days=1), desk.clock.now(),
    )
    assert (handoff.rating, handoff.rating_comment) == (5, "Quick and right")
    with desk.db.transaction() as session:
        [rnd] = handoffs.rounds(session, handoff_id)
        assert (rnd.number, rnd.restated_by, rnd.verdict, rnd.decided_at) == (1, FIN1, Verdict.ACCEPTED, confirmed_at)
        assert rnd.restatements == ["Use 13% VAT", "Send it to the client again"]
    assert desk.trail(handoff_id) == [
        ("create", REQUESTER, None, S.SENT),
        ("restate", FIN1, S.SENT, S.RESTATED),
        ("accept", REQUESTER, S.RESTATED, S.CONFIRMED),
        ("mark_done", FIN1, S.CONFIRMED, S.DONE),
        ("rate", REQUESTER, S.DONE, S.RATED),
    ]
    told = [(kind, target, params) for kind, target, params in desk.notices(handoff_id) if kind is not N.REFRESH]
    assert told == [
        (N.RECIPIENT_CARD, FIN1, {}), (N.RECEIPT, REQUESTER, {}), (N.REVIEW, REQUESTER, {"round": 1}),
        (N.CONFIRMED, FIN1, {}), (N.RATING_REQUEST, REQUESTER, {}), (N.RATED, FIN1, {}),
    ]


def test_clarify_then_restate_again_then_accept(desk: Desk) -> None:
    handoff_id = desk.restated()
    desk.run(handoffs.clarify, handoff_id, 1, REQUESTER, "Not the February one: March.")
    assert desk.handoff(handoff_id).state is S.CLARIFYING
    assert (N.CLARIFICATION, FIN1, {"round": 1}) in desk.notices(handoff_id)
    desk.run(handoffs.restate, handoff_id, FIN1, ["Fix the March invoice, not February's"])
    assert (desk.handoff(handoff_id).state, desk.handoff(handoff_id).rounds) == (S.RESTATED, 2)
    desk.run(handoffs.accept, handoff_id, 2, REQUESTER)

    assert desk.handoff(handoff_id).state is S.CONFIRMED
    with desk.db.transaction() as session:
        first, second = handoffs.rounds(session, handoff_id)
        assert (first.verdict, first.clarification) == (Verdict.CLARIFY, "Not the February one: March.")
        assert (second.number, second.verdict) == (2, Verdict.ACCEPTED)
    assert [(action, before, after) for action, _, before, after in desk.trail(handoff_id)] == [
        ("create", None, S.SENT), ("restate", S.SENT, S.RESTATED), ("clarify", S.RESTATED, S.CLARIFYING),
        ("restate", S.CLARIFYING, S.RESTATED), ("accept", S.RESTATED, S.CONFIRMED),
    ]


def test_a_verdict_on_an_earlier_round_is_stale(desk: Desk) -> None:
    handoff_id = desk.restated()
    desk.run(handoffs.clarify, handoff_id, 1, REQUESTER, "March, not February")
    desk.run(handoffs.restate, handoff_id, FIN1, ["March"])
    assert desk.refusal(handoffs.accept, handoff_id, 1, REQUESTER) is Refusal.STALE
    assert desk.refusal(handoffs.clarify, handoff_id, 1, REQUESTER, "again") is Refusal.STALE
    assert desk.handoff(handoff_id).state is S.RESTATED and len(desk.trail(handoff_id)) == 4


def test_a_double_click_on_accept_confirms_once(desk: Desk) -> None:
    handoff_id = desk.restated()
    desk.run(handoffs.accept, handoff_id, 1, REQUESTER)
    assert desk.refusal(handoffs.accept, handoff_id, 1, REQUESTER) is Refusal.WRONG_STATE
    assert [n for n in desk.notices(handoff_id) if n[0] is N.CONFIRMED] == [(N.CONFIRMED, FIN1, {})]


def test_restatements_must_cover_every_key_point(desk: Desk) -> None:
    handoff_id = desk.create(key_points="one\ntwo")
    assert desk.errors(handoffs.restate, handoff_id, FIN1, ["first", " \u202e "]) == [("point_2", "required")]
    assert desk.errors(handoffs.restate, handoff_id, FIN1, ["x" * 3001, "ok"]) == [("point_1", "too_long")]
    assert desk.errors(handoffs.restate, handoff_id, FIN1, ["only one"]) == [("point_1", "stale_form")]
    assert desk.handoff(handoff_id).state is S.SENT and desk.handoff(handoff_id).rounds == 0


def test_a_clarification_must_say_something(desk: Desk) -> None:
    handoff_id = desk.restated()
    assert desk.errors(handoffs.clarify, handoff_id, 1, REQUESTER, "  ") == [("clarification", "required")]
    assert desk.errors(handoffs.clarify, handoff_id, 1, REQUESTER, "c" * 3001) == [("clarification", "too_long")]
    assert desk.handoff(handoff_id).state is S.RESTATED


@pytest.mark.parametrize(("rating", "comment", "expected"), [
    (None, "", [("rating", "required")]),
    (0, "", [("rating", "not_a_rating")]),
    (6, "", [("rating", "not_a_rating")]),
    (3, "c" * 3001, [("comment", "too_long")]),
])
def test_a_rating_is_one_to_five(desk: Desk, rating: int | None, comment: str, expected: list[tuple[str, str]]) -> None:
    handoff_id = desk.done()
    assert desk.errors(handoffs.rate, handoff_id, REQUESTER, rating, comment) == expected
    assert desk.handoff(handoff_id).state is S.DONE


# --------------------------------------------------------------------------- questions


def test_ask_and_answer(desk: Desk) -> None:
    handoff_id = desk.create()
    question = desk.run(handoffs.ask, handoff_id, FIN1, QuestionKind.CLOSED, "Is it invoice 1042?")
    assert (N.QUESTION, REQUESTER, {"question": question.id}) in desk.notices(handoff_id)
    desk.run(handoffs.answer, question.id, REQUESTER, "Yes, 1042.")
    assert (N.ANSWER, FIN1, {"question": question.id}) in desk.notices(handoff_id)
    with desk.db.transaction() as session:
        [stored] = handoffs.questions(session, handoff_id)
        assert (stored.kind, stored.text, stored.answer, stored.answered_by) == (
            QuestionKind.CLOSED, "Is it invoice 1042?", "Yes, 1042.", REQUESTER,
        )
    assert desk.trail(handoff_id)[1:] == [("ask", FIN1, S.SENT, S.SENT), ("answer", REQUESTER, S.SENT, S.SENT)]
    assert desk.refusal(handoffs.answer, question.id, REQUESTER, "Again") is Refusal.STALE
    assert desk.errors(handoffs.ask, handoff_id, FIN1, QuestionKind.OPEN, " ") == [("question", "required")]


def test_only_the_requester_answers_and_only_the_recipient_asks(desk: Desk) -> None:
    handoff_id = desk.create()
    question = desk.run(handoffs.ask, handoff_id, FIN1, QuestionKind.OPEN, "What changed?")
    assert desk.refusal(handoffs.answer, question.id, FIN1, "self-answer") is Refusal.NOT_REQUESTER
    assert desk.refusal(handoffs.ask, handoff_id, REQUESTER, QuestionKind.OPEN, "?") is Refusal.NOT_RECIPIENT
    assert desk.refusal(handoffs.ask, handoff_id, FIN2, QuestionKind.OPEN, "?") is Refusal.NOT_RECIPIENT
    assert desk.refusal(handoffs.answer, 404, REQUESTER, "?") is Refusal.NOT_FOUND
    assert desk.errors(handoffs.answer, question.id, REQUESTER, "") == [("answer", "required")]


def test_no_questions_once_the_work_is_done(desk: Desk) -> None:
    handoff_id = desk.done()
    assert desk.refusal(handoffs.ask, handoff_id, FIN1, QuestionKind.OPEN, "?") is Refusal.WRONG_STATE


# --------------------------------------------------------------------------- cancel


def test_the_requester_cancels_and_the_recipient_is_told(desk: Desk) -> None:
    handoff_id = desk.restated()
    assert desk.refusal(handoffs.cancel, handoff_id, FIN1) is Refusal.NOT_REQUESTER
    desk.run(handoffs.cancel, handoff_id, REQUESTER)
    assert desk.handoff(handoff_id).state is S.CANCELLED
    assert desk.notices(handoff_id)[-1] == (N.CANCELLED, FIN1, {})
    assert (N.REFRESH, REQUESTER, {}) in desk.notices(handoff_id)  # the cards lose their buttons
    assert desk.trail(handoff_id)[-1] == ("cancel", REQUESTER, S.RESTATED, S.CANCELLED)
    assert desk.refusal(handoffs.cancel, handoff_id, REQUESTER) is Refusal.WRONG_STATE
    assert desk.refusal(handoffs.restate, handoff_id, FIN1, ["x"]) is Refusal.WRONG_STATE


def test_cancelling_an_unclaimed_handoff_tells_no_recipient(desk: Desk) -> None:
    handoff_id = desk.create(department_id=desk.ops, recipient_id=None)
    desk.run(handoffs.cancel, handoff_id, REQUESTER)
    assert [kind for kind, _, _ in desk.notices(handoff_id)] == [N.INTAKE_POST, N.RECEIPT, N.REFRESH]
    assert desk.refusal(handoffs.claim, handoff_id, OPS1) is Refusal.WRONG_STATE


def test_a_waiting_refresh_is_not_queued_twice(desk: Desk) -> None:
    handoff_id = desk.restated()
    desk.run(handoffs.clarify, handoff_id, 1, REQUESTER, "March")
    assert [kind for kind, _, _ in desk.notices(handoff_id)].count(N.REFRESH) == 1


# --------------------------------------------------------------------------- who may do what, when


STAGES: dict[str, Callable[[Desk], int]] = {
    "sent": Desk.create, "restated": Desk.restated, "confirmed": Desk.confirmed, "done": Desk.done,
}

WRONG_PEOPLE: list[tuple[str, Callable[..., Any], tuple[Any, ...], str, Refusal]] = [
    ("sent", handoffs.restate, (["x"],), REQUESTER, Refusal.NOT_RECIPIENT),
    ("sent", handoffs.restate, (["x"],), FIN2, Refusal.NOT_RECIPIENT),
    ("restated", handoffs.accept, (1,), FIN1, Refusal.NOT_REQUESTER),
    ("restated", handoffs.accept, (1,), OUTSIDER, Refusal.NOT_REQUESTER),
    ("restated", handoffs.clarify, (1, "no"), FIN1, Refusal.NOT_REQUESTER),
    ("confirmed", handoffs.mark_done, (), REQUESTER, Refusal.NOT_RECIPIENT),
    ("confirmed", handoffs.mark_done, (), FIN_MANAGER, Refusal.NOT_RECIPIENT),
    ("done", handoffs.rate, (5, ""), FIN1, Refusal.NOT_REQUESTER),
    ("sent", handoffs.cancel, (), FIN1, Refusal.NOT_REQUESTER),
    ("sent", handoffs.claim, (), FIN2, Refusal.ALREADY_CLAIMED),
]


def _call(action: Callable[..., Any], handoff_id: int, args: tuple[Any, ...], who: str) -> tuple[Any, ...]:
    """Arguments in each service function's order: the round number comes before the actor."""
    if action in (handoffs.accept, handoffs.clarify):
        return (handoff_id, args[0], who, *args[1:])
    return (handoff_id, who, *args)


@pytest.mark.parametrize(("stage", "action", "args", "who", "refusal"), WRONG_PEOPLE,
                         ids=[f"{a.__name__}-by-{w}" for _, a, _, w, _ in WRONG_PEOPLE])
def test_the_wrong_person_is_refused_and_nothing_changes(
    desk: Desk, stage: str, action: Callable[..., Any], args: tuple[Any, ...], who: str, refusal: Refusal
) -> None:
    handoff_id = STAGES[stage](desk)
    before = (desk.handoff(handoff_id).version, desk.trail(handoff_id), desk.notices(handoff_id))
    assert desk.refusal(action, *_call(action, handoff_id, args, who)) is refusal
    assert (desk.handoff(handoff_id).version, desk.trail(handoff_id), desk.notices(handoff_id)) == before


WRONG_STATES: list[tuple[str, Callable[..., Any], tuple[Any, ...], str]] = [
    ("sent", handoffs.accept, (1,), REQUESTER),
    ("sent", handoffs.mark_done, (), FIN1),
    ("sent", handoffs.rate, (5, ""), REQUESTER),
    ("restated", handoffs.restate, (["again"],), FIN1),
    ("confirmed", handoffs.rate, (5, ""), REQUESTER),
    ("confirmed", handoffs.clarify, (1, "late"), REQUESTER),
    ("done", handoffs.mark_done, (), FIN1),
    ("done", handoffs.cancel, (), REQUESTER),
]


@pytest.mark.parametrize(("stage", "action", "args", "who"), WRONG_STATES,
                         ids=[f"{a.__name__}-when-{s}" for s, a, _, _ in WRONG_STATES])
def test_an_action_in_the_wrong_state_is_refused(
    desk: Desk, stage: str, action: Callable[..., Any], args: tuple[Any, ...], who: str
) -> None:
    handoff_id = STAGES[stage](desk)
    before = (desk.handoff(handoff_id).version, desk.trail(handoff_id))
    assert desk.refusal(action, *_call(action, handoff_id, args, who)) is Refusal.WRONG_STATE
    assert (desk.handoff(handoff_id).version, desk.trail(handoff_id)) == before


def test_may_checks_without_changing_anything(desk: Desk) -> None:
    handoff_id = desk.create()
    before = desk.handoff(handoff_id).version
    with desk.db.transaction() as session:
        assert handoffs.may(session, handoff_id, Action.RESTATE, FIN1).id == handoff_id
        with pytest.raises(ActionRefused) as raised:
            handoffs.may(session, handoff_id, Action.ACCEPT, REQUESTER)
        assert raised.value.refusal is Refusal.WRONG_STATE
    assert desk.handoff(handoff_id).version == before


def test_open_for_lists_what_waits_on_whom(desk: Desk) -> None:
    waiting = desk.create()
    done = desk.done()
    desk.run(handoffs.cancel, desk.create(title="Withdrawn"), REQUESTER)
    with desk.db.transaction() as session:
        incoming, _, _ = handoffs.open_for(session, FIN1)
        _, outgoing, _ = handoffs.open_for(session, REQUESTER)
        assert {h.id for h in incoming} == {waiting, done}
        assert {h.id for h in outgoing} == {waiting, done}


# --------------------------------------------------------------------------- concurrency


def test_two_accepts_at_the_same_moment_confirm_once(desk: Desk) -> None:
    """Two app processes handling the same click: the database lets exactly one through."""
    handoff_id = desk.restated()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def click() -> None:
        start.wait()
        try:
            desk.run(handoffs.accept, handoff_id, 1, REQUESTER)
            outcomes.append("confirmed")
        except (ActionRefused, StaleDataError) as error:
            outcomes.append(f"refused: {error}")

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes)[0] == "confirmed" and sorted(outcomes)[1].startswith("refused"), outcomes
    assert [e for e in desk.trail(handoff_id) if e[0] == "accept"] == [("accept", REQUESTER, S.RESTATED, S.CONFIRMED)]
    assert [kind for kind, _, _ in desk.notices(handoff_id)].count(N.CONFIRMED) == 1


def test_the_version_column_refuses_a_write_based_on_a_stale_read(desk: Desk) -> None:
    """Two sessions both load the handoff, both accept: the second write finds the version moved on.

    The app's SQLite engine takes the write lock when a transaction begins, so two sessions could not
    both have read; a plain engine gives that interleaving on SQLite as on PostgreSQL.
    """
    handoff_id = desk.restated()
    engine = create_engine(desk.db.url, poolclass=NullPool)
    now = desk.clock.now()
    try:
        with Session(engine) as first, Session(engine) as second:
            mine, theirs = first.get(Handoff, handoff_id), second.get(Handoff, handoff_id)
            assert mine is not None and theirs is not None and mine.version == theirs.version
            loaded = mine.version
            lifecycle.apply(first, mine, Action.ACCEPT, REQUESTER, now, is_member=lambda _: False)
            first.commit()
            lifecycle.apply(second, theirs, Action.ACCEPT, REQUESTER, now, is_member=lambda _: False)
            with pytest.raises(StaleDataError):
                second.commit()
    finally:
        engine.dispose()
    assert desk.handoff(handoff_id).version > loaded
    assert [e[0] for e in desk.trail(handoff_id)].count("accept") == 1
