"""How long the weekly digests take on PostgreSQL: 1,000,000 handoffs across 200 departments.

    .venv/bin/python benchmarks/digests.py                                      # the full size
    .venv/bin/python benchmarks/digests.py --handoffs 100000 --departments 50   # a quick run
    .venv/bin/python benchmarks/digests.py --database-url postgresql+psycopg://user@host:5432/postgres

Creates a scratch database `handoff_bench_digests_<random>` on the server of `--database-url`
(default: the local PostgreSQL; the role needs CREATEDB), migrates it, and fills it with
`INSERT … SELECT … FROM generate_series(…)` (seconds, not hours):

- `--departments` departments, each with one manager; the managers' Slack time zones cycle
  through eight zones east and west of UTC, so their weeks start at different moments;
- `--handoffs` handoffs spread evenly over the `--weeks` weeks before the digest moment, between
  random pairs of departments (5% from people in no department), in every state: about 55% rated,
  10% done, 15% confirmed, 15% still waiting (sent, restated, clarifying), 5% cancelled; with the
  figures the lifecycle fixes (working seconds to confirm and to complete, within the standard,
  rounds), deadlines, escalations and ratings with some comments;
- a question on a fifth of the handoffs, and the audit trail: creation, restatement,
  confirmation, done and rating events as the states imply, and an escalation event on every
  escalated handoff (and on 3% of the others).

Then, in one run, on a digest moment (a Tuesday, 12:00 UTC: every manager's digest is due):

- `bare aggregate query`: `digests.queries.received` alone, for all departments over the last
  week and the week before (UTC weeks): one GROUP BY over the handoffs, the core of the digest;
- `build all digests (together)`: `digests.service.build_many` for every manager, as the job
  builds them: one set of queries per time zone for all the departments of the managers in it
  (eight weekly spans, medians, partner pairs, lists); `(one manager at a time)`:
  `digests.service.build` per manager, as `/handoff digest` and `digest preview` do;
- `render all digests`: the Block Kit messages of every digest (`slack.blocks.digest.messages`);
- `send_due, first pass`: what the scheduled job does: for every manager, record `digest_sent`,
  build and queue the digest, in one transaction; `send_due, second pass`: nothing left to send.

For each: wall time, the time spent inside the database driver (SQL) and the number of
statements. Peak memory: the peak of Python allocations while building all digests (tracemalloc,
measured in a second pass so it does not slow the timed one) and the process's peak RSS. The
scratch database is dropped at the end, also after an error or Ctrl-C. Every statement has a
`statement_timeout` (`--statement-timeout`, default 300 s), so a run is bounded.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, func, make_url, select, text  # noqa: E402

from benchmarks.ack_latency import scratch_database  # noqa: E402
from handoff_bot.db import Database  # noqa: E402
from handoff_bot.digests import queries, service  # noqa: E402
from handoff_bot.digests.models import DigestSent  # noqa: E402
from handoff_bot.i18n import translator  # noqa: E402
from handoff_bot.outbox.models import NoticeKind, OutboxMessage  # noqa: E402
from handoff_bot.slack.blocks import digest as digest_blocks  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ZONES = ("UTC", "Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo", "America/New_York",
         "Asia/Kolkata", "Australia/Sydney")
T = TypeVar("T")


# --------------------------------------------------------------------------- the data

DEPARTMENTS = """
INSERT INTO department (id, name, confirm_within_s, remind_every_s, escalate_after, complete_within_s,
                        working_hours, updated_at, digest_day, digest_time)
SELECT g, 'Department ' || lpad(g::text, 4, '0'), 14400, 14400, 2, 259200, 'Mon-Fri 09:00-18:00', :now,
       'mon', '09:00'
FROM generate_series(1, :departments) AS g;
SELECT setval(pg_get_serial_sequence('department', 'id'), :departments);
INSERT INTO department_person (department_id, user_id, role, added_at)
SELECT g, 'UMGR' || lpad(g::text, 5, '0'), 'manager', :now - :span * interval '1 second'
FROM generate_series(1, :departments) AS g;
INSERT INTO slack_user (user_id, name, tz, locale, is_bot, deleted, fetched_at)
SELECT 'UMGR' || lpad(g::text, 5, '0'), 'Manager ' || g,
       (CAST(:zones AS text[]))[1 + g % cardinality(CAST(:zones AS text[]))], 'en-US', false, false, :now
FROM generate_series(1, :departments) AS g;
"""

# Random draws per handoff (r1…r8), then the state and the figures that follow from it.
HANDOFFS = """
INSERT INTO handoff (created_at, updated_at, requester_id, from_department_id, to_department_id, recipient_id,
                     title, relation, priority, state, rounds, escalated, confirm_clock_used_s, confirm_reminders,
                     confirm_working_s, confirmed_in_standard, complete_working_s, deadline_at, standard,
                     confirmed_at, done_at, rated_at, rating, rating_comment, version)
