"""The state machine: the table of allowed moves, who may make them, and the audit event each writes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from handoff_bot.clock import FakeClock
from handoff_bot.db import Database
from handoff_bot.departments.models import Department
from handoff_bot.handoffs import lifecycle
from handoff_bot.handoffs.lifecycle import SYSTEM_ACTOR, TRANSITIONS, Action, ActionRefused, Actor, Refusal
from handoff_bot.handoffs.models import (
    FINISHED_STATES,
    OPEN_STATES,
    Handoff,
    HandoffEvent,
    HandoffState,
    Priority,
    Relationship,
)
from tests.conftest import make_department

S = HandoffState
REQUESTER, RECIPIENT, MEMBER, MANAGER, OUTSIDER = "UREQ", "UREC", "UMEM", "UMGR", "UOUT"
RIGHTFUL = {
    Actor.REQUESTER: REQUESTER, Actor.RECIPIENT: RECIPIENT, Actor.DEPARTMENT_MEMBER: MEMBER,
    Actor.MANAGER: MANAGER, Actor.SYSTEM: SYSTEM_ACTOR, Actor.PARTY: REQUESTER,
}


def _handoff(state: S = S.SENT, recipient: str | None = RECIPIENT) -> Handoff:
    """A handoff in memory only: `check` needs no database."""
    return Handoff(
        id=1, requester_id=REQUESTER, recipient_id=recipient, to_department_id=1, title="t", state=state,
        relation=Relationship.FUNCTIONAL, priority=Priority.NORMAL, standard={}, rounds=0,
        to_department=Department(id=1, name="Finance"),
    )


def _members(user_id: str) -> bool:
    return user_id in (RECIPIENT, MEMBER, MANAGER)


def _managers(user_id: str) -> bool:
    return user_id == MANAGER


def test_every_kind_of_actor_is_known_here() -> None:
    assert set(RIGHTFUL) == set(Actor)


def test_every_action_but_create_has_a_move() -> None:
    assert set(TRANSITIONS) == set(Action) - {Action.CREATE}


def test_finished_states_are_final() -> None:
    for action, move in TRANSITIONS.items():
        assert not move.from_states & FINISHED_STATES, action


def test_the_lifecycle_reaches_every_state_it_declares() -> None:
    reachable = {S.SENT}
    while True:
        more = {t for m in TRANSITIONS.values() if m.from_states & reachable
                for t in {m.to_state or s for s in m.from_states & reachable} | m.or_to} - reachable
        if not more:
            break
        reachable |= more
    assert reachable == set(S)


def test_cancel_is_possible_from_every_open_state_and_only_there() -> None:
    assert TRANSITIONS[Action.CANCEL].from_states == OPEN_STATES


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("state", sorted(S))
def test_the_rightful_actor_may_act_exactly_in_the_declared_states(action: Action, state: S) -> None:
    recipient = None if action is Action.CLAIM else RECIPIENT
    handoff = _handoff(state, recipient)
    who = RIGHTFUL[TRANSITIONS[action].actor]
    handoff.negotiation_turn = who  # in a negotiation, it is their turn
    if state in TRANSITIONS[action].from_states:
        move = lifecycle.check(handoff, action, who, is_member=_members, is_manager=_managers)
        assert move is TRANSITIONS[action]
    else:
        with pytest.raises(ActionRefused) as raised:
            lifecycle.check(handoff, action, who, is_member=_members, is_manager=_managers)
        assert raised.value.refusal is Refusal.WRONG_STATE
        assert raised.value.handoff is not None and raised.value.handoff.id == handoff.id


@pytest.mark.parametrize(("action", "who", "refusal"), [
    (Action.ACCEPT, RECIPIENT, Refusal.NOT_REQUESTER),
    (Action.CANCEL, OUTSIDER, Refusal.NOT_REQUESTER),
    (Action.RATE, MEMBER, Refusal.NOT_REQUESTER),
    (Action.RESTATE, REQUESTER, Refusal.NOT_RECIPIENT),
    (Action.MARK_DONE, MEMBER, Refusal.NOT_RECIPIENT),
    (Action.ASK, OUTSIDER, Refusal.NOT_RECIPIENT),
])
def test_the_wrong_person_is_refused_before_the_state_is_considered(action: Action, who: str, refusal: Refusal) -> None:
    for state in S:
        with pytest.raises(ActionRefused) as raised:
            lifecycle.check(_handoff(state), action, who, is_member=_members, is_manager=_managers)
        assert raised.value.refusal is refusal, state


@pytest.mark.parametrize("action", [Action.PROPOSE, Action.COUNTER, Action.AGREE])
def test_in_a_negotiation_only_the_side_it_waits_on_may_move(action: Action) -> None:
    negotiating = _handoff(S.NEGOTIATING)
    negotiating.negotiation_turn = OUTSIDER  # nobody's turn of the two: each is refused as out of turn
    who = RIGHTFUL[TRANSITIONS[action].actor]
    with pytest.raises(ActionRefused) as raised:
        lifecycle.check(negotiating, action, who, is_member=_members)
    assert raised.value.refusal is Refusal.NOT_YOUR_TURN
    negotiating.negotiation_turn = who
    assert lifecycle.check(negotiating, action, who, is_member=_members) is TRANSITIONS[action]


def test_only_the_two_sides_may_agree() -> None:
    negotiating = _handoff(S.NEGOTIATING)
    negotiating.negotiation_turn = RECIPIENT
    assert lifecycle.check(negotiating, Action.AGREE, RECIPIENT, is_member=_members)
    for who in (MEMBER, MANAGER, OUTSIDER):
        with pytest.raises(ActionRefused) as raised:
            lifecycle.check(negotiating, Action.AGREE, who, is_member=_members, is_manager=_managers)
        assert raised.value.refusal is Refusal.NOT_PARTY


def test_claim_rules() -> None:
    unclaimed = _handoff(S.SENT, recipient=None)
    for who, refusal in [(REQUESTER, Refusal.OWN_HANDOFF), (OUTSIDER, Refusal.NOT_MEMBER)]:
        with pytest.raises(ActionRefused) as raised:
            lifecycle.check(unclaimed, Action.CLAIM, who, is_member=lambda user: user != OUTSIDER)
        assert raised.value.refusal is refusal
    with pytest.raises(ActionRefused) as raised:
        lifecycle.check(_handoff(S.SENT), Action.CLAIM, MEMBER, is_member=_members)
    assert raised.value.refusal is Refusal.ALREADY_CLAIMED


def test_recipient_actions_on_an_unclaimed_handoff_ask_for_a_claim_first() -> None:
    with pytest.raises(ActionRefused) as raised:
        lifecycle.check(_handoff(S.SENT, recipient=None), Action.RESTATE, MEMBER, is_member=_members)
    assert raised.value.refusal is Refusal.UNCLAIMED


def _stored(db: Database, clock: FakeClock, state: S) -> int:
    department = make_department(db, "Finance", members=[RECIPIENT, MEMBER])
    with db.transaction() as session:
        handoff = Handoff(
            created_at=clock.now(), updated_at=clock.now(), requester_id=REQUESTER, to_department_id=department,
            recipient_id=RECIPIENT, title="t", due_date=date(2026, 3, 6), relation=Relationship.FUNCTIONAL,
            priority=Priority.NORMAL, state=state, standard={},
        )
        session.add(handoff)
        session.flush()
        lifecycle.record_creation(session, handoff, clock.now())
        return handoff.id


def _events(db: Database, handoff_id: int) -> list[tuple[str, str, S | None, S, dict[str, object]]]:
    with db.transaction() as session:
        rows = session.scalars(
            select(HandoffEvent).where(HandoffEvent.handoff_id == handoff_id).order_by(HandoffEvent.id)
        )
        return [(e.action, e.actor_id, e.from_state, e.to_state, e.payload) for e in rows]


def test_apply_moves_the_state_and_writes_one_event(db: Database, clock: FakeClock) -> None:
    handoff_id = _stored(db, clock, S.RESTATED)
    clock.advance(timedelta(minutes=5))
    with db.transaction() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        event = lifecycle.apply(session, handoff, Action.ACCEPT, REQUESTER, clock.now(), is_member=_members,
                                payload={"round": 1})
        assert event.at == clock.now()
    with db.transaction() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None and handoff.state is S.CONFIRMED and handoff.updated_at == clock.now()
    assert _events(db, handoff_id) == [
        ("create", REQUESTER, None, S.RESTATED, {}),
        ("accept", REQUESTER, S.RESTATED, S.CONFIRMED, {"round": 1}),
    ]


def test_an_action_that_keeps_the_state_is_still_recorded(db: Database, clock: FakeClock) -> None:
    handoff_id = _stored(db, clock, S.SENT)
    with db.transaction() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        lifecycle.apply(session, handoff, Action.ASK, RECIPIENT, clock.now(), is_member=_members)
    assert _events(db, handoff_id)[-1] == ("ask", RECIPIENT, S.SENT, S.SENT, {})


def test_a_refused_apply_changes_nothing(db: Database, clock: FakeClock) -> None:
    handoff_id = _stored(db, clock, S.SENT)
    with db.transaction() as session:  # committed even though apply refuses
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        with pytest.raises(ActionRefused):
            lifecycle.apply(session, handoff, Action.MARK_DONE, RECIPIENT, clock.now(), is_member=_members)
    with db.transaction() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None and handoff.state is S.SENT and handoff.version == 1
    assert len(_events(db, handoff_id)) == 1
