"""Handoff use cases: each takes a session and plain values, changes state and queues notices."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff_bot.departments import service as departments
from handoff_bot.departments.calendar import zone_named
from handoff_bot.departments.models import Department
from handoff_bot.followups import service as followups
from handoff_bot.handoffs import lifecycle
from handoff_bot.handoffs.lifecycle import Action, ActionRefused, Refusal
from handoff_bot.handoffs.models import (
    OPEN_STATES,
    Handoff,
    HandoffEvent,
    HandoffState,
    KeyPoint,
    Outcome,
    Priority,
    Proposal,
    ProposalKind,
    Question,
    QuestionKind,
    Relationship,
    UnderstandingRound,
    Verdict,
)
from handoff_bot.outbox.models import NoticeKind as N
from handoff_bot.outbox.models import OutboxMessage, OutboxState
from handoff_bot.outbox.service import enqueue, refresh_homes
from handoff_bot.people import Directory, time_zone
from handoff_bot.text import clean

TITLE_MAX = 150
DETAILS_MAX = 3000
KEY_POINTS_MAX = 10
KEY_POINT_MAX = 300
ANSWER_MAX = 3000
NUDGE_AGAIN_AFTER = timedelta(hours=1)
DUE_YEARS_AHEAD = 5  # a due date further off is a slip of the date picker
BULLET = re.compile(r"^(?:[-•*·]|\d{1,2}[.)])\s+")
BULLET_ONLY = re.compile(r"[-•*·]|\d{1,2}[.)]")


@dataclass(frozen=True)
class FieldError:
    """A problem with one field of a form; `code` and `params` are rendered by the Slack layer."""

    field: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)


class InvalidInput(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


@dataclass
class Draft:
    """A handoff as typed into the form, before validation."""

    requester_id: str
    department_id: int | None
    title: str
    recipient_id: str | None = None
    details: str = ""
    key_points: str = ""
    due_date: date | None = None
    relation: Relationship = Relationship.FUNCTIONAL
    priority: Priority = Priority.NORMAL
    from_department_id: int | None = None
    source_view_id: str | None = None  # the Slack form submitted: submitting it again records nothing new


def _date_of(session: Session, user_id: str, now: datetime) -> date:
    """The date where a user is, by the time zone Slack last gave for them (UTC when unknown)."""
    return now.astimezone(zone_named(time_zone(session, user_id))).date()


def _today(directory: Directory, user_id: str, now: datetime) -> date:
    profile = directory.profile(user_id)
    return now.astimezone(zone_named(profile.tz if profile else None)).date()


def _check_length(errors: list[FieldError], name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        errors.append(FieldError(name, "too_long", {"limit": limit, "length": len(value)}))


def _check_due(errors: list[FieldError], name: str, due: date, today: date) -> None:
    if due < today:
        errors.append(FieldError(name, "past"))
    elif due > today.replace(year=today.year + DUE_YEARS_AHEAD, day=min(today.day, 28)) + timedelta(
            days=max(0, today.day - 28)):  # the same day so many years on (29 February: 1 March)
        errors.append(FieldError(name, "too_far", {"years": DUE_YEARS_AHEAD}))


def split_key_points(text: str, title: str) -> list[str]:
    """One key point per non-empty line; the title when there are none."""
    lines = [BULLET.sub("", clean(line)) for line in clean(text, multiline=True).split("\n")]
    points = [p for p in lines if p and not BULLET_ONLY.fullmatch(p)]
    return points or ([title] if title else [])


def create(session: Session, draft: Draft, *, directory: Directory, now: datetime) -> Handoff:
    """Validate the draft and record the handoff with its notices, in `session`.

    Raises:
        InvalidInput: one or more fields are wrong; nothing is written.
    """
    if draft.source_view_id:
        already = session.scalar(select(Handoff).where(Handoff.source_view_id == draft.source_view_id))
        if already is not None:
            return already
    errors: list[FieldError] = []
    title = clean(draft.title)
    details = clean(draft.details, multiline=True)
    if not title:
        errors.append(FieldError("title", "required"))
    _check_length(errors, "title", title, TITLE_MAX)
    _check_length(errors, "details", details, DETAILS_MAX)
    points = split_key_points(draft.key_points, title[:KEY_POINT_MAX])
    if len(points) > KEY_POINTS_MAX:
        errors.append(FieldError("key_points", "too_many", {"limit": KEY_POINTS_MAX, "count": len(points)}))
    for number, point in enumerate(points, 1):
        if len(point) > KEY_POINT_MAX:
            errors.append(FieldError("key_points", "point_too_long", {"number": number, "limit": KEY_POINT_MAX}))
            break

    department = session.get(Department, draft.department_id) if draft.department_id else None
    if draft.department_id is None:
        errors.append(FieldError("department", "required"))
    elif department is None:
        errors.append(FieldError("department", "unknown"))

    recipient_id = draft.recipient_id or None
    if recipient_id:
        profile = directory.profile(recipient_id)
        if recipient_id == draft.requester_id:
            errors.append(FieldError("recipient", "self"))
        elif profile is None:
            errors.append(FieldError("recipient", "unknown_user"))
        elif profile.is_bot:
            errors.append(FieldError("recipient", "bot"))
        elif profile.deleted:
            errors.append(FieldError("recipient", "deactivated"))
        elif department is not None and not departments.is_member(session, department.id, recipient_id):
            # `intake`: leaving the field empty would post it to the department's intake channel
            errors.append(FieldError("recipient", "not_in_department",
                                     {"department": department.name, "intake": bool(department.intake_channel)}))
    elif department is not None and not department.intake_channel:
        errors.append(FieldError("recipient", "no_intake", {"department": department.name}))

    if draft.due_date is not None:
        _check_due(errors, "due_date", draft.due_date, _today(directory, draft.requester_id, now))

    own = departments.departments_of(session, draft.requester_id)
    from_department_id = draft.from_department_id
    if from_department_id is not None and from_department_id not in {d.id for d in own}:
        errors.append(FieldError("from_department", "not_yours"))
    elif from_department_id is None and len(own) == 1:
        from_department_id = own[0].id
    elif from_department_id is None and len(own) > 1:
        errors.append(FieldError("from_department", "required"))

    if errors:
        raise InvalidInput(errors)
    assert department is not None
    standard, agreed = departments.standard_for(session, from_department_id, department)
    handoff = Handoff(
        created_at=now, updated_at=now, requester_id=draft.requester_id,
        from_department_id=from_department_id, to_department_id=department.id,
        recipient_id=recipient_id, title=title, details=details or None, due_date=draft.due_date,
        deadline_at=None,  # set by followups.plan: loaded as NULL, it is only updated when there is one
        source_view_id=draft.source_view_id,
        relation=draft.relation, priority=draft.priority, state=HandoffState.SENT,
        standard={**asdict(standard), "agreed": agreed}, confirm_clock_since=now,
        key_points=[KeyPoint(position=i, text=p) for i, p in enumerate(points, 1)],
    )
    session.add(handoff)
    session.flush()
    lifecycle.record_creation(session, handoff, now)
    followups.plan(session, handoff, now, created=True)
    if recipient_id:
        enqueue(session, N.RECIPIENT_CARD, recipient_id, now, handoff_id=handoff.id)
    else:
        assert department.intake_channel
        enqueue(session, N.INTAKE_POST, department.intake_channel, now, handoff_id=handoff.id)
    enqueue(session, N.RECEIPT, handoff.requester_id, now, handoff_id=handoff.id)
    refresh_homes(session, concerned(session, handoff), now)
    return handoff


def _required_text(field: str, text: str, limit: int) -> str:
    """Cleaned multi-line text for a required form field.

    Raises:
        InvalidInput: the text is empty or longer than `limit` (on `field`).
    """
    body = clean(text, multiline=True)
    if not body:
        raise InvalidInput([FieldError(field, "required")])
    if len(body) > limit:
        raise InvalidInput([FieldError(field, "too_long", {"limit": limit, "length": len(body)})])
    return body


def load(session: Session, handoff_id: int, *, for_update: bool = False) -> Handoff:
    """The handoff with this id.

    Raises:
        ActionRefused: NOT_FOUND when there is no such handoff.
    """
    handoff = session.get(Handoff, handoff_id, with_for_update={"of": Handoff} if for_update else None)
    if handoff is None:
        raise ActionRefused(Refusal.NOT_FOUND)
    return handoff


def _is_member(session: Session, handoff: Handoff) -> Any:
    return lambda user_id: departments.is_member(session, handoff.to_department_id, user_id)


def _is_manager(session: Session, handoff: Handoff) -> Any:
    return lambda user_id: user_id in departments.managers(session, handoff.to_department_id)


def may(session: Session, handoff_id: int, action: Action, actor_id: str) -> Handoff:
    """Check, without changing anything, that `actor_id` may take `action` now (e.g. before a modal opens).

    Raises:
        ActionRefused: the action is not allowed.
    """
    handoff = load(session, handoff_id)
    lifecycle.check(handoff, action, actor_id, is_member=_is_member(session, handoff),
                    is_manager=_is_manager(session, handoff))
    return handoff


def _apply(
    session: Session, handoff_id: int, action: Action, actor_id: str, now: datetime, **payload: Any
) -> Handoff:
    handoff = load(session, handoff_id, for_update=True)
    lifecycle.apply(session, handoff, action, actor_id, now, is_member=_is_member(session, handoff),
                    is_manager=_is_manager(session, handoff), payload=payload)
    return handoff


def _changed(session: Session, handoff: Handoff, now: datetime) -> None:
    """After a state change: re-plan its follow-ups and bring its messages up to date."""
    session.flush()
    followups.plan(session, handoff, now)
    _refresh(session, handoff, now)


def _refresh(session: Session, handoff: Handoff, now: datetime) -> None:
    """Queue an update of every message about the handoff, unless one is already waiting."""
    waiting = session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.handoff_id == handoff.id, OutboxMessage.kind == N.REFRESH,
            OutboxMessage.state == OutboxState.PENDING, OutboxMessage.attempts == 0,
        ).limit(1)
    )
    if waiting is None:
        enqueue(session, N.REFRESH, handoff.requester_id, now, handoff_id=handoff.id)
    refresh_homes(session, concerned(session, handoff), now)


def concerned(session: Session, handoff: Handoff) -> list[str]:
    """Whose Home tab shows the handoff: the requester, the recipient and the receiving department's managers;
    with no recipient yet, everyone in the department (it waits on them to claim it)."""
    if handoff.recipient_id is None:
        return [handoff.requester_id, *departments.people(session, handoff.to_department_id)]
    return [handoff.requester_id, handoff.recipient_id, *departments.managers(session, handoff.to_department_id)]


def claim(session: Session, handoff_id: int, actor_id: str, now: datetime) -> Handoff:
    """A member of the receiving department takes an unassigned handoff. The department's confirm
    clock runs on from the handoff's sending (and an escalation stands, saying it went unclaimed)."""
    handoff = _apply(session, handoff_id, Action.CLAIM, actor_id, now)
    handoff.recipient_id = actor_id
    enqueue(session, N.RECIPIENT_CARD, actor_id, now, handoff_id=handoff.id)
    _changed(session, handoff, now)
    refresh_homes(session, departments.people(session, handoff.to_department_id), now)  # no longer to claim
    return handoff