SELECT created_at,
       -- the latest event (a question or an escalation comes within 9 hours of the creation)
       greatest(coalesce(rated_at, done_at, confirmed_at, created_at), created_at + interval '9 hours'),
       'UREQ' || (g % 5000), from_department_id, to_department_id, 'UREC' || (g % 7000),
       'Handoff ' || g, 'functional', 'normal', state, rounds, escalated, 0, 0,
       confirm_s, CASE WHEN confirm_s IS NOT NULL THEN confirm_s <= 14400 END,
       complete_s,
       CASE WHEN state IN ('sent', 'restated', 'clarifying', 'confirmed')
            THEN created_at + interval '3 days' END,
       '{}'::json, confirmed_at, done_at, rated_at,
       CASE WHEN rated_at IS NOT NULL THEN 1 + floor(r6 * 5)::int END,
       CASE WHEN rated_at IS NOT NULL AND g % 4 = 0 THEN 'Comment on handoff ' || g END,
       1
FROM (
    SELECT *,
           CASE WHEN confirm_s IS NOT NULL THEN created_at + confirm_s * interval '3 seconds' END AS confirmed_at,
           CASE WHEN complete_s IS NOT NULL
                THEN created_at + (confirm_s + complete_s) * interval '3 seconds' END AS done_at,
           CASE WHEN state = 'rated'
                THEN created_at + (confirm_s + complete_s) * interval '3 seconds' + r7 * interval '2 days'
           END AS rated_at
    FROM (
        SELECT *,
               CASE WHEN state IN ('rated', 'done', 'confirmed') THEN floor(-ln(1 - r3) * 10000)::int END
                   AS confirm_s,
               CASE WHEN state IN ('rated', 'done') THEN floor(-ln(1 - r4) * 60000)::int END AS complete_s,
               CASE WHEN state IN ('rated', 'done', 'confirmed')
                    THEN 1 + (r5 < 0.25)::int + (r5 < 0.08)::int ELSE (r5 < 0.3)::int END AS rounds,
               state IN ('sent', 'clarifying') AND r7 < 0.3 AS escalated
        FROM (
            SELECT g, r1, r3, r4, r5, r6, r7, r8,
                   :end - r1 * :span * interval '1 second' AS created_at,
                   to_department_id,
                   CASE WHEN r2 < 0.05 THEN NULL
                        ELSE 1 + (to_department_id + floor(r2 * (:departments - 1))::int) % :departments
                   END AS from_department_id,
                   CASE WHEN r8 < 0.55 THEN 'rated' WHEN r8 < 0.65 THEN 'done' WHEN r8 < 0.80 THEN 'confirmed'
                        WHEN r8 < 0.88 THEN 'sent' WHEN r8 < 0.92 THEN 'restated' WHEN r8 < 0.95 THEN 'clarifying'
                        ELSE 'cancelled' END AS state
            FROM (
                SELECT g, 1 + g % :departments AS to_department_id,
                       random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
                       random() AS r6, random() AS r7, random() AS r8
                FROM generate_series(1, :handoffs) AS g
            ) AS draws
        ) AS placed
    ) AS stated
) AS timed
"""

EXTRAS = """
INSERT INTO question (handoff_id, asked_by, asked_at, kind, text)
SELECT id, coalesce(recipient_id, 'UREC'), created_at + interval '2 hours', 'open', 'Which region?'
FROM handoff WHERE random() < 0.2;
INSERT INTO handoff_event (handoff_id, at, actor_id, action, from_state, to_state, payload)
SELECT id, created_at + interval '9 hours', 'handoff', 'escalate', 'sent', 'sent', '{}'::json
FROM handoff WHERE escalated OR random() < 0.03;
INSERT INTO handoff_event (handoff_id, at, actor_id, action, from_state, to_state, payload)
SELECT id, created_at, requester_id, 'create', NULL, 'sent', '{}'::json FROM handoff
UNION ALL
SELECT id, created_at + interval '1 hour', recipient_id, 'restate', 'sent', 'restated', '{}'::json FROM handoff
WHERE rounds > 0
UNION ALL
SELECT id, confirmed_at, requester_id, 'accept', 'restated', 'confirmed', '{}'::json FROM handoff
WHERE confirmed_at IS NOT NULL
UNION ALL
SELECT id, done_at, recipient_id, 'mark_done', 'confirmed', 'done', '{}'::json FROM handoff WHERE done_at IS NOT NULL
UNION ALL
SELECT id, rated_at, requester_id, 'rate', 'done', 'rated', '{}'::json FROM handoff WHERE rated_at IS NOT NULL;
"""


def fill(database: Database, handoffs: int, departments: int, weeks: int, now: datetime) -> dict[str, float]:
    """Generate the data; returns seconds per step."""
    naive_now = now.astimezone(timezone.utc).replace(tzinfo=None)
    values = {"now": naive_now, "end": naive_now, "span": weeks * 7 * 86400, "departments": departments,
              "handoffs": handoffs, "zones": list(ZONES)}
    took: dict[str, float] = {}
    with database.engine.begin() as conn:
        began = time.perf_counter()
        for statement in filter(str.strip, DEPARTMENTS.split(";")):
            conn.execute(text(statement), {k: v for k, v in values.items() if f":{k}" in statement})
        conn.execute(text(HANDOFFS), {k: v for k, v in values.items() if f":{k}" in HANDOFFS})
        took["handoffs"] = time.perf_counter() - began
        began = time.perf_counter()
        for statement in filter(str.strip, EXTRAS.split(";")):
            conn.execute(text(statement))
        took["questions and audit trail"] = time.perf_counter() - began
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        began = time.perf_counter()
        conn.execute(text("VACUUM ANALYZE"))
        took["vacuum analyze"] = time.perf_counter() - began
    return took


# --------------------------------------------------------------------------- measuring


@dataclass
class SqlMeter:
    """Time spent inside the driver's execute, and how many statements, on one engine."""

    seconds: float = 0.0
    statements: int = 0

    def attach(self, engine: Engine) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, *_args: Any) -> None:
            conn.info.setdefault("bench_started", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, *_args: Any) -> None:
            self.seconds += time.perf_counter() - conn.info["bench_started"].pop()
            self.statements += 1

    def reset(self) -> tuple[float, int]:
        taken = (self.seconds, self.statements)
        self.seconds, self.statements = 0.0, 0
        return taken


