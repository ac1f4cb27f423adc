"""Planning follow-ups from the service standard, and firing the due ones exactly once.

`plan()` runs in the transaction of every state change, so what is pending always matches the
handoff's state. `fire_due()` claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite
serialises writers), queues one message per person listing everything due for them, and plans
the next follow-up from *now*: after downtime each overdue follow-up fires once, not once per
missed interval. Nothing fires outside the addressee's working hours: it waits for the next
working moment.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from handoff_bot.departments import service as departments
from handoff_bot.departments.calendar import WorkingCalendar
from handoff_bot.departments.standards import working_span
from handoff_bot.followups.models import Followup, FollowupKind, FollowupState
from handoff_bot.handoffs import lifecycle
from handoff_bot.handoffs.lifecycle import SYSTEM_ACTOR, Action
from handoff_bot.handoffs.models import OPEN_STATES, Handoff, HandoffState, UnderstandingRound
from handoff_bot.outbox.models import NoticeKind
from handoff_bot.outbox.service import enqueue, refresh_homes
from handoff_bot.people import time_zone

K = FollowupKind
S = HandoffState
ITEMS_PER_MESSAGE = 15
PERSON = re.compile(r"[UW][A-Z0-9]+")  # a Slack user id (channels are C…, G…)
RATING_AFTER_WORKING_DAYS = 2


class Item(enum.StrEnum):
    """One line of a reminder message; which buttons it carries depends on it."""

    CONFIRM_REMINDER = "confirm_reminder"
    REVIEW_REMINDER = "review_reminder"
    REVIEW_ESCALATION = "review_escalation"  # to a manager of the requester's department
    ESCALATION = "escalation"   # to a manager
    ESCALATED = "escalated"     # to the requester
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"         # to the recipient
    OVERDUE_REQUESTER = "overdue_requester"
    OVERDUE_MANAGER = "overdue_manager"
    RATING_REMINDER = "rating_reminder"
    NUDGE = "nudge"             # a manager asked the recipient to act


# While an item is still true; a reminder that no longer applies is neither sent nor left with buttons.
APPLIES: dict[Item, frozenset[S]] = {
    Item.CONFIRM_REMINDER: frozenset({S.SENT, S.CLARIFYING}),
    Item.REVIEW_REMINDER: frozenset({S.RESTATED}),
    Item.REVIEW_ESCALATION: frozenset({S.RESTATED}),
    Item.ESCALATION: frozenset({S.SENT, S.CLARIFYING}),  # not confirmed by the receiving side, which owes it
    Item.ESCALATED: OPEN_STATES,
    Item.DUE_SOON: OPEN_STATES,
    Item.OVERDUE: OPEN_STATES,
    Item.OVERDUE_REQUESTER: OPEN_STATES,
    Item.OVERDUE_MANAGER: OPEN_STATES,
    Item.RATING_REMINDER: frozenset({S.DONE}),
    Item.NUDGE: OPEN_STATES,
}


# Items sent to whoever receives the handoff: the recipient, or the intake channel while nobody has it.
TO_RECEIVING = frozenset({Item.CONFIRM_REMINDER, Item.DUE_SOON, Item.OVERDUE, Item.NUDGE})
# Items that ask for the step the handoff was at when they were sent (a round, a recipient, a turn): once it
# moves on they are settled, even when it comes back to a like state (another round, the same recipient again).
OF_ONE_STEP = frozenset({Item.CONFIRM_REMINDER, Item.REVIEW_REMINDER, Item.REVIEW_ESCALATION, Item.ESCALATION,
                         Item.ESCALATED, Item.NUDGE})
# Items that say the work is late: true while the handoff is past the deadline they were sent after.
LATE = frozenset({Item.OVERDUE, Item.OVERDUE_REQUESTER, Item.OVERDUE_MANAGER})


def reminder_item(handoff: Handoff, kind: Item, now: datetime, **more: str) -> dict[str, Any]:
    """One line of a reminder message about `handoff`, sent at `now`, as it is kept with the message: with
    the step the handoff was at and who had it then, so that it can be rendered truly later on."""
    return {"h": handoff.id, "k": kind.value, "s": handoff.step, "at": now.isoformat(), "to": handoff.recipient_id,
            **more}


def applies(item: Mapping[str, Any], handoff: Handoff, target: str) -> bool:
    """Whether a reminder item about `handoff` (see `reminder_item`), sent to `target` (a user or channel id),
    is still true: the handoff is in a state it speaks of, at the step it was sent at (for the items that ask
    for one step); overdue, still past the deadline it was sent after; for the receiving side's items,
    `target` still receives it (not after a reassignment or a claim); an escalation stands until a
    reassignment gives the handoff a fresh start, while the receiving side still owes its restatement.
    An item kept before steps and times were (no `s`, no `at`) is judged by the state alone."""
    kind = Item(item["k"])
    if handoff.state not in APPLIES.get(kind, frozenset()):
        return False
    if kind in OF_ONE_STEP and item.get("s", handoff.step) != handoff.step:
        return False
    if kind in LATE and "at" in item and (
            handoff.deadline_at is None or handoff.deadline_at > datetime.fromisoformat(item["at"])):
        return False
    if kind in (Item.ESCALATION, Item.ESCALATED):
        return handoff.escalated
    if kind is Item.NUDGE:
        return target == waits_on(handoff)
    return kind not in TO_RECEIVING or target == receiver(handoff)


def receiver(handoff: Handoff) -> str | None:
    """Who hears of the handoff's progress on the receiving side: its recipient, else the intake channel."""
    return handoff.recipient_id or handoff.to_department.intake_channel


