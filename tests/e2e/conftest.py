"""End-to-end fixtures: `python app.py` as a real process, talking to the Slack stand-in.

The app is started with `sys.executable app.py` from the repository root, configured only through
its environment (tokens, `SLACK_API_URL` = the stand-in, `DATABASE_URL`, a free `PORT`, and a
departments file in `HANDOFF_CONFIG`). The fixture waits for `GET /healthz`, stops the process
with SIGTERM (then SIGKILL) at teardown, and attaches its output to the report of a failed test.

The app runs its own outbox worker, so notices reach the stand-in asynchronously: tests wait for
them with `standin.wait_for(...)` (woken by every call), never with a fixed sleep.

Database: a fresh SQLite file per test (the app creates and migrates it on start), or, with
`TEST_DATABASE_URL` set, the `db` fixture's emptied PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select

from handoff_bot.db import Database
from handoff_bot.handoffs.models import Handoff, HandoffEvent
from handoff_bot.outbox.models import OutboxMessage, OutboxState
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack_requests import (
    Reply,
    SlackSender,
    Transport,
    date_value,
    http_transport,
    select_value,
    text_value,
    user_value,
)
from tests.slack_standin import SlackStandIn

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-signing-secret"
BOT_TOKEN = "xoxb-e2e"
REQUESTER, RECIPIENT, MEMBER, MANAGER, OUTSIDER = "UREQ", "UREC", "UMEM", "UMGR", "UOUT"
INTAKE = "C0FININTAKE"
CARD_BUTTONS = [ActionId.CONFIRM_UNDERSTANDING, ActionId.ASK, ActionId.PROPOSE]  # a new handoff's card
START_TIMEOUT = 30.0  # python app.py answers /healthz in about a second; PostgreSQL or a busy CI box is slower
STOP_TIMEOUT = 10.0
WAIT = 15.0  # for a notice from the outbox worker (normally well under a second)
SLACK_ACK_LIMIT = 3.0

# The variables app.py reads; every e2e start sets each of them, so a developer's .env changes nothing.
APP_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DATABASE_URL", "SLACK_API_URL", "PORT",
            "HANDOFF_CONFIG")
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}

DEPARTMENTS_YAML = f"""\
# Written by tests/e2e/conftest.py
departments:
  - name: Finance
    managers: [{MANAGER}]
    members: [{RECIPIENT}, {MEMBER}]
    intake_channel: {INTAKE}
  - name: Sales
    members: [{REQUESTER}]
"""

APPS = pytest.StashKey[list["AppProcess"]]()


# --------------------------------------------------------------------------- the process


def free_port() -> int:
    """A TCP port nobody listens on right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET `url`: (status, body), also for 4xx/5xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def child_env(**values: str) -> dict[str, str]:
    """The test runner's environment without proxies (everything is on loopback), plus `values`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
    env.update({"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"})
    env.update(values)
    return env


class AppProcess:
    """`python app.py` in a subprocess, stdout and stderr into one log file.

    Args:
        env: the whole environment of the process (`PORT` tells where it listens).
        log_path: where its output goes.
        cwd: the directory it is started from.
    """

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path = ROOT) -> None:
        self.env = env
        self.log_path = log_path
        self.port = int(env.get("PORT") or 3000)
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = time.monotonic()
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py")], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def output(self, tail: int | None = None) -> str:
        """What the process wrote so far (its last `tail` lines)."""
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-tail:]) if tail else text

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> float:
        """Poll `GET /healthz` until it answers 200; returns the seconds since start.

        Raises:
            AssertionError: the process exited first, or did not answer within `timeout`.
        """
        deadline = self.started + timeout
        while True:
            try:
                if http_get(self.url + "/healthz", timeout=1.0)[0] == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise AssertionError(f"app.py gave no /healthz within {timeout}s:\n{self.output(tail=80)}")
            try:  # doubles as the pause between polls
                code = self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"app.py exited with {code} before answering /healthz:\n{self.output(tail=80)}")

    def wait_exit(self, timeout: float) -> int:
        """The exit code, waiting at most `timeout` seconds (AssertionError if still running)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"app.py still runs after {timeout}s:\n{self.output(tail=40)}") from None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def kill(self) -> int:
        """SIGKILL: no cleanup at all, as in a crash or an OOM kill."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed e2e test shows what each app process it started wrote."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for number, app in enumerate(item.stash.get(APPS, []), 1):
            report.sections.append((f"app.py #{number} (port {app.port}) output", app.output(tail=200)))


@pytest.fixture
def launch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., AppProcess]]:
    """Start `python app.py` with an environment: `launch(env)` (waits for /healthz unless `wait=False`)."""
    started: list[AppProcess] = []
    request.node.stash[APPS] = started

    def start(env: dict[str, str], *, wait: bool = True, cwd: Path = ROOT) -> AppProcess:
        app = AppProcess(env, tmp_path / f"app-{len(started) + 1}.log", cwd)
        started.append(app)
        if wait:
            app.wait_healthy()
        return app

    yield start
    for app in started:
        app.stop()


# --------------------------------------------------------------------------- configuration


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new SQLite file (created and migrated by the app), or the `db` fixture's PostgreSQL database."""
    if os.environ.get("TEST_DATABASE_URL"):
        return str(request.getfixturevalue("db").url)
    return f"sqlite:///{tmp_path / 'handoff.db'}"


