"""APScheduler drives the timing; the follow-up table holds the truth.

Every process runs the same short interval job. Each pass claims due rows atomically, so
several processes on one PostgreSQL fire every follow-up exactly once, and a restart loses
nothing (the job store is in memory: there is nothing to pickle and nothing to share).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timezone

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from handoff_bot.clock import Clock
from handoff_bot.db import Database
from handoff_bot.followups.service import fire_due, next_due

log = logging.getLogger(__name__)

BATCH = 50  # short transactions: a click on a handoff in the batch waits at most this long
MAX_BATCHES = 200


class FollowupRunner:
    """Fires due follow-ups; `queued` is called when messages were queued (wakes the outbox)."""

    def __init__(self, db: Database, clock: Clock, queued: Callable[[], None],
                 fired: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.queued = queued
        self.fired = fired

    def run_once(self) -> int:
        """One pass over everything due now; returns how many follow-ups fired."""
        with self.db.read() as session:  # the usual case, nothing due, takes no write lock
            upcoming = next_due(session)
        if upcoming is None or upcoming > self.clock.now():
            return 0
        fired = 0
        for _ in range(MAX_BATCHES):
            with self.db.transaction() as session:
                result = fire_due(session, self.clock.now(), limit=BATCH)
            fired += result.fired
            if result.fired:
                self.queued()
            if result.looked_at < BATCH:
                break
        if fired:
            log.info("%d follow-ups fired", fired)
            if self.fired is not None:
                self.fired(fired)
        return fired


def tick(runner: FollowupRunner) -> None:
    """The scheduled job. A pass that collides with a request is simply tried again next tick."""
    try:
        runner.run_once()
    except (StaleDataError, OperationalError) as error:
        log.info("follow-up pass deferred: %s", type(error).__name__)


def start(runner: FollowupRunner, every_seconds: float) -> BackgroundScheduler:
    """Run `tick` every `every_seconds` in a background thread, starting now.

    Args:
        runner: what each tick runs.
        every_seconds: the interval; a follow-up fires at most this late.
    """
    scheduler = BackgroundScheduler(
        timezone=timezone.utc,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    scheduler.add_job(tick, "interval", seconds=every_seconds, args=[runner], id="followups",
                      replace_existing=True, next_run_time=runner.clock.now())
    scheduler.start()
    return scheduler
