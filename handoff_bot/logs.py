"""Logging: one JSON object a line, with the handoff id when there is one; secrets never logged."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

SECRET = re.compile(r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        handoff_id = getattr(record, "handoff_id", None)
        if handoff_id is not None:
            entry["handoff_id"] = handoff_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return SECRET.sub("[redacted]", json.dumps(entry, ensure_ascii=False))


class OncePer(logging.Filter):
    """Lets a logger's records through at most once every `seconds`; the next one let through says
    how many were held back. For warnings that come with every request under load."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.seconds, self.clock = seconds, clock
        self._last: float | None = None
        self._held = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.seconds:
                self._held += 1
                return False
            held, self._held, self._last = self._held, 0, now
        if held:
            record.msg, record.args = f"{record.getMessage()} ({held} more held back)", ()
        return True


def setup_logging() -> None:
    """JSON lines on stderr at `LOG_LEVEL` (default INFO)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = os.environ.get("LOG_LEVEL", "").strip().upper() or "INFO"
    known = level in logging.getLevelNamesMapping()
    root.setLevel(level if known else logging.INFO)
    if not known:
        logging.getLogger(__name__).warning("LOG_LEVEL=%s is not a level (DEBUG, INFO, WARNING, ERROR); "
                                            "logging at INFO", level)
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The web server warns of every request that finds its threads busy: under load, a line each.
    logging.getLogger("waitress.queue").addFilter(OncePer(10.0))
    # The outbox's failed tries and passes: while Slack rate-limits or the database is down, one a second.
    logging.getLogger("handoff_bot.slack.delivery.retries").addFilter(OncePer(10.0))
    # Bolt warns that SLACK_BOT_TOKEN from the environment is unused: the app gives it a client instead.
    logging.getLogger("slack_bolt.App").addFilter(lambda record: "will be unused" not in record.getMessage())