def current_round(session: Session, handoff: Handoff) -> UnderstandingRound | None:
    """The latest restatement round, if any."""
    return session.scalar(
        select(UnderstandingRound).where(UnderstandingRound.handoff_id == handoff.id)
        .order_by(UnderstandingRound.number.desc()).limit(1)
    )


def restate(session: Session, handoff_id: int, actor_id: str, restatements: Sequence[str], now: datetime, *,
            rounds_seen: int | None = None) -> Handoff:
    """The recipient restates every key point in their own words.

    `rounds_seen`: the handoff's rounds when the recipient's form was opened; a form opened before a
    later round (it did not show the requester's clarification) is out of date. The same form sent
    again after it was taken (the same words from the same person, for the round it made, still
    under review) changes nothing and is not refused.

    Raises:
        InvalidInput: a restatement is empty or too long (field `point_N`), or the form is out of date.
        ActionRefused: not the recipient, or not awaiting a restatement.
    """
    handoff = load(session, handoff_id, for_update=True)
    texts = [clean(t, multiline=True) for t in restatements]
    if rounds_seen is not None and handoff.rounds == rounds_seen + 1 and handoff.state is HandoffState.RESTATED:
        taken = current_round(session, handoff)
        if taken is not None and (taken.restated_by, taken.restatements) == (actor_id, texts):
            return handoff
    lifecycle.check(handoff, Action.RESTATE, actor_id, is_member=_is_member(session, handoff))
    errors = [FieldError(f"point_{i}", "required") for i, t in enumerate(texts, 1) if not t]
    errors += [
        FieldError(f"point_{i}", "too_long", {"limit": DETAILS_MAX, "length": len(t)})
        for i, t in enumerate(texts, 1) if len(t) > DETAILS_MAX
    ]
    if len(texts) != len(handoff.key_points) or rounds_seen not in (None, handoff.rounds):
        errors.append(FieldError("point_1", "stale_form"))
    if errors:
        raise InvalidInput(errors)
    handoff.rounds += 1
    followups.pause_confirm_clock(session, handoff, now)
    lifecycle.apply(
        session, handoff, Action.RESTATE, actor_id, now,
        is_member=_is_member(session, handoff), payload={"round": handoff.rounds},
    )
    session.add(UnderstandingRound(
        handoff_id=handoff.id, number=handoff.rounds, restated_by=actor_id, restated_at=now, restatements=texts,
    ))
    enqueue(session, N.REVIEW, handoff.requester_id, now, handoff_id=handoff.id, round=handoff.rounds)
    _changed(session, handoff, now)
    return handoff


