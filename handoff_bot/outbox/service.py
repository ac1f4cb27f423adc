"""Writing notices into the outbox, in the caller's transaction; who has a Home tab worth publishing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from handoff_bot.outbox.models import HomeTab, NoticeKind, OutboxMessage, OutboxState, SlackEvent


def enqueue(
    session: Session,
    kind: NoticeKind,
    target: str,
    now: datetime,
    /,
    *,
    handoff_id: int | None = None,
    not_before: datetime | None = None,
    **params: Any,
) -> OutboxMessage:
    """Store a notice for delivery; it is sent only if the surrounding transaction commits.

    Args:
        session: the transaction that makes the state change the notice is about.
        kind: what to tell.
        target: a Slack user id (delivered as a DM) or channel id.
        now: the current time.
        handoff_id: the handoff it concerns; notices of one handoff are delivered in order.
        not_before: when to deliver it at the earliest (default: now).
        params: what the renderer needs besides the handoff (JSON-serialisable).
    """
    message = OutboxMessage(
        created_at=now, handoff_id=handoff_id, kind=kind, target=target,
        params=params, next_attempt_at=not_before or now,
    )
    session.add(message)
    return message


def undelivered(session: Session, *, include_sent: bool = False, limit: int = 200) -> list[OutboxMessage]:
    """Notices not delivered yet (dead first, then oldest), and with `include_sent` the latest delivered."""
    waiting = session.scalars(
        select(OutboxMessage).where(OutboxMessage.state != OutboxState.SENT)
        .order_by((OutboxMessage.state == OutboxState.DEAD).desc(), OutboxMessage.id).limit(limit)
    ).all()
    sent = session.scalars(
        select(OutboxMessage).where(OutboxMessage.state == OutboxState.SENT)
        .order_by(OutboxMessage.id.desc()).limit(50)
    ).all() if include_sent else []
    return [*waiting, *sent]


def retry_dead(session: Session, ids: Iterable[int] | None, now: datetime) -> int:
    """Put dead notices back in the queue with fresh attempts; returns how many.

    Args:
        session: the transaction.
        ids: the notices to retry; None for every dead one.
        now: when they become due.
    """
    query = update(OutboxMessage).where(OutboxMessage.state == OutboxState.DEAD)
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(list(ids)))
    result = session.execute(query.values(state=OutboxState.PENDING, attempts=0, next_attempt_at=now,
                                          lease_until=None).execution_options(synchronize_session=False))
    return result.rowcount


def first_delivery(session: Session, event_id: str, now: datetime) -> bool:
    """Record an Events API event id; False when it was handled before (a retry or a replay)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = session.scalar(insert(SlackEvent).values(event_id=event_id[:64], received_at=now)
                              .on_conflict_do_nothing(index_elements=[SlackEvent.event_id])
                              .returning(SlackEvent.event_id))
    return inserted is not None


def forget_events(session: Session, before: datetime) -> int:
    """Forget the event ids received before `before` (Slack retries an event within minutes); returns how many."""
    return session.execute(delete(SlackEvent).where(SlackEvent.received_at < before)).rowcount


def home_opened(session: Session, user_id: str, now: datetime) -> None:
    """The user opened the Home tab: remember it, and queue its publication (unless one is waiting).

    Args:
        session: the transaction to write in.
        user_id: the Slack user who opened the tab.
        now: the current time.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(HomeTab).values(user_id=user_id, first_opened_at=now, last_opened_at=now, page=0)
        .on_conflict_do_update(index_elements=[HomeTab.user_id], set_={"last_opened_at": now})
    )
    refresh_homes(session, [user_id], now)


def turn_home_page(session: Session, user_id: str, page: int, now: datetime) -> None:
    """Show another page of the user's Home tab (0 is the first; past the last shows the last)."""
    tab = session.get(HomeTab, user_id)
    if tab is None:
        session.add(HomeTab(user_id=user_id, first_opened_at=now, last_opened_at=now, page=max(0, page)))
        session.flush()
    else:
        tab.page = max(0, page)
    refresh_homes(session, [user_id], now)


def refresh_homes(session: Session, user_ids: Iterable[str | None], now: datetime) -> None:
    """Queue a new rendering of the Home tab of each user who has opened it, unless one is already waiting.

    Users who never opened the tab are skipped: publishing for them would only spend rate limit.
    The tab is rendered on delivery, so one waiting notice per user covers every change before it.
    """
    users = {u for u in user_ids if u and u[:1] in ("U", "W")}
    if not users:
        return
    opened = set(session.scalars(select(HomeTab.user_id).where(HomeTab.user_id.in_(users))))
    if not opened:
        return
    waiting = set(session.scalars(select(OutboxMessage.target).where(
        OutboxMessage.kind == NoticeKind.HOME, OutboxMessage.target.in_(opened),
        OutboxMessage.state == OutboxState.PENDING, OutboxMessage.attempts == 0,
    )))
    for user_id in sorted(opened - waiting):
        enqueue(session, NoticeKind.HOME, user_id, now)


def home_page(session: Session, user_id: str) -> int:
    """The page of the Home tab the user last turned to (0 when they never turned one)."""
    return session.scalar(select(HomeTab.page).where(HomeTab.user_id == user_id)) or 0