def waits_on(handoff: Handoff) -> str | None:
    """Whom a nudge is for: the side a negotiation waits on, the requester while a restatement waits
    for their review, else whoever receives the handoff."""
    if handoff.state is S.RESTATED:
        return handoff.requester_id
    return handoff.negotiation_turn or receiver(handoff)


DEFAULT_HOURS = "Mon-Fri 09:00-18:00"


def calendar(session: Session, handoff: Handoff, user_id: str | None) -> WorkingCalendar:
    """The working calendar of the handoff's standard in a user's time zone."""
    return _calendar_in(handoff, time_zone(session, user_id))


def _calendar_in(handoff: Handoff, zone: str) -> WorkingCalendar:
    standard = handoff.standard
    return WorkingCalendar.of(standard.get("working_hours", DEFAULT_HOURS), zone, standard.get("holiday_country"))


def allowed(handoff: Handoff, key: str) -> int:
    """The working seconds the handoff's standard allows for `key` (`confirm_within_s`, `remind_every_s`,
    `complete_within_s`): whole days are working days."""
    return working_span(int(handoff.standard[key]), handoff.standard.get("working_hours", DEFAULT_HOURS))


def _recipient_side(session: Session, handoff: Handoff) -> str | None:
    """Whose time zone the receiving side's clock runs in: the recipient's, else the first manager's."""
    if handoff.recipient_id:
        return handoff.recipient_id
    managers = departments.managers(session, handoff.to_department_id)
    return managers[0] if managers else None


def deadline(handoff: Handoff, cal: WorkingCalendar) -> datetime | None:
    """When the work is late: the end of the due date, else `complete_within` after confirmation; the
    first working moment from then on, on the receiving side's calendar `cal`."""
    if handoff.due_date is not None:
        midnight = datetime.combine(handoff.due_date + timedelta(days=1), time(0), tzinfo=cal.zone)
        return cal.next_working_moment(midnight)
    if handoff.confirmed_at is not None:
        return cal.add(handoff.confirmed_at, allowed(handoff, "complete_within_s"))
    return None


def pause_confirm_clock(session: Session, handoff: Handoff, now: datetime) -> None:
    """The recipient restated: their clock stops while the requester reviews."""
    if handoff.confirm_clock_since is not None:
        cal = calendar(session, handoff, _recipient_side(session, handoff))
        handoff.confirm_clock_used_s += cal.between(handoff.confirm_clock_since, now)
        handoff.confirm_clock_since = None


def working_seconds(session: Session, handoff: Handoff, start: datetime, end: datetime) -> int:
    """Working seconds between two moments on the receiving side's calendar."""
    return calendar(session, handoff, _recipient_side(session, handoff)).between(start, end)


def restart_confirm_clock(handoff: Handoff, now: datetime) -> None:
    """The recipient owes a restatement again after a clarification: the time already used counts, the
    reminders they heeded by restating do not."""
    handoff.confirm_reminders = 0
    handoff.last_reminded_at = None
    handoff.confirm_clock_since = now


