"""Read-only views of handoffs for one person: what waits on them, what they asked for, their
department's open work, and where each stands against its service standard.

Plain functions taking a session; the Slack layer renders what they return (App Home, `/handoff list`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from handoff_bot.departments import service as departments
from handoff_bot.departments.models import Department
from handoff_bot.digests.models import DigestSent
from handoff_bot.followups import service as followups
from handoff_bot.followups.models import FollowupKind
from handoff_bot.handoffs.lifecycle import TRANSITIONS, Action
from handoff_bot.handoffs.models import (
    FINISHED_STATES,
    OPEN_STATES,
    Handoff,
    HandoffState,
    Proposal,
    Question,
    UnderstandingRound,
)

S = HandoffState
# The states in which each thing can be done: those of the move that does it, so that an item is
# listed (with its button) exactly while the button can act.
TO_CONFIRM = TRANSITIONS[Action.RESTATE].from_states
TO_DO = TRANSITIONS[Action.MARK_DONE].from_states
TO_REVIEW = TRANSITIONS[Action.ACCEPT].from_states
TO_RATE = TRANSITIONS[Action.RATE].from_states
TO_ANSWER = TRANSITIONS[Action.ANSWER].from_states
LIST_MAX = 200  # items per list; beyond it only the count is given
TOP_ITEMS = 5   # a department's most pressing handoffs shown to its managers
FINISHED_DAYS = 30  # "recently finished": within this many days


class Waiting(enum.StrEnum):
    """What a person owes on a handoff."""

    CONFIRM = "confirm"  # recipient: restate the key points (sent, or clarified by the requester)
    ANSWER = "answer"    # requester: answer a question from the recipient
    REVIEW = "review"    # requester: accept or clarify a restatement
    DO = "do"            # recipient: the understanding is agreed; do the work and mark it done
    RATE = "rate"        # requester: the work is done; rate it
    NEGOTIATE = "negotiate"  # either side: accept the other's proposal, or answer it
    CLAIM = "claim"      # a member of the receiving department: claim a handoff no one has taken yet


@dataclass(frozen=True)
class Timing:
    """Where a handoff stands against its service standard at one moment.

    Attributes:
        confirm_by: while the recipient owes a restatement: when the standard wants it (None once late).
        confirm_late: the standard's time to confirm has passed without a confirmed understanding.
        deadline: when the work is late (the end of the due date, else `complete_within` after confirmation).
        due_date: the due date the requester gave, if any (the deadline is the end of it).
        late: the deadline has passed.
        escalated: the managers of the receiving department were told.
    """

    confirm_by: datetime | None = None
    confirm_late: bool = False
    deadline: datetime | None = None
    due_date: date | None = None
    late: bool = False
    escalated: bool = False

    @property
    def urgent(self) -> bool:
        return self.late or self.confirm_late or self.escalated

    @property
    def next_due(self) -> datetime | None:
        """The earliest time the standard asks for something, if any."""
        times = [t for t in (self.confirm_by, self.deadline) if t is not None]
        return min(times) if times else None


@dataclass(frozen=True)
class WaitingItem:
    """One thing a person has to do, with what it needs to be shown."""

    kind: Waiting
    handoff: Handoff
    question: Question | None = None        # ANSWER: the question
    round: UnderstandingRound | None = None  # REVIEW: the restatement to review
    proposal: Proposal | None = None         # NEGOTIATE: the proposal to answer


@dataclass
class DepartmentSummary:
    """A department's open work as its managers see it."""

    department: Department
    open: int
    overdue: int
    escalated: int
    top: list[Handoff] = field(default_factory=list)


@dataclass
class Home:
    """Everything a person's Home tab shows."""

    user_id: str
    now: datetime
    waiting: list[WaitingItem]
    waiting_total: int
    requests: list[Handoff]
    requests_total: int
    departments: list[DepartmentSummary]
    timings: dict[int, Timing]
    last_digest: tuple[str, datetime] | None = None  # managers: the week and time of the latest weekly digest
    held: list[Handoff] = field(default_factory=list)  # handed to the user, now waiting on someone else
    held_total: int = 0


