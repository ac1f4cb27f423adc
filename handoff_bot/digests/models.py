"""The record of digests sent: one row per manager and week, never two."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from handoff_bot.db import Base


class DigestSent(Base):
    """A manager's weekly digest was queued for sending.

    `week` is the ISO week (`2026-W10`) the digest covers: the manager's local week that had ended
    when it was sent. The unique constraint is what makes a digest go out once, also when several
    processes try at the same moment: the second insert fails and that process skips the manager.
    """

    __tablename__ = "digest_sent"
    __table_args__ = (UniqueConstraint("manager_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager_id: Mapped[str] = mapped_column(String(32))
    week: Mapped[str] = mapped_column(String(8))
    sent_at: Mapped[datetime]