def _decide(session: Session, handoff_id: int, round_number: int, action: Action, actor_id: str) -> Handoff:
    handoff = load(session, handoff_id, for_update=True)
    lifecycle.check(handoff, action, actor_id, is_member=_is_member(session, handoff))
    if round_number != handoff.rounds:
        raise ActionRefused(Refusal.STALE, handoff)
    return handoff


def accept(session: Session, handoff_id: int, round_number: int, actor_id: str, now: datetime) -> Handoff:
    """The requester agrees with the restatement of round `round_number`: the handoff is confirmed."""
    handoff = _decide(session, handoff_id, round_number, Action.ACCEPT, actor_id)
    lifecycle.apply(session, handoff, Action.ACCEPT, actor_id, now,
                    is_member=_is_member(session, handoff), payload={"round": round_number})
    rnd = current_round(session, handoff)
    assert rnd is not None
    rnd.verdict, rnd.decided_at = Verdict.ACCEPTED, now
    handoff.confirmed_at = now
    if handoff.first_confirmed_at is None:  # the digest's figures: fixed once, a week's stay as they were sent
        handoff.first_confirmed_at = now
        handoff.confirm_working_s = handoff.confirm_clock_carried_s + handoff.confirm_clock_used_s
        handoff.confirmed_in_standard = handoff.confirm_working_s <= followups.allowed(handoff, "confirm_within_s")
    assert handoff.recipient_id
    enqueue(session, N.CONFIRMED, handoff.recipient_id, now, handoff_id=handoff.id)
    _changed(session, handoff, now)
    return handoff


