"""All the performance figures in one command: `python app.py` against bare Bolt apps.

    .venv/bin/python benchmarks/run_all.py            # full: 400 requests per level, about 11 minutes
    .venv/bin/python benchmarks/run_all.py --quick    # 100 requests per level, under 2 minutes
    .venv/bin/python benchmarks/run_all.py --database-url postgresql+psycopg://user@host:5432/postgres
    .venv/bin/python benchmarks/run_all.py --servers sqlite,floor --pace 0   # some servers, no steady level
    .venv/bin/python benchmarks/run_all.py --servers sqlite,floor --kinds command --levels 1   # one row each

What it runs, one server at a time, all on loopback, all talking to one Slack stand-in
(`tests/slack_standin.py`) in a process of its own (`benchmarks/standin_process.py`), over HTTPS
as to Slack (a throwaway certificate from `openssl`, trusted through `SSL_CERT_FILE`):

1. `python app.py` on a fresh SQLite file, as deployed (waitress, 8 threads, its outbox worker
   and schedulers running);
2. `python app.py` on a scratch PostgreSQL database (`handoff_bench_<random>`, dropped at the end;
   the role needs CREATEDB; skipped if the server does not answer);
3. `benchmarks/bare_bolt.py`: a Bolt app whose listeners only ack, Bolt's defaults
   (`process_before_response=False`), on the same server stack;
4. the same with `process_before_response=True`: the floor the ratios are taken against;
5. the floor app again, its `/handoff` and clicks also opening a modal the way Bolt documents it (a
   lazy listener calling `views.open` while the ack goes out): what that work alone costs the acks
   of any Bolt app on this machine (submissions are only acked).

Each gets signed requests over HTTP (`tests/slack_requests.py`) from 1, 10, 50 and 100 threads,
each thread sending its next request as soon as the last one is answered, and first from one
thread at a steady 20 requests/s (`--pace`; at most 100 requests), as many users would send them:

    /handoff          the slash command; app.py acks, then opens the form (views.open once the ack is out)
    view_submission   the new-handoff form, each submission a different form (view id): app.py
                      records a handoff in the ack, card and receipt go out through the outbox
    button click      the recipient clicks "Confirm my understanding": app.py acks, then checks
                      the click and opens the restatement modal (views.open once the ack is out)

The ack time is the client's wall time of one request. After each level of app.py the script
waits until the follow-up work is done (forms opened, outbox empty) before the next level, and
reports it. Also measured: handoffs recorded per second on SQLite and PostgreSQL (every
submission acked is a committed handoff; with the outbox drained: card and receipt delivered),
the memory of app.py and its worker process after its load (PSS, and the sum of their peak RSS)
and the start-up time, from the process start to `GET /healthz` answering 200 (first start on an empty
database, which migrates it, and restarts on a migrated one).

Bounded: each level stops after `--level-timeout` s, and levels are skipped once `--budget` s
have passed (660 s full, 100 s --quick). Exit 1 if any request was answered wrongly.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, make_url, select, text  # noqa: E402

from benchmarks import ack_latency  # noqa: E402
from benchmarks.ack_latency import DEPARTMENTS, drive, scratch_database  # noqa: E402
from benchmarks.standin_process import StandInProcess  # noqa: E402
from handoff_bot.db import Database  # noqa: E402
from handoff_bot.handoffs.models import Handoff  # noqa: E402
from handoff_bot.outbox.models import OutboxMessage, OutboxState  # noqa: E402
from handoff_bot.slack.ids import ActionId, CallbackId  # noqa: E402
from tests.slack_requests import SlackSender, http_transport  # noqa: E402
from tests.slack_standin import self_signed_certificate  # noqa: E402

SECRET = "bench-signing-secret"
REQUESTER, RECIPIENT, MEMBER, MANAGER, OUTSIDER = "UREQ", "UREC", "UMEM", "UMGR", "UOUT"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KINDS = ("command", "submission", "click")
LABELS = {"command": "/handoff", "submission": "view_submission", "click": "button click"}
LEVELS = (1, 10, 50, 100)
PACE = 20.0  # --pace: requests per second of the steady-rate level
PACED_REQUESTS = 100  # at most, per steady-rate level
FOLLOW_UP_TIMEOUT = 60.0
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
FLOOR = "bare Bolt, pbr=True"
LAZY = "Bolt, lazy views.open"
SERVERS = ("sqlite", "postgresql", "bolt-default", "floor", "bolt-lazy")  # --servers


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.02)
    return True


# --------------------------------------------------------------------------- servers


class Server:
    """A server process (app.py or bare_bolt.py), its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.began = time.monotonic()
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds from the process start to the first 200 from GET /healthz."""
        while True:
            with suppress(OSError), urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - self.began
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() - self.began > timeout:
                raise RuntimeError(f"{self.name}: no /healthz within {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.01)

    def memory(self) -> tuple[float, float]:
        """(PSS, sum of VmHWM) in MiB of the process and its children (app.py's worker).

        PSS (/proc/PID/smaps_rollup) counts a page shared by the two processes half in each, so the
        sum is what they take together; the peak is the sum of each one's peak RSS, an upper bound.
        """
        pids = [self.proc.pid, *map(int, Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
                                    .split())]
        pss = hwm = 0.0
        for pid in pids:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm += int(line.split()[1]) / 1024
        return pss, hwm

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text("utf-8", errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- load


@dataclass
class Level(ack_latency.Level):
    """One level against one server (`target`), with the handoffs it recorded."""

    target: str = ""
    pace: float = 0.0  # requests per second sent at a steady rate; 0: each as soon as the previous is answered
    handoffs: int = 0
    drained_after: float | None = None

    @property
    def label(self) -> str:
        return f"{self.pace:.0f}/s" if self.pace else str(self.concurrency)

    @property
    def rate(self) -> float:
        return self.sent / self.wall if self.wall else float("nan")


class Workload:
    """The three requests, signed and sent to one server; the payloads are shared by all servers."""

    def __init__(self, standin: StandInProcess) -> None:
        self.standin = standin
        self.payloads = ack_latency.Payloads()

    def sender(self, url: str, level: Level, lock: threading.Lock) -> SlackSender:
        return SlackSender(None, SECRET, self.standin,
                           transport=ack_latency.timed_transport(url + "/slack/events", level, lock))

    def prepare(self, url: str) -> None:
        """A form opened by app.py and a card it posted: the payloads every server gets."""
        plain = SlackSender(None, SECRET, self.standin, transport=http_transport(url + "/slack/events"))
        self.payloads.prepare(plain, self.standin)

    def one(self, kind: str, sender: SlackSender) -> str | None:
        """Send one request; None when it was acked with 200 and an empty body, else what went wrong."""
        try:
            if kind == "command":
                reply = sender.command(REQUESTER, "")
            elif kind == "submission":
                reply = self.payloads.submit(sender)
            else:
                reply = sender.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, channel=RECIPIENT,
                                     ts=self.payloads.card["ts"])
        except OSError as error:
            return f"{type(error).__name__}: {error}"
        return None if reply.status == 200 and reply.text == "" else f"HTTP {reply.status}: {reply.text[:200]}"


def run_level(workload: Workload, server: Server, kind: str, concurrency: int, requests: int,
              timeout: float, pace: float = 0.0) -> Level:
    level = Level(kind, concurrency, target=server.name, pace=pace)
    lock = threading.Lock()
    deadline = time.monotonic() + timeout
    drive(level, concurrency, requests, deadline, lambda: workload.sender(server.url, level, lock),
          lambda sender: workload.one(kind, sender), lock, interval=1 / pace if pace else 0.0)
    return level


def count_handoffs(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Handoff)) or 0)


def outbox_empty(db: Database) -> bool:
    with db.transaction() as session:
        return not session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.SENDING])))


def follow_up(standin: StandInProcess, db: Database | None, level: Level, calls_before: int,
              handoffs_before: int) -> None:
    """Wait for the work a server does after its acks (without `db`: the modals of the bare app);
    describe it in `level.follow_up`."""
    began = time.monotonic()
    if level.kind in ("command", "click"):
        callback = CallbackId.NEW if level.kind == "command" else CallbackId.RESTATE

        def opened() -> list[Any]:
            return [c for c in standin.calls[calls_before:] if c.method == "views.open"
                    and (db is None or (c.params.get("view") or {}).get("callback_id") == callback)]

        def late() -> int:  # forms app.py did not ask Slack for: their trigger had expired when their turn came
            told = [c for c in standin.calls[calls_before:] if c.method == "response_url"
                    and str(c.params.get("text")).startswith("Slack could not open the form")]
            # A /handoff Slack refused is answered through response_url too (a click's, by an ephemeral message).
            return len(told) - (sum(not c.ok for c in opened()) if level.kind == "command" else 0)

        wait_until(lambda: len(opened()) + late() >= level.sent - level.errors, FOLLOW_UP_TIMEOUT)
        tried, told = opened(), late()
        ok = [c for c in tried if c.ok]
        refused = sorted({str((c.response or {}).get("error") or c.fault) for c in tried if not c.ok})
        level.follow_up = (f"forms opened {len(ok)}/{level.sent}" + (f" ({', '.join(refused)})" if refused else "")
                           + (f", {told} past their trigger's 3 s when their turn came" if told else ""))
        return
    assert db is not None
    drained = wait_until(lambda: outbox_empty(db), FOLLOW_UP_TIMEOUT)
    level.drained_after = time.monotonic() - began if drained else None
    level.handoffs = count_handoffs(db) - handoffs_before
    cards = len([c for c in standin.calls[calls_before:]
                 if c.method == "chat.postMessage" and c.ok and c.params.get("channel") == RECIPIENT])
    level.follow_up = (f"handoffs {level.handoffs}, cards {cards}/{level.sent}, outbox empty after "
                       + (f"{level.drained_after:.1f}s" if drained else f"more than {FOLLOW_UP_TIMEOUT:.0f}s"))


# --------------------------------------------------------------------------- the run


@dataclass
class Process:
    name: str
    first_start: float
    restarts: list[float] = field(default_factory=list)
    rss: float = float("nan")
    hwm: float = float("nan")


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, standin: StandInProcess) -> None:
        self.args = args
        self.workdir = workdir
        self.standin = standin
        self.workload = Workload(standin)
        self.levels: list[Level] = []
        self.processes: list[Process] = []
        self.notes: list[str] = []
        self.began = time.monotonic()
        self.env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
        self.env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_APP_TOKEN="",
                        SLACK_API_URL=standin.api_url, PYTHONUNBUFFERED="1")
        config = workdir / "departments.yml"
        config.write_text(DEPARTMENTS, "utf-8")
        self.config = config

    def over_budget(self) -> bool:
        return time.monotonic() - self.began > self.args.budget

    def start(self, name: str, argv: list[str], extra: dict[str, str]) -> Server:
        env = {**self.env, **extra, "PORT": str(free_port())}
        server = Server(name, argv, env, self.workdir / f"{name.replace(' ', '_').replace(',', '')}.log")
        return server

    def load(self, server: Server, db: Database | None, count_modals: bool = False) -> None:
        paced = [(1, self.args.pace)] if self.args.pace else []
        for kind in self.args.kinds:
            for concurrency, pace in [*paced, *((c, 0.0) for c in self.args.levels)]:
                name = f"{pace:.0f}/s" if pace else str(concurrency)
                if self.over_budget():
                    self.notes.append(f"{server.name}: {LABELS[kind]} at {name} skipped (--budget)")
                    continue
                calls_before = len(self.standin.calls)
                handoffs_before = count_handoffs(db) if db is not None else 0
                requests = min(self.args.requests, PACED_REQUESTS) if pace else max(self.args.requests, concurrency)
                level = run_level(self.workload, server, kind, concurrency, requests, self.args.level_timeout, pace)
                if db is not None or (count_modals and kind != "submission"):
                    follow_up(self.standin, db, level, calls_before, handoffs_before)
                self.levels.append(level)
                print(f"  {server.name:<22} {LABELS[kind]:<16} {level.label:>5}: {level.rate:7.0f} req/s, "
                      f"p50 {level.percentile(50):6.1f} ms, p99 {level.percentile(99):7.1f} ms, "
                      f"errors {level.errors} {level.follow_up}", flush=True)
                if server.proc.poll() is not None:
                    raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.tail()}")

    def app(self, backend: str, database_url: str) -> None:
        name = f"app.py, {backend}"
        extra = {"DATABASE_URL": database_url, "HANDOFF_CONFIG": str(self.config)}
        server = self.start(name, [sys.executable, "app.py"], extra)
        db = Database(database_url)
        try:
            process = Process(name, server.wait_healthy())
            self.processes.append(process)
            if not self.workload.payloads.form:
                self.workload.prepare(server.url)
            self.load(server, db)
            process.rss, process.hwm = server.memory()
            server.stop()
            for _ in range(self.args.restarts):  # on the migrated database, departments file applied again
                server = self.start(name, [sys.executable, "app.py"], extra)
                process.restarts.append(server.wait_healthy())
                server.stop()
        finally:
            server.stop()
            db.dispose()

    def bare(self, process_before_response: bool, open_modal: bool = False) -> None:
        name = LAZY if open_modal else f"bare Bolt, pbr={process_before_response}"
        argv = [sys.executable, "benchmarks/bare_bolt.py"] + (["--process-before-response"] if
                                                              process_before_response else [])
        server = self.start(name, argv + (["--open-modal"] if open_modal else []), {})
        try:
            process = Process(name, server.wait_healthy())
            self.processes.append(process)
            self.load(server, None, count_modals=open_modal)
            process.rss, process.hwm = server.memory()
        finally:
            server.stop()

    # -- the tables ----------------------------------------------------------------------

    def ack_table(self) -> str:
        floor = {(lv.kind, lv.label): lv for lv in self.levels if lv.target == FLOOR}
        lines = [
            "| request         |  conc | server                 |  req/s | p50 ms | p95 ms | p99 ms |  max ms | errs "
            "| req/s ÷ floor | p50 × floor | p99 × floor |",
            "|-----------------|------:|------------------------|-------:|-------:|-------:|-------:|--------:|-----:"
            "|--------------:|------------:|------------:|",
        ]
        order = {name: n for n, name in enumerate(p.name for p in self.processes)}
        for level in sorted(self.levels, key=lambda lv: (KINDS.index(lv.kind), not lv.pace, lv.concurrency,
                                                         order[lv.target])):
            base = floor.get((level.kind, level.label))
            ratios = ["", "", ""]
            if base is not None and level.target != FLOOR:
                ratios = [f"{level.rate / base.rate:.2f}", f"{level.percentile(50) / base.percentile(50):.1f}",
                          f"{level.percentile(99) / base.percentile(99):.1f}"]
            lines.append(
                f"| {LABELS[level.kind]:<15} | {level.label:>5} | {level.target:<22} | {level.rate:>6.0f} | "
                f"{level.percentile(50):>6.1f} | {level.percentile(95):>6.1f} | {level.percentile(99):>6.1f} | "
                f"{max(level.latencies, default=0) * 1000:>7.1f} | {level.errors:>4} | {ratios[0]:>13} | "
                f"{ratios[1]:>11} | {ratios[2]:>11} |")
        return "\n".join(lines)

    def handoff_table(self) -> str:
        backends = [p.name for p in self.processes if p.name.startswith("app.py")]
        lines = ["| conc | " + " | ".join(f"{b}: handoffs/s | with delivery /s" for b in backends) + " |",
                 "|-----:|" + "|".join("------------:|-----------------:" for _ in backends) + "|"]
        for concurrency in self.args.levels:
            cells = []
            for backend in backends:
                level = next((lv for lv in self.levels if lv.target == backend and lv.kind == "submission"
                              and lv.concurrency == concurrency and not lv.pace), None)
                if level is None or not level.wall:
                    cells.append(f"{'':>12} | {'':>16}")
                    continue
                made = level.handoffs / level.wall
                delivered = (f"{level.handoffs / (level.wall + level.drained_after):.0f}"
                             if level.drained_after is not None else "n/a")
                cells.append(f"{made:>12.0f} | {delivered:>16}")
            lines.append(f"| {concurrency:>4} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def process_table(self) -> str:
        lines = ["| server                 | first start s | restart s (median) | PSS after load MiB | peak RSS MiB |",
                 "|------------------------|--------------:|-------------------:|-------------------:|-------------:|"]
        for p in self.processes:
            restart = f"{statistics.median(p.restarts):.2f}" if p.restarts else ""
            lines.append(f"| {p.name:<22} | {p.first_start:>13.2f} | {restart:>18} | {p.rss:>18.0f} | {p.hwm:>12.0f} |")
        return "\n".join(lines)


def postgres_reachable(url: str) -> bool:
    try:
        engine = create_engine(make_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 requests per level, 1 restart; under 2 minutes")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES,
                        help=f"PostgreSQL server (default {DEFAULT_POSTGRES})")
    parser.add_argument("--requests", type=int, help="requests per level (default 400, --quick 100)")
    parser.add_argument("--level-timeout", type=float, help="seconds per level at most (default 20, --quick 8)")
    parser.add_argument("--budget", type=float, help="skip the remaining levels after this many seconds "
                                                     "(default 660, --quick 100)")
    parser.add_argument("--restarts", type=int, help="restarts of app.py timed (default 3, --quick 1)")
    parser.add_argument("--pace", type=float, default=PACE,
                        help=f"one more level per request: 1 thread sending {PACE:.0f} requests/s at a steady "
                             "rate (0: none)")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"which servers to load, comma-separated (default {','.join(SERVERS)})")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"which requests, comma-separated (default {','.join(KINDS)})")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)),
                        help=f"threads sending at once, comma-separated (default {','.join(map(str, LEVELS))})")
    args = parser.parse_args(argv)
    servers = args.servers.split(",")
    if set(servers) - set(SERVERS):
        parser.error(f"unknown servers {sorted(set(servers) - set(SERVERS))}; choose from {', '.join(SERVERS)}")
    args.kinds = args.kinds.split(",")
    if set(args.kinds) - set(KINDS):
        parser.error(f"unknown kinds {sorted(set(args.kinds) - set(KINDS))}; choose from {', '.join(KINDS)}")
    if not {"sqlite", "postgresql"} & set(servers) and set(args.kinds) - {"command"}:
        parser.error("clicks and submissions are made from the form and the card app.py sends: "
                     "include sqlite or postgresql in --servers")
    try:
        args.levels = [int(level) for level in args.levels.split(",")]
    except ValueError:
        args.levels = []
    if not args.levels or min(args.levels) < 1:
        parser.error("--levels: whole numbers from 1, comma-separated")
    quick = args.quick
    args.requests = args.requests or (100 if quick else 400)
    args.level_timeout = args.level_timeout or (8.0 if quick else 20.0)
    args.budget = args.budget or (100.0 if quick else 660.0)
    args.restarts = args.restarts if args.restarts is not None else (1 if quick else 3)
    for name in list(os.environ):  # the load generator talks to loopback only
        if name.lower() in PROXY_VARS:
            del os.environ[name]

    load_avg = os.getloadavg()
    print(f"run_all{' --quick' if quick else ''}: {args.requests} requests per level, levels {args.levels}; "
          f"{os.cpu_count()} CPUs, load average {load_avg[0]:.2f} at start, {platform.platform()}, "
          f"Python {platform.python_version()}", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="handoff-runall-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        # HTTPS, as Slack is reached: the servers keep their connections to it (app.py does, over HTTPS).
        certificate = self_signed_certificate(workdir)
        standin = stack.enter_context(StandInProcess(certificate))
        if certificate is not None:
            os.environ["SSL_CERT_FILE"] = str(certificate)  # trusted by the servers started below
        for user in (REQUESTER, RECIPIENT, MEMBER, MANAGER, OUTSIDER):
            standin.add_user(user)
        bench = Bench(args, workdir, standin)
        if certificate is None:
            bench.notes.append("no openssl command to make a certificate with: the Slack stand-in served plain HTTP")
        if "sqlite" in servers:
            bench.app("SQLite", f"sqlite:///{workdir / 'bench.db'}")
        if "postgresql" in servers and postgres_reachable(args.database_url):
            bench.app("PostgreSQL", stack.enter_context(scratch_database(args.database_url, workdir)))
        elif "postgresql" in servers:
            bench.notes.append(f"PostgreSQL at {make_url(args.database_url).render_as_string()} did not answer: "
                               "skipped")
        if "bolt-default" in servers:
            bench.bare(process_before_response=False)
        if "floor" in servers:
            bench.bare(process_before_response=True)
        if "bolt-lazy" in servers:
            bench.bare(process_before_response=True, open_modal=True)

        print(f"\nAck latency (client wall time per request; floor = {FLOOR}: a bare Bolt app that only acks, "
              "ack inline)\n")
        print(bench.ack_table())
        print("\nHandoffs recorded per second (view_submission levels above; with delivery: until the outbox "
              "was empty)\n")
        print(bench.handoff_table())
        print("\nProcesses (start: process start to GET /healthz 200; memory after the load: PSS of the process "
              "and its children, and the sum of their peak RSS)\n")
        print(bench.process_table())
        for level in bench.levels:
            for sample in level.error_samples:
                print(f"error ({level.target}, {LABELS[level.kind]}, {level.concurrency}): {sample}", file=sys.stderr)
        for note in bench.notes:
            print(f"note: {note}")
        if standin.violations:
            print("Slack would refuse:\n" + "\n".join(standin.violations[:5]), file=sys.stderr)
        load_end = os.getloadavg()
        print(f"took {time.monotonic() - began:.0f}s; load average {load_end[0]:.2f} at the end")
        return 1 if any(level.errors for level in bench.levels) else 0


if __name__ == "__main__":
    sys.exit(main())
