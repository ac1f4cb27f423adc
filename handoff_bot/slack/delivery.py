"""The outbox worker: renders queued notices and delivers them to Slack, durably.

A notice is claimed with a conditional UPDATE (safe with several processes), rendered from the
handoff's current state, sent outside any transaction, then recorded. `429` waits for
`Retry-After`; 5xx, timeouts and connection errors back off with jitter; after `max_attempts`
(or at once for errors Slack will repeat forever) the notice is dead and `outbox list` shows it.
Notices of one handoff go out in order (short answers to one user aside). A message Slack will not
update (deleted, or in a channel the bot was removed from) is left as it is, with a warning, and the
handoff's other messages are updated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from handoff_bot.clock import Clock
from handoff_bot.db import Database
from handoff_bot.digests.service import Digest
from handoff_bot.handoffs import queries
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.models import Handoff
from handoff_bot.i18n import Translator, language_of, translator
from handoff_bot.metrics import Metrics
from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState, SlackMessage
from handoff_bot.outbox.service import enqueue, home_page
from handoff_bot.people import Directory
from handoff_bot.slack.blocks import digest as digest_blocks
from handoff_bot.slack.blocks.home import home_view
from handoff_bot.slack.blocks.messages import Facts, Message, render
from handoff_bot.slack.blocks.reminders import current, reminders
from handoff_bot.slack.blocks.replies import refusal_text
from handoff_bot.slack.web_client import retry_after

log = logging.getLogger(__name__)
# What repeats while Slack or the database stays down (a try per notice, a pass per second): logs.OncePer.
retry_log = logging.getLogger(__name__ + ".retries")

# Slack's answers that the bot's token works for no call (revoked, the app uninstalled): no notice is to
# blame, so none is given up; delivery waits `TOKEN_WAIT` and tries again, until the token works.
TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                           "not_allowed_token_type"})
TOKEN_WAIT = timedelta(minutes=1)
# Slack errors about the bot's token, whatever the call: no message is to blame.
TOKEN = TOKEN_REFUSED | {"missing_scope"}
# Slack errors that will not go away by trying again.
PERMANENT = TOKEN | {
    "channel_not_found", "not_in_channel", "is_archived", "user_not_found", "user_not_visible",
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "cant_update_message",
    "restricted_action", "user_disabled", "cannot_dm_bot", "messages_tab_disabled",
}
# Slack errors (HTTP 200) that may pass: tried again later, as a 5xx.
TRANSIENT = frozenset({
    "fatal_error", "internal_error", "request_timeout", "service_unavailable", "ratelimited", "team_added_to_org",
})
# chat.update of a message that is gone, or that the bot may no longer change: it is not updated again.
GONE = frozenset({
    "message_not_found", "channel_not_found", "is_archived", "not_in_channel", "cant_update_message",
    "edit_window_closed",
})
GONE_HASH = "gone"
# chat.postEphemeral errors about the channel, or the user's place in it: the answer goes as a DM instead.
NOT_BESIDE = frozenset({"user_not_in_channel", "channel_not_found", "not_in_channel", "is_archived"})
# The notices that bring a new handoff to whoever receives it: when one dies, the requester is told.
CARDS = frozenset({NoticeKind.RECIPIENT_CARD, NoticeKind.INTAKE_POST})
# The notices that tell a recipient the handoff is no longer theirs: only for one whose card reached them.
ENDINGS = frozenset({NoticeKind.CANCELLED, NoticeKind.REASSIGNED})


def _card_still_due(handoff: Handoff, target: str) -> bool:
    """Whether a new handoff's card (or intake post) is still to be posted to `target`: not once the handoff
    is finished or given to someone else (say, a card that died and was retried later)."""
    return handoff.is_open and (target == handoff.recipient_id or target == handoff.to_department.intake_channel)


def _destination(message: OutboxMessage, handoff: Handoff) -> str:
    """Where a notice about `handoff` goes: an intake post to the department's intake channel as it is
    now (an import may have moved it since the post was queued), any other to its target."""
    if message.kind is NoticeKind.INTAKE_POST and handoff.to_department.intake_channel:
        return handoff.to_department.intake_channel
    return message.target


def _is_user(target: str) -> bool:
    return target[:1] in ("U", "W")


def _speaking(target: str, requesters: Sequence[str], locales: Mapping[str, str | None]) -> Translator:
    """The language of a message to `target` about the handoffs of `requesters`: a person's own; in a channel,
    which has none, the requester's, who wrote the title and key points it shows (the same when the message is
    posted and each time it is updated). A channel's reminder listing several handoffs speaks the language
    most of their requesters use, on a tie the first listed one's."""
    if _is_user(target) or not requesters:
        return translator(locales.get(target))
    languages = [language_of(locales.get(r)) for r in requesters]
    most = Counter(languages).most_common(1)[0][0]  # on a tie, the first counted
    return translator(locales.get(requesters[languages.index(most)]))