def clarify(
    session: Session, handoff_id: int, round_number: int, actor_id: str, text: str, now: datetime
) -> Handoff:
    """The requester says what differs; the recipient is asked to restate again.

    Raises:
        InvalidInput: the clarification is empty or too long (field `clarification`).
    """
    handoff = _decide(session, handoff_id, round_number, Action.CLARIFY, actor_id)
    body = _required_text("clarification", text, DETAILS_MAX)
    lifecycle.apply(session, handoff, Action.CLARIFY, actor_id, now,
                    is_member=_is_member(session, handoff), payload={"round": round_number})
    rnd = current_round(session, handoff)
    assert rnd is not None
    rnd.verdict, rnd.decided_at, rnd.clarification = Verdict.CLARIFY, now, body
    if handoff.first_confirmed_at is None:
        handoff.clarifications += 1
    followups.restart_confirm_clock(handoff, now)
    assert handoff.recipient_id
    enqueue(session, N.CLARIFICATION, handoff.recipient_id, now, handoff_id=handoff.id, round=round_number)
    _changed(session, handoff, now)
    return handoff


def ask(
    session: Session, handoff_id: int, actor_id: str, kind: QuestionKind, text: str, now: datetime
) -> Question:
    """The recipient asks the requester a question (open, closed or reflective).

    Raises:
        InvalidInput: the question is empty or too long (field `question`).
    """
    handoff = load(session, handoff_id, for_update=True)
    lifecycle.check(handoff, Action.ASK, actor_id, is_member=_is_member(session, handoff))
    body = _required_text("question", text, DETAILS_MAX)
    repeated = session.scalar(select(Question.id).where(
        Question.handoff_id == handoff.id, Question.asked_by == actor_id, Question.text == body,
        Question.answered_at.is_(None)).limit(1))
    if repeated is not None:
        raise InvalidInput([FieldError("question", "duplicate")])
    question = Question(handoff_id=handoff.id, asked_by=actor_id, asked_at=now, kind=kind, text=body)
    session.add(question)
    session.flush()
    lifecycle.apply(session, handoff, Action.ASK, actor_id, now,
                    is_member=_is_member(session, handoff), payload={"question": question.id})
    enqueue(session, N.QUESTION, handoff.requester_id, now, handoff_id=handoff.id, question=question.id)
    _refresh(session, handoff, now)
    return question