@dataclass
class Row:
    what: str
    runs: int
    wall: float          # seconds, per run (median when several)
    sql: float           # seconds inside the driver, per run
    statements: int      # per run
    per_manager_ms: float | None = None
    note: str = ""


def timed(meter: SqlMeter, work: Callable[[], T]) -> tuple[T, float, float, int]:
    meter.reset()
    began = time.perf_counter()
    result = work()
    wall = time.perf_counter() - began
    sql, statements = meter.reset()
    return result, wall, sql, statements


def repeated(meter: SqlMeter, work: Callable[[], T], times: int) -> tuple[T, float, float, int]:
    """`timed` `times` times: the last result, the median wall and SQL seconds, the statements of one run."""
    walls, sqls = [], []
    for _ in range(times):
        result, wall, sql, statements = timed(meter, work)
        walls.append(wall)
        sqls.append(sql)
    return result, statistics.median(walls), statistics.median(sqls), statements


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 1024 / 1024:.1f}"


def table(rows: list[Row]) -> str:
    head = ["what", "runs", "wall s", "SQL s", "statements", "per manager ms", "note"]
    body = [[r.what, str(r.runs), f"{r.wall:.3f}", f"{r.sql:.3f}", str(r.statements),
             "" if r.per_manager_ms is None else f"{r.per_manager_ms:.1f}", r.note] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    right = {1, 2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), rule, *(line(b) for b in body)])


# --------------------------------------------------------------------------- the run


