"""Handoffs as CSV: one row per handoff with every timing the digest uses.

Rows are streamed from the database (`yield_per`), so an export of any size runs in constant memory.
Timestamps are ISO 8601 in UTC (`2026-03-02T10:00:00Z`); durations are working seconds under the
handoff's standard; booleans are `true`/`false`; an empty cell means "not (yet) known".
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timezone
from typing import Any, TextIO

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from handoff_bot.departments.models import Department
from handoff_bot.handoffs.models import Handoff, Question

COLUMNS = (
    "id", "created_at", "title", "requester", "from_department", "to_department", "recipient", "relation",
    "priority", "state", "due_date", "deadline_at", "confirmed_at", "confirm_working_s", "confirmed_in_standard",
    "done_at", "complete_working_s", "rounds", "questions", "escalated", "rating", "rating_comment",
)
BATCH = 500
# A cell starting with one of these is a formula to spreadsheet programs; user text is quoted so it stays text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _moment(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else ""


def _flag(value: bool | None) -> str:
    return "" if value is None else "true" if value else "false"


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _text(value: str | None) -> str:
    """User text for a cell: never read as a formula (CSV injection)."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_START) else text


def rows(session: Session, *, since: date | None = None, department_ids: Sequence[int] | None = None
         ) -> Iterator[list[str]]:
    """The export's rows (without the header), oldest handoff first, read in batches.

    Args:
        session: the transaction to read in (kept open while the rows are consumed).
        since: only handoffs created on or after this day (00:00 UTC).
        department_ids: only handoffs sent from or to one of these departments; None for all.
    """
    sender, receiver = aliased(Department), aliased(Department)
    questions = (select(func.count(Question.id)).where(Question.handoff_id == Handoff.id)
                 .correlate(Handoff).scalar_subquery())
    query = (
        select(
            Handoff.id, Handoff.created_at, Handoff.title, Handoff.requester_id, sender.name, receiver.name,
            Handoff.recipient_id, Handoff.relation, Handoff.priority, Handoff.state, Handoff.due_date,
            Handoff.deadline_at, Handoff.confirmed_at, Handoff.confirm_working_s, Handoff.confirmed_in_standard,
            Handoff.done_at, Handoff.complete_working_s, Handoff.rounds, questions, Handoff.escalated,
            Handoff.rating, Handoff.rating_comment,
        )
        .outerjoin(sender, Handoff.from_department_id == sender.id)
        .join(receiver, Handoff.to_department_id == receiver.id)
        .order_by(Handoff.id)
        .execution_options(yield_per=BATCH)
    )
    if since is not None:
        query = query.where(Handoff.created_at >= datetime.combine(since, time(0), tzinfo=timezone.utc))
    if department_ids is not None:
        query = query.where(or_(Handoff.from_department_id.in_(department_ids),
                                Handoff.to_department_id.in_(department_ids)))
    for row in session.execute(query):
        (handoff_id, created_at, title, requester, from_name, to_name, recipient, relation, priority, state,
         due_date, deadline_at, confirmed_at, confirm_s, in_standard, done_at, complete_s, rounds, asked,
         escalated, rating, comment) = row
        yield [
            str(handoff_id), _moment(created_at), _text(title), requester, _text(from_name), _text(to_name),
            recipient or "", relation.value, priority.value, state.value,
            due_date.isoformat() if due_date else "", _moment(deadline_at), _moment(confirmed_at),
            _number(confirm_s), _flag(in_standard), _moment(done_at), _number(complete_s), str(rounds),
            str(asked or 0), _flag(escalated), _number(rating), _text(comment),
        ]


def write_csv(out: TextIO, session: Session, **filters: Any) -> int:
    """Write the header and every row to `out` (opened with `newline=""`); returns the number of rows.

    Args:
        out: where to write.
        session: the transaction to read in.
        filters: `since` and `department_ids`, as for `rows`.
    """
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows(session, **filters):
        writer.writerow(row)
        count += 1
    return count


def department_by_name(session: Session, name: str) -> Department | None:
    """The department with this name (case-insensitive), if any."""
    return session.scalar(select(Department).where(func.lower(Department.name) == name.strip().lower()))