def answer(session: Session, question_id: int, actor_id: str, text: str, now: datetime) -> Question:
    """The requester answers a question; whoever has the handoff now is told.

    Raises:
        InvalidInput: the answer is empty or too long (field `answer`).
        ActionRefused: not the requester, the handoff is finished, or the question was answered already.
    """
    question = session.get(Question, question_id, with_for_update=True)
    if question is None:
        raise ActionRefused(Refusal.NOT_FOUND)
    handoff = load(session, question.handoff_id, for_update=True)
    lifecycle.check(handoff, Action.ANSWER, actor_id, is_member=_is_member(session, handoff))
    if question.answered_at is not None:
        raise ActionRefused(Refusal.STALE, handoff)
    body = _required_text("answer", text, ANSWER_MAX)
    question.answer, question.answered_by, question.answered_at = body, actor_id, now
    lifecycle.apply(session, handoff, Action.ANSWER, actor_id, now,
                    is_member=_is_member(session, handoff), payload={"question": question.id})
    # To whoever has the handoff now: after a reassignment, not the former recipient who asked.
    enqueue(session, N.ANSWER, handoff.recipient_id or question.asked_by, now, handoff_id=handoff.id,
            question=question.id)
    _refresh(session, handoff, now)
    return question


def mark_done(session: Session, handoff_id: int, actor_id: str, now: datetime) -> Handoff:
    """The recipient reports the work done; the requester is asked to rate it."""
    handoff = _apply(session, handoff_id, Action.MARK_DONE, actor_id, now)
    handoff.done_at = now
    if handoff.confirmed_at is not None:
        handoff.complete_working_s = followups.working_seconds(session, handoff, handoff.confirmed_at, now)
    enqueue(session, N.RATING_REQUEST, handoff.requester_id, now, handoff_id=handoff.id)
    _changed(session, handoff, now)
    return handoff


def rate(session: Session, handoff_id: int, actor_id: str, rating: int | None, comment: str, now: datetime
         ) -> Handoff:
    """The requester rates the result 1–5, optionally with a comment; the handoff closes.

    Raises:
        InvalidInput: no rating (None), a rating not 1–5, or the comment is too long.
    """
    handoff = load(session, handoff_id, for_update=True)
    lifecycle.check(handoff, Action.RATE, actor_id, is_member=_is_member(session, handoff))
    body = clean(comment, multiline=True)
    errors = []
    if rating not in range(1, 6):
        errors.append(FieldError("rating", "required" if rating is None else "not_a_rating"))
    if len(body) > DETAILS_MAX:
        errors.append(FieldError("comment", "too_long", {"limit": DETAILS_MAX, "length": len(body)}))
    if errors:
        raise InvalidInput(errors)
    assert rating is not None
    lifecycle.apply(session, handoff, Action.RATE, actor_id, now,
                    is_member=_is_member(session, handoff), payload={"rating": rating})
    handoff.rating, handoff.rating_comment, handoff.rated_at = rating, body or None, now
    assert handoff.recipient_id
    enqueue(session, N.RATED, handoff.recipient_id, now, handoff_id=handoff.id)
    _changed(session, handoff, now)
    return handoff


def cancel(session: Session, handoff_id: int, actor_id: str, now: datetime) -> Handoff:
    """The requester withdraws an open handoff."""
    handoff = _apply(session, handoff_id, Action.CANCEL, actor_id, now)
    _end_negotiation(session, handoff, now)
    if handoff.recipient_id:
        enqueue(session, N.CANCELLED, handoff.recipient_id, now, handoff_id=handoff.id)
    _changed(session, handoff, now)
    return handoff


