"""How long one follow-up pass takes on PostgreSQL with 100 and with 100,000 open handoffs.

    .venv/bin/python benchmarks/followups.py
    .venv/bin/python benchmarks/followups.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/followups.py --sizes 100,10000 --idle-runs 10 --due-runs 1   # a quick run

Every app process runs a follow-up tick each second (`FollowupRunner.run_once`): it asks for the
earliest pending follow-up (`next_due`) and, when something is due, runs
`handoff_bot.followups.service.fire_due(limit=500)` in `db.transaction()` until a batch comes
back short. For each size the script measures

    idle tick       run_once with nothing due (the next_due query only), median of --idle-runs
    idle fire_due   a fire_due pass with nothing due: the claim query (FOR UPDATE SKIP LOCKED) finds
                    no row; median of --idle-runs
    due tick        --due more handoffs (1,000) each have their first confirm reminder due now: the
                    tick claims them, updates the handoffs, plans their next reminders and writes the
                    outbox rows (one message per person and batch, at most 15 items each); median of
                    --due-runs ticks, the due handoffs removed again after each

and shows `EXPLAIN (ANALYZE, BUFFERS)` of both queries exactly as the app sends them (captured
from the engine): at the largest size (if its table holds 10,000 rows or more) both must read
`ix_followup_state_due`, else the script exits 1 (a table of a few hundred rows is read whole).
The claim query with index scans switched off is timed for contrast.

Data: a scratch database `handoff_bench_<random>` is created on the server of `--database-url`,
migrated with `Database.upgrade()`, and dropped at the end (the role needs CREATEDB; the URL's own
database is not touched). Finance (200 members, default standard Mon-Fri 09:00-18:00) receives
handoffs from Sales (50 people). One handoff is made with the real `handoffs.create()`; the N open
handoffs are SQL clones of it (INSERT … SELECT generate_series), each reminded once already, with
its next confirm reminder pending between one minute and 30 days ahead, plus the fired one, so
the `followup` table holds 2N rows. `ANALYZE` runs after the load, as autovacuum would. The clock
is fixed at a Monday 10:00 UTC (a working moment), so due reminders really fire.

Runtime is bounded: every statement times out after 60 s and the run stops after `--budget` s.
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, func, inspect, select, text  # noqa: E402

from benchmarks.ack_latency import scratch_database  # noqa: E402
from handoff_bot.clock import FakeClock  # noqa: E402
from handoff_bot.db import Database  # noqa: E402
from handoff_bot.departments.models import Department, DepartmentPerson, MemberRole  # noqa: E402
from handoff_bot.followups import jobs  # noqa: E402
from handoff_bot.followups.jobs import BATCH, FollowupRunner  # noqa: E402
from handoff_bot.followups.models import Followup, FollowupState  # noqa: E402
from handoff_bot.followups.service import fire_due  # noqa: E402
from handoff_bot.handoffs import service as handoffs  # noqa: E402
from handoff_bot.handoffs.models import OPEN_STATES, Handoff  # noqa: E402
from handoff_bot.outbox.models import OutboxMessage  # noqa: E402
from handoff_bot.people import Profile  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)  # a Monday, 10:00 UTC: inside the default working hours
MEMBERS, REQUESTERS = 200, 50
INDEX = "ix_followup_state_due"


def naive(moment: datetime) -> datetime:
    """As stored: UTC without a zone (handoff_bot.db.UTCDateTime)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


class People:
    """A `handoff_bot.people.Directory` that knows everyone (UTC, English)."""

    def profile(self, user_id: str) -> Profile | None:
        return Profile(user_id, user_id.lower())


# --------------------------------------------------------------------------- data


