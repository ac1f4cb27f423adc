"""Prometheus metrics for `GET /metrics`: requests and ack latency, the outbox, follow-ups and digests.

Each `Runtime` has its own registry (several can live in one test process). Outbox depth is read
from the database when scraped, so every process reports the shared queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from handoff_bot.db import Database
from handoff_bot.outbox.models import OutboxMessage

log = logging.getLogger(__name__)
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


def request_kind(body: dict[str, Any]) -> str:
    """What a Slack request is, for labels: `command`, `block_actions`, `view_submission`, `event`, …"""
    if body.get("command"):
        return "command"
    kind = body.get("type")
    if kind == "event_callback":
        return "event"
    return kind if isinstance(kind, str) and kind.isidentifier() and len(kind) < 40 else "other"


class _OutboxDepth(Collector):
    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("handoff_outbox_notices", "Notices in the outbox by state", labels=["state"])
        try:
            with self._db.read() as session:
                counts = session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
        except SQLAlchemyError as error:  # the rest of the scrape still counts, failures included
            log.warning("metrics: the database did not answer (%s)", type(error).__name__)
            counts = []
            up = 0
        else:
            up = 1
        for state, count in counts:
            gauge.add_metric([state.value], count)
        yield gauge
        yield GaugeMetricFamily("handoff_database_up", "Whether the database answered this scrape", value=up)


class Metrics:
    """The counters and histograms one app exports (the web process serves them; its worker's counts are added)."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("handoff_slack_requests", "Requests from Slack, by kind", ["kind"],
                                registry=self.registry)
        self.ack_seconds = Histogram("handoff_ack_seconds", "Time from a Slack request to its answer, by kind",
                                     ["kind"], buckets=ACK_BUCKETS, registry=self.registry)
        self.delivered = Counter("handoff_outbox_delivered", "Notices delivered to Slack", registry=self.registry)
        self.failures = Counter("handoff_outbox_failures", "Failed deliveries to Slack, by reason", ["reason"],
                                registry=self.registry)
        self.followups = Counter("handoff_followups_fired", "Follow-ups fired", registry=self.registry)
        self.digests = Counter("handoff_digests_sent", "Weekly digests queued", registry=self.registry)
        self.jobs = Gauge("handoff_jobs_unfinished", "Work requests started (forms, modals, clicks' changes) "
                          "not yet done: grows when the worker falls behind", registry=self.registry)
        self.registry.register(_OutboxDepth(db))
        # Set in the worker process: its counts go to the web process, which serves /metrics.
        self.forward: Callable[[str, float, tuple[str, ...]], None] | None = None

    def count(self, name: str, amount: float = 1, *labels: str) -> None:
        """Add `amount` to the counter `name` (`delivered`, `failures`, `followups`, `digests`)."""
        if self.forward is not None:
            self.forward(name, amount, labels)
            return
        counter = getattr(self, name)
        (counter.labels(*labels) if labels else counter).inc(amount)

    def bolt_middleware(self) -> Callable[..., Any]:
        """A Bolt middleware timing each request until its answer (listeners run before it)."""
        def middleware(body: dict[str, Any], next: Callable[[], Any]) -> Any:
            kind = request_kind(body)
            start = time.perf_counter()
            try:
                return next()
            finally:
                self.requests.labels(kind).inc()
                self.ack_seconds.labels(kind).observe(time.perf_counter() - start)
        return middleware

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
