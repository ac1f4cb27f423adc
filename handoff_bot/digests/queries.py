"""The digest's figures, aggregated by the database: counts, sums, averages and medians per department.

Nothing here loads handoffs into Python. Every query takes the departments it is about and a list
of time spans (`Span`, UTC, end exclusive), joins the handoffs to a small table of those spans, and
groups by department and span, so one query answers "this week, the week before, and each of the
last eight weeks" for all of a manager's departments at once. Spans may overlap.

Medians are `percentile_cont(0.5) WITHIN GROUP (ORDER BY …)` on PostgreSQL; elsewhere (SQLite)
the middle row or two of each group are found with `row_number()` and `count()` window functions
and averaged: the same value as `percentile_cont(0.5)`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Row,
    Select,
    and_,
    case,
    column,
    func,
    literal,
    or_,
    select,
    union,
    union_all,
    values,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FromClause

from handoff_bot.db import UTCDateTime
from handoff_bot.departments.models import Department
from handoff_bot.handoffs.lifecycle import Action
from handoff_bot.handoffs.models import (
    OPEN_STATES,
    Handoff,
    HandoffEvent,
    HandoffState,
    Question,
    UnderstandingRound,
)

H = Handoff
WAITING_STATES = OPEN_STATES - {HandoffState.CONFIRMED}  # open and not yet agreed: someone owes an answer
Span = tuple[datetime, datetime]
Key = tuple[int, int]  # (department id, span index)


def spans_table(session: Session, spans: Sequence[Span]) -> FromClause:
    """The spans as a derived table `(b, s, e)`: index, start (inclusive), end (exclusive).

    On PostgreSQL a `VALUES` list: the planner knows how many rows it has, so it scans the handoffs
    once and checks each against the spans (a `UNION ALL` of one-row selects, estimated at one row
    in a parallel plan, made it scan the handoffs once per span). Elsewhere (SQLite, where a
    `VALUES` alias cannot name its columns) that `UNION ALL`.
    """
    if session.get_bind().dialect.name == "postgresql":
        return values(column("b", Integer), column("s", UTCDateTime()), column("e", UTCDateTime()),
                      name="spans").data([(i, start, end) for i, (start, end) in enumerate(spans)])
    rows = [
        select(literal(i, Integer).label("b"), literal(start, UTCDateTime()).label("s"),
               literal(end, UTCDateTime()).label("e"))
        for i, (start, end) in enumerate(spans)
    ]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("spans")


def _touched(spans: Sequence[Span]) -> ColumnElement[bool]:
    """Handoffs with anything recorded since the first span began.

    `updated_at` moves with every action on a handoff (creation, restatement, confirmation, a
    question, an escalation, done, the rating), so it is at least the time of anything a digest
    counts; with the indexes on (department, updated_at) each query reads only the handoffs active
    in the weeks it covers, however long the history.
    """
    return H.updated_at >= min(start for start, _end in spans)


def _within(moment: Any, spans: FromClause) -> ColumnElement[bool]:
    return and_(moment >= spans.c.s, moment < spans.c.e)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --------------------------------------------------------------------------- the weekly figures


@dataclass(frozen=True)
class Received:
    """What one department received in one span (handoffs counted by when each thing happened)."""

    received: int = 0      # created in the span
    confirmed: int = 0     # understanding first confirmed in the span
    in_standard: int = 0   # … of those, within the confirm standard
    clarified: int = 0     # … of those, clarified by the requester at least once
    rounds: int = 0        # … their clarification rounds, summed
    done: int = 0          # marked done in the span
    rated: int = 0         # rated in the span
    rating_avg: float | None = None
    low_ratings: int = 0   # rated 1 or 2 in the span


def received(session: Session, department_ids: Collection[int], spans: Sequence[Span]) -> dict[Key, Received]:
    """The figures of handoffs *to* each department, per span.

    Args:
        session: the transaction to read in.
        department_ids: the receiving departments.
        spans: the time spans (UTC, end exclusive).
    """
    t = spans_table(session, spans)
    created, confirmed = _within(H.created_at, t), _within(H.first_confirmed_at, t)
    done, rated = _within(H.done_at, t), _within(H.rated_at, t)
    query = (
        select(
            H.to_department_id, t.c.b,
            _count_if(created).label("received"),
            _count_if(confirmed).label("confirmed"),
            _count_if(and_(confirmed, H.confirmed_in_standard.is_(True))).label("in_standard"),
            _count_if(and_(confirmed, H.clarifications > 0)).label("clarified"),
            func.coalesce(func.sum(case((confirmed, H.clarifications), else_=0)), 0).label("rounds"),
            _count_if(done).label("done"),
            _count_if(and_(rated, H.rating.is_not(None))).label("rated"),
            func.avg(case((rated, H.rating), else_=None)).label("rating_avg"),
            _count_if(and_(rated, H.rating <= 2)).label("low_ratings"),
        )
        .select_from(H)
        .join(t, or_(created, confirmed, done, rated))
        .where(H.to_department_id.in_(department_ids), _touched(spans))
        .group_by(H.to_department_id, t.c.b)
    )
    return {
        (row.to_department_id, row.b): Received(
            int(row.received), int(row.confirmed), int(row.in_standard), int(row.clarified), int(row.rounds),
            int(row.done), int(row.rated), None if row.rating_avg is None else float(row.rating_avg),
            int(row.low_ratings),
        )
        for row in session.execute(query)
    }


def sent(session: Session, department_ids: Collection[int], spans: Sequence[Span]) -> dict[Key, int]:
    """How many handoffs each department sent (its people asked for), per span."""
    t = spans_table(session, spans)
    query = (
        select(H.from_department_id, t.c.b, func.count().label("n"))
        .select_from(H).join(t, _within(H.created_at, t))
        .where(H.from_department_id.in_(department_ids), _touched(spans))
        .group_by(H.from_department_id, t.c.b)
    )
    return {(row.from_department_id, row.b): int(row.n) for row in session.execute(query)}


def questions(session: Session, department_ids: Collection[int], spans: Sequence[Span]) -> dict[Key, int]:
    """How many questions were asked about handoffs to each department, per span."""
    t = spans_table(session, spans)
    query = (
        select(H.to_department_id, t.c.b, func.count().label("n"))
        .select_from(Question).join(H, Question.handoff_id == H.id).join(t, _within(Question.asked_at, t))
        .where(H.to_department_id.in_(department_ids), _touched(spans))
        .group_by(H.to_department_id, t.c.b)
    )
    return {(row.to_department_id, row.b): int(row.n) for row in session.execute(query)}


# The escalations (audit events) that reach the managers of each side: the receiving department's when a
# handoff is not confirmed in time, the requesting one's when a restatement is not reviewed, both when a
# negotiation stalls.
TO_RECEIVING = (Action.ESCALATE.value, Action.ESCALATE_STALLED.value)
TO_REQUESTING = (Action.ESCALATE_REVIEW.value, Action.ESCALATE_STALLED.value)


def escalations(session: Session, department_ids: Collection[int], spans: Sequence[Span]) -> dict[Key, int]:
    """How many escalations (from the audit trail) reached each department's managers, per span: those
    about handoffs it received (`TO_RECEIVING`) and about handoffs it sent (`TO_REQUESTING`)."""
    t = spans_table(session, spans)
    counts: dict[Key, int] = {}
    for side, actions in ((H.to_department_id, TO_RECEIVING), (H.from_department_id, TO_REQUESTING)):
        query = (
            select(side.label("dept"), t.c.b, func.count().label("n"))
            .select_from(HandoffEvent).join(H, HandoffEvent.handoff_id == H.id)
            .join(t, _within(HandoffEvent.at, t))
            .where(side.in_(department_ids), _touched(spans), HandoffEvent.action.in_(actions))
            .group_by(side, t.c.b)
        )
        for row in session.execute(query):
            counts[(row.dept, row.b)] = counts.get((row.dept, row.b), 0) + int(row.n)
    return counts


def _medians(
    session: Session, keys: Sequence[Any], value: Any, at: Any, where: Sequence[ColumnElement[bool]],
    spans: Sequence[Span],
) -> dict[tuple[Any, ...], float]:
    """The median of `value` per `keys` and span, over the rows whose `at` falls in the span."""
    t = spans_table(session, spans)
    conditions = [*where, _touched(spans), value.is_not(None)]
    if session.get_bind().dialect.name == "postgresql":
        query: Select[Any] = (
            select(*keys, t.c.b, func.percentile_cont(0.5).within_group(value).label("median"))
            .select_from(H).join(t, _within(at, t)).where(*conditions).group_by(*keys, t.c.b)
        )
        return {tuple(row[:-1]): float(row.median) for row in session.execute(query)}
    group = [*keys, t.c.b]
    ranked = (
        select(*[k.label(f"k{i}") for i, k in enumerate(keys)], t.c.b.label("b"), value.label("v"),
               func.row_number().over(partition_by=group, order_by=value).label("rn"),
               func.count().over(partition_by=group).label("n"))
        .select_from(H).join(t, _within(at, t)).where(*conditions)
        .subquery("ranked")
    )
    outer_keys = [ranked.c[f"k{i}"] for i in range(len(keys))]
    middle = ranked.c.rn.between((ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2)
    query = (
        select(*outer_keys, ranked.c.b, func.avg(ranked.c.v).label("median"))
        .where(middle).group_by(*outer_keys, ranked.c.b)
    )
    return {tuple(row[:-1]): float(row.median) for row in session.execute(query)}


def median_confirm(session: Session, department_ids: Collection[int], spans: Sequence[Span]) -> dict[Key, float]:
    """The median working seconds to confirm, of handoffs to each department confirmed in each span."""
    found = _medians(session, [H.to_department_id], H.confirm_working_s, H.first_confirmed_at,
                     [H.to_department_id.in_(department_ids)], spans)
    return {(k[0], k[1]): v for k, v in found.items()}


def median_complete(session: Session, department_ids: Collection[int], spans: Sequence[Span]) -> dict[Key, float]:
    """The median working seconds from confirmation to done, of handoffs to each department done in each span."""
    found = _medians(session, [H.to_department_id], H.complete_working_s, H.done_at,
                     [H.to_department_id.in_(department_ids)], spans)
    return {(k[0], k[1]): v for k, v in found.items()}


# --------------------------------------------------------------------------- partners


@dataclass(frozen=True)
class PairFigures:
    """Handoffs between a department and one partner, confirmed in a span."""

    department_id: int
    partner_id: int
    confirmed: int
    clarified: int
    in_standard: int
    median_confirm_s: float | None


def pairs(session: Session, department_ids: Collection[int], span: Span, *, as_provider: bool) -> list[PairFigures]:
    """Per partner department: handoffs confirmed in `span`, how many needed clarification, the median
    time to confirm.

    Args:
        session: the transaction to read in.
        department_ids: the manager's departments.
        span: the period.
        as_provider: True for the handoffs the departments received (partner = who sent them),
            False for those they sent (partner = who received them).
    """
    mine, partner = (H.to_department_id, H.from_department_id) if as_provider else \
        (H.from_department_id, H.to_department_id)
    where = [mine.in_(department_ids), partner.is_not(None), mine != partner, _touched([span])]
    t = spans_table(session, [span])
    confirmed = _within(H.first_confirmed_at, t)
    query = (
        select(mine.label("mine"), partner.label("partner"), func.count().label("confirmed"),
               _count_if(H.clarifications > 0).label("clarified"),
               _count_if(H.confirmed_in_standard.is_(True)).label("in_standard"))
        .select_from(H).join(t, confirmed).where(*where).group_by(mine, partner)
    )
    medians = _medians(session, [mine, partner], H.confirm_working_s, H.first_confirmed_at, where, [span])
    return [
        PairFigures(row.mine, row.partner, int(row.confirmed), int(row.clarified), int(row.in_standard),
                    medians.get((row.mine, row.partner, 0)))
        for row in session.execute(query)
    ]


def department_names(session: Session, department_ids: Collection[int]) -> dict[int, str]:
    """Department names by id."""
    if not department_ids:
        return {}
    found = session.execute(select(Department.id, Department.name).where(Department.id.in_(department_ids)))
    return {row.id: row.name for row in found}


# --------------------------------------------------------------------------- lists (with "and N more")


ITEM_COLUMNS = (H.id, H.title, H.from_department_id, H.to_department_id, H.requester_id, H.recipient_id,
                H.created_at, H.deadline_at, H.updated_at, H.rated_at, H.rating, H.rating_comment)
Top = tuple[dict[int, int], dict[int, list[Row[Any]]]]


def _rows(department: Any, conditions: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """The item columns of the handoffs meeting `conditions`, with `department` as `dept`."""
    return select(department.label("dept"), *ITEM_COLUMNS).where(*conditions)


def _top(session: Session, found: Select[Any] | CompoundSelect, order: Callable[[Any], Sequence[Any]],
         limit: int) -> Top:
    """The first `limit` of the `found` rows per department (`dept`) by `order` (of the rows' columns),
    and how many there are in all."""
    rows = found.subquery("found")
    ranked = (
        select(rows, func.row_number().over(partition_by=rows.c.dept, order_by=order(rows.c)).label("rn"),
               func.count().over(partition_by=rows.c.dept).label("total"))
        .subquery("ranked")
    )
    totals: dict[int, int] = {}
    items: dict[int, list[Row[Any]]] = {}
    for row in session.execute(select(ranked).where(ranked.c.rn <= limit).order_by(ranked.c.dept, ranked.c.rn)):
        totals[row.dept] = int(row.total)
        items.setdefault(row.dept, []).append(row)
    return totals, items


def _escalated_since(action: Action, since: Any) -> ColumnElement[bool]:
    """An escalation of this kind was recorded for the handoff at or after `since`."""
    return (select(HandoffEvent.id).where(HandoffEvent.handoff_id == H.id, HandoffEvent.action == action.value,
                                          HandoffEvent.at >= since).exists())


def _review_escalated() -> ColumnElement[bool]:
    """The restatement waiting for review was escalated to the requesting department's managers."""
    restated = (select(UnderstandingRound.restated_at)
                .where(UnderstandingRound.handoff_id == H.id, UnderstandingRound.number == H.rounds)
                .scalar_subquery())
    return and_(H.state == HandoffState.RESTATED, _escalated_since(Action.ESCALATE_REVIEW, restated))


def _negotiation_escalated() -> ColumnElement[bool]:
    """The negotiation under way was escalated to the managers of both sides."""
    return and_(H.state == HandoffState.NEGOTIATING, _escalated_since(Action.ESCALATE_STALLED, H.negotiation_since))


def overdue(session: Session, department_ids: Collection[int], now: datetime, limit: int) -> Top:
    """Open handoffs to each department past their deadline at `now`, the longest overdue first."""
    return _top(session, _rows(H.to_department_id, [
        H.to_department_id.in_(department_ids), H.state.in_(OPEN_STATES), H.deadline_at < now]),
        lambda c: [c.deadline_at, c.id], limit)


def escalated(session: Session, department_ids: Collection[int], limit: int) -> Top:
    """Open handoffs whose escalation reached each department's managers and still stands, the oldest
    first: received and not confirmed in time, or in a stalled negotiation; sent and not reviewed, or in
    a stalled negotiation."""
    received = _rows(H.to_department_id, [
        H.to_department_id.in_(department_ids), H.state.in_(OPEN_STATES),
        or_(H.escalated.is_(True), _negotiation_escalated())])
    requested = _rows(H.from_department_id, [
        H.from_department_id.in_(department_ids), or_(_review_escalated(), _negotiation_escalated())])
    return _top(session, union(received, requested), lambda c: [c.created_at, c.id], limit)


def stalled(session: Session, department_ids: Collection[int], now: datetime, quiet_since: datetime,
            limit: int) -> Top:
    """Handoffs to each department still waiting for an understanding (not confirmed yet) with no
    activity since `quiet_since`, neither escalated (to either side) nor overdue (those are listed as
    such), the quietest first."""
    not_overdue = or_(H.deadline_at.is_(None), H.deadline_at >= now)
    return _top(session, _rows(H.to_department_id, [
        H.to_department_id.in_(department_ids), H.state.in_(WAITING_STATES), H.escalated.is_(False),
        ~_review_escalated(), ~_negotiation_escalated(), H.updated_at < quiet_since, not_overdue]),
        lambda c: [c.updated_at, c.id], limit)


def low_ratings(session: Session, department_ids: Collection[int], span: Span, limit: int) -> Top:
    """Handoffs to each department rated 1 or 2 in `span`, the latest first."""
    return _top(session, _rows(H.to_department_id, [
        H.to_department_id.in_(department_ids), _touched([span]), H.rated_at >= span[0], H.rated_at < span[1],
        H.rating <= 2]), lambda c: [c.rated_at.desc(), c.id.desc()], limit)


def comments(session: Session, department_ids: Collection[int], span: Span, limit: int) -> Top:
    """Handoffs to each department rated with a comment in `span`, the latest first."""
    return _top(session, _rows(H.to_department_id, [
        H.to_department_id.in_(department_ids), _touched([span]), H.rated_at >= span[0], H.rated_at < span[1],
        H.rating_comment.is_not(None), H.rating_comment != ""]), lambda c: [c.rated_at.desc(), c.id.desc()], limit)
