"""How fast `python app.py` acks Slack's requests, at 1, 10 and 50 concurrent requests.

    .venv/bin/python benchmarks/ack_latency.py                       # SQLite in a temp dir
    .venv/bin/python benchmarks/ack_latency.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/ack_latency.py --requests 50 --concurrency 1,10   # a quick run

Starts the Slack stand-in (tests/slack_standin.py) in a process of its own and `python app.py` in HTTP
mode as a subprocess, then sends signed requests over loopback from a pool of threads:

    /handoff help       pure ack (the help text is the response body)
    /handoff            ack, then views.open once the ack is out (the form)
    refused click       an outsider clicks "Confirm my understanding": ack, then an ephemeral answer via the outbox
    view_submission     the new-handoff form submitted: a handoff, a card and a receipt via the outbox

The ack time is the client's wall time of one HTTP request (connect, send, answer). Between
levels the script waits until the outbox is empty, so one level's follow-up work does not slow
the next; the "follow-up" column says how much of it was done and how long it took (views.open
within the trigger's 3 s, ephemerals and cards delivered). Everything is bounded: at most
`--requests` per level and `--level-timeout` seconds per level.

With a PostgreSQL URL a scratch database `handoff_bench_<random>` is created on that server and
dropped at the end (the role needs CREATEDB); the URL's own database is not touched.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, make_url, select, text  # noqa: E402

from benchmarks.standin_process import StandInProcess  # noqa: E402
from handoff_bot.db import Database  # noqa: E402
from handoff_bot.outbox.models import OutboxMessage, OutboxState  # noqa: E402
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId  # noqa: E402
from tests.slack_requests import (  # noqa: E402
    Reply,
    SlackSender,
    Transport,
    http_transport,
    select_value,
    text_value,
    user_value,
)

SECRET = "bench-signing-secret"
REQUESTER, RECIPIENT, MEMBER, MANAGER, OUTSIDER = "UREQ", "UREC", "UMEM", "UMGR", "UOUT"
DEPARTMENTS = f"""\
departments:
  - name: Finance
    managers: [{MANAGER}]
    members: [{RECIPIENT}, {MEMBER}]
    intake_channel: C0FININTAKE
  - name: Sales
    members: [{REQUESTER}]
"""
KINDS = ("help", "open", "refused", "submit")
LABELS = {"help": "/handoff help", "open": "/handoff (form)", "refused": "refused click", "submit": "view_submission"}
REQUEST_TIMEOUT = 10.0
DRAIN_TIMEOUT = 120.0


# --------------------------------------------------------------------------- set-up


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` until true; returns the seconds it took (RuntimeError after `timeout`)."""
    began = time.monotonic()
    pause = threading.Event()
    while not condition():
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f}s")
        pause.wait(0.02)
    return time.monotonic() - began


def timed_transport(url: str, level: Any, lock: threading.Lock) -> Transport:
    """POST to `url`, adding each request's time to `level.latencies` (only the HTTP exchange, not
    building and signing the request)."""
    send = http_transport(url, timeout=REQUEST_TIMEOUT)

    def timed(body: bytes, headers: dict[str, str]) -> Reply:
        began = time.perf_counter()
        reply = send(body, headers)
        elapsed = time.perf_counter() - began
        with lock:
            level.latencies.append(elapsed)
        return reply

    return timed


class Payloads:
    """The new-handoff form the app opened and the card it posted: what every submission and click
    of a benchmark is made from."""

    def __init__(self) -> None:
        self.form: dict[str, Any] = {}
        self.finance = ""
        self.card: dict[str, Any] = {}
        self._form_ids = itertools.count(1)  # every submission another form, as each opened form is

    def prepare(self, sender: SlackSender, standin: StandInProcess) -> None:
        """`/handoff`, and the form it opened submitted once: the form, and the card that brought."""
        before = len(standin.calls_to("views.open"))
        reply = sender.command(REQUESTER)
        assert reply.status == 200 and not reply.text, reply
        standin.wait_for_calls("views.open", before + 1, timeout=10)
        self.form = standin.last_view(CallbackId.NEW)
        block = next(b for b in self.form["blocks"] if b.get("block_id") == BlockId.DEPARTMENT)
        self.finance = next(o["value"] for o in block["element"]["options"] if o["text"]["text"] == "Finance")
        reply = self.submit(sender)
        assert reply.status == 200 and not reply.text, reply
        standin.wait_for(lambda _: bool(standin.messages(RECIPIENT)), timeout=10)
        self.card = standin.messages(RECIPIENT)[0]

    def submit(self, sender: SlackSender) -> Reply:
        """Submit the new-handoff form to the recipient in Finance, each time as another form (a new view
        id, as from another views.open: a view submitted again would be a replay)."""
        return sender.view_submission(REQUESTER, {**self.form, "id": f"VBENCH{next(self._form_ids):010d}"}, {
            BlockId.DEPARTMENT: {ActionId.INPUT: select_value(str(self.finance), "Finance")},
            BlockId.RECIPIENT: {ActionId.INPUT: user_value(RECIPIENT)},
            BlockId.TITLE: {ActionId.INPUT: text_value("Prepare the Q3 invoice")},
            BlockId.KEY_POINTS: {ActionId.INPUT: text_value("Totals per region\nAttach receipts")},
        })


