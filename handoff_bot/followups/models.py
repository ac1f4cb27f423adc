"""The follow-up table: what is due when. The database, not APScheduler, holds the truth."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from handoff_bot.db import Base, str_enum


class FollowupKind(enum.StrEnum):
    CONFIRM_REMINDER = "confirm_reminder"  # the recipient has not confirmed their understanding
    REVIEW_REMINDER = "review_reminder"    # the requester has not reviewed a restatement
    REVIEW_ESCALATION = "review_escalation"  # review reminders went unheeded: the requester's managers are told
    ESCALATION = "escalation"              # reminders went unheeded: the managers are told
    DUE_SOON = "due_soon"                  # one working day before the deadline
    OVERDUE = "overdue"                    # the deadline passed with the work not done
    RATING_REMINDER = "rating_reminder"    # done but not rated after two working days
    NEGOTIATION_STALLED = "negotiation_stalled"  # the sides have not agreed within the time to confirm


class FollowupState(enum.StrEnum):
    PENDING = "pending"
    FIRED = "fired"


class Followup(Base):
    __tablename__ = "followup"
    __table_args__ = (
        Index("ix_followup_state_due", "state", "due_at"),
        UniqueConstraint("handoff_id", "kind", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FollowupKind] = mapped_column(str_enum(FollowupKind))
    seq: Mapped[int]
    due_at: Mapped[datetime]
    state: Mapped[FollowupState] = mapped_column(str_enum(FollowupState), default=FollowupState.PENDING)
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