@pytest.fixture
def app_db(database_url: str) -> Iterator[Database]:
    """The app's database as seen from the test (read it only after the app has started)."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def departments_file(tmp_path: Path) -> Path:
    path = tmp_path / "departments.yml"
    path.write_text(DEPARTMENTS_YAML, "utf-8")
    return path


@pytest.fixture
def app_env(standin: SlackStandIn, database_url: str, departments_file: Path) -> dict[str, str]:
    """Everything `python app.py` needs for HTTP mode against the stand-in, on a free port."""
    return child_env(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_APP_TOKEN="", DATABASE_URL=database_url,
        SLACK_API_URL=standin.api_url, PORT=str(free_port()), HANDOFF_CONFIG=str(departments_file),
    )


def add_people(standin: SlackStandIn) -> None:
    for user, tz in ((REQUESTER, "America/New_York"), (RECIPIENT, "Asia/Shanghai"), (MEMBER, "Europe/Berlin"),
                     (MANAGER, "Asia/Shanghai"), (OUTSIDER, "America/Los_Angeles")):
        standin.add_user(user, tz=tz)


# --------------------------------------------------------------------------- driving the app


def request_kind(body: bytes, headers: dict[str, str]) -> str:
    """What a request to the bot is, for the ack-time summary: `/handoff help`, `block_actions …`."""
    if "json" in headers.get("Content-Type", ""):
        try:
            return str(json.loads(body).get("type", "json"))
        except ValueError:
            return "json"
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if "command" in form:
        word = (form.get("text") or "").split()[:1]
        return form["command"] + (" help" if word == ["help"] else " list" if word == ["list"] else "")
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except ValueError:
            return "payload"
        if payload.get("type") == "block_actions":
            return "block_actions " + str((payload.get("actions") or [{}])[0].get("action_id"))
        if payload.get("type") == "view_submission":
            return "view_submission " + str((payload.get("view") or {}).get("callback_id"))
        return str(payload.get("type"))
    return "other"


@dataclass
class AckTimer:
    """A transport that hands each request to `send` and records its client-side wall time by kind."""

    send: Transport
    times: dict[str, list[float]] = field(default_factory=dict)

    def __call__(self, body: bytes, headers: dict[str, str]) -> Reply:
        began = time.perf_counter()
        reply = self.send(body, headers)
        self.times.setdefault(request_kind(body, headers), []).append(time.perf_counter() - began)
        return reply

    def slowest(self) -> float:
        return max((t for ts in self.times.values() for t in ts), default=0.0)

    def summary(self) -> str:
        lines = [f"{'request':<44} {'n':>3} {'median ms':>10} {'max ms':>8}"]
        for kind, ts in sorted(self.times.items()):
            lines.append(f"{kind:<44} {len(ts):>3} {statistics.median(ts) * 1000:>10.1f} {max(ts) * 1000:>8.1f}")
        return "\n".join(lines)


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "the condition") -> None:
    """Poll `condition` (for state the stand-in is not told about, such as the database) until it holds.

    Raises:
        AssertionError: not within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        pause.wait(0.02)


def buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of the buttons a message offers now."""
    return [e["action_id"] for b in message.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]


@dataclass
class E2E:
    """One running `python app.py`, the stand-in it talks to, and a signed sender aimed at it."""

    app: AppProcess
    standin: SlackStandIn
    db: Database
    timer: AckTimer
    slack: SlackSender

    # -- what Slack shows --------------------------------------------------------------

    def wait_message(
        self, channel: str, containing: str, with_buttons: list[str] | None = None, timeout: float = WAIT
    ) -> dict[str, Any]:
        """The latest message in `channel` (or the DM with a user id) whose text contains `containing`,
        waiting until there is one (and, with `with_buttons`, until it offers exactly those buttons)."""
        found: list[dict[str, Any]] = []

        def ready(_calls: object) -> bool:
            matching = [m for m in self.standin.messages(channel) if containing in m.get("text", "")]
            if matching and (with_buttons is None or buttons(matching[-1]) == list(with_buttons)):
                found.append(matching[-1])
                return True
            return False

        try:
            self.standin.wait_for(ready, timeout)
        except AssertionError:
            shown = [(m.get("text"), buttons(m)) for m in self.standin.messages(channel)]
            raise AssertionError(f"no message with {containing!r} and buttons {with_buttons} in {channel} "
                                 f"within {timeout}s; there are {shown}") from None
        return {**found[-1], "channel": channel}

    def wait_view(self, callback_id: str, count: int = 1) -> dict[str, Any]:
        """The `count`-th modal with this callback id the bot opened (lazily, after the ack)."""
        self.standin.wait_for(lambda calls: len([
            c for c in calls if c.method == "views.open" and c.ok
            and (c.params.get("view") or {}).get("callback_id") == callback_id]) >= count, WAIT)
        return self.standin.last_view(callback_id)

    def views_opened(self, callback_id: str | None = None) -> int:
        return len([c for c in self.standin.calls_to("views.open", include_faults=True)
                    if callback_id is None or (c.params.get("view") or {}).get("callback_id") == callback_id])

    def ephemerals(self, user: str) -> list[str]:
        return self.standin.private_answers(user)

    def wait_ephemerals(self, user: str, count: int) -> list[str]:
        """The texts of the first `count` answers only `user` sees, waiting for them."""
        self.standin.wait_for(lambda _: len(self.ephemerals(user)) >= count, WAIT)
        return self.ephemerals(user)

    # -- what users do -----------------------------------------------------------------

    def open_new_form(self, text: str = "", user: str = REQUESTER) -> dict[str, Any]:
        opened = len([c for c in self.standin.calls_to("views.open")
                      if c.params["view"]["callback_id"] == CallbackId.NEW])
        reply = self.slack.command(user, text)
        assert reply.status == 200 and reply.text == "", reply
        return self.wait_view(CallbackId.NEW, count=opened + 1)

    def submit_new(self, view: dict[str, Any], department: str = "Finance", **fields: str) -> Reply:
        """Submit the new-handoff form as the requester (title and key points filled in)."""
        values = {
            BlockId.DEPARTMENT: {ActionId.INPUT: select_value(department_id(view, department), department)},
            BlockId.TITLE: {ActionId.INPUT: text_value(fields.pop("title", "Prepare the Q3 invoice"))},
            BlockId.KEY_POINTS: {ActionId.INPUT: text_value(fields.pop("key_points",
                                                                       "Totals per region\nAttach receipts"))},
        }
        if "recipient" in fields:
            values[BlockId.RECIPIENT] = {ActionId.INPUT: user_value(fields.pop("recipient"))}
        if "due" in fields:
            values[BlockId.DUE_DATE] = {ActionId.INPUT: date_value(fields.pop("due"))}
        assert not fields, fields
        return self.slack.view_submission(REQUESTER, view, values)

    def click(self, user: str, action_id: str, message: dict[str, Any]) -> Reply:
        """Click a button of a posted message as it is now (the button must be there)."""
        return self.slack.click(user, action_id, channel=message["channel"], ts=message["ts"])

    # -- what the database says --------------------------------------------------------

    def handoff(self) -> Handoff:
        """The latest handoff."""
        with self.db.transaction() as session:
            found = session.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert found is not None, "no handoff was recorded"
        return found

    def handoffs(self) -> int:
        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(Handoff)) or 0)

    def audit(self) -> list[str]:
        """Every recorded transition's action, oldest first."""
        with self.db.transaction() as session:
            return list(session.scalars(select(HandoffEvent.action).order_by(HandoffEvent.id)))

    def outbox(self) -> list[OutboxMessage]:
        with self.db.transaction() as session:
            return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    def outbox_idle(self) -> bool:
        """Every notice delivered (or given up): nothing pending or being sent."""
        return all(m.state in (OutboxState.SENT, OutboxState.DEAD) for m in self.outbox())

    def wait_outbox_idle(self) -> None:
        wait_until(self.outbox_idle, what="an empty outbox")

    def snapshot(self) -> tuple[Any, ...]:
        """What a refused request must leave unchanged: handoffs, their states and versions, the audit trail."""
        with self.db.transaction() as session:
            rows = session.execute(select(Handoff.id, Handoff.state, Handoff.version).order_by(Handoff.id)).all()
        return tuple(tuple(r) for r in rows), tuple(self.audit())


def department_id(view: dict[str, Any], name: str) -> str:
    """The option value of department `name` in the new-handoff form."""
    block = next(b for b in view["blocks"] if b.get("block_id") == BlockId.DEPARTMENT)
    for option in block["element"]["options"]:
        if option["text"]["text"] == name:
            return str(option["value"])
    raise AssertionError(f"no department {name!r} in the form: {block['element']['options']}")


def make_e2e(app: AppProcess, standin: SlackStandIn, db: Database, transport: Transport | None = None) -> E2E:
    """Drive `app`: requests signed and POSTed to its /slack/events (or through `transport`), timed."""
    timer = AckTimer(transport or http_transport(app.url + "/slack/events"))
    return E2E(app, standin, db, timer, SlackSender(None, SECRET, standin, transport=timer))


@pytest.fixture
def e2e(standin: SlackStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess], app_db: Database) -> E2E:
    """`python app.py` running in HTTP mode, departments Finance and Sales loaded from HANDOFF_CONFIG."""
    add_people(standin)
    return make_e2e(launch(app_env), standin, app_db)
