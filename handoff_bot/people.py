"""What the domain knows about a person: a profile looked up by user id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from handoff_bot.db import Base


class SlackUser(Base):
    """Profiles from Slack's `users.info`, cached (see `handoff_bot.slack.users.SlackDirectory`)."""

    __tablename__ = "slack_user"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    tz: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    is_bot: Mapped[bool]
    deleted: Mapped[bool]
    fetched_at: Mapped[datetime]


def time_zone(session: Session, user_id: str | None, default: str = "UTC") -> str:
    """A user's Slack time zone as last seen, or `default` when unknown."""
    if not user_id:
        return default
    return session.scalar(select(SlackUser.tz).where(SlackUser.user_id == user_id)) or default


@dataclass(frozen=True)
class Profile:
    user_id: str
    name: str
    tz: str = "UTC"
    locale: str = "en-US"
    is_bot: bool = False
    deleted: bool = False


class Directory(Protocol):
    def profile(self, user_id: str) -> Profile | None:
        """The user's profile, or None when no such user exists."""
        ...


class KnownProfiles:
    """A `Directory` over profiles looked up beforehand (so no lookup happens inside a transaction)."""

    def __init__(self, profiles: dict[str, Profile | None]) -> None:
        self._profiles = profiles

    def profile(self, user_id: str) -> Profile | None:
        return self._profiles.get(user_id)
