"""The handoff state machine: allowed moves declared once, checked in one function."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from handoff_bot.handoffs.models import OPEN_STATES, Handoff, HandoffEvent
from handoff_bot.handoffs.models import HandoffState as S


class Action(enum.StrEnum):
    CREATE = "create"
    CLAIM = "claim"
    RESTATE = "restate"
    ACCEPT = "accept"
    CLARIFY = "clarify"
    ASK = "ask"
    ANSWER = "answer"
    MARK_DONE = "mark_done"
    RATE = "rate"
    CANCEL = "cancel"
    NUDGE = "nudge"
    REASSIGN = "reassign"
    ESCALATE = "escalate"  # the receiving department's managers are told: not confirmed in time
    ESCALATE_REVIEW = "escalate_review"    # the requesting department's: a restatement not reviewed
    ESCALATE_STALLED = "escalate_stalled"  # both sides': a negotiation not settled in time
    PROPOSE = "propose"  # the recipient proposes other terms, or declines
    COUNTER = "counter"  # the requester answers a proposal with other terms
    AGREE = "agree"      # either side accepts the other's latest proposal


class Actor(enum.StrEnum):
    """Who may take an action."""

    REQUESTER = "requester"
    RECIPIENT = "recipient"
    DEPARTMENT_MEMBER = "department_member"
    MANAGER = "manager"  # a manager of the receiving department
    PARTY = "party"      # the requester or the recipient (in a negotiation, the one whose turn it is)
    SYSTEM = "system"    # the bot itself (follow-ups)


@dataclass(frozen=True)
class Move:
    from_states: frozenset[S]
    to_state: S | None  # None: the state stays as it is
    actor: Actor
    or_to: frozenset[S] = frozenset()  # where else the move may go, as the caller decides (see `apply`)


_UNDER_WAY = frozenset({S.SENT, S.RESTATED, S.CLARIFYING, S.CONFIRMED})  # where a negotiation may start, and end
_ASKABLE = _UNDER_WAY | {S.NEGOTIATING}

TRANSITIONS: dict[Action, Move] = {
    Action.CLAIM: Move(frozenset({S.SENT}), None, Actor.DEPARTMENT_MEMBER),
    Action.RESTATE: Move(frozenset({S.SENT, S.CLARIFYING}), S.RESTATED, Actor.RECIPIENT),
    Action.ACCEPT: Move(frozenset({S.RESTATED}), S.CONFIRMED, Actor.REQUESTER),
    Action.CLARIFY: Move(frozenset({S.RESTATED}), S.CLARIFYING, Actor.REQUESTER),
    Action.ASK: Move(_ASKABLE, None, Actor.RECIPIENT),
    Action.ANSWER: Move(_ASKABLE, None, Actor.REQUESTER),
    Action.MARK_DONE: Move(frozenset({S.CONFIRMED}), S.DONE, Actor.RECIPIENT),
    Action.RATE: Move(frozenset({S.DONE}), S.RATED, Actor.REQUESTER),
    Action.CANCEL: Move(OPEN_STATES, S.CANCELLED, Actor.REQUESTER),
    Action.NUDGE: Move(OPEN_STATES, None, Actor.MANAGER),
    Action.REASSIGN: Move(_ASKABLE, S.SENT, Actor.MANAGER),
    Action.ESCALATE: Move(OPEN_STATES, None, Actor.SYSTEM),
    Action.ESCALATE_REVIEW: Move(OPEN_STATES, None, Actor.SYSTEM),
    Action.ESCALATE_STALLED: Move(OPEN_STATES, None, Actor.SYSTEM),
    Action.PROPOSE: Move(_ASKABLE, S.NEGOTIATING, Actor.RECIPIENT),
    Action.COUNTER: Move(frozenset({S.NEGOTIATING}), None, Actor.REQUESTER),
    # Agreeing ends the negotiation: the handoff goes back to where it was, or is declined.
    Action.AGREE: Move(frozenset({S.NEGOTIATING}), None, Actor.PARTY, or_to=_UNDER_WAY | {S.DECLINED}),
}
# In a negotiation the sides take turns: these wait for the other side's answer to one's own proposal.
TAKES_TURNS = frozenset({Action.PROPOSE, Action.COUNTER, Action.AGREE})
SYSTEM_ACTOR = "handoff"  # the actor id recorded for the bot's own actions


class Refusal(enum.StrEnum):
    NOT_REQUESTER = "not_requester"
    NOT_RECIPIENT = "not_recipient"
    NOT_MEMBER = "not_member"
    NOT_MANAGER = "not_manager"
    NOT_PARTY = "not_party"
    NOT_YOUR_TURN = "not_your_turn"
    DATE_PASSED = "date_passed"  # the due date a proposal asks for is already past
    ALREADY_NUDGED = "already_nudged"
    OWN_HANDOFF = "own_handoff"
    UNCLAIMED = "unclaimed"
    ALREADY_CLAIMED = "already_claimed"
    WRONG_STATE = "wrong_state"
    STALE = "stale"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Snapshot:
    """What a refusal needs to explain itself, copied while the handoff is still loaded."""

    id: int
    requester_id: str
    recipient_id: str | None
    department_name: str
    state: S
    rounds: int
    rating: int | None
    negotiation_turn: str | None

    @classmethod
    def of(cls, handoff: Handoff) -> Snapshot:
        return cls(handoff.id, handoff.requester_id, handoff.recipient_id, handoff.department_name,
                   handoff.state, handoff.rounds, handoff.rating, handoff.negotiation_turn)


class ActionRefused(Exception):
    """The action may not be taken: by this person, in this state, or on this version."""

    def __init__(self, refusal: Refusal, handoff: Handoff | None = None) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.handoff = Snapshot.of(handoff) if handoff is not None else None


def check(
    handoff: Handoff,
    action: Action,
    actor_id: str,
    *,
    is_member: Callable[[str], bool],
    is_manager: Callable[[str], bool] = lambda _user: False,
) -> Move:
    """Raise `ActionRefused` unless `actor_id` may take `action` on `handoff` now.

    Args:
        handoff: the handoff, as loaded in this transaction.
        action: what is being attempted.
        actor_id: the Slack user attempting it.
        is_member: whether a user belongs to the handoff's receiving department.
        is_manager: whether a user manages the handoff's receiving department.
    """
    move = TRANSITIONS[action]
    if move.actor is Actor.REQUESTER and actor_id != handoff.requester_id:
        raise ActionRefused(Refusal.NOT_REQUESTER, handoff)
    if move.actor is Actor.RECIPIENT:
        if handoff.recipient_id is None:
            refusal = Refusal.UNCLAIMED if handoff.state in move.from_states else Refusal.WRONG_STATE
            raise ActionRefused(refusal, handoff)
        if actor_id != handoff.recipient_id:
            raise ActionRefused(Refusal.NOT_RECIPIENT, handoff)
    if move.actor is Actor.DEPARTMENT_MEMBER:
        if actor_id == handoff.requester_id:
            raise ActionRefused(Refusal.OWN_HANDOFF, handoff)
        if not is_member(actor_id):
            raise ActionRefused(Refusal.NOT_MEMBER, handoff)
        if handoff.recipient_id is not None and handoff.is_open:  # once finished, that is what they are told
            raise ActionRefused(Refusal.ALREADY_CLAIMED, handoff)
    if move.actor is Actor.PARTY and actor_id not in (handoff.requester_id, handoff.recipient_id):
        raise ActionRefused(Refusal.NOT_PARTY, handoff)
    if move.actor is Actor.MANAGER and not is_manager(actor_id):
        raise ActionRefused(Refusal.NOT_MANAGER, handoff)
    if move.actor is Actor.SYSTEM and actor_id != SYSTEM_ACTOR:
        raise ActionRefused(Refusal.NOT_MANAGER, handoff)
    if handoff.state not in move.from_states:
        raise ActionRefused(Refusal.WRONG_STATE, handoff)
    if action in TAKES_TURNS and handoff.state is S.NEGOTIATING and actor_id != handoff.negotiation_turn:
        raise ActionRefused(Refusal.NOT_YOUR_TURN, handoff)
    return move


def apply(
    session: Session,
    handoff: Handoff,
    action: Action,
    actor_id: str,
    now: datetime,
    *,
    is_member: Callable[[str], bool],
    is_manager: Callable[[str], bool] = lambda _user: False,
    payload: dict[str, Any] | None = None,
    to_state: S | None = None,
) -> HandoffEvent:
    """Check the move, change the state and write the audit event, all in `session`.

    `to_state`: where a move that may end in several states (agreeing) goes this time, one of its `or_to`.

    Raises:
        ActionRefused: the move is not allowed (nothing is changed).
    """
    move = check(handoff, action, actor_id, is_member=is_member, is_manager=is_manager)
    assert to_state is None or to_state in move.or_to, (action, to_state)
    before = handoff.state
    target = to_state or move.to_state
    if target is not None:
        handoff.state = target
    if target is not None or action in TAKES_TURNS:  # moved on: what was asked of anyone before is settled
        handoff.step += 1
    handoff.updated_at = now
    event = HandoffEvent(
        handoff_id=handoff.id, at=now, actor_id=actor_id, action=action.value,
        from_state=before, to_state=handoff.state, payload=payload or {},
    )
    session.add(event)
    return event


def record_creation(session: Session, handoff: Handoff, now: datetime) -> HandoffEvent:
    """The first audit event of a handoff."""
    event = HandoffEvent(
        handoff_id=handoff.id, at=now, actor_id=handoff.requester_id, action=Action.CREATE.value,
        from_state=None, to_state=handoff.state, payload={},
    )
    session.add(event)
    return event