class Data:
    """The scratch database's departments, the template handoff, and bulk clones of it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction() as session:
            finance = Department(name="Finance", updated_at=NOW, people=[
                DepartmentPerson(user_id=f"UMGR{i}", role=MemberRole.MANAGER, added_at=NOW) for i in range(2)] + [
                DepartmentPerson(user_id=f"UR{i:03d}", role=MemberRole.MEMBER, added_at=NOW) for i in range(MEMBERS)])
            sales = Department(name="Sales", updated_at=NOW, people=[
                DepartmentPerson(user_id=f"UQ{i:02d}", role=MemberRole.MEMBER, added_at=NOW)
                for i in range(REQUESTERS)])
            session.add_all([finance, sales])
            session.flush()
            template = handoffs.create(session, handoffs.Draft(
                requester_id="UQ00", department_id=finance.id, recipient_id="UR000", title="Template",
                key_points="Totals per region\nAttach the receipts"), directory=People(), now=NOW - timedelta(days=1))
            self.template = template.id
        with db.engine.connect() as conn:
            self.columns = [c["name"] for c in inspect(conn).get_columns("handoff") if c["name"] != "id"]

    def _clone(self, conn: Any, count: int, *, reminded: bool) -> tuple[int, int]:
        """Insert `count` copies of the template (title, people and clock varied); returns their id range."""
        overrides = {
            "title": "'Handoff ' || g",
            "requester_id": f"'UQ' || lpad((g % {REQUESTERS})::text, 2, '0')",
            "recipient_id": f"'UR' || lpad((g % {MEMBERS})::text, 3, '0')",
            "state": "'sent'",
            "confirm_reminders": "1" if reminded else "0",
            "last_reminded_at": ":reminded_at" if reminded else "NULL",
        }
        columns = ", ".join(f'"{c}"' for c in self.columns)
        values = ", ".join(overrides.get(c, f't."{c}"') for c in self.columns)
        ids = conn.execute(text(f"INSERT INTO handoff ({columns}) SELECT {values} FROM handoff t, "
                                "generate_series(1, :count) g WHERE t.id = :template ORDER BY g RETURNING id"),
                           {"count": count, "template": self.template,
                            "reminded_at": naive(NOW - timedelta(hours=2))}).scalars().all()
        first, last = min(ids), max(ids)
        assert last - first + 1 == count, (first, last, count)  # one statement: consecutive ids
        conn.execute(text("INSERT INTO key_point (handoff_id, position, text) SELECT h.id, k.position, k.text "
                          "FROM handoff h CROSS JOIN key_point k WHERE k.handoff_id = :template "
                          "AND h.id BETWEEN :first AND :last"),
                     {"template": self.template, "first": first, "last": last})
        return first, last

    def load_open(self, count: int) -> float:
        """N open handoffs, reminded once, next reminder due 1 min to 30 days ahead; returns seconds taken."""
        began = time.perf_counter()
        with self.db.engine.begin() as conn:
            first, last = self._clone(conn, count, reminded=True)
            span = {"first": first, "last": last, "now": naive(NOW), "created": naive(NOW - timedelta(days=1)),
                    "fired": naive(NOW - timedelta(hours=2))}
            conn.execute(text(
                "INSERT INTO followup (handoff_id, kind, seq, due_at, state, created_at, fired_at) "
                "SELECT id, 'confirm_reminder', 1, :fired, 'fired', :created, :fired FROM handoff "
                "WHERE id BETWEEN :first AND :last"), span)
            conn.execute(text(
                "INSERT INTO followup (handoff_id, kind, seq, due_at, state, created_at, fired_at) "
                "SELECT id, 'confirm_reminder', 2, :now + (1 + id % 43200) * interval '1 minute', 'pending', "
                ":fired, NULL FROM handoff WHERE id BETWEEN :first AND :last"), span)
            # The template stays (later clones copy it) but is closed and has no follow-ups or notices.
            conn.execute(text("UPDATE handoff SET state = 'cancelled' WHERE id = :template"),
                         {"template": self.template})
            conn.execute(text("DELETE FROM followup WHERE handoff_id = :template"), {"template": self.template})
            conn.execute(text("DELETE FROM outbox"))
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        return time.perf_counter() - began

    def add_due(self, count: int) -> tuple[int, int]:
        """`count` more open handoffs whose first confirm reminder is due now."""
        with self.db.engine.begin() as conn:
            first, last = self._clone(conn, count, reminded=False)
            conn.execute(text(
                "INSERT INTO followup (handoff_id, kind, seq, due_at, state, created_at, fired_at) "
                "SELECT id, 'confirm_reminder', 1, :now - (1 + id % 600) * interval '1 second', 'pending', "
                ":created, NULL FROM handoff WHERE id BETWEEN :first AND :last"),
                {"first": first, "last": last, "now": naive(NOW), "created": naive(NOW - timedelta(days=1))})
        return first, last

    def remove(self, first: int, last: int, outbox_after: int) -> None:
        """Take the due handoffs of one run out again (their follow-ups and notices go with them)."""
        with self.db.engine.begin() as conn:
            conn.execute(text("DELETE FROM handoff WHERE id BETWEEN :first AND :last"), {"first": first, "last": last})
            conn.execute(text("DELETE FROM outbox WHERE id > :after"), {"after": outbox_after})

    def counts(self) -> tuple[int, int, int]:
        """Open handoffs, follow-up rows, pending follow-up rows."""
        with self.db.transaction() as session:
            return (int(session.scalar(select(func.count()).where(Handoff.state.in_(OPEN_STATES))) or 0),
                    int(session.scalar(select(func.count()).select_from(Followup)) or 0),
                    int(session.scalar(select(func.count()).where(Followup.state == FollowupState.PENDING)) or 0))

    def outbox_max(self) -> int:
        with self.db.transaction() as session:
            return int(session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))) or 0)

    def outbox_after(self, after: int) -> int:
        """Outbox rows written since `outbox_max()` answered `after`."""
        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).where(OutboxMessage.id > after)) or 0)


# --------------------------------------------------------------------------- timing


@dataclass
class PassResult:
    seconds: float
    transactions: int
    looked_at: int
    fired: int


def fire_due_pass(db: Database, now: datetime, batch: int) -> PassResult:
    """fire_due(limit=batch) in db.transaction(), again while a batch comes back full (as run_once does)."""
    began = time.perf_counter()
    transactions = looked = fired = 0
    while True:
        with db.transaction() as session:
            result = fire_due(session, now, limit=batch)
        transactions += 1
        looked += result.looked_at
        fired += result.fired
        if result.looked_at < batch:
            break
    return PassResult(time.perf_counter() - began, transactions, looked, fired)


def tick(runner: FollowupRunner) -> tuple[float, int]:
    """One scheduler tick as app.py runs it: seconds taken, follow-ups fired."""
    began = time.perf_counter()
    fired = runner.run_once()
    return time.perf_counter() - began, fired


class Queries:
    """Captures the follow-up queries the app sends (SQL and parameters, from the engine) to EXPLAIN them."""

    KINDS = {
        "next_due": lambda sql: "FROM followup" in sql and "min(followup.due_at)" in sql,
        "claim": lambda sql: "FROM followup" in sql and "SKIP LOCKED" in sql,
    }

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen: dict[str, tuple[str, Any]] = {}

    @contextmanager
    def capturing(self) -> Iterator[None]:
        def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            for kind, matches in self.KINDS.items():
                if kind not in self.seen and matches(statement):
                    self.seen[kind] = (statement, parameters)

        event.listen(self.db.engine, "before_cursor_execute", seen)
        try:
            yield
        finally:
            event.remove(self.db.engine, "before_cursor_execute", seen)

    def explain(self, kind: str, *, index_scans: bool = True) -> str:
        """EXPLAIN (ANALYZE, BUFFERS) of a captured query, in a transaction that is rolled back."""
        if kind not in self.seen:
            return f"({kind} query not sent)"
        statement, parameters = self.seen[kind]
        with self.db.engine.connect() as conn:
            if not index_scans:
                for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                    conn.exec_driver_sql(f"SET LOCAL {setting} = off")
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
            conn.rollback()
        return "\n".join(str(r[0]) for r in rows)


@contextmanager
def counting(db: Database, kind: str) -> Iterator[list[int]]:
    """How many queries of a kind (see Queries.KINDS) are sent meanwhile: `[n]`."""
    counted = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counted[0] += Queries.KINDS[kind](statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def execution_ms(plan: str) -> float:
    found = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return float(found.group(1)) if found else float("nan")


def buffers(plan: str) -> int:
    """The shared buffers the query's top node touched (hit + read)."""
    found = re.search(r"Buffers: shared ([^\n]+)", plan)
    numbers = dict(re.findall(r"(hit|read)=(\d+)", found.group(1))) if found else {}
    return int(numbers.get("hit", 0)) + int(numbers.get("read", 0))


