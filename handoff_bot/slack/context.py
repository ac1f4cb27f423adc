"""What listeners need: the database, the clock, people's profiles, a way to wake the outbox worker,
and a way to do work once Slack has its ack."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slack_bolt import Respond
from slack_sdk import WebClient
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from handoff_bot.clock import Clock
from handoff_bot.db import Database
from handoff_bot.handoffs.lifecycle import ActionRefused
from handoff_bot.handoffs.models import Handoff
from handoff_bot.i18n import N_, Translator, translator
from handoff_bot.outbox.models import NoticeKind
from handoff_bot.outbox.service import enqueue
from handoff_bot.slack.after_response import AfterResponse
from handoff_bot.slack.blocks.common import unesc
from handoff_bot.slack.blocks.replies import refusal_text
from handoff_bot.slack.users import SlackDirectory
from handoff_bot.slack.web_client import KeptRespond

log = logging.getLogger(__name__)
T = TypeVar("T")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")  # the user id; the name Slack sent, if any
QUEUED_AT = "handoff_queued_at"  # added to a job's payload: when its request was acknowledged (epoch seconds)
TRIGGER_SECONDS = 3.0  # a trigger_id opens a modal within 3 s of the click or command that sent it


@dataclass(frozen=True)
class Job:
    """Work a request starts, done once its ack has gone out: `kind` names a handler in
    `SlackContext.jobs`, the rest is plain data, so another process can do it (`slack.worker`)."""

    kind: str
    payload: dict[str, Any]
    user_id: str  # told if the job fails
    channel_id: str | None


@dataclass
class SlackContext:
    db: Database
    clock: Clock
    directory: SlackDirectory
    wake: Callable[[], None]  # wakes the outbox worker: notices were queued
    after_response: AfterResponse
    jobs: dict[str, Callable[[dict[str, Any]], None]] = field(default_factory=dict)
    # Set while a worker process does the jobs: hands one over, False when the worker is gone.
    hand_over: Callable[[Job], bool] | None = None
    client: WebClient | None = None  # answers through a request's response_url, which needs no database

    def later(self, user_id: str, channel_id: str | None, kind: str, payload: dict[str, Any]) -> None:
        """Do the job `kind` (a handler in `jobs`) with `payload` once the request's ack has gone out.

        It runs in the worker process when there is one, else on this process's `after_response`
        threads. If it fails, the error is logged and `user_id` is told that nothing was changed.
        """
        job = Job(kind, {**payload, QUEUED_AT: self.clock.now().timestamp()}, user_id, channel_id)
        if self.hand_over is None:
            self.after_response.submit(self.perform, job)
        else:
            self.after_response.defer(self._hand_over, job)

    def _hand_over(self, job: Job) -> None:
        if self.hand_over is None or not self.hand_over(job):
            self.after_response.submit(self.perform, job)  # the worker is gone: here, then

    def perform(self, job: Job) -> None:
        """Do a job now, telling its user if it fails."""
        try:
            self.jobs[job.kind](job.payload)
        except Exception:
            log.exception("the work after an ack failed (%s)", job.kind)
            message = N_("Something went wrong on our side and nothing was changed. Please try again in a moment.")
            try:
                self.answer(job.user_id, message, job.channel_id, job.payload)
            except Exception:
                log.exception("could not tell %s either", job.user_id)

    def answer(self, user_id: str, message: str, channel_id: str | None, payload: dict[str, Any],
               **values: str) -> None:
        """Tell `user_id` `message` (an untranslated msgid, filled in with `values`) beside the request
        `payload` came with, through its response_url: no write to wait for, and no database needed (a
        failure may be the database's); through the outbox (`say`) when it has none or Slack did not take
        the answer."""
        if self.client is not None and payload.get("response_url"):
            try:
                tr = self.tr(user_id)
            except SQLAlchemyError:  # their language is kept in the database
                tr = translator(None)
            if self._beside(payload, tr.gettext(message, **values)):
                return
        self.say(user_id, message, channel_id, **values)

    def _beside(self, payload: dict[str, Any], text: str) -> bool:
        """Answer `text` to the user alone, beside the request `payload` came with (its response_url);
        False when it has none or Slack did not take the answer."""
        if self.client is None or not payload.get("response_url"):
            return False
        try:
            answer = respond_to(self.client, payload)(response_type="ephemeral", replace_original=False, text=text)
        except OSError as error:
            log.warning("the answer beside the request did not reach Slack: %s", error)
            return False
        return answer.status_code == 200

    def trigger_expired(self, payload: dict[str, Any]) -> bool:
        """Whether the trigger_id of a job's `payload` is past its 3 s (the job waited behind others) or
        missing: no modal can open with it, so Slack need not be asked (the user is told to try again)."""
        if not payload.get("trigger_id"):
            return True
        queued_at = payload.get(QUEUED_AT)
        return queued_at is not None and self.clock.now().timestamp() - queued_at > TRIGGER_SECONDS

    def tr(self, user_id: str) -> Translator:
        """The translator for a user's Slack locale."""
        return translator(self.directory.locale(user_id))

    def run(self, work: Callable[[Session], T], attempts: int = 3) -> T:
        """Run `work` in one transaction, again if another request changed the same rows meanwhile
        (or, on PostgreSQL, inserted the same unique row first: the same form submitted to two
        processes at once; the second try finds it).

        Notices it queued are delivered right after the commit.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.db.transaction() as session:
                    result = work(session)
                self.wake()
                return result
            except (StaleDataError, OperationalError, IntegrityError) as error:
                if attempt == attempts:
                    raise
                log.info("retrying after a concurrent change: %s", type(error).__name__)
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a read-only transaction (on SQLite it neither waits for nor holds the write lock)."""
        with self.db.read() as session:
            return work(session)

    def tell(self, user_id: str, refusal: ActionRefused, channel_id: str | None, payload: dict[str, Any]) -> None:
        """Tell `user_id` why they may not, explained by the handoff as it is now: beside the click that
        `payload` came with, through its response_url (it works where the bot is not a member), else
        through the outbox (ephemeral in `channel_id`, else a DM)."""
        handoff_id = refusal.handoff.id if refusal.handoff is not None else None
        if payload.get("response_url"):
            tr = self.tr(user_id)
            text = self.read(lambda session: refusal_text(
                tr, refusal.refusal.value, session.get(Handoff, handoff_id) if handoff_id else None, user_id))
            if self._beside(payload, text):
                return
        self.run(lambda session: enqueue(
            session, NoticeKind.EPHEMERAL, user_id, self.clock.now(), handoff_id=handoff_id,
            refusal=refusal.refusal.value, channel=channel_id,
        ))

    def say(self, user_id: str, message: str, channel_id: str | None, **values: str) -> None:
        """Queue a short answer only `user_id` sees; `message` is an untranslated msgid (see `N_`) filled in
        with `values`."""
        extra = {"values": values} if values else {}
        self.run(lambda session: enqueue(
            session, NoticeKind.EPHEMERAL, user_id, self.clock.now(), text=message, channel=channel_id, **extra,
        ))

    def display_name(self, user_id: str) -> str:
        """A user's name as Slack shows it, else their id."""
        profile = self.directory.profile(user_id)
        return profile.name if profile else user_id

    def plain_mentions(self, text: str) -> str:
        """Mentions as `@Name`, for plain-text places such as form errors."""
        return unesc(MENTION.sub(lambda m: "@" + self.display_name(m.group(1)), text).replace("*", ""))


def respond_to(client: WebClient, payload: dict[str, Any]) -> Respond:
    """Answers through a request's `response_url` (as Bolt's `respond`; a job has no Bolt context)."""
    return KeptRespond(client, payload.get("response_url"))


def unstamped(payload: dict[str, Any]) -> dict[str, Any]:
    """A job's payload without the time it was queued: `trigger_expired` leaves it to Slack."""
    return {k: v for k, v in payload.items() if k != QUEUED_AT}


def channel_of(body: dict[str, Any]) -> str | None:
    """The channel a clicked message is in, if the click came from a message."""
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
