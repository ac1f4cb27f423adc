"""The outbox table and the record of messages posted to Slack."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from handoff_bot.db import Base, str_enum


class NoticeKind(enum.StrEnum):
    """What the bot has to tell someone. Rendering into Slack messages happens on delivery."""

    RECIPIENT_CARD = "recipient_card"      # new handoff, to the recipient (DM)
    INTAKE_POST = "intake_post"            # new handoff, to the department's intake channel
    RECEIPT = "receipt"                    # to the requester: what was sent, to whom
    REVIEW = "review"                      # to the requester: a restatement to accept or clarify
    CLARIFICATION = "clarification"        # to the recipient: what differs, restate again
    CONFIRMED = "confirmed"                # to the recipient: understanding agreed, do the work
    QUESTION = "question"                  # to the requester: a question to answer
    ANSWER = "answer"                      # to the recipient: the answer
    RATING_REQUEST = "rating_request"      # to the requester: rate the result
    RATED = "rated"                        # to the recipient: the rating
    CANCELLED = "cancelled"                # to the recipient: the requester cancelled
    EPHEMERAL = "ephemeral"                # a short answer only the clicker sees
    REFRESH = "refresh"                    # bring every message of a handoff up to date
    HOME = "home"                          # publish the user's App Home tab
    REASSIGNED = "reassigned"              # to the former recipient: a manager gave it to someone else
    REMINDERS = "reminders"                # follow-ups due for one person, in one message
    UNDELIVERED = "undelivered"            # to the requester: the handoff could not reach its recipient
    DIGEST = "digest"                      # to a manager: the weekly digest (its figures are in the params)
    PROPOSAL = "proposal"                  # to one side: the other proposes other terms, declines or counters
    AGREED = "agreed"                      # to a proposal's author: the other side accepted it
    STALLED = "stalled"                    # to the managers of both sides: a negotiation is not settled in time


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_due", "state", "next_attempt_at"),
        Index("ix_outbox_handoff_state", "handoff_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"))
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    target: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]]
    state: Mapped[OutboxState] = mapped_column(str_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class HomeTab(Base):
    """A user who has opened the bot's Home tab: only their tab is published again after a change.

    `page` is the page of the tab they last turned to; a re-publish keeps them on it.
    """

    __tablename__ = "home_tab"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_opened_at: Mapped[datetime]
    last_opened_at: Mapped[datetime]
    page: Mapped[int] = mapped_column(default=0)


class SlackEvent(Base):
    """Events API deliveries already handled: Slack retries an event it thinks was missed."""

    __tablename__ = "slack_event"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]


class SlackMessage(Base):
    """A message the bot posted about a handoff, kept so it can be updated when the state changes.

    A reminder message listing several handoffs has one row for each.
    """

    __tablename__ = "slack_message"
    __table_args__ = (UniqueConstraint("channel", "ts", "handoff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    target: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]]
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64))
    posted_at: Mapped[datetime]