def hand_over_confirm_clock(session: Session, handoff: Handoff, now: datetime) -> None:
    """Before a reassignment: the new recipient's clock starts anew (their reminders, an escalation), while
    the department's time so far is carried for the digest, which counts from the sending whoever held it."""
    pause_confirm_clock(session, handoff, now)
    handoff.confirm_clock_carried_s += handoff.confirm_clock_used_s
    handoff.confirm_clock_used_s = 0
    handoff.escalated = False
    restart_confirm_clock(handoff, now)


def _fired(session: Session, handoff: Handoff, kind: K, since: datetime | None = None) -> int:
    """How many follow-ups of `kind` fired for the handoff (after `since`, when given)."""
    query = select(func.count()).where(Followup.handoff_id == handoff.id, Followup.kind == kind,
                                       Followup.state == FollowupState.FIRED)
    if since is not None:
        query = query.where(Followup.fired_at > since)
    return session.scalar(query) or 0


def _last_seq(session: Session, handoff: Handoff, kind: K) -> int:
    return session.scalar(select(func.max(Followup.seq)).where(
        Followup.handoff_id == handoff.id, Followup.kind == kind)) or 0


def _desired(
    session: Session, handoff: Handoff, now: datetime, receiving: WorkingCalendar, created: bool = False
) -> dict[K, datetime]:
    """What should be pending for the handoff in its current state, and when (`receiving`: the receiving
    side's calendar; `handoff.deadline_at` is up to date; `created`: none of its follow-ups has fired)."""
    standard = handoff.standard
    state = handoff.state
    wanted: dict[K, datetime] = {}
    if state in (S.SENT, S.CLARIFYING) and not handoff.escalated and handoff.confirm_clock_since is not None:
        if handoff.last_reminded_at is None:
            left = max(0, allowed(handoff, "confirm_within_s") - handoff.confirm_clock_used_s)
            due = receiving.add(handoff.confirm_clock_since, left)
        else:
            due = receiving.add(max(handoff.last_reminded_at, handoff.confirm_clock_since),
                                allowed(handoff, "remind_every_s"))
        kind = K.ESCALATION if handoff.confirm_reminders >= int(standard["escalate_after"]) else K.CONFIRM_REMINDER
        wanted[kind] = due
    if state is S.RESTATED:
        rnd = session.scalar(select(UnderstandingRound).where(
            UnderstandingRound.handoff_id == handoff.id, UnderstandingRound.number == handoff.rounds))
        restated_at = rnd.restated_at if rnd else now
        count, last = session.execute(select(func.count(), func.max(Followup.fired_at)).where(
            Followup.handoff_id == handoff.id, Followup.kind == K.REVIEW_REMINDER,
            Followup.fired_at >= restated_at)).one()
        requester = calendar(session, handoff, handoff.requester_id)
        due = requester.add(last or restated_at, allowed(handoff, "remind_every_s"))
        # Unheeded, the reminders stop and the requester's managers are told (when there are any to tell).
        if count < int(standard["escalate_after"]) or not requesting_managers(session, handoff):
            wanted[K.REVIEW_REMINDER] = due
        elif not _fired(session, handoff, K.REVIEW_ESCALATION, since=restated_at):
            wanted[K.REVIEW_ESCALATION] = due
    if state is S.NEGOTIATING and handoff.negotiation_since is not None and not _fired(
            session, handoff, K.NEGOTIATION_STALLED, since=handoff.negotiation_since):
        wanted[K.NEGOTIATION_STALLED] = receiving.add(handoff.negotiation_since, allowed(handoff, "confirm_within_s"))
    if (late_at := handoff.deadline_at) is not None:
        # A due date changed by agreement is a new deadline: it is announced and kept anew.
        since = handoff.due_changed_at
        if created or not _fired(session, handoff, K.DUE_SOON, since):
            last_day = handoff.due_date or late_at.astimezone(receiving.zone).date()
            day_before = receiving.working_day_before(last_day)
            soon = receiving.next_working_moment(datetime.combine(day_before, time(0), tzinfo=receiving.zone))
            if (since or handoff.created_at) < soon < late_at:
                wanted[K.DUE_SOON] = soon
        if created or not _fired(session, handoff, K.OVERDUE, since):
            wanted[K.OVERDUE] = late_at
    if state is S.DONE and handoff.done_at is not None and not _fired(session, handoff, K.RATING_REMINDER):
        requester = calendar(session, handoff, handoff.requester_id)
        wanted[K.RATING_REMINDER] = requester.add_working_days(handoff.done_at, RATING_AFTER_WORKING_DAYS)
    return wanted