def scan(plan: str) -> str:
    return "index" if INDEX in plan else "seq scan" if "Seq Scan" in plan else "other"


@dataclass
class Row:
    open_handoffs: int
    followup_rows: int
    load_s: float
    tick_ms: float          # idle tick (run_once: next_due, nothing due)
    fire_due_ms: float      # idle fire_due pass
    fire_due_p90_ms: float
    plans: dict[str, str]   # next_due, claim, claim with index scans off
    due_ms: float           # tick with `due` follow-ups due
    due_transactions: int
    outbox_rows: int


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000 if seconds else float("nan")


def measure(database_url: str, size: int, due: int, batch: int, idle_runs: int, due_runs: int,
            deadline: float) -> Row:
    db = Database(database_url, connect_args={"options": "-c statement_timeout=60000"})
    jobs.BATCH = batch  # run_once's limit per transaction
    try:
        db.upgrade()
        data = Data(db)
        load_s = data.load_open(size)
        open_handoffs, followup_rows, pending = data.counts()
        assert (open_handoffs, pending) == (size, size), (open_handoffs, pending)
        runner = FollowupRunner(db, FakeClock(NOW), queued=lambda: None)
        queries = Queries(db)

        with queries.capturing():
            for _ in range(3):  # warm the pool and the caches; capture the queries
                tick(runner)
                fire_due_pass(db, NOW, batch)
        ticks, passes = [], []
        for _ in range(idle_runs):
            seconds, fired = tick(runner)
            assert fired == 0
            ticks.append(seconds)
            result = fire_due_pass(db, NOW, batch)
            assert (result.looked_at, result.transactions) == (0, 1), result
            passes.append(result.seconds)
        plans = {"next_due": queries.explain("next_due"), "claim": queries.explain("claim"),
                 "claim, index scans off": queries.explain("claim", index_scans=False)}

        due_ticks: list[float] = []
        transactions = written = 0
        for _ in range(due_runs):
            if time.monotonic() > deadline:
                print(f"  (budget spent: {len(due_ticks)} due passes at {size:,})", file=sys.stderr)
                break
            first, last = data.add_due(due)
            before = data.outbox_max()
            with counting(db, "claim") as claims:
                seconds, fired = tick(runner)
            assert fired == due, (fired, due)
            due_ticks.append(seconds)
            transactions, written = claims[0], data.outbox_after(before)
            data.remove(first, last, before)
        passes.sort()
        return Row(
            open_handoffs=open_handoffs, followup_rows=followup_rows, load_s=load_s,
            tick_ms=median_ms(ticks), fire_due_ms=median_ms(passes),
            fire_due_p90_ms=passes[int(0.9 * (len(passes) - 1))] * 1000, plans=plans,
            due_ms=median_ms(due_ticks), due_transactions=transactions, outbox_rows=written,
        )
    finally:
        db.dispose()