def _requesters(items: Sequence[dict[str, Any]], handoffs: Mapping[int, Handoff]) -> list[str]:
    """The requesters of the handoffs a reminder lists, in its order."""
    return [h.requester_id for i in items if (h := handoffs.get(int(i["h"]))) is not None]


@dataclass
class _Call:
    method: str
    args: dict[str, Any]
    record: SlackMessage | None = None        # existing message being updated
    new_records: list[dict[str, Any]] = field(default_factory=list)  # rows to remember once posted
    content_hash: str = ""
    part: int | None = None  # which message of a notice sent as several (a digest)


def _hash(message: Message) -> str:
    return hashlib.sha256(json.dumps([message.text, message.blocks], sort_keys=True).encode()).hexdigest()


class Deliverer:
    """Delivers the outbox: `drain()` once, or `start()` a background thread woken by `wake()`."""

    def __init__(
        self,
        db: Database,
        client: WebClient,
        directory: Directory,
        clock: Clock,
        *,
        max_attempts: int = 8,
        lease: timedelta = timedelta(seconds=15),
        poll_seconds: float = 1.0,
        batch: int = 50,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.directory = directory
        self.clock = clock
        self.max_attempts = max_attempts
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.metrics = metrics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refused_until: datetime | None = None  # Slack refused the token: nothing is tried before then

    # -- running ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Deliver soon: something was just queued."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - logged; the next pass tries again
                retry_log.exception("outbox pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def drain(self, max_rounds: int = 100) -> int:
        """Deliver every notice that is due now; returns how many were sent."""
        sent = 0
        for _ in range(max_rounds):
            ids = self._due()
            if not ids:
                break
            progressed = False
            for message_id in ids:
                if self._refused_until is not None and self.clock.now() < self._refused_until:
                    return sent  # the token was refused: no call would work
                claim = self._claim(message_id)
                if claim is not None:
                    progressed = True
                    sent += self._deliver(message_id, claim)
            if not progressed:
                break
        return sent

    # -- claiming --------------------------------------------------------------------------

    def _due(self) -> list[int]:
        now = self.clock.now()
        earlier = aliased(OutboxMessage)
        ready = or_(
            and_(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.state == OutboxState.SENDING, OutboxMessage.lease_until < now),
        )
        # A short answer to one user (an ephemeral) is kept in order with nothing, and holds up nothing.
        blocked = exists().where(
            earlier.handoff_id == OutboxMessage.handoff_id,
            earlier.id < OutboxMessage.id,
            earlier.kind != NoticeKind.EPHEMERAL,
            earlier.state.in_([OutboxState.PENDING, OutboxState.SENDING]),
        )
        in_turn = or_(OutboxMessage.kind == NoticeKind.EPHEMERAL, ~blocked)
        with self.db.read() as session:
            return list(session.scalars(
                select(OutboxMessage.id).where(ready, in_turn).order_by(OutboxMessage.id).limit(self.batch)
            ))

    def _claim(self, message_id: int) -> int | None:
        """Claim a notice for `lease`; returns the claim (its attempt number), None if another took it."""
        now = self.clock.now()
        with self.db.transaction() as session:
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    or_(
                        and_(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.next_attempt_at <= now),
                        and_(OutboxMessage.state == OutboxState.SENDING, OutboxMessage.lease_until < now),
                    ),
                )
                .values(state=OutboxState.SENDING, lease_until=now + self.lease,
                        attempts=OutboxMessage.attempts + 1)
                .returning(OutboxMessage.attempts)
                .execution_options(synchronize_session=False)
            )
            return result.scalar_one_or_none()

    def _renew(self, message_id: int, claim: int) -> bool:
        """Extend our claim before each Slack call: the lease covers one call, not a whole notice,
        so a notice claimed by a process that died is taken up again soon. False: the lease ran out
        and another process claimed the notice (or will): leave it to that one."""
        now = self.clock.now()
        with self.db.transaction() as session:
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.state == OutboxState.SENDING,
                       OutboxMessage.attempts == claim, OutboxMessage.lease_until >= now)
                .values(lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    # -- delivering ------------------------------------------------------------------------

    def _deliver(self, message_id: int, claim: int) -> int:
        with self.db.read() as session:
            people = self._people(session, message_id)
        # Looked up outside any transaction: a lookup may call Slack and write the cache.
        locales = {u: p.locale if (p := self.directory.profile(u)) else None for u in people}
        done: list[tuple[_Call, dict[str, Any]]] = []
        try:
            with self.db.read() as session:
                message = session.get(OutboxMessage, message_id)
                assert message is not None
                plan = self._plan(session, message, locales)
                failed_before = message.last_error is not None
            for call in plan:
                if not self._renew(message_id, claim):
                    log.warning("outbox %s: claimed by another process meanwhile; leaving it", message_id)
                    self._record(message_id, done)
                    return 0
                response = self.client.api_call(call.method, json=call.args)
                done.append((call, response.data if isinstance(response.data, dict) else {}))
        except SlackApiError as error:
            self._record(message_id, done)
            code = error.response.get("error", "") if isinstance(error.response.data, dict) else ""
            status = error.response.status_code
            self._count("ratelimited" if status == 429 else "server_error" if status >= 500 else "slack_error")
            if error.response.status_code == 429:  # without a Retry-After that reads, the usual backoff
                wait = retry_after(error.response.headers, self.clock.now())
                self._retry(message_id, "ratelimited" if wait is None else f"ratelimited, retry after {wait:g}s",
                            None if wait is None else timedelta(seconds=wait), counts=False)
            elif error.response.status_code >= 500:
                self._retry(message_id, f"HTTP {error.response.status_code}", None)
            elif plan[len(done)].method == "chat.update" and code not in TRANSIENT | TOKEN:
                # One message Slack will not update: the others still are (left to do, at once).
                self._leave(plan[len(done)], code)
                self._retry(message_id, code, timedelta(0), counts=False)
            elif plan[len(done)].method == "chat.postEphemeral" and code in NOT_BESIDE:
                self._as_dm(message_id, code)
                self._retry(message_id, code, timedelta(0), counts=False)
            elif code in TOKEN_REFUSED:
                self._refused_until = self.clock.now() + TOKEN_WAIT
                retry_log.error("Slack refused the bot token (%s): nothing is delivered until SLACK_BOT_TOKEN works "
                                "again; trying again every %.0f s", code, TOKEN_WAIT.total_seconds())
                self._retry(message_id, code, TOKEN_WAIT, counts=False)
            elif code in PERMANENT:
                self._dead(message_id, code)
            else:
                self._retry(message_id, code or str(error), None)
            return 0
        except OSError as error:  # timeouts, refused connections, DNS
            self._count("network")
            self._record(message_id, done)
            self._retry(message_id, f"{type(error).__name__}: {error}", None)
            return 0
        except SQLAlchemyError:
            raise  # the database: the pass is tried again
        except Exception as error:  # a bug (rendering, say), or an answer slack_sdk could not read: counted
            # as a failed try, so the notice ends dead rather than claimed for ever
            log.exception("outbox %s failed", message_id)
            self._record(message_id, done)
            self._retry(message_id, f"{type(error).__name__}: {error}", None)
            return 0
        self._record(message_id, done, sent=True, failed_before=failed_before)
        if self.metrics is not None:
            self.metrics.count("delivered")
        return 1

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.count("failures", 1, reason)

    @staticmethod
    def _people(session: Session, message_id: int) -> set[str]:
        """The users whose language the delivery of a notice may need."""
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        people = {message.target}
        listed = [int(i["h"]) for i in message.params.get("items", [])] if message.kind is NoticeKind.REMINDERS else []
        handoff = session.get(Handoff, message.handoff_id) if message.handoff_id else None
        if handoff is not None:
            people.add(handoff.requester_id)
            if message.kind is NoticeKind.REFRESH:
                for target, kind, params in session.execute(select(
                        SlackMessage.target, SlackMessage.kind, SlackMessage.params).where(
                        SlackMessage.handoff_id == handoff.id)):
                    people.add(target)
                    if kind is NoticeKind.REMINDERS:
                        listed += [int(i["h"]) for i in params["items"]]
        if listed:  # a reminder in a channel speaks its requesters' language
            people.update(session.scalars(select(Handoff.requester_id).where(Handoff.id.in_(listed))))
        return {p for p in people if _is_user(p)}

    def _plan(self, session: Session, message: OutboxMessage, locales: dict[str, str | None]) -> list[_Call]:
        """The Slack calls that deliver `message`, rendered from the current state."""
        plan: list[_Call] = []
        tr = translator(locales.get(message.target))
        if message.kind is NoticeKind.EPHEMERAL:
            plan.append(self._ephemeral(session, message, tr))
            return plan
        if message.kind is NoticeKind.HOME:
            content = queries.home(session, message.target, self.clock.now())
            view = home_view(tr, content, home_page(session, message.target))
            plan.append(_Call("views.publish", {"user_id": message.target, "view": view}))
            return plan
        if message.kind is NoticeKind.DIGEST:
            # The figures were computed when the digest was sent and are stored in the notice; the parts
            # already posted (`posted`, on a retry after a partial failure) are not posted again.
            parts = digest_blocks.messages(tr, Digest.from_params(message.params))
            posted = int(message.params.get("posted", 0))
            for number, rendered in enumerate(parts):
                if number >= posted:
                    call = self._post(message.target, rendered, [])
                    call.part = number
                    plan.append(call)
            return plan
        if message.kind is NoticeKind.REMINDERS:
            loaded = self._load(session, message.params["items"])
            items = current(message.params["items"], loaded, message.target)
            if items:  # a reminder that no longer applies is not sent
                tr = _speaking(message.target, _requesters(items, loaded), locales)
                rendered = reminders(tr, items, loaded, message.target)
                rows = [{"handoff_id": h, "kind": message.kind, "target": message.target, "params": {"items": items}}
                        for h in dict.fromkeys(int(i["h"]) for i in items)]
                plan.append(self._post(message.target, rendered, rows))
            return plan
        handoff = session.get(Handoff, message.handoff_id) if message.handoff_id else None
        if handoff is None:
            return plan
        target = _destination(message, handoff)
        if message.kind in CARDS and not _card_still_due(handoff, target):
            log.info("outbox %s: not posting a card for a handoff that moved on", message.id,
                     extra={"handoff_id": handoff.id})
            return plan
        if message.kind in ENDINGS and message.target not in self._cards_posted(session, handoff.id):
            return plan  # "cancelled" or "reassigned" about a handoff whose card never reached them
        facts = Facts(handoff, handoffs.rounds(session, handoff.id), handoffs.questions(session, handoff.id),
                      handoffs.proposals(session, handoff.id) if handoff.negotiated else ())
        if message.kind is NoticeKind.REFRESH:
            records = list(session.scalars(
                select(SlackMessage)
                .where(SlackMessage.handoff_id == handoff.id, SlackMessage.content_hash != GONE_HASH)
                .order_by(SlackMessage.id)
            ))
            facts.delivered = self._cards_posted(session, handoff.id)  # even where it can no longer be updated
            latest_card = {r.target: r.id for r in records if r.kind is NoticeKind.RECIPIENT_CARD}
            for record in records:
                if record.kind is NoticeKind.REMINDERS:
                    items = record.params["items"]
                    loaded = self._load(session, items)
                    rendered = reminders(_speaking(record.target, _requesters(items, loaded), locales), items,
                                         loaded, record.target)
                else:
                    facts.params, facts.target = record.params, record.target
                    facts.superseded = (record.kind is NoticeKind.RECIPIENT_CARD
                                        and latest_card[record.target] != record.id)
                    rendered = render(record.kind, _speaking(record.target, [handoff.requester_id], locales), facts)
                digest = _hash(rendered)
                if digest != record.content_hash:
                    plan.append(_Call("chat.update", {
                        "channel": record.channel, "ts": record.ts, "text": rendered.text,
                        "blocks": rendered.blocks,
                    }, record=record, content_hash=digest))
            return plan
        facts.params, facts.target = message.params, target
        if message.kind is NoticeKind.RECEIPT and handoff.recipient_id is None:  # was the intake post delivered?
            facts.delivered = self._cards_posted(session, handoff.id)
        rendered = render(message.kind, _speaking(target, [handoff.requester_id], locales), facts)
        plan.append(self._post(target, rendered, [
            {"handoff_id": handoff.id, "kind": message.kind, "target": target, "params": message.params}]))
        return plan

    @staticmethod
    def _post(target: str, rendered: Message, rows: list[dict[str, Any]]) -> _Call:
        return _Call("chat.postMessage", {
            "channel": target, "text": rendered.text, "blocks": rendered.blocks,
            "unfurl_links": False, "unfurl_media": False,
        }, new_records=rows, content_hash=_hash(rendered))

    @staticmethod
    def _cards_posted(session: Session, handoff_id: int) -> frozenset[str]:
        """Where the handoff's card or intake post has been posted (users and channels)."""
        return frozenset(session.scalars(select(SlackMessage.target).where(
            SlackMessage.handoff_id == handoff_id, SlackMessage.kind.in_(CARDS))))

    @staticmethod
    def _load(session: Session, items: list[dict[str, Any]]) -> dict[int, Handoff]:
        ids = {int(i["h"]) for i in items}
        return {h.id: h for h in session.scalars(select(Handoff).where(Handoff.id.in_(ids)))}

    def _ephemeral(self, session: Session, message: OutboxMessage, tr: Any) -> _Call:
        params = message.params
        handoff = session.get(Handoff, message.handoff_id) if message.handoff_id else None
        if params.get("refusal"):
            text = refusal_text(tr, params["refusal"], handoff, message.target)
        else:
            text = tr.gettext(params["text"], **params.get("values", {})) if params.get("text") else ""
        if params.get("channel"):
            return _Call("chat.postEphemeral", {"channel": params["channel"], "user": message.target, "text": text})
        return _Call("chat.postMessage", {"channel": message.target, "text": text})

    # -- recording -------------------------------------------------------------------------

    def _record(self, message_id: int, done: list[tuple[_Call, dict[str, Any]]], *, sent: bool = False,
                failed_before: bool = False) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            for call, data in done:
                if call.new_records and data.get("ts"):
                    session.add_all(SlackMessage(
                        **row, channel=data.get("channel", call.args["channel"]), ts=data["ts"],
                        content_hash=call.content_hash, posted_at=now,
                    ) for row in call.new_records)
                elif call.record is not None:
                    session.execute(update(SlackMessage).where(SlackMessage.id == call.record.id)
                                    .values(content_hash=call.content_hash))
            parts = [call.part for call, _data in done if call.part is not None]
            if parts and not sent:  # remember how far a notice of several messages got
                message = session.get(OutboxMessage, message_id)
                assert message is not None
                message.params = {**message.params, "posted": max(parts) + 1}
            if sent:
                session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
                    state=OutboxState.SENT, sent_at=now, lease_until=None, last_error=None))
                if failed_before:  # maybe dead once, and retried
                    self._delivered_after_all(session, done)

    def _delivered_after_all(self, session: Session, done: list[tuple[_Call, dict[str, Any]]]) -> None:
        """A card that died and was retried (`outbox retry`) got through: the requester's "could not
        deliver" message is brought up to date."""
        for row in (row for call, _data in done for row in call.new_records if row["kind"] in CARDS):
            told = session.scalar(select(OutboxMessage).where(
                OutboxMessage.handoff_id == row["handoff_id"], OutboxMessage.kind == NoticeKind.UNDELIVERED).limit(1))
            if told is not None:
                enqueue(session, NoticeKind.REFRESH, told.target, self.clock.now(), handoff_id=row["handoff_id"])

    def _retry(self, message_id: int, reason: str, wait: timedelta | None, *, counts: bool = True) -> None:
        with self.db.transaction() as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            if not counts:
                message.attempts -= 1
            if message.attempts >= self.max_attempts:
                self._mark_dead(session, message, reason)
                return
            if wait is None:
                base = min(2 ** message.attempts, 300)
                wait = timedelta(seconds=base * random.uniform(0.5, 1.5))
            message.state = OutboxState.PENDING
            message.next_attempt_at = self.clock.now() + wait
            message.lease_until = None
            message.last_error = reason[:2000]
            retry_log.warning("outbox %s (%s) failed: %s; next try in %.1fs", message_id, message.kind, reason,
                              wait.total_seconds(), extra={"handoff_id": message.handoff_id})

    def _dead(self, message_id: int, reason: str) -> None:
        with self.db.transaction() as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            self._mark_dead(session, message, reason)

    def _mark_dead(self, session: Session, message: OutboxMessage, reason: str) -> None:
        """Give up on a notice; when a new handoff could not reach its recipient, tell the requester."""
        message.state = OutboxState.DEAD
        self._count("dead")
        message.lease_until = None
        message.last_error = reason[:2000]
        log.error("outbox %s (%s to %s) is dead: %s", message.id, message.kind, message.target, reason,
                  extra={"handoff_id": message.handoff_id})
        handoff = session.get(Handoff, message.handoff_id) if message.handoff_id else None
        if handoff is not None and message.kind in CARDS:
            enqueue(session, NoticeKind.UNDELIVERED, handoff.requester_id, self.clock.now(),
                    handoff_id=handoff.id, target=_destination(message, handoff), error=reason[:100])

    def _as_dm(self, message_id: int, code: str) -> None:
        """A short answer Slack will not show beside the message clicked goes to the user as a DM."""
        with self.db.transaction() as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            log.info("outbox %s: Slack would not show it in %s (%s); sending it as a DM", message_id,
                     message.params.get("channel"), code, extra={"handoff_id": message.handoff_id})
            message.params = {**message.params, "channel": None}

    def _leave(self, call: _Call, code: str) -> None:
        """A message Slack would not update is left as it is: one gone or no longer the bot's to change
        (`GONE`) for good; one Slack refused this content for (say, `invalid_blocks`) until it changes again."""
        assert call.record is not None
        gone = code in GONE
        log.warning("the message %s in %s is %s: %s", call.record.ts, call.record.channel,
                    "no longer updated" if gone else "not updated to this version", code,
                    extra={"handoff_id": call.record.handoff_id})
        with self.db.transaction() as session:
            session.execute(update(SlackMessage).where(SlackMessage.id == call.record.id)
                            .values(content_hash=GONE_HASH if gone else call.content_hash))