def nudge(session: Session, handoff_id: int, actor_id: str, now: datetime) -> Handoff:
    """A manager of the receiving department asks whoever holds the handoff to act on it now (in a
    negotiation, the side it waits on).

    Raises:
        ActionRefused: not a manager, the handoff is finished, or it was nudged less than an hour ago
            (a double click or a replay nudges once).
    """
    handoff = load(session, handoff_id, for_update=True)
    lifecycle.check(handoff, Action.NUDGE, actor_id, is_member=_is_member(session, handoff),
                    is_manager=_is_manager(session, handoff))
    recent = session.scalar(select(HandoffEvent.id).where(
        HandoffEvent.handoff_id == handoff.id, HandoffEvent.action == Action.NUDGE.value,
        HandoffEvent.at > now - NUDGE_AGAIN_AFTER).limit(1))
    if recent is not None:
        raise ActionRefused(Refusal.ALREADY_NUDGED, handoff)
    handoff = _apply(session, handoff_id, Action.NUDGE, actor_id, now)
    if target := followups.waits_on(handoff):
        enqueue(session, N.REMINDERS, target, now,
                items=[followups.reminder_item(handoff, followups.Item.NUDGE, now, by=actor_id)])
    return handoff


def reassign(session: Session, handoff_id: int, actor_id: str, new_recipient_id: str | None, now: datetime,
             *, directory: Directory, seen: str | None = None) -> Handoff:
    """A manager gives the handoff to another member; they confirm their understanding anew (a negotiation
    with the former recipient ends).

    `seen`: the recipient the manager's form showed ("" for nobody); a form opened before someone else
    gave the handoff away, or before it was claimed, is out of date (two managers answering one escalation).

    Raises:
        InvalidInput: no person, the same person, the requester, not a person in the department, or the
            form is out of date (field `recipient`).
        ActionRefused: not a manager of the receiving department, or the handoff is past confirmation.
    """
    handoff = load(session, handoff_id, for_update=True)
    lifecycle.check(handoff, Action.REASSIGN, actor_id, is_member=_is_member(session, handoff),
                    is_manager=_is_manager(session, handoff))
    profile = directory.profile(new_recipient_id) if new_recipient_id else None
    code = None
    if not new_recipient_id:
        code = "required"
    elif new_recipient_id == handoff.recipient_id:
        code = "same_person"  # a form sent twice, too
    elif seen is not None and seen != (handoff.recipient_id or ""):
        code = "stale_form"
    elif new_recipient_id == handoff.requester_id:
        code = "requester"
    elif profile is None or profile.is_bot or profile.deleted:
        code = "bot" if profile and profile.is_bot else "deactivated" if profile else "unknown_user"
    elif not departments.is_member(session, handoff.to_department_id, new_recipient_id):
        code = "not_in_department"
    if code:
        raise InvalidInput([FieldError("recipient", code, {"department": handoff.department_name})])
    previous = handoff.recipient_id
    lifecycle.apply(session, handoff, Action.REASSIGN, actor_id, now, is_member=_is_member(session, handoff),
                    is_manager=_is_manager(session, handoff), payload={"from": previous, "to": new_recipient_id})
    assert new_recipient_id is not None
    _end_negotiation(session, handoff, now)
    followups.hand_over_confirm_clock(session, handoff, now)  # in the former recipient's hours
    handoff.recipient_id = new_recipient_id
    handoff.confirmed_at = None
    enqueue(session, N.RECIPIENT_CARD, new_recipient_id, now, handoff_id=handoff.id)
    if previous:
        enqueue(session, N.REASSIGNED, previous, now, handoff_id=handoff.id, to=new_recipient_id)
    _changed(session, handoff, now)
    # The former recipient's tab; with none, the department's, where it waited to be claimed.
    refresh_homes(session, [previous] if previous else departments.people(session, handoff.to_department_id), now)
    return handoff


@dataclass(frozen=True)
class Terms:
    """What one side of a negotiation proposes, as typed into the form."""

    kind: ProposalKind
    reason: str
    due_date: date | None = None
    scope: str = ""
    source_view_id: str | None = None  # the Slack form submitted: submitting it again records nothing new