def tables(rows: list[Row], due: int, idle_runs: int, due_runs: int) -> str:
    lines = [
        "| open handoffs | followup rows | idle tick (run_once), median | next_due query | idle fire_due pass, "
        "median (p90) | claim query | same, index scans off |",
        "|" + "---|" * 7,
    ]
    for r in rows:
        nd, claim, off = r.plans["next_due"], r.plans["claim"], r.plans["claim, index scans off"]
        lines.append(
            f"| {r.open_handoffs:,} | {r.followup_rows:,} | {r.tick_ms:.2f} ms "
            f"| {execution_ms(nd):.3f} ms, {scan(nd)}, {buffers(nd)} buffers "
            f"| {r.fire_due_ms:.2f} ms ({r.fire_due_p90_ms:.2f}) "
            f"| {execution_ms(claim):.3f} ms, {scan(claim)}, {buffers(claim)} buffers "
            f"| {execution_ms(off):.3f} ms, {scan(off)}, {buffers(off)} buffers |")
    lines += ["", f"| open handoffs | tick with {due:,} due, median | per follow-up | fire_due transactions "
                  "| outbox rows written |", "|" + "---|" * 5]
    for r in rows:
        lines.append(f"| {r.open_handoffs:,} | {r.due_ms:,.0f} ms | {r.due_ms / due:.1f} ms "
                     f"| {r.due_transactions} | {r.outbox_rows} |")
    lines.append(f"\nidle: medians of {idle_runs} ticks and {idle_runs} fire_due passes; due: median of {due_runs} "
                 f"ticks, each firing the first confirm reminder of {due:,} extra handoffs (added, fired, removed).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help=f"a PostgreSQL server URL; a scratch database is made there (default {DEFAULT_URL})")
    parser.add_argument("--sizes", default="100,100000", help="open handoffs, comma-separated (default 100,100000)")
    parser.add_argument("--due", type=int, default=1000, help="follow-ups due in the busy pass (default 1000)")
    parser.add_argument("--idle-runs", type=int, default=25, help="idle passes timed per size (default 25)")
    parser.add_argument("--due-runs", type=int, default=3, help="busy passes timed per size (default 3)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"fire_due's limit per transaction (default {BATCH}, "
                        "as in handoff_bot/followups/jobs.py)")
    parser.add_argument("--budget", type=float, default=170.0, help="stop starting new work after this many s")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    began = time.monotonic()
    deadline = began + args.budget

    rows: list[Row] = []
    with scratch_database(args.database_url) as database_url:
        engine = create_engine(database_url)
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
        print(f"PostgreSQL {version}, Python {platform.python_version()}, {platform.machine()}; "
              f"clock fixed at {NOW:%a %Y-%m-%d %H:%M} UTC; fire_due limit {args.batch}")
        for size in sizes:
            if time.monotonic() > deadline:
                print(f"budget of {args.budget:.0f}s spent; skipping {size:,}", file=sys.stderr)
                break
            # Each size in a database of its own: the schema is dropped and made again.
            with create_engine(database_url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            row = measure(database_url, size, args.due, args.batch, args.idle_runs, args.due_runs, deadline)
            rows.append(row)
            print(f"  {size:>7,} open handoffs: loaded in {row.load_s:.1f}s; idle tick {row.tick_ms:.2f} ms, "
                  f"idle fire_due {row.fire_due_ms:.2f} ms, {args.due:,} due {row.due_ms:,.0f} ms", flush=True)
    if not rows:
        return 1
    largest, smallest = rows[-1], rows[0]
    for name, plan in largest.plans.items():
        print(f"\nEXPLAIN (ANALYZE, BUFFERS), {name}, at {largest.open_handoffs:,} open handoffs:")
        print("\n".join("    " + line for line in plan.splitlines()))
    print()
    print(tables(rows, args.due, args.idle_runs, args.due_runs))
    print(f"\ntotal {time.monotonic() - began:.0f}s")
    # A table of a few hundred rows is read faster whole: only a large one must be read through the index.
    unindexed = [name for name in ("next_due", "claim") if scan(largest.plans[name]) != "index"]
    if largest.followup_rows >= 10_000 and unindexed:
        print(f"FAIL: at {largest.open_handoffs:,} open handoffs {unindexed} do not use {INDEX}", file=sys.stderr)
        return 1
    print(f"idle at {largest.open_handoffs:,} vs {smallest.open_handoffs:,} open handoffs: tick "
          f"x{largest.tick_ms / smallest.tick_ms:.2f}, fire_due x{largest.fire_due_ms / smallest.fire_due_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
