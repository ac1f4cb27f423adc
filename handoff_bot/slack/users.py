"""Slack users' names, time zones and locales from `users.info`, cached in the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from handoff_bot.clock import Clock
from handoff_bot.db import Database
from handoff_bot.people import Profile, SlackUser

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(hours=12)
RETRY_AFTER = timedelta(minutes=1)  # after a failed users.info, what is known is used this long


class SlackDirectory:
    """Profiles from a memory cache, then the database, then `users.info` (kept for 12 hours).

    When `users.info` fails or times out (the client's timeout bounds it), the last profile seen is
    used, else a bare one (the user id as name, UTC, en-US), and Slack is asked again a minute later.
    """

    def __init__(self, db: Database, client: WebClient, clock: Clock) -> None:
        self._db = db
        self._client = client
        self._clock = clock
        self._memory: dict[str, tuple[Profile, datetime]] = {}
        self._lock = threading.Lock()

    def profiles(self, user_ids: Iterable[str]) -> dict[str, Profile | None]:
        """Several profiles (None: no such user); those not in memory are looked up at once, in parallel."""
        wanted = list(dict.fromkeys(user_ids))
        found: dict[str, Profile | None] = {u: p for u in wanted if (p := self._remembered(u)) is not None}
        missing = [u for u in wanted if u not in found]
        if len(missing) < 2:
            return {u: found[u] if u in found else self.profile(u) for u in wanted}
        with ThreadPoolExecutor(len(missing), thread_name_prefix="users-info") as pool:
            found.update(zip(missing, pool.map(self.profile, missing), strict=True))
        return {u: found[u] for u in wanted}

    def profile(self, user_id: str) -> Profile | None:
        """The user's profile, or None when Slack knows no such user."""
        if (remembered := self._remembered(user_id)) is not None:
            return remembered
        now = self._clock.now()
        with self._db.read() as session:
            row = session.get(SlackUser, user_id)
            if row is not None and now - row.fetched_at < FRESH_FOR:
                profile = _profile(row)
                self._remember(profile, row.fetched_at)
                return profile
        try:
            user = self._client.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as error:
            if error.response.get("error") in ("user_not_found", "user_not_visible"):
                return None
            log.warning("users.info failed for %s: %s", user_id, error.response.get("error"))
            return self._known(user_id, row, now)
        except OSError as error:
            log.warning("users.info unreachable for %s: %s", user_id, error)
            return self._known(user_id, row, now)
        profile = Profile(
            user_id=user_id,
            name=(user.get("profile") or {}).get("display_name") or user.get("real_name") or user.get("name")
            or user_id,
            tz=user.get("tz") or "UTC",
            locale=user.get("locale") or "en-US",
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
            deleted=bool(user.get("deleted")),
        )
        values = {"name": profile.name[:160], "tz": profile.tz[:64], "locale": profile.locale[:16],
                  "is_bot": profile.is_bot, "deleted": profile.deleted, "fetched_at": now}
        with self._db.transaction() as session:
            # An upsert: another thread or process may be caching the same user at the same moment.
            insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            session.execute(insert(SlackUser).values(user_id=user_id, **values)
                            .on_conflict_do_update(index_elements=[SlackUser.user_id], set_=values))
        self._remember(profile, now)
        return profile

    def locale(self, user_id: str) -> str:
        """The user's Slack locale, `en-US` when unknown."""
        profile = self.profile(user_id)
        return profile.locale if profile else "en-US"

    def _remembered(self, user_id: str) -> Profile | None:
        """The profile kept in memory, if still fresh."""
        with self._lock:
            cached = self._memory.get(user_id)
        return cached[0] if cached and self._clock.now() - cached[1] < FRESH_FOR else None

    def _known(self, user_id: str, row: SlackUser | None, now: datetime) -> Profile:
        """What is known of a user Slack did not describe now, kept until it is time to ask again."""
        profile = _profile(row) if row is not None else Profile(user_id=user_id, name=user_id)
        self._remember(profile, now - FRESH_FOR + RETRY_AFTER)
        return profile

    def _remember(self, profile: Profile, at: datetime) -> None:
        with self._lock:
            self._memory[profile.user_id] = (profile, at)


def _profile(row: SlackUser) -> Profile:
    return Profile(row.user_id, row.name, row.tz, row.locale, row.is_bot, row.deleted)
