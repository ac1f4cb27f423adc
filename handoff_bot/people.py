"""What the domain knows about a person: a profile looked up by user id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
