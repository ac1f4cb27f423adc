"""Buttons: acked at once; the state change, the modal or the refusal follows once Slack has the ack.

A click's ack shows the user nothing, so it waits for nothing: right after it the message is
brought up to date, the modal opens or an ephemeral answer arrives.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
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
CLICK_FIELDS = ("user", "actions", "trigger_id", "response_url", "channel", "container")
CLICK_AGAIN = N_("Slack could not open the form. Please click the button again.")


def _ids(value: str, parts: int) -> list[int]:
    """The integers in a button value like `12` or `12:3`; a malformed value finds nothing."""
    pieces = (value or "").split(":")
    if len(pieces) != parts or not all(p.isascii() and p.isdigit() and len(p) < 10 for p in pieces):
        raise ActionRefused(Refusal.NOT_FOUND)
    return [int(p) for p in pieces]


def _well_formed(body: dict[str, Any]) -> bool:
    """Whether a click has the shape Slack sends: a user id and a first action with a string value or none."""
    user, actions = body.get("user"), body.get("actions")
    if not (isinstance(user, dict) and isinstance(user.get("id"), str) and isinstance(actions, list) and actions):
        return False
    action = actions[0]
    return isinstance(action, dict) and isinstance(action.get("value", ""), str | None)


def register(app: App, ctx: SlackContext, client: WebClient) -> None:
    works: dict[str, Callable[[dict[str, Any]], None]] = {}

    def later(action_id: ActionId, work: Callable[[dict[str, Any]], None]) -> None:
        """On a click of `action_id`: ack at once, do `work` once the ack has gone out."""
        works[action_id] = work

    def on(action_id: ActionId, parts: int, change: Callable[[Session, list[int], str], Any]) -> None:
        """A button that changes the handoff for the clicking user, or tells them why not."""
        def work(body: dict[str, Any]) -> None:
            user_id = body["user"]["id"]
            try:
                ids = _ids(body["actions"][0].get("value", ""), parts)
                ctx.run(lambda session: change(session, ids, user_id))
            except ActionRefused as refusal:
                ctx.tell(user_id, refusal, channel_of(body), body)
        later(action_id, work)

    def modal_on(action_id: ActionId, parts: int, build: Build) -> None:
        """A button that opens a modal if the clicking user may use it now, or tells them why not."""
        def work(body: dict[str, Any]) -> None:
            user_id = body["user"]["id"]
            if ctx.trigger_expired(body):
                ctx.answer(user_id, CLICK_AGAIN, channel_of(body), body)
                return
            tr = ctx.tr(user_id)
            try:
                ids = _ids(body["actions"][0].get("value", ""), parts)
                view = ctx.read(lambda session: build(session, ids, user_id, tr))
            except ActionRefused as refusal:
                ctx.tell(user_id, refusal, channel_of(body), body)
                return
            try:
                client.views_open(trigger_id=body["trigger_id"], view=view)
            except SlackApiError as error:
                log.warning("views.open failed: %s", error.response.get("error"))
                if error.response.get("error") != "exchanged_trigger_id":  # else an earlier try opened it
                    ctx.answer(user_id, CLICK_AGAIN, channel_of(body), body)
        later(action_id, work)

    now = ctx.clock.now

    on(ActionId.CLAIM, 1, lambda s, ids, user: handoffs.claim(s, ids[0], user, now()))
    on(ActionId.ACCEPT, 2, lambda s, ids, user: handoffs.accept(s, ids[0], ids[1], user, now()))
    on(ActionId.MARK_DONE, 1, lambda s, ids, user: handoffs.mark_done(s, ids[0], user, now()))
    on(ActionId.CANCEL, 1, lambda s, ids, user: handoffs.cancel(s, ids[0], user, now()))
    on(ActionId.NUDGE, 1, lambda s, ids, user: handoffs.nudge(s, ids[0], user, now()))
    on(ActionId.AGREE, 2, lambda s, ids, user: handoffs.agree(s, ids[0], ids[1], user, now()))

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

    def propose_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        handoff = handoffs.may(session, ids[0], Action.PROPOSE, user)
        return modals.propose(tr, handoff, handoffs.latest_proposal(session, handoff.id))

    def counter_form(session: Session, ids: list[int], user: str, tr: Translator) -> dict[str, Any]:
        handoff = handoffs.may(session, ids[0], Action.COUNTER, user)
        latest = handoffs.latest_proposal(session, handoff.id)
        if latest is None or latest.number != ids[1]:
            raise ActionRefused(Refusal.STALE, handoff)
        return modals.counter(tr, handoff, latest)

    modal_on(ActionId.PROPOSE, 1, propose_form)
    modal_on(ActionId.COUNTER, 2, counter_form)
    modal_on(ActionId.REASSIGN, 1, reassign_form)
    modal_on(ActionId.CONFIRM_UNDERSTANDING, 1, restate_form)
    modal_on(ActionId.CLARIFY, 2, clarify_form)
    modal_on(ActionId.ASK, 1, ask_form)
    modal_on(ActionId.ANSWER, 1, answer_form)
    modal_on(ActionId.RATE, 1, rate_form)

    def turn_page(body: dict[str, Any]) -> None:
        """Home tab: show the page named by the button (the tab is published again)."""
        value = body["actions"][0].get("value") or ""
        if value.isdigit() and len(value) < 6:
            user_id = body["user"]["id"]
            ctx.run(lambda session: outbox.turn_home_page(session, user_id, int(value), now()))

    later(ActionId.HOME_PREVIOUS, turn_page)
    later(ActionId.HOME_NEXT, turn_page)

    def show_digest(body: dict[str, Any]) -> None:
        """Home tab: send the manager this week's digest so far, by DM."""
        user_id = body["user"]["id"]

        def send(session: Session) -> bool:
            digest = digests.this_week(session, user_id, now())
            if digest is not None:
                digests.queue_copy(session, digest, now())
            return digest is not None

        if not ctx.run(send):
            ctx.answer(user_id, N_("You manage no department, so there is nothing to report."), channel_of(body), body)

    later(ActionId.HOME_DIGEST, show_digest)

    def unknown(body: dict[str, Any]) -> None:
        ctx.answer(body["user"]["id"], N_("That button is no longer in use."), channel_of(body), body)

    def click(ack: Ack, body: dict[str, Any]) -> None:
        # One listener for every button: Bolt tries its listeners one by one, each try costing about
        # 0.05 ms before the ack, so the buttons are told apart here, with one lookup.
        ack()
        if not _well_formed(body):
            log.warning("ignored a malformed click: %.300r", body)
            return
        # What the work reads of a click: not the message or view it was in (up to 50 or 100 blocks to pickle).
        ctx.later(body["user"]["id"], channel_of(body), "click", {k: body[k] for k in CLICK_FIELDS if k in body})

    def clicked(body: dict[str, Any]) -> None:
        action_id = body["actions"][0].get("action_id")
        work = works.get(action_id, unknown) if isinstance(action_id, str) else unknown
        work(body)

    app.action(re.compile(".*"))(click)
    ctx.jobs["click"] = clicked