def run(url: str, handoffs: int, departments: int, weeks: int, repeat: int) -> int:
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday())
    now = datetime.combine(monday + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=12)
    database = Database(url)
    meter = SqlMeter()
    meter.attach(database.engine)
    try:
        began = time.perf_counter()
        database.upgrade()
        migrate = time.perf_counter() - began
        print(f"migrated in {migrate:.1f}s; generating {handoffs:,} handoffs across {departments} departments "
              f"over {weeks} weeks…", flush=True)
        took = fill(database, handoffs, departments, weeks, now)
        with database.transaction() as session:
            counts = {name: session.scalar(text(f"SELECT count(*) FROM {name}"))
                      for name in ("handoff", "question", "handoff_event")}
            size = session.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
            version = session.scalar(text("SHOW server_version"))
            managers = list(session.scalars(text(
                "SELECT DISTINCT user_id FROM department_person WHERE role = 'manager' ORDER BY user_id")))
        print("generated: " + ", ".join(f"{counts[k]:,} {k} rows" for k in counts)
              + f" ({size}) in " + ", ".join(f"{k} {v:.1f}s" for k, v in took.items()), flush=True)
        meter.reset()

        rows: list[Row] = []
        ids = list(range(1, departments + 1))
        this_week = (datetime.combine(monday - timedelta(days=7), datetime.min.time(), tzinfo=timezone.utc),
                     datetime.combine(monday, datetime.min.time(), tzinfo=timezone.utc))
        before = (this_week[0] - timedelta(days=7), this_week[0])

        # 1. The bare aggregate query, alone.
        def aggregate() -> dict[queries.Key, queries.Received]:
            with database.transaction() as session:
                return queries.received(session, ids, [before, this_week])

        found, wall, sql, statements = repeated(meter, aggregate, repeat)
        received = sum(r.received for (_, b), r in found.items() if b == 1)
        rows.append(Row("bare aggregate query (all departments, 2 weeks)", repeat, wall, sql, statements,
                        note=f"{received:,} received last week"))

        # 2. Every digest: together, as the job builds them (one set of queries per time zone), and one
        #    manager at a time, as `/handoff digest` and `digest preview` build them.
        def build_all() -> list[service.Digest]:
            with database.transaction() as session:
                built = service.build_many(session, managers, now)
            return [built[m] for m in managers]

        def build_each() -> list[service.Digest]:
            with database.transaction() as session:
                return [service.build(session, manager, now) for manager in managers]

        digests, wall, sql, statements = repeated(meter, build_all, repeat)
        rows.append(Row("build all digests (together, as the job does)", repeat, wall, sql, statements,
                        wall / len(managers) * 1000,
                        note=f"{len(digests)} managers, {sum(len(d.departments) for d in digests)} departments"))
        each, wall, sql, statements = repeated(meter, build_each, repeat)
        assert each == digests, "building one by one must give the same digests"
        rows.append(Row("build all digests (one manager at a time)", repeat, wall, sql, statements,
                        wall / len(managers) * 1000, note="as /handoff digest builds one"))
        each.clear()

        # 3. Rendering them (what the outbox worker does before posting).
        tr = translator("en-US")
        parts, wall, sql, statements = timed(meter, lambda: [digest_blocks.messages(tr, d) for d in digests])
        blocks = sum(len(m.blocks) for p in parts for m in p)
        rows.append(Row("render all digests (Block Kit)", 1, wall, sql, statements, wall / len(managers) * 1000,
                        note=f"{sum(len(p) for p in parts)} messages, {blocks:,} blocks"))

        # 4. The job: claim, build and queue every digest in one transaction; then again (nothing due).
        def send() -> int:
            with database.transaction() as session:
                return service.send_due(session, now)

        sent, wall, sql, statements = timed(meter, send)
        rows.append(Row("send_due, first pass (claim + build + queue)", 1, wall, sql, statements,
                        wall / max(sent, 1) * 1000, note=f"{sent} digests queued"))
        again, wall, sql, statements = timed(meter, send)
        rows.append(Row("send_due, second pass (nothing due)", 1, wall, sql, statements, note=f"{again} queued"))
        with database.transaction() as session:
            recorded = session.scalar(select(func.count()).select_from(DigestSent))
            queued = session.scalar(select(func.count()).where(OutboxMessage.kind == NoticeKind.DIGEST))
            largest = session.scalar(text("SELECT max(length(params::text)) FROM outbox WHERE kind = 'digest'"))
        assert recorded == queued == sent == len(managers) and again == 0, (recorded, queued, sent, again)

        # Peak memory of building every digest (a separate pass: tracemalloc slows Python down).
        digests.clear()
        parts.clear()
        tracemalloc.start()
        build_all()
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB

        print()
        print(f"Digest benchmark: PostgreSQL {version}, {counts['handoff']:,} handoffs, {departments} departments, "
              f"{len(managers)} managers in {len(ZONES)} time zones; Python {platform.python_version()}, "
              f"{platform.system()} {platform.machine()}")
        print()
        print(table(rows))
        print()
        print(f"peak Python allocations while building all digests: {mib(peak)} MiB (tracemalloc); "
              f"process peak RSS: {mib(rss)} MiB; largest digest notice: {largest:,} bytes of JSON")
        bare, build, one_by_one = rows[0].wall, rows[1].wall, rows[2].wall
        print(f"building all {len(managers)} digests took {build / bare:.1f}× the bare aggregate query "
              f"({build:.2f}s vs {bare:.2f}s; SQL {rows[1].sql / build:.0%} of it); one manager at a time "
              f"{one_by_one / bare:.1f}× ({one_by_one:.2f}s)")
        return 0
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"a PostgreSQL server (default {DEFAULT_URL})")
    parser.add_argument("--handoffs", type=int, default=1_000_000)
    parser.add_argument("--departments", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=26, help="the handoffs are spread over this many weeks")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the timed queries (the median is shown)")
    parser.add_argument("--statement-timeout", type=int, default=300, help="seconds any one statement may take")
    args = parser.parse_args(argv)
    if args.departments < 2 or args.handoffs < 1:
        parser.error("need at least 2 departments and 1 handoff")
    url = make_url(args.database_url).update_query_dict(
        {"options": f"-c statement_timeout={args.statement_timeout * 1000}"})
    with scratch_database(url.render_as_string(hide_password=False)) as scratch:
        return run(scratch, args.handoffs, args.departments, args.weeks, args.repeat)


if __name__ == "__main__":
    raise SystemExit(main())