def drive(level: Any, concurrency: int, requests: int, deadline: float, make_sender: Callable[[], SlackSender],
          one: Callable[[SlackSender], str | None], lock: threading.Lock, interval: float = 0.0) -> None:
    """Send `requests` requests from `concurrency` threads, each with its own sender, until all are sent or
    `deadline` (monotonic) passes; counts `level.sent`, `level.errors` (with samples) and `level.wall`.

    With `interval`, request n is not sent before `n * interval` seconds after the start (a steady
    arrival rate, as from many users, rather than each answer triggering the next request)."""
    remaining = iter(range(requests))
    began = time.perf_counter()

    def worker() -> None:
        sender = make_sender()
        while time.monotonic() < deadline:
            with lock:
                number = next(remaining, None)
                if number is None:
                    return
                level.sent += 1
            if interval and (wait := began + number * interval - time.perf_counter()) > 0:
                time.sleep(wait)
            problem = one(sender)
            if problem:
                with lock:
                    level.errors += 1
                    if len(level.error_samples) < 3:
                        level.error_samples.append(problem)

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    level.wall = time.perf_counter() - began


@contextmanager
def scratch_database(url: str | None, workdir: Path | None = None) -> Iterator[str]:
    """A new database on the PostgreSQL server of `url` (dropped afterwards), or without `url` SQLite
    in `workdir`."""
    if not url:
        if workdir is None:
            raise SystemExit("--database-url is required: this benchmark is for PostgreSQL")
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    server = make_url(url)
    if server.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a postgresql+psycopg:// URL")
    name = f"handoff_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def running_app(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python app.py` until the block ends (SIGTERM, then SIGKILL)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{env['PORT']}/healthz"

        def healthy() -> bool:
            if proc.poll() is not None:
                tail = "\n".join(log_path.read_text("utf-8", errors="replace").splitlines()[-30:])
                raise RuntimeError(f"app.py exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(healthy, 30, "app.py answering /healthz")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------- measuring


@dataclass
class Level:
    kind: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    sent: int = 0
    wall: float = 0.0
    follow_up: str = ""

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    def row(self) -> str:
        rate = self.sent / self.wall if self.wall else 0.0
        return (f"| {LABELS[self.kind]:<16} | {self.concurrency:>4} | {self.sent:>4} | {rate:>7.0f} | "
                f"{self.percentile(50):>6.1f} | {self.percentile(95):>6.1f} | {self.percentile(99):>6.1f} | "
                f"{max(self.latencies, default=0) * 1000:>7.1f} | {self.errors:>4} | {self.follow_up} |")


HEADER = ("| request          | conc | sent |   req/s | p50 ms | p95 ms | p99 ms |  max ms | errs | follow-up |\n"
          "|------------------|-----:|-----:|--------:|-------:|-------:|-------:|--------:|-----:|-----------|")


class Bench:
    def __init__(self, standin: StandInProcess, app_url: str, db: Database) -> None:
        self.standin = standin
        self.db = db
        self.url = app_url + "/slack/events"
        self._local = threading.local()
        self.payloads = Payloads()

    def sender(self, level: Level, lock: threading.Lock) -> SlackSender:
        return SlackSender(None, SECRET, self.standin, transport=timed_transport(self.url, level, lock))

    def prepare(self) -> None:
        """One form and one handoff (with its card) to click and submit."""
        self.payloads.prepare(SlackSender(None, SECRET, self.standin, transport=http_transport(self.url)),
                              self.standin)
        self.drain()

    def one(self, kind: str, sender: SlackSender) -> str | None:
        """Send one request of `kind`; None when the ack was right, else what was wrong."""
        try:
            if kind == "help":
                reply = sender.command(REQUESTER, "help")
                good = reply.status == 200 and bool(reply.json and reply.json.get("blocks"))
            elif kind == "open":
                reply = sender.command(REQUESTER, "")
                good = reply.status == 200 and reply.text == ""
            elif kind == "refused":
                reply = sender.click(OUTSIDER, ActionId.CONFIRM_UNDERSTANDING, channel=RECIPIENT,
                                     ts=self.payloads.card["ts"])
                good = reply.status == 200 and reply.text == ""
            else:
                reply = self.payloads.submit(sender)
                good = reply.status == 200 and reply.text == ""
        except OSError as error:  # a timeout or a refused connection
            return f"{type(error).__name__}: {error}"
        return None if good else f"HTTP {reply.status}: {reply.text[:200]}"

    def run(self, kind: str, concurrency: int, requests: int, level_timeout: float) -> Level:
        level = Level(kind, concurrency)
        lock = threading.Lock()
        deadline = time.monotonic() + level_timeout
        calls_before = len(self.standin.calls)
        handoffs_before = self.count_handoffs()
        drive(level, concurrency, requests, deadline, lambda: self.sender(level, lock),
              lambda sender: self.one(kind, sender), lock)
        level.follow_up = self.follow_up(kind, level, calls_before, handoffs_before)
        return level

    def follow_up(self, kind: str, level: Level, calls_before: int, handoffs_before: int) -> str:
        """Wait for the work each request started after its ack; describe it."""
        began = time.monotonic()
        if kind == "help":
            self.drain()
            return "none needed"
        if kind == "open":
            def opened() -> list[Any]:
                return [c for c in self.standin.calls[calls_before:] if c.method == "views.open"]
            with suppress(RuntimeError):  # counted below
                wait_until(lambda: len(opened()) >= level.sent, 30, "views.open")
            ok = len([c for c in opened() if c.ok])
            refused = sorted({str((c.response or {}).get("error")) for c in opened() if not c.ok})
            return f"views.open ok {ok}/{level.sent}" + (f" ({', '.join(refused)})" if refused else "")
        self.drain()
        took = time.monotonic() - began
        if kind == "refused":
            done = len([c for c in self.standin.calls[calls_before:] if c.method == "chat.postEphemeral" and c.ok])
            return f"ephemerals {done}/{level.sent}, outbox empty after {took:.1f}s"
        made = self.count_handoffs() - handoffs_before
        cards = len([c for c in self.standin.calls[calls_before:]
                     if c.method == "chat.postMessage" and c.ok and c.params.get("channel") == RECIPIENT])
        return f"handoffs {made}, cards {cards}/{level.sent}, outbox empty after {took:.1f}s"

    def count_handoffs(self) -> int:
        from handoff_bot.handoffs.models import Handoff

        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(Handoff)) or 0)

    def drain(self) -> None:
        def empty() -> bool:
            with self.db.transaction() as session:
                return not session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.SENDING])))
        wait_until(empty, DRAIN_TIMEOUT, "the outbox draining")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite in a temp dir)")
    parser.add_argument("--requests", type=int, default=300, help="requests per kind and level (default 300)")
    parser.add_argument("--concurrency", default="1,10,50", help="levels, comma-separated (default 1,10,50)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"which requests (default {','.join(KINDS)})")
    parser.add_argument("--level-timeout", type=float, default=60.0, help="seconds per level at most (default 60)")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")

    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp, \
            scratch_database(args.database_url, Path(tmp)) as database_url, StandInProcess() as standin:
        workdir = Path(tmp)
        for user in (REQUESTER, RECIPIENT, MEMBER, MANAGER, OUTSIDER):
            standin.add_user(user)
        config = workdir / "departments.yml"
        config.write_text(DEPARTMENTS, "utf-8")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_APP_TOKEN="",
                   DATABASE_URL=database_url, SLACK_API_URL=standin.api_url, PORT=str(port),
                   HANDOFF_CONFIG=str(config), PYTHONUNBUFFERED="1")
        backend = make_url(database_url).get_backend_name()
        print(f"python app.py on 127.0.0.1:{port}, {backend}; {os.cpu_count()} CPUs, {platform.platform()}, "
              f"Python {platform.python_version()}", flush=True)
        with running_app(env, workdir / "app.log") as proc:
            db = Database(database_url)
            try:
                bench = Bench(standin, f"http://127.0.0.1:{port}", db)
                bench.prepare()
                print(HEADER, flush=True)
                results = []
                for kind in kinds:
                    for concurrency in levels:
                        level = bench.run(kind, concurrency, args.requests, args.level_timeout)
                        results.append(level)
                        print(level.row(), flush=True)
                        if proc.poll() is not None:
                            print(f"app.py exited with {proc.returncode}", file=sys.stderr)
                            return 1
            finally:
                db.dispose()
            for level in results:
                for sample in level.error_samples:
                    print(f"error ({LABELS[level.kind]}, {level.concurrency}): {sample}", file=sys.stderr)
            if standin.violations:
                print("Slack would refuse:\n" + "\n".join(standin.violations[:5]), file=sys.stderr)
            worst = max((max(level.latencies, default=0) for level in results), default=0)
            print(f"slowest ack: {worst * 1000:.0f} ms (Slack's limit: 3000 ms)")
            return 1 if any(level.errors for level in results) else 0


if __name__ == "__main__":
    sys.exit(main())
