"""Wiring: settings → database, Slack clients, Bolt app, outbox worker, web server."""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import default_retry_handlers
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from handoff_bot.clock import Clock, SystemClock
from handoff_bot.config import Settings
from handoff_bot.db import Database
from handoff_bot.departments import config_file
from handoff_bot.departments.service import all_departments
from handoff_bot.digests import jobs as digest_jobs
from handoff_bot.digests.jobs import DigestRunner
from handoff_bot.followups import jobs
from handoff_bot.followups.jobs import FollowupRunner
from handoff_bot.metrics import Metrics
from handoff_bot.outbox import service as outbox
from handoff_bot.outbox.models import OutboxMessage, OutboxState
from handoff_bot.slack.after_response import AfterResponse
from handoff_bot.slack.app import build_app
from handoff_bot.slack.context import SlackContext
from handoff_bot.slack.delivery import TOKEN_REFUSED, Deliverer
from handoff_bot.slack.users import SlackDirectory
from handoff_bot.slack.web_client import BriefRateLimitRetry, KeepAliveWebClient
from handoff_bot.slack.worker import WorkerProcess
from handoff_bot.web import make_wsgi

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BODY = 1024 * 1024  # Slack's largest payloads (view submissions) are far below this
STUCK_AFTER = timedelta(minutes=10)
LOOKUP_TIMEOUT = 1.0  # seconds a users.info may take; then what is known of the user is used
FOLLOWUP_SECONDS = 1.0  # how often each app looks for due follow-ups (an indexed query)
EVENTS_KEPT = timedelta(days=1)  # Slack retries an Events API event over a few minutes: its id is kept this long
# Socket Mode pings Slack this often; a connection that answers no ping for four times as long (or
# whose pings fail five times in a row) is replaced: a silently dropped connection is noticed in
# about 15 s rather than Bolt's default 50 s.
PING_SECONDS = 3.0
FIRST_CONNECT_SECONDS = 5.0  # the start waits this long for Socket Mode's first try


class ListenError(Exception):
    """The HTTP server could not take its port."""


