"""Tables for handoffs, their key points, understanding rounds, proposals, questions and audit trail."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handoff_bot.db import Base, str_enum
from handoff_bot.departments.models import Department


class HandoffState(enum.StrEnum):
    SENT = "sent"
    RESTATED = "restated"
    CLARIFYING = "clarifying"
    CONFIRMED = "confirmed"
    DONE = "done"
    RATED = "rated"
    NEGOTIATING = "negotiating"
    DECLINED = "declined"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({
    HandoffState.SENT, HandoffState.RESTATED, HandoffState.CLARIFYING,
    HandoffState.CONFIRMED, HandoffState.NEGOTIATING,
})
FINISHED_STATES = frozenset({HandoffState.RATED, HandoffState.DECLINED, HandoffState.CANCELLED})


class Relationship(enum.StrEnum):
    PROCESS = "process"
    FUNCTIONAL = "functional"
    HIERARCHICAL = "hierarchical"


class Priority(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class QuestionKind(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    REFLECTIVE = "reflective"


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    CLARIFY = "clarify"


class ProposalKind(enum.StrEnum):
    CHANGE = "change"    # other terms: another due date, a smaller scope
    DECLINE = "decline"  # the recipient will not take the work on


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    COUNTERED = "countered"  # the other side answered with a proposal of their own
    WITHDRAWN = "withdrawn"  # unanswered when the handoff was cancelled or reassigned


class Handoff(Base):
    __tablename__ = "handoff"
    __table_args__ = (
        Index("ix_handoff_requester_state", "requester_id", "state"),
        Index("ix_handoff_recipient_state", "recipient_id", "state"),
        Index("ix_handoff_to_department_state", "to_department_id", "state"),
        # Digests: a department's handoffs touched since a week's start (updated_at is the latest event).
        Index("ix_handoff_to_department_updated", "to_department_id", "updated_at"),
        Index("ix_handoff_from_department_updated", "from_department_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    requester_id: Mapped[str] = mapped_column(String(32))
    from_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    to_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    recipient_id: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(150))
    details: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None]
    relation: Mapped[Relationship] = mapped_column(str_enum(Relationship))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority))
    state: Mapped[HandoffState] = mapped_column(str_enum(HandoffState))
    rounds: Mapped[int] = mapped_column(default=0)  # restatements so far, by whoever held it: the round number
    # How many times the handoff has moved on (to another state, another recipient, the other side's turn):
    # a reminder or nudge sent at an earlier step asked for something that is settled.
    step: Mapped[int] = mapped_column(default=0, server_default="0")
    escalated: Mapped[bool] = mapped_column(default=False)
    # The confirm clock runs while the recipient owes a restatement (sent, clarifying) and pauses
    # while the requester reviews one: working seconds used so far, and since when it runs again.
    confirm_clock_used_s: Mapped[int] = mapped_column(default=0)
    confirm_clock_since: Mapped[datetime | None]
    # The department's time before the handoff was reassigned (the new recipient's clock starts at zero).
    confirm_clock_carried_s: Mapped[int] = mapped_column(default=0, server_default="0")
    confirm_reminders: Mapped[int] = mapped_column(default=0)
    last_reminded_at: Mapped[datetime | None]
    # Figures for digests, fixed when they happen (working seconds under the standard's calendar). A handoff
    # is confirmed once for the digest: at its first confirmation, from its sending, whoever held it; a
    # confirmation anew after a reassignment changes none of them.
    first_confirmed_at: Mapped[datetime | None]
    confirm_working_s: Mapped[int | None]
    confirmed_in_standard: Mapped[bool | None]
    clarifications: Mapped[int] = mapped_column(default=0, server_default="0")  # Clarify answers before it
    complete_working_s: Mapped[int | None]
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)
    standard: Mapped[dict[str, Any]]
    confirmed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    rated_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(Text)
    # While the two sides negotiate other terms: since when, who owes the next answer, and the state the
    # handoff goes back to once they agree.
    negotiation_since: Mapped[datetime | None]
    negotiation_turn: Mapped[str | None] = mapped_column(String(32))
    resume_state: Mapped[HandoffState | None] = mapped_column(str_enum(HandoffState))
    due_changed_at: Mapped[datetime | None]  # the due date was last changed by agreement
    negotiated: Mapped[bool] = mapped_column(default=False, server_default=false())  # it has had a proposal
    source_view_id: Mapped[str | None] = mapped_column(String(32), unique=True)  # the form it came from
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    to_department: Mapped[Department] = relationship(foreign_keys=[to_department_id], lazy="joined")
    from_department: Mapped[Department | None] = relationship(foreign_keys=[from_department_id], lazy="joined")
    key_points: Mapped[list[KeyPoint]] = relationship(
        order_by="KeyPoint.position", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def department_name(self) -> str:
        """The receiving department's name."""
        return self.to_department.name


class KeyPoint(Base):
    __tablename__ = "key_point"
    __table_args__ = (UniqueConstraint("handoff_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"))
    position: Mapped[int]
    text: Mapped[str] = mapped_column(String(300))


class UnderstandingRound(Base):
    """One restatement by the recipient and the requester's verdict on it."""

    __tablename__ = "understanding_round"
    __table_args__ = (UniqueConstraint("handoff_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"))
    number: Mapped[int]
    restated_by: Mapped[str] = mapped_column(String(32))
    restated_at: Mapped[datetime]
    restatements: Mapped[list[Any]]
    verdict: Mapped[Verdict | None] = mapped_column(str_enum(Verdict))
    clarification: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]


class Proposal(Base):
    """One turn of a negotiation: the recipient proposes other terms or declines, the requester counters."""

    __tablename__ = "proposal"
    __table_args__ = (UniqueConstraint("handoff_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"))
    number: Mapped[int]
    kind: Mapped[ProposalKind] = mapped_column(str_enum(ProposalKind))
    proposed_by: Mapped[str] = mapped_column(String(32))
    proposed_at: Mapped[datetime]
    due_date: Mapped[date | None]  # the due date proposed, if another one
    scope: Mapped[str | None] = mapped_column(Text)  # what would change in the work, if anything
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[Outcome | None] = mapped_column(str_enum(Outcome))
    decided_at: Mapped[datetime | None]
    source_view_id: Mapped[str | None] = mapped_column(String(32), unique=True)  # the form it came from


class Question(Base):
    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"), index=True)
    asked_by: Mapped[str] = mapped_column(String(32))
    asked_at: Mapped[datetime]
    kind: Mapped[QuestionKind] = mapped_column(str_enum(QuestionKind))
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None]


class HandoffEvent(Base):
    """The audit trail: every action on a handoff, who took it, when, and the state it moved."""

    __tablename__ = "handoff_event"
    __table_args__ = (Index("ix_handoff_event_action_at", "action", "at"),)  # e.g. the escalations of a week

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[HandoffState | None] = mapped_column(str_enum(HandoffState))
    to_state: Mapped[HandoffState] = mapped_column(str_enum(HandoffState))
    payload: Mapped[dict[str, Any]]