def latest_proposal(session: Session, handoff_id: int) -> Proposal | None:
    """The handoff's latest proposal, answered or not."""
    return session.scalar(select(Proposal).where(Proposal.handoff_id == handoff_id)
                          .order_by(Proposal.number.desc()).limit(1))


def propose(session: Session, handoff_id: int, actor_id: str, terms: Terms, now: datetime, *,
            directory: Directory, seen: int | None = None, seen_negotiating: bool | None = None) -> Proposal:
    """The recipient proposes other terms (another due date, a smaller scope) or declines, with a reason;
    the handoff waits, negotiating, for the requester to accept or counter. The recipient may also
    answer a counter-proposal so.

    `seen`, `seen_negotiating`: the handoff's latest proposal number and whether it was negotiating when the
    form was opened; a form opened before a later proposal, or before the negotiation it answered ended (or
    began), is out of date.

    Raises:
        InvalidInput: no reason, nothing to change, a due date in the past or more than 5 years ahead, too
            long, or out of date.
        ActionRefused: not the recipient, not their turn, or the handoff is past negotiating.
    """
    return _offer(session, handoff_id, Action.PROPOSE, actor_id, terms, now, directory=directory, seen=seen,
                  seen_negotiating=seen_negotiating)


def counter(session: Session, handoff_id: int, actor_id: str, terms: Terms, now: datetime, *,
            directory: Directory, seen: int | None = None) -> Proposal:
    """The requester answers the recipient's proposal with terms of their own (or the original ones, with
    a reason); the recipient accepts, or proposes again. See `propose`."""
    return _offer(session, handoff_id, Action.COUNTER, actor_id, replace(terms, kind=ProposalKind.CHANGE), now,
                  directory=directory, seen=seen)


def _offer(session: Session, handoff_id: int, action: Action, actor_id: str, terms: Terms, now: datetime, *,
           directory: Directory, seen: int | None, seen_negotiating: bool | None = None) -> Proposal:
    handoff = load(session, handoff_id, for_update=True)  # the same form sent twice at once: one waits here
    if terms.source_view_id:
        already = session.scalar(select(Proposal).where(Proposal.source_view_id == terms.source_view_id))
        if already is not None:
            return already
    lifecycle.check(handoff, action, actor_id, is_member=_is_member(session, handoff))
    latest = latest_proposal(session, handoff.id)
    declining = terms.kind is ProposalKind.DECLINE
    reason = clean(terms.reason, multiline=True)
    scope = "" if declining else clean(terms.scope, multiline=True)
    due = None if declining or terms.due_date == handoff.due_date else terms.due_date  # the same date: no change
    errors = []
    if not reason:
        errors.append(FieldError("reason", "required"))
    _check_length(errors, "reason", reason, DETAILS_MAX)
    _check_length(errors, "scope", scope, DETAILS_MAX)
    if due is not None:
        _check_due(errors, "new_due_date", due, _today(directory, actor_id, now))
    if action is Action.PROPOSE and not declining and due is None and not scope:
        errors.append(FieldError("scope", "change_needed"))
    negotiating = handoff.state is HandoffState.NEGOTIATING
    if (seen is not None and seen != (latest.number if latest else 0)) or seen_negotiating not in (None, negotiating):
        errors.insert(0, FieldError("reason", "stale_form"))
    if errors:
        raise InvalidInput(errors)
    if negotiating:
        assert latest is not None
        latest.outcome, latest.decided_at = Outcome.COUNTERED, now
    else:
        handoff.resume_state, handoff.negotiation_since, handoff.negotiated = handoff.state, now, True
        followups.pause_confirm_clock(session, handoff, now)
    proposal = Proposal(
        handoff_id=handoff.id, number=(latest.number if latest else 0) + 1, kind=terms.kind, proposed_by=actor_id,
        proposed_at=now, due_date=due, scope=scope or None, reason=reason, source_view_id=terms.source_view_id,
    )
    session.add(proposal)
    lifecycle.apply(session, handoff, action, actor_id, now, is_member=_is_member(session, handoff),
                    payload={"proposal": proposal.number, "kind": terms.kind.value})
    other = handoff.requester_id if action is Action.PROPOSE else handoff.recipient_id
    assert other is not None
    handoff.negotiation_turn = other
    enqueue(session, N.PROPOSAL, other, now, handoff_id=handoff.id, proposal=proposal.number)
    _changed(session, handoff, now)
    return proposal