class Runtime:
    """Everything `python app.py` runs, built from `Settings`: the web process and, forked from it by
    `serve()`, the worker process."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database_url)
        # For the work requests start (views.open within the trigger's 3 s): keep the calls short, and
        # wait out a rate limit only when Slack asks for a second or less.
        self.client = KeepAliveWebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=5,
                                         retry_handlers=[*default_retry_handlers(), BriefRateLimitRetry()])
        # Profiles looked up while requests are answered (a user's language, a form's recipient) get one
        # try, bounded, so that a slow users.info cannot hold an ack past Slack's 3 s; the outbox and the
        # digests, which answer nobody, wait longer for them.
        self.directory = SlackDirectory(self.db, KeepAliveWebClient(
            token=settings.bot_token, base_url=settings.slack_api_url, timeout=LOOKUP_TIMEOUT, retry_handlers=[],
        ), self.clock)
        background = SlackDirectory(self.db, self.client, self.clock)
        self.metrics = Metrics(self.db)
        self.deliverer = Deliverer(
            self.db, KeepAliveWebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=5),
            background, self.clock, metrics=self.metrics,
        )
        self.followups = FollowupRunner(self.db, self.clock, self.deliverer.wake,
                                        lambda n: self.metrics.count("followups", n))
        self.digests = DigestRunner(self.db, self.clock, self.deliverer.wake, background,
                                    lambda n: self.metrics.count("digests", n))
        self.after_response = AfterResponse()
        self.ctx = SlackContext(self.db, self.clock, self.directory, self.deliverer.wake, self.after_response,
                                client=self.client)
        self.bolt = build_app(self.ctx, self.client, settings.signing_secret, self.metrics.bolt_middleware())
        self.wsgi = make_wsgi(self.bolt, settings.signing_secret, self.after_response, self.readiness,
                              self.metrics.exposition)
        self.worker = WorkerProcess(self.ctx, self.metrics, self.start_background)
        self.metrics.jobs.set_function(lambda: self.worker.unfinished + self.after_response.busy)
        self._socket_mode: Any = None
        self._closing = threading.Event()

    def prepare(self) -> None:
        """Migrate the database and, when `HANDOFF_CONFIG` is set, import the departments file.

        Raises:
            config_file.ConfigFileError: the departments file is invalid (nothing imported).
        """
        self.db.upgrade()
        if self.settings.handoff_config:
            with self.db.read() as session:
                known = [d.name for d in all_departments(session)]
            config = config_file.load(Path(self.settings.handoff_config), known=known)
            with self.db.transaction() as session:
                summary = config_file.apply(session, config, self.clock.now())
            log.info("departments loaded from %s: %s", self.settings.handoff_config, summary)
            for warning in summary.warnings:
                log.warning("%s: %s", self.settings.handoff_config, warning)

    def check_token(self) -> str | None:
        """Ask Slack who the bot is; None when Slack cannot be reached now.

        Raises:
            SlackApiError: Slack refused the token.
        """
        answer = _unless_refused(self.client.auth_test, "auth.test (the outbox will retry)")
        return None if answer is None else str(answer["user_id"])

    def readiness(self) -> dict[str, Any]:
        """Whether this process can do its work: database answers, outbox not stuck, Socket Mode connected."""
        if not self.db.ping():
            return {"ready": False, "database": "unreachable"}
        try:
            with self.db.read() as session:
                oldest = session.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.state == OutboxState.PENDING))
                dead = session.scalar(select(func.count()).where(OutboxMessage.state == OutboxState.DEAD))
                refused = session.scalar(select(OutboxMessage.last_error).where(
                    OutboxMessage.state == OutboxState.PENDING, OutboxMessage.last_error.in_(TOKEN_REFUSED)).limit(1))
        except SQLAlchemyError as error:  # it answers, but not as it should (no tables: never migrated)
            return {"ready": False, "database": f"error ({type(error).__name__})"}
        stuck = oldest is not None and self.clock.now() - oldest > STUCK_AFTER
        socket = None
        if self._socket_mode is not None:
            socket = "connected" if self._socket_mode.client.is_connected() else "disconnected"
        report = {"ready": not stuck and not refused and socket != "disconnected", "database": "ok",
                  "outbox": "stuck" if stuck else "ok", "dead_notices": dead}
        if refused:
            report["slack"] = f"token refused ({refused})"
        if socket:
            report["socket_mode"] = socket
        if self.worker.forked:
            report["worker"] = "running" if self.worker.running else "gone (this process does its work)"
        report["jobs_unfinished"] = self.worker.unfinished + self.after_response.busy
        return report

    def forget_events(self) -> None:
        """Forget the ids of Events API events older than `EVENTS_KEPT` (one row per Home tab visit)."""
        try:
            with self.db.transaction() as session:
                outbox.forget_events(session, self.clock.now() - EVENTS_KEPT)
        except SQLAlchemyError as error:  # the next hour's run does it
            log.info("old event ids not forgotten now: %s", type(error).__name__)

    def start_background(self) -> Callable[[], None]:
        """Start the outbox worker and the follow-up and digest jobs in this process; returns what stops them."""
        self.deliverer.start()
        scheduler = jobs.start(self.followups, FOLLOWUP_SECONDS)
        digest_jobs.schedule(scheduler, self.digests)
        scheduler.add_job(self.forget_events, "interval", hours=1, id="events", next_run_time=self.clock.now())

        def stop() -> None:
            scheduler.shutdown(wait=False)
            self.deliverer.stop()
        return stop

    def serve(self, host: str = "0.0.0.0") -> None:
        """Run until interrupted: the worker process (the work requests start, the outbox worker,
        the scheduled jobs), Socket Mode if configured, and the HTTP server."""
        from waitress import create_server

        try:
            # What start-up built stays: the collector need not walk it while requests wait, and
            # the worker process shares it instead of copying it.
            gc.freeze()
            self.worker.start()  # forked first: before any thread or database connection
            if self.settings.app_token:
                self._socket_mode = socket_mode_handler(self.bolt, self.settings.app_token, self.after_response)
                self._start_socket_mode()
            try:
                server = create_server(self.wsgi, host=host, port=self.settings.port, threads=8,
                                       max_request_body_size=MAX_BODY, ident="handoff")
            except OSError as error:
                raise ListenError(f"Cannot listen on {host}:{self.settings.port} ({error.strerror}). Set PORT to "
                                  "a free port.") from error
            log.info("listening on http://%s:%s (POST /slack/events, GET /healthz)", host, self.settings.port)
            try:
                server.run()
            finally:
                server.close()
        finally:
            self.close()

    def _connect_socket_mode(self) -> bool:
        """Open a Socket Mode connection; False when Slack could not be reached or failed for now.

        Raises:
            SlackApiError: Slack refused SLACK_APP_TOKEN.
        """
        # A fresh URL each try: they are single-use.
        _unless_refused(self._socket_mode.client.connect_to_new_endpoint, "opening a Socket Mode connection")
        return bool(self._socket_mode.client.is_connected())

    def _start_socket_mode(self) -> None:
        """Connect in the background, waiting at most `FIRST_CONNECT_SECONDS` for the first try: a
        refused SLACK_APP_TOKEN found by then stops the start; a try that takes longer (slack_sdk
        sleeps out a rate limit on `apps.connections.open`, however long Slack asks) goes on
        behind the HTTP server.

        Raises:
            SlackApiError: Slack refused SLACK_APP_TOKEN.
        """
        first: queue.SimpleQueue[bool | SlackApiError] = queue.SimpleQueue()
        waiting = threading.Event()
        waiting.set()
        threading.Thread(target=self._keep_connecting, args=(first, waiting), name="socket-mode-connect",
                         daemon=True).start()
        try:
            outcome = first.get(timeout=FIRST_CONNECT_SECONDS)
        except queue.Empty:
            outcome = False
        waiting.clear()
        if isinstance(outcome, SlackApiError):
            raise outcome
        if not outcome:
            log.warning("Socket Mode is not connected yet; retrying in the background")

    def _keep_connecting(self, first: queue.SimpleQueue[bool | SlackApiError], waiting: threading.Event) -> None:
        """Try now, then again after 1 s, 2 s, 4 s … up to a minute, until connected (`/readyz` says
        disconnected meanwhile), stopped, or the token is refused; each outcome goes to `first`, and
        a refusal is logged unless the start is still `waiting` for it (it stops the start)."""
        wait = 0.0
        while not self._closing.wait(wait):
            try:
                connected = self._connect_socket_mode()
            except SlackApiError as error:
                first.put(error)
                if not waiting.is_set():
                    log.error("Slack refused SLACK_APP_TOKEN (%s); Socket Mode stays disconnected",
                              error.response.get("error"))
                return
            first.put(connected)
            if connected:
                log.info("connected to Slack in Socket Mode")
                return
            wait = min(max(wait * 2, 1.0), 60.0)

    def close(self) -> None:
        self._closing.set()
        if self._socket_mode is not None:
            threading.Thread(target=self._socket_mode.close, daemon=True).start()
        self.after_response.shutdown(wait=True)
        self.worker.stop()
        self.db.dispose()


def _unless_refused(call: Callable[[], T], doing: str) -> T | None:
    """`call()`, a request to Slack; None when it failed for now (logged as `doing`).

    Raises:
        SlackApiError: Slack refused the token (`TOKEN_REFUSED`): trying again cannot help.
    """
    try:
        return call()
    except SlackApiError as error:
        if error.response.get("error") in TOKEN_REFUSED:
            raise
        log.warning("%s failed: %s", doing, error.response.get("error"))
    except OSError as error:
        log.warning("%s failed: Slack is not reachable (%s)", doing, error)
    return None


def socket_mode_handler(bolt: Any, app_token: str, after_response: AfterResponse) -> Any:
    """Bolt's Socket Mode handler, starting what a request submits once its ack has been sent."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.request import SocketModeRequest

    class Handler(SocketModeHandler):
        def handle(self, client: Any, req: SocketModeRequest) -> None:
            with after_response.answering():
                super().handle(client, req)

    return Handler(bolt, app_token, ping_interval=PING_SECONDS)