def timings(session: Session, handoffs: Sequence[Handoff], now: datetime) -> dict[int, Timing]:
    """The `Timing` of each handoff at `now`, by id (from its deadline and its pending follow-ups)."""
    pending = followups.pending_due(session, sorted({h.id for h in handoffs if h.state in OPEN_STATES}))
    return {h.id: timing(h, pending.get(h.id, {}), now) for h in handoffs}


def timing(handoff: Handoff, pending: dict[FollowupKind, datetime], now: datetime) -> Timing:
    """The `Timing` of one handoff, given when its pending follow-ups are due."""
    if handoff.state not in OPEN_STATES:
        return Timing()
    confirm_by, confirm_late = None, False
    if handoff.state in TO_CONFIRM:
        # The first confirm reminder is due exactly when the standard's time to confirm runs out.
        if handoff.confirm_reminders or handoff.escalated:
            confirm_late = True
        elif (due := pending.get(FollowupKind.CONFIRM_REMINDER)) is not None:
            confirm_by, confirm_late = (None, True) if due <= now else (due, False)
    deadline = handoff.deadline_at
    return Timing(confirm_by=confirm_by, confirm_late=confirm_late, deadline=deadline, due_date=handoff.due_date,
                  late=deadline is not None and deadline <= now, escalated=handoff.escalated)


def _pressing(timing_of: dict[int, Timing]) -> Callable[[Handoff], tuple[bool, float, float]]:
    """A sort key: late or escalated first, then the nearest time the standard asks for, then the oldest."""
    def key(h: Handoff) -> tuple[bool, float, float]:
        t = timing_of.get(h.id, Timing())
        due = t.next_due
        return (not t.urgent, due.timestamp() if due else math.inf, h.created_at.timestamp())
    return key


def waiting_on(session: Session, user_id: str, now: datetime, *, limit: int = LIST_MAX) -> tuple[
        list[WaitingItem], int, dict[int, Timing]]:
    """What waits on the user, most pressing first.

    As recipient: understandings to confirm (sent or clarified) and work to do (confirmed). As requester:
    questions to answer, restatements to review, finished work to rate. As either: a proposal of other
    terms to answer. As a member of a department: its handoffs no one has claimed yet.

    Returns:
        At most `limit` items, how many there are in all, and the timing of each item's handoff.
    """
    as_recipient = and_(Handoff.recipient_id == user_id, Handoff.state.in_(TO_CONFIRM | TO_DO))
    as_requester = and_(Handoff.requester_id == user_id, Handoff.state.in_(TO_REVIEW | TO_RATE))
    as_party = and_(Handoff.negotiation_turn == user_id, Handoff.state == S.NEGOTIATING)
    unanswered = and_(Question.answered_at.is_(None), Handoff.requester_id == user_id,
                      Handoff.state.in_(TO_ANSWER))
    own = [d.id for d in departments.departments_of(session, user_id)]
    to_claim = and_(Handoff.recipient_id.is_(None), Handoff.state == S.SENT, Handoff.to_department_id.in_(own),
                    Handoff.requester_id != user_id)
    mine = or_(as_recipient, as_requester, as_party, to_claim)
    total = session.scalar(select(func.count()).select_from(Handoff).where(mine)) or 0
    total += session.scalar(select(func.count()).select_from(Question).join(
        Handoff, Question.handoff_id == Handoff.id).where(unanswered)) or 0

    handoffs = list(session.scalars(
        select(Handoff).where(mine).order_by(Handoff.created_at).limit(limit)))
    questions = session.execute(
        select(Question, Handoff).join(Handoff, Question.handoff_id == Handoff.id).where(unanswered)
        .order_by(Question.asked_at).limit(limit)).all()
    under_review = [h.id for h in handoffs if h.state in TO_REVIEW]
    rounds = {(r.handoff_id, r.number): r for r in session.scalars(
        select(UnderstandingRound).where(UnderstandingRound.handoff_id.in_(under_review)))} if under_review else {}

    negotiating = [h.id for h in handoffs if h.state is S.NEGOTIATING]
    latest = {p.handoff_id: p for p in session.scalars(  # ordered by number: the latest of each is kept
        select(Proposal).where(Proposal.handoff_id.in_(negotiating)).order_by(Proposal.number))} if negotiating else {}

    items: list[WaitingItem] = []
    for h in handoffs:
        if h.state is S.NEGOTIATING:
            items.append(WaitingItem(Waiting.NEGOTIATE, h, proposal=latest.get(h.id)))
        elif h.recipient_id == user_id and h.state in TO_CONFIRM:
            items.append(WaitingItem(Waiting.CONFIRM, h))
        elif h.recipient_id == user_id and h.state in TO_DO:
            items.append(WaitingItem(Waiting.DO, h))
        elif h.requester_id == user_id and h.state in TO_REVIEW:
            items.append(WaitingItem(Waiting.REVIEW, h, round=rounds.get((h.id, h.rounds))))
        elif h.requester_id == user_id and h.state in TO_RATE:
            items.append(WaitingItem(Waiting.RATE, h))
        elif h.recipient_id is None and h.state is S.SENT:
            items.append(WaitingItem(Waiting.CLAIM, h))
    items += [WaitingItem(Waiting.ANSWER, h, question=q) for q, h in questions]
    timing_of = timings(session, list({i.handoff.id: i.handoff for i in items}.values()), now)
    pressing = _pressing(timing_of)
    items.sort(key=lambda i: pressing(i.handoff))
    return items[:limit], total, timing_of


