"""Writing notices into the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from handoff_bot.outbox.models import NoticeKind, OutboxMessage


def enqueue(
    session: Session,
    kind: NoticeKind,
    target: str,
    now: datetime,
    *,
    handoff_id: int | None = None,
    **params: Any,
) -> OutboxMessage:
    """Store a notice for delivery; it is sent only if the surrounding transaction commits.

    Args:
        session: the transaction that makes the state change the notice is about.
        kind: what to tell.
        target: a Slack user id (delivered as a DM) or channel id.
        now: the current time.
        handoff_id: the handoff it concerns; notices of one handoff are delivered in order.
        params: what the renderer needs besides the handoff (JSON-serialisable).
    """
    message = OutboxMessage(
        created_at=now, handoff_id=handoff_id, kind=kind, target=target,
        params=params, next_attempt_at=now,
    )
    session.add(message)
    return message