def plan(session: Session, handoff: Handoff, now: datetime, *, created: bool = False) -> None:
    """Make the pending follow-ups of `handoff` match its state: re-plan, cancel, or add.

    Called in the transaction of every state change; `created`: the handoff was recorded in this
    transaction, so it has no follow-ups yet (their queries are skipped).
    """
    receiving = calendar(session, handoff, _recipient_side(session, handoff))
    handoff.deadline_at = deadline(handoff, receiving) if handoff.state in OPEN_STATES else None
    wanted = _desired(session, handoff, now, receiving, created)
    pending: Sequence[Followup] = [] if created else session.scalars(select(Followup).where(
        Followup.handoff_id == handoff.id, Followup.state == FollowupState.PENDING)).all()
    stale = [f.id for f in pending if f.kind not in wanted]
    if stale:
        session.execute(delete(Followup).where(Followup.id.in_(stale), Followup.state == FollowupState.PENDING))
    for followup in pending:
        if followup.kind in wanted:
            followup.due_at = wanted.pop(followup.kind)
    for kind, due in wanted.items():
        seq = 1 if created else _last_seq(session, handoff, kind) + 1
        session.add(Followup(handoff_id=handoff.id, kind=kind, seq=seq, due_at=due, created_at=now))


def _addressees(session: Session, handoff: Handoff, kind: K) -> list[tuple[str, Item]]:
    """Who hears of a follow-up, and as which item."""
    side = receiver(handoff)
    managers = departments.managers(session, handoff.to_department_id)
    if kind is K.CONFIRM_REMINDER:
        return [(side, Item.CONFIRM_REMINDER)] if side else []
    if kind is K.REVIEW_REMINDER:
        return [(handoff.requester_id, Item.REVIEW_REMINDER)]
    if kind is K.ESCALATION:
        return [(m, Item.ESCALATION) for m in managers] + [(handoff.requester_id, Item.ESCALATED)]
    if kind is K.DUE_SOON:
        return [(side, Item.DUE_SOON)] if side else []
    if kind is K.OVERDUE:
        told = [(side, Item.OVERDUE)] if side else []
        return told + [(handoff.requester_id, Item.OVERDUE_REQUESTER)] + [
            (m, Item.OVERDUE_MANAGER) for m in managers if m != handoff.recipient_id]
    if kind is K.REVIEW_ESCALATION:
        return [(m, Item.REVIEW_ESCALATION) for m in requesting_managers(session, handoff)]
    if kind is K.RATING_REMINDER:
        return [(handoff.requester_id, Item.RATING_REMINDER)]
    return []  # a stalled negotiation: a message of its own to the managers of both sides


def requesting_managers(session: Session, handoff: Handoff) -> list[str]:
    """The managers of the department the handoff came from but the requester (a manager who is late is
    not told about themselves); none when it came from no department."""
    if handoff.from_department_id is None:
        return []
    return [m for m in departments.managers(session, handoff.from_department_id) if m != handoff.requester_id]


def both_sides_managers(session: Session, handoff: Handoff) -> list[str]:
    """The managers of both sides of a handoff, the receiving department's first, but for the two sides
    themselves (a manager negotiating is not told of their own negotiation)."""
    parties = (handoff.requester_id, handoff.recipient_id)
    return [m for m in dict.fromkeys([*departments.managers(session, handoff.to_department_id),
                                      *requesting_managers(session, handoff)]) if m not in parties]


def _clock_owner(handoff: Handoff, kind: K, session: Session) -> str | None:
    """Whose working hours hold back a follow-up: the requester's for theirs, else the receiving side's."""
    if kind in (K.REVIEW_REMINDER, K.REVIEW_ESCALATION, K.RATING_REMINDER):
        return handoff.requester_id
    return _recipient_side(session, handoff)


@dataclass(frozen=True)
class Pass:
    looked_at: int  # due rows claimed in this pass
    fired: int      # of those, fired (the rest wait for working hours)