def requests_of(session: Session, user_id: str, *, limit: int = LIST_MAX) -> tuple[list[Handoff], int]:
    """What the user asked for that is not finished (open, or done and not yet rated), newest first.

    Returns:
        At most `limit` handoffs and how many there are in all.
    """
    unfinished = and_(Handoff.requester_id == user_id, Handoff.state.in_(OPEN_STATES | {S.DONE}))
    total = session.scalar(select(func.count()).select_from(Handoff).where(unfinished)) or 0
    found = session.scalars(select(Handoff).where(unfinished).order_by(Handoff.created_at.desc(), Handoff.id.desc())
                            .limit(limit)).all()
    return list(found), total


def held_by(session: Session, user_id: str, *, limit: int = LIST_MAX) -> tuple[list[Handoff], int]:
    """What was handed to the user and now waits on someone else (a restatement under review, the other
    side's turn in a negotiation), oldest first: the counterpart of `waiting_on` for a recipient.

    Returns:
        At most `limit` handoffs and how many there are in all.
    """
    theirs = and_(Handoff.recipient_id == user_id, Handoff.state.in_(OPEN_STATES - TO_CONFIRM - TO_DO),
                  or_(Handoff.state != S.NEGOTIATING, Handoff.negotiation_turn.is_distinct_from(user_id)))
    total = session.scalar(select(func.count()).select_from(Handoff).where(theirs)) or 0
    found = session.scalars(select(Handoff).where(theirs).order_by(Handoff.created_at, Handoff.id).limit(limit))
    return list(found), total


def finished_for(session: Session, user_id: str, since: datetime, *, limit: int = LIST_MAX) -> list[Handoff]:
    """What the user asked for that was finished (rated, declined, cancelled) since `since`, latest first."""
    return list(session.scalars(
        select(Handoff).where(Handoff.requester_id == user_id, Handoff.state.in_(FINISHED_STATES),
                              Handoff.updated_at >= since)
        .order_by(Handoff.updated_at.desc(), Handoff.id.desc()).limit(limit)))


def _pressing_order(now: datetime) -> tuple[object, ...]:
    """SQL ordering: overdue first, then escalated, then the nearest deadline, then the oldest."""
    return (
        case((Handoff.deadline_at <= now, 0), else_=1),
        case((Handoff.escalated.is_(True), 0), else_=1),
        case((Handoff.deadline_at.is_(None), 1), else_=0),
        Handoff.deadline_at,
        Handoff.created_at,
        Handoff.id,
    )


