"""The digest job: APScheduler asks every minute, the `digest_sent` table decides.

Each process adds one interval job (every `DIGEST_SECONDS`) to the scheduler that already runs
its follow-ups. A pass looks for managers whose digest moment of this local week has passed
and whose digest of the week that ended (a week they managed in) is not recorded, and sends
those (see `handoff_bot.digests.service.send_due`). The truth is in the database, not in
APScheduler's memory: a restart or a process that was down at 09:00 simply finds the digest
still due at its next pass (the first one runs at start-up), and two processes cannot both send it.

Why an interval job and not a `CronTrigger(day_of_week="mon", hour=9, timezone=...)` per manager:
every manager has their own zone and schedule, which change with the departments file and with
their Slack profile; a cron job per manager would have to be kept in step with both, would be
lost on restart (an in-memory job store) and would fire in every process. A pass costs one small
query when nothing is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.exc import OperationalError

from handoff_bot.clock import Clock
from handoff_bot.db import Database
from handoff_bot.digests.service import manager_ids, send_due
from handoff_bot.people import Directory

log = logging.getLogger(__name__)

DIGEST_SECONDS = 60.0  # a digest goes out at most this long after its moment


class DigestRunner:
    """Sends the digests that are due; `queued` is called when some were queued (wakes the outbox).

    Args:
        db: the database.
        clock: the time.
        queued: called after a pass that queued digests.
        sent: told how many digests a pass queued (metrics).
        directory: looks managers' profiles up first (outside any transaction), so their time zone
            is known; None to use only what is cached.
    """

    def __init__(self, db: Database, clock: Clock, queued: Callable[[], None],
                 directory: Directory | None = None, sent: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.queued = queued
        self.directory = directory
        self.sent = sent

    def run_once(self, *, on_schedule: bool = True) -> int:
        """One pass: returns how many digests were queued."""
        if self.directory is not None:
            with self.db.transaction() as session:
                managers = manager_ids(session)
            for manager in managers:
                self.directory.profile(manager)  # cached for hours: a Slack call only when stale
        with self.db.transaction() as session:
            sent = send_due(session, self.clock.now(), on_schedule=on_schedule)
        if sent:
            self.queued()
            if self.sent is not None:
                self.sent(sent)
        return sent


def tick(runner: DigestRunner) -> None:
    """The scheduled job. A pass that collides with other work is simply tried again next time."""
    try:
        runner.run_once()
    except OperationalError as error:
        log.info("digest pass deferred: %s", type(error).__name__)


def schedule(scheduler: BaseScheduler, runner: DigestRunner, every_seconds: float = DIGEST_SECONDS) -> None:
    """Add the digest job to a running scheduler, first run now.

    Args:
        scheduler: the process's scheduler (the follow-ups' one).
        runner: what each run does.
        every_seconds: the interval.
    """
    scheduler.add_job(tick, "interval", seconds=every_seconds, args=[runner], id="digests",
                      replace_existing=True, next_run_time=runner.clock.now(),
                      coalesce=True, max_instances=1, misfire_grace_time=3600)