def fire_due(session: Session, now: datetime, *, limit: int = 500) -> Pass:
    """Fire the follow-ups due at `now` (each exactly once) and queue their messages."""
    # Claim the follow-ups and their handoffs in one statement, so the locks are taken in the same order a
    # request takes them (handoff, then its follow-ups) and a pass never deadlocks with a click.
    due: Sequence[Followup] = session.scalars(
        select(Followup).join(Handoff, Handoff.id == Followup.handoff_id)
        .where(Followup.state == FollowupState.PENDING, Followup.due_at <= now)
        .order_by(Followup.due_at, Followup.id).limit(limit)
        .with_for_update(skip_locked=True, of=[Followup, Handoff])
    ).all()
    messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    about: dict[str, Handoff] = {}  # a handoff each person's message is about, for their working hours
    stalled: list[tuple[str, Handoff]] = []  # negotiations for the managers of both sides, one message each
    fired = 0
    for followup in due:
        handoff = session.get(Handoff, followup.handoff_id)  # locked by the claim
        assert handoff is not None
        cal = calendar(session, handoff, _clock_owner(handoff, followup.kind, session))
        if not cal.is_working(now):
            followup.due_at = cal.next_working_moment(now)
            continue
        followup.state, followup.fired_at = FollowupState.FIRED, now
        fired += 1
        if followup.kind is K.CONFIRM_REMINDER:
            handoff.confirm_reminders += 1
            handoff.last_reminded_at = now
        elif followup.kind is K.ESCALATION:
            handoff.escalated = True
            lifecycle.apply(session, handoff, Action.ESCALATE, SYSTEM_ACTOR, now, is_member=lambda _u: False,
                            payload={"reminders": handoff.confirm_reminders})
        elif followup.kind is K.REVIEW_ESCALATION:  # in the audit trail too, for the requesting side's digest
            lifecycle.apply(session, handoff, Action.ESCALATE_REVIEW, SYSTEM_ACTOR, now, is_member=lambda _u: False,
                            payload={"managers": requesting_managers(session, handoff)})
        if followup.kind is K.NEGOTIATION_STALLED:
            told = both_sides_managers(session, handoff)
            lifecycle.apply(session, handoff, Action.ESCALATE_STALLED, SYSTEM_ACTOR, now,
                            is_member=lambda _u: False, payload={"managers": told})
            stalled += [(manager, handoff) for manager in told]
        for target, item in _addressees(session, handoff, followup.kind):
            messages[target].append(reminder_item(handoff, item, now))
            about.setdefault(target, handoff)
        if followup.kind in (K.ESCALATION, K.OVERDUE):  # what the Home tabs show has changed
            refresh_homes(session, [handoff.requester_id, handoff.recipient_id,
                                    *departments.managers(session, handoff.to_department_id)], now)
        session.flush()
        plan(session, handoff, now)
    for target, items in messages.items():
        when = _their_working_moment(session, target, about[target], now)
        for start in range(0, len(items), ITEMS_PER_MESSAGE):
            enqueue(session, NoticeKind.REMINDERS, target, now, not_before=when,
                    items=items[start:start + ITEMS_PER_MESSAGE])
    for manager, handoff in stalled:
        assert handoff.negotiation_since is not None
        enqueue(session, NoticeKind.STALLED, manager, now, handoff_id=handoff.id,
                not_before=_their_working_moment(session, manager, handoff, now),
                since=handoff.negotiation_since.isoformat(), sides=[handoff.recipient_id, handoff.requester_id])
    return Pass(len(due), fired)


def _their_working_moment(session: Session, target: str, handoff: Handoff, now: datetime) -> datetime:
    """When `target` is told of a follow-up that fired at `now` in its clock owner's working hours: a
    person told of it (the requester of an escalation, the managers of an overdue handoff) hears in
    their own, not at night where they are (when their time zone is known)."""
    if PERSON.fullmatch(target) and (zone := time_zone(session, target, default="")):
        return _calendar_in(handoff, zone).next_working_moment(now)
    return now


def next_due(session: Session) -> datetime | None:
    """When the next follow-up is due (for logs and readiness)."""
    return session.scalar(select(func.min(Followup.due_at)).where(Followup.state == FollowupState.PENDING))


def pending_due(session: Session, handoff_ids: Sequence[int]) -> dict[int, dict[FollowupKind, datetime]]:
    """When each pending follow-up of these handoffs is due, by handoff id and kind (for clocks on screen)."""
    due: dict[int, dict[FollowupKind, datetime]] = defaultdict(dict)
    for start in range(0, len(handoff_ids), 500):
        rows = session.execute(select(Followup.handoff_id, Followup.kind, Followup.due_at).where(
            Followup.handoff_id.in_(handoff_ids[start:start + 500]), Followup.state == FollowupState.PENDING))
        for handoff_id, kind, due_at in rows:
            due[handoff_id][kind] = due_at
    return dict(due)