def department_open(session: Session, department_id: int, now: datetime, *, limit: int = LIST_MAX) -> tuple[
        list[Handoff], int]:
    """The open handoffs a department received, most pressing first.

    Returns:
        At most `limit` handoffs and how many there are in all.
    """
    received = and_(Handoff.to_department_id == department_id, Handoff.state.in_(OPEN_STATES))
    total = session.scalar(select(func.count()).select_from(Handoff).where(received)) or 0
    found = session.scalars(select(Handoff).where(received).order_by(*_pressing_order(now)).limit(limit)).all()
    return list(found), total


def department_summary(session: Session, department: Department, now: datetime, *, top: int = TOP_ITEMS
                       ) -> DepartmentSummary:
    """How many handoffs a department has open, overdue (deadline passed) and escalated, and the top ones."""
    received = and_(Handoff.to_department_id == department.id, Handoff.state.in_(OPEN_STATES))
    row = session.execute(select(
        func.count(),
        func.coalesce(func.sum(case((Handoff.deadline_at <= now, 1), else_=0)), 0),
        func.coalesce(func.sum(case((Handoff.escalated.is_(True), 1), else_=0)), 0),
    ).select_from(Handoff).where(received)).one()
    found, _total = department_open(session, department.id, now, limit=top)
    return DepartmentSummary(department, int(row[0]), int(row[1]), int(row[2]), found)


def home(session: Session, user_id: str, now: datetime, *, limit: int = LIST_MAX) -> Home:
    """What the user's Home tab shows: what waits on them, their requests, and the departments they manage."""
    waiting, waiting_total, timing_of = waiting_on(session, user_id, now, limit=limit)
    requests, requests_total = requests_of(session, user_id, limit=limit)
    held, held_total = held_by(session, user_id, limit=limit)
    summaries = [department_summary(session, d, now) for d in departments.managed_by(session, user_id)]
    last_digest = session.execute(
        select(DigestSent.week, DigestSent.sent_at).where(DigestSent.manager_id == user_id)
        .order_by(DigestSent.sent_at.desc()).limit(1)).first() if summaries else None
    others = [h for h in requests + held if h.id not in timing_of]
    others += [h for s in summaries for h in s.top if h.id not in timing_of]
    timing_of.update(timings(session, others, now))
    return Home(user_id, now, waiting, waiting_total, requests, requests_total, summaries, timing_of,
                (last_digest[0], last_digest[1]) if last_digest else None, held, held_total)


@dataclass
class Mine:
    """`/handoff list mine`: what the user asked for, unfinished and recently finished."""

    unfinished: list[Handoff]
    unfinished_total: int
    finished: list[Handoff]
    timings: dict[int, Timing]


def mine(session: Session, user_id: str, now: datetime, *, limit: int = LIST_MAX) -> Mine:
    """What the user asked for: unfinished (with timings) and finished in the last `FINISHED_DAYS` days."""
    unfinished, total = requests_of(session, user_id, limit=limit)
    finished = finished_for(session, user_id, now - timedelta(days=FINISHED_DAYS), limit=limit)
    return Mine(unfinished, total, finished, timings(session, unfinished, now))


@dataclass
class DepartmentLists:
    """`/handoff list dept`: each department the user belongs to, with its open handoffs."""

    lists: list[tuple[Department, list[Handoff], int]]
    timings: dict[int, Timing]


def department_lists(session: Session, user_id: str, now: datetime, *, limit: int = LIST_MAX
                     ) -> DepartmentLists | None:
    """The open handoffs of every department the user belongs to (member or manager); None when in none."""
    own = departments.departments_of(session, user_id)
    if not own:
        return None
    lists = [(d, *department_open(session, d.id, now, limit=limit)) for d in own]
    return DepartmentLists(lists, timings(session, [h for _d, found, _n in lists for h in found], now))
