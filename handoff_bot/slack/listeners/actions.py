"""Buttons. State changes happen before the ack; modals open right after it (lazy)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from handoff_bot.digests import service as digests
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.lifecycle import Action, ActionRefused, Refusal
from handoff_bot.handoffs.models import HandoffState, Question
from handoff_bot.i18n import N_, Translator
from handoff_bot.outbox import service as outbox
from handoff_bot.slack.blocks import modals
from handoff_bot.slack.context import SlackContext, channel_of
from handoff_bot.slack.ids import ActionId

log = logging.getLogger(__name__)
Build = Callable[[Session, list[int], str, Translator], dict[str, Any]]


def _ids(value: str, parts: int) -> list[int]:
    """The integers in a button value like `12` or `12:3`; a malformed value finds nothing."""
    pieces = (value or "").split(":")
    if len(pieces) != parts or not all(p.isascii() and p.isdigit() and len(p) < 10 for p in pieces):
        raise ActionRefused(Refusal.NOT_FOUND)
    return [int(p) for p in pieces]


def register(app: App, ctx: SlackContext) -> None:
    def act(body: dict[str, Any], parts: int, change: Callable[[Session, list[int], str], Any]) -> None:
        """Apply a state change for the clicking user, or tell them why not."""
        user_id = body["user"]["id"]
        try:
            ids = _ids(body["actions"][0].get("value", ""), parts)
            ctx.run(lambda session: change(session, ids, user_id))
        except ActionRefused as refusal:
            ctx.tell(user_id, refusal, channel_of(body))

    def prepare_modal(body: dict[str, Any], context: BoltContext, parts: int, build: Build) -> None:
        """Check the click is allowed now and build the modal; the lazy listener opens it."""
        user_id = body["user"]["id"]
        tr = ctx.tr(user_id)
        try:
            ids = _ids(body["actions"][0].get("value", ""), parts)
            context["view"] = ctx.read(lambda session: build(session, ids, user_id, tr))
        except ActionRefused as refusal:
            ctx.tell(user_id, refusal, channel_of(body))

    def open_modal(body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        if not context.get("view"):
            return
        try:
            client.views_open(trigger_id=body["trigger_id"], view=context["view"])
        except SlackApiError as error:
            log.warning("views.open failed: %s", error.response.get("error"))

    def on(action_id: ActionId, parts: int, change: Callable[[Session, list[int], str], Any]) -> None:
        def handler(ack: Ack, body: dict[str, Any]) -> None:
            act(body, parts, change)
            ack()
        app.action(action_id)(handler)

    def modal_on(action_id: ActionId, parts: int, build: Build) -> None:
        def check(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
            prepare_modal(body, context, parts, build)
            ack()
        app.action(action_id)(ack=check, lazy=[open_modal])

    now = ctx.clock.now

    on(ActionId.CLAIM, 1, lambda s, ids, user: handoffs.claim(s, ids[0], user, now()))
    on(ActionId.ACCEPT, 2, lambda s, ids, user: handoffs.accept(s, ids[0], ids[1], user, now()))
    on(ActionId.MARK_DONE, 1, lambda s, ids, user: handoffs.mark_done(s, ids[0], user, now()))
    on(ActionId.CANCEL, 1, lambda s, ids, user: handoffs.cancel(s, ids[0], user, now()))
    on(ActionId.NUDGE, 1, lambda s, ids, user: handoffs.nudge(s, ids[0], user, now()))

    def restate_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        handoff = handoffs.may(session, ids[0], Action.RESTATE, user)
        rnd = handoffs.current_round(session, handoff)
        clarification = rnd.clarification if rnd and handoff.state is HandoffState.CLARIFYING else None
        return modals.restate(tr, handoff, clarification)

    def clarify_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        handoff = handoffs.may(session, ids[0], Action.CLARIFY, user)
        if handoff.rounds != ids[1]:
            raise ActionRefused(Refusal.STALE, handoff)
        return modals.clarify(tr, handoff, ids[1])

    def ask_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        return modals.ask(tr, handoffs.may(session, ids[0], Action.ASK, user))

    def answer_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        question = session.get(Question, ids[0])
        if question is None:
            raise ActionRefused(Refusal.NOT_FOUND)
        handoff = handoffs.may(session, question.handoff_id, Action.ANSWER, user)
        if question.answered_at is not None:
            raise ActionRefused(Refusal.STALE, handoff)
        return modals.answer(tr, handoff, question)

    def rate_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        return modals.rate(tr, handoffs.may(session, ids[0], Action.RATE, user))

    def reassign_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        return modals.reassign(tr, handoffs.may(session, ids[0], Action.REASSIGN, user))

    modal_on(ActionId.REASSIGN, 1, reassign_form)
    modal_on(ActionId.CONFIRM_UNDERSTANDING, 1, restate_form)
    modal_on(ActionId.CLARIFY, 2, clarify_form)
    modal_on(ActionId.ASK, 1, ask_form)
    modal_on(ActionId.ANSWER, 1, answer_form)
    modal_on(ActionId.RATE, 1, rate_form)

    def turn_page(ack: Ack, body: dict[str, Any]) -> None:
        """Home tab: show the page named by the button (the tab is published again)."""
        ack()
        value = body["actions"][0].get("value") or ""
        if value.isdigit() and len(value) < 6:
            user_id = body["user"]["id"]
            ctx.run(lambda session: outbox.turn_home_page(session, user_id, int(value), now()))

    app.action(ActionId.HOME_PREVIOUS)(turn_page)
    app.action(ActionId.HOME_NEXT)(turn_page)

    def show_digest(ack: Ack, body: dict[str, Any]) -> None:
        """Home tab: send the manager this week's digest so far, by DM."""
        ack()
        user_id = body["user"]["id"]

        def send(session: Session) -> bool:
            digest = digests.this_week(session, user_id, now())
            if digest is not None:
                digests.queue_copy(session, digest, now())
            return digest is not None

        if not ctx.run(send):
            ctx.say(user_id, N_("You manage no department, so there is nothing to report."), channel_of(body))

    app.action(ActionId.HOME_DIGEST)(show_digest)

    def unknown(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ctx.say(body["user"]["id"], N_("That button is no longer in use."), channel_of(body))

    app.action(re.compile(".*"))(unknown)