def agree(session: Session, handoff_id: int, number: int, actor_id: str, now: datetime) -> Handoff:
    """The side the negotiation waits on accepts the other's proposal `number`: an accepted decline closes
    the handoff; accepted terms apply (a new due date replaces the old) and the handoff goes back to
    where it stood before the negotiation.

    Raises:
        ActionRefused: not a side of the handoff, not their turn, `number` is not the latest proposal, or
            the due date it asks for has passed (it is answered with another one instead).
    """
    handoff = load(session, handoff_id, for_update=True)
    lifecycle.check(handoff, Action.AGREE, actor_id, is_member=_is_member(session, handoff))
    proposal = latest_proposal(session, handoff.id)
    if proposal is None or proposal.number != number:
        raise ActionRefused(Refusal.STALE, handoff)
    if proposal.due_date is not None and proposal.due_date < _date_of(session, actor_id, now):
        raise ActionRefused(Refusal.DATE_PASSED, handoff)
    proposal.outcome, proposal.decided_at = Outcome.ACCEPTED, now
    if proposal.kind is ProposalKind.DECLINE:
        to_state = HandoffState.DECLINED
    else:
        to_state = handoff.resume_state or HandoffState.SENT
        if proposal.due_date is not None:
            handoff.due_date, handoff.due_changed_at = proposal.due_date, now
        if to_state in (HandoffState.SENT, HandoffState.CLARIFYING):
            handoff.confirm_clock_since = now  # the recipient's clock runs again from here
    lifecycle.apply(session, handoff, Action.AGREE, actor_id, now, is_member=_is_member(session, handoff),
                    payload={"proposal": number}, to_state=to_state)
    _end_negotiation(session, handoff, now)
    enqueue(session, N.AGREED, proposal.proposed_by, now, handoff_id=handoff.id, proposal=number, by=actor_id)
    _changed(session, handoff, now)
    return handoff


def _end_negotiation(session: Session, handoff: Handoff, now: datetime) -> None:
    """The negotiation is over (agreed, or the handoff was cancelled or reassigned): a proposal still
    unanswered is withdrawn."""
    if handoff.negotiation_turn is None:
        return
    handoff.negotiation_since = handoff.negotiation_turn = handoff.resume_state = None
    open_one = latest_proposal(session, handoff.id)
    if open_one is not None and open_one.outcome is None:
        open_one.outcome, open_one.decided_at = Outcome.WITHDRAWN, now


def proposals(session: Session, handoff_id: int) -> Sequence[Proposal]:
    """The proposals made on a handoff, first first."""
    return session.scalars(select(Proposal).where(Proposal.handoff_id == handoff_id).order_by(Proposal.number)).all()


def questions(session: Session, handoff_id: int) -> Sequence[Question]:
    """The questions asked on a handoff, oldest first."""
    return session.scalars(select(Question).where(Question.handoff_id == handoff_id).order_by(Question.id)).all()


def rounds(session: Session, handoff_id: int) -> Sequence[UnderstandingRound]:
    """The restatement rounds of a handoff, first first."""
    return session.scalars(
        select(UnderstandingRound).where(UnderstandingRound.handoff_id == handoff_id)
        .order_by(UnderstandingRound.number)
    ).all()


def open_for(session: Session, user_id: str, *, limit: int = 10) -> tuple[Sequence[Handoff], Sequence[Handoff], int]:
    """The user's handoffs still open or awaiting a rating, newest first, at most `limit` of each: (sent to
    them, asked for by them, how many more there are)."""
    unfinished = Handoff.state.in_(OPEN_STATES | {HandoffState.DONE})
    lists = [session.scalars(select(Handoff).where(side == user_id, unfinished)
                             .order_by(Handoff.created_at.desc()).limit(limit)).all()
             for side in (Handoff.recipient_id, Handoff.requester_id)]
    total = sum(session.scalar(select(func.count()).select_from(Handoff).where(side == user_id, unfinished)) or 0
                for side in (Handoff.recipient_id, Handoff.requester_id))
    return lists[0], lists[1], total - len(lists[0]) - len(lists[1])
