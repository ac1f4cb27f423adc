"""The crash test with many more kills: SIGKILL `python app.py` at random moments, restart, check.

    .venv/bin/python benchmarks/crash.py                                  # 100 kills, SQLite and PostgreSQL
    .venv/bin/python benchmarks/crash.py --kills 40 --backends sqlite     # quicker
    .venv/bin/python benchmarks/crash.py --seed 7 --database-url postgresql+psycopg://user@host:5432/postgres

The series, the kills and the checks are those of `tests/e2e/test_crash.py` (`CrashRun`, `check`):
handoffs made through `/handoff` and the form, some cancelled or restated, each kill aimed at a
request, at the outbox delivering, or right after a submission; a new process on the same database
after each. It prints each run's summary and one table. Exits 1 if a check failed.

PostgreSQL: a scratch database `handoff_bench_<random>` on the server of `--database-url` (the role
needs CREATEDB), dropped at the end. A run takes about 1 s per kill plus the outbox lease (60 s)
at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ack_latency import scratch_database  # noqa: E402
from handoff_bot.db import Database  # noqa: E402
from tests.e2e.conftest import BOT_TOKEN, DEPARTMENTS_YAML, SECRET, AppProcess, add_people, child_env  # noqa: E402
from tests.e2e.test_crash import CrashRun, Outcome, check  # noqa: E402
from tests.slack_standin import SlackStandIn  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

HEADER = ("| database   | kills | handoffs | request lost | mid-delivery | duplicates | stale copies | forms "
          "resubmitted (had committed) | repeats refused | restart median s | last kill s | total s | checks |\n"
          "|------------|------:|---------:|-------------:|-------------:|-----------:|-------------:|------"
          "----------------------------:|----------------:|-----------------:|------------:|--------:|--------|")


def row(backend: str, outcome: Outcome | None, problem: str | None) -> str:
    if outcome is None:
        return f"| {backend:<10} |" + " |" * 11 + f" FAILED: {problem} |"
    restarts = sorted(k.restart_s for k in outcome.kills)
    median = restarts[len(restarts) // 2] if restarts else float("nan")
    lost = sum(1 for k in outcome.kills if k.request_failed)
    resubmitted = f"{outcome.resubmissions} ({outcome.committed_before_kill})"
    refused = f"{outcome.refused_retries} / {len(outcome.replays_refused)}"
    return (f"| {backend:<10} | {len(outcome.kills):>5} | {len(outcome.items):>8} | {lost:>12} | "
            f"{outcome.delivery_kills:>12} | {sum(outcome.duplicates.values()):>10} | {outcome.stale_copies:>12} | "
            f"{resubmitted:>34} | {refused:>15} | {median:>16.2f} | {outcome.last_kill_s:>11.1f} | "
            f"{outcome.total_s:>7.1f} | "
            f"{'ok' if problem is None else 'FAILED: ' + problem} |")


def one_run(backend: str, server_url: str | None, kills: int, seed: int) -> tuple[Outcome | None, str | None]:
    """One series on a fresh database; (outcome, None) or (outcome or None, what failed)."""
    with tempfile.TemporaryDirectory(prefix="handoff-crash-") as tmp, \
            scratch_database(server_url, Path(tmp)) as database_url, SlackStandIn() as standin:
        workdir = Path(tmp)
        add_people(standin)
        config = workdir / "departments.yml"
        config.write_text(DEPARTMENTS_YAML, "utf-8")
        env = child_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_APP_TOKEN="",
                        DATABASE_URL=database_url, SLACK_API_URL=standin.api_url, PORT="0",
                        HANDOFF_CONFIG=str(config))
        started: list[AppProcess] = []

        def start(values: dict[str, str]) -> AppProcess:
            app = AppProcess(values, workdir / f"app-{len(started) + 1}.log")
            started.append(app)
            app.wait_healthy()
            return app

        db = Database(database_url)
        outcome = None
        try:
            run = CrashRun(standin, db, env, start, seed=seed, kills=kills,
                           say=lambda text: print(f"  {backend}: {text}", flush=True))
            outcome = run.run(max_items=kills * 2)
            print(outcome.summary(), flush=True)
            check(run, outcome)
            if standin.violations:
                return outcome, f"Slack would refuse {len(standin.violations)} payloads"
            return outcome, None
        except AssertionError as error:
            traceback.print_exc()
            if started:
                print(f"last app.py output:\n{started[-1].output(tail=40)}", file=sys.stderr)
            return outcome, str(error).splitlines()[0][:120] if str(error) else "assertion failed"
        finally:
            for app in started:
                app.stop()
            db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs per run, at least (default 100)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql or both (default)")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES,
                        help=f"PostgreSQL server (default {DEFAULT_POSTGRES})")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backends: sqlite, postgresql")
    print(f"crash runs: {args.kills} kills each, seed {args.seed}; {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {platform.python_version()}", flush=True)
    rows = []
    failed = False
    for backend in backends:
        began = time.monotonic()
        outcome, problem = one_run(backend, args.database_url if backend == "postgresql" else None, args.kills,
                                   args.seed)
        failed |= problem is not None
        rows.append(row(backend, outcome, problem))
        print(f"{backend}: {time.monotonic() - began:.0f}s", flush=True)
    print(HEADER)
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
